"""The OpenAI-compatible endpoint predictor: parsing, batching and errors on a mock transport, then
end to end against the project's own ``nextterm serve`` on loopback with a tiny random model."""

from __future__ import annotations

import json

import httpx
import pytest

from nextterm.evals.openai_predictor import (
    EndpointError,
    OpenAIPredictor,
    OpenAIPredictorConfig,
    base_url,
    parse_completion,
)


def test_parse_completion_and_base_url():
    assert parse_completion("42") == 42
    assert parse_completion(" -7 ") == -7
    assert parse_completion("12,13") == 12
    assert parse_completion("0") == 0
    for bad in ("", "007", "-0x", "4.5", "four", "1 2", "+3"):
        assert parse_completion(bad) is None, bad
    assert base_url("http://h:1") == "http://h:1/v1"
    assert base_url("http://h:1/v1/") == "http://h:1/v1"
    assert base_url("http://h:1/v1/completions") == "http://h:1/v1"


@pytest.mark.parametrize(
    "bad", [{"max_tokens": 193}, {"max_tokens": 0}, {"concurrency": 0}, {"endpoint": "ftp://x"}]
)
def test_config_is_checked(bad):
    with pytest.raises(EndpointError):
        OpenAIPredictorConfig(**bad)


def _fake_server(requests: list[dict]):
    """An endpoint that answers each prompt with its last term + 1, choices in reverse order."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "fake-lm"}]})
        body = json.loads(request.content)
        requests.append(body)
        prompts = body["prompt"]
        texts = []
        for prompt in prompts:
            last = int(prompt.rstrip(",").split(",")[-1])
            texts.append("oops" if last == 99 else str(last + 1))
        choices = [{"index": i, "text": t, "finish_reason": "stop"} for i, t in enumerate(texts)]
        return httpx.Response(200, json={"choices": choices[::-1]})

    return httpx.MockTransport(handle)


def test_predictor_batches_prompts_and_continues_term_by_term():
    requests: list[dict] = []
    client = httpx.Client(transport=_fake_server(requests))
    config = OpenAIPredictorConfig(endpoint="http://fake/v1", prompts_per_request=2, concurrency=2)
    predictor = OpenAIPredictor(config, client=client)
    assert predictor.name == "openai:fake-lm"
    answers = predictor.predict_batch([[1, 2, 3], [10], [98], [5]], n_terms=3)
    # after 98 the fake answers 99, then garbage: the continuation stops there
    assert [a[0].continuation for a in answers] == [(4, 5, 6), (11, 12, 13), (99,), (6, 7, 8)]
    assert all(
        r["stop"] == [","] and r["temperature"] == 0.0 and r["max_tokens"] == 192 for r in requests
    )
    assert all(len(r["prompt"]) <= 2 for r in requests)
    assert requests[0]["prompt"] == ["1,2,3,", "10,"] and requests[0]["model"] == "fake-lm"


def test_first_term_garbage_gives_no_answer_and_partial_continuation_is_kept():
    client = httpx.Client(transport=_fake_server([]))
    predictor = OpenAIPredictor(
        OpenAIPredictorConfig(endpoint="http://fake", model="m"), client=client
    )
    [first], second = predictor.predict_batch([[97], [99]], n_terms=4)
    assert first.value == 98 and first.continuation == (98, 99)  # then "oops"
    assert second == []


def test_endpoint_errors_are_one_line_value_errors():
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "prompt too long"}})

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    predictor = OpenAIPredictor(
        OpenAIPredictorConfig(endpoint="http://x", model="m"), client=client
    )
    with pytest.raises(EndpointError, match="answered 400: prompt too long"):
        predictor.predict_batch([[1, 2]])

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(EndpointError, match="cannot reach"):
        OpenAIPredictor(
            OpenAIPredictorConfig(endpoint="http://x"),
            client=httpx.Client(transport=httpx.MockTransport(down)),
        )


def test_against_nextterm_serve_on_loopback(tmp_path):
    checkpoint = pytest.importorskip("nextterm.models.checkpoint")
    presets = pytest.importorskip("nextterm.models.presets")
    server_module = pytest.importorskip("nextterm.serve.server")
    openai = pytest.importorskip("openai")
    from nextterm.serve.config import ServeConfig

    directory = checkpoint.save_checkpoint(
        presets.create_model("nextterm-1m", seed=0), tmp_path / "tiny"
    )
    app = server_module.build_app(
        directory, ServeConfig(model_name="tiny", max_batch=8), device="cpu"
    )
    sequences = [[1, 2, 3], [2, 4, 6, 8], [1, 1, 2, 3, 5]]
    with server_module.BackgroundServer(app) as server:
        config = OpenAIPredictorConfig(
            endpoint=server.url + "/v1", max_tokens=12, prompts_per_request=2
        )
        predictor = OpenAIPredictor(config)
        assert predictor.model == "tiny" and predictor.name == "openai:tiny"
        answers = predictor.predict_batch(sequences, n_terms=2)
        # the reference: the official client, one prompt at a time, parsed by hand
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
        texts = [
            client.completions.create(
                model="tiny",
                prompt=",".join(map(str, terms)) + ",",
                max_tokens=12,
                temperature=0,
                stop=[","],
            )
            .choices[0]
            .text
            for terms in sequences
        ]
        predictor.close()
    expected = [int(text) if text.strip().lstrip("-").isdigit() else None for text in texts]
    assert [c[0].value if c else None for c in answers] == expected
    assert any(value is not None for value in expected)  # the random model does write numbers
    for candidates in answers:
        for candidate in candidates:
            assert candidate.method == "openai" and 1 <= len(candidate.continuation) <= 2
