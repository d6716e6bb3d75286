"""`nextterm serve` against a live uvicorn server on 127.0.0.1 with a tiny random model.

The model's answers are meaningless; what is tested is the protocol: the official `openai` client
works unchanged (completions, streaming, stop, n, logprobs), answers equal what the engine gives
for the prompt alone (also under concurrent load, when requests are batched together), and every
bad request gets a 4xx with an OpenAI-style error body while the next good request still succeeds.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from nextterm.serve.app import create_app
from nextterm.serve.config import ServeConfig
from nextterm.serve.server import BackgroundServer
from nextterm.tokenizer import EOS_ID, PAD_ID, decode, encode_text

MODEL = "tiny"
GOOD = {"model": MODEL, "prompt": "1,2,3,", "max_tokens": 4, "temperature": 0}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from nextterm.engine import Engine
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.models.presets import create_model

    directory = save_checkpoint(
        create_model("nextterm-1m", seed=0), tmp_path_factory.mktemp("serve") / "ckpt"
    )
    return Engine.from_pretrained(directory)


@pytest.fixture(scope="module")
def server(engine):
    from nextterm.predict import HybridPredictor, ModelPredictor

    predictor = HybridPredictor(model=ModelPredictor(engine, beam_width=2, name="model"))
    config = ServeConfig(model_name=MODEL, max_batch=16, max_queue=64, max_body_bytes=200_000)
    with BackgroundServer(create_app(engine, predictor, config)) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def alone(engine, prompt: str, max_tokens: int, stop_ids=(EOS_ID, PAD_ID)) -> str:
    """What the engine says for this prompt decoded by itself (greedy), stop id removed."""
    generation = engine.generate_tokens(
        [encode_text(prompt, bos=True)], max_tokens, stop_ids=stop_ids
    )[0]
    ids = [token for token in generation.token_ids if token not in stop_ids]
    return decode(ids)


def test_models_and_health(server, client):
    assert [model.id for model in client.models.list().data] == [MODEL]
    health = httpx.get(server.url + "/health").json()
    assert health["status"] == "ok" and health["model"] == MODEL


def test_greedy_completion_is_the_engine_answer(engine, client):
    result = client.completions.create(
        model=MODEL, prompt="1,1,2,3,5,8,", max_tokens=6, temperature=0
    )
    choice = result.choices[0]
    assert choice.text == alone(engine, "1,1,2,3,5,8,", 6)
    assert choice.finish_reason in ("stop", "length")
    assert result.object == "text_completion"
    assert result.usage.prompt_tokens == len(encode_text("1,1,2,3,5,8,", bos=True))
    # Special tokens (a random model emits some) count as tokens but add no text.
    assert len(choice.text) <= result.usage.completion_tokens <= 6
    if choice.finish_reason == "length":
        assert result.usage.completion_tokens == 6


def test_stop_strings_cut_the_text(engine, client):
    full = alone(engine, "2,4,6,", 8)
    assert len(full) == 8  # a random model rarely emits EOS; the cases below need 8 characters
    for stop in (full[3], full[2:4], [full[5], "999999"]):
        result = client.completions.create(
            model=MODEL, prompt="2,4,6,", max_tokens=8, temperature=0, stop=stop
        )
        stops = [stop] if isinstance(stop, str) else stop
        cut = min(full.find(s) for s in stops if s in full)
        assert result.choices[0].text == full[:cut]
        assert result.choices[0].finish_reason == "stop"


def test_n_and_prompt_lists(engine, client):
    prompts = ["1,2,3,", "10,20,30,40,"]
    result = client.completions.create(
        model=MODEL, prompt=prompts, n=2, max_tokens=5, temperature=0
    )
    assert [choice.index for choice in result.choices] == [0, 1, 2, 3]
    texts = [choice.text for choice in result.choices]
    assert texts == [alone(engine, prompts[0], 5)] * 2 + [alone(engine, prompts[1], 5)] * 2


def test_sampling_with_a_seed_is_reproducible(client):
    kwargs = dict(
        model=MODEL, prompt="3,1,4,1,5,", max_tokens=6, temperature=1.0, top_p=0.9, seed=7, n=3
    )
    first = [choice.text for choice in client.completions.create(**kwargs).choices]
    second = [choice.text for choice in client.completions.create(**kwargs).choices]
    assert first == second and len(first) == 3


def test_streaming_matches_the_whole_answer(engine, client, server):
    stream = client.completions.create(
        model=MODEL,
        prompt="5,4,3,",
        max_tokens=6,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].text for chunk in chunks if chunk.choices)
    assert text == alone(engine, "5,4,3,", 6)
    reasons = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
    assert reasons[-1] in ("stop", "length") and all(reason is None for reason in reasons[:-1])
    assert chunks[-1].usage.completion_tokens == len(text)
    with httpx.stream(
        "POST", server.url + "/v1/completions", json={**GOOD, "stream": True}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)


def test_logprobs(client):
    result = client.completions.create(
        model=MODEL, prompt="7,7,7,", max_tokens=5, temperature=0, logprobs=0
    )
    choice = result.choices[0]
    assert "".join(choice.logprobs.tokens) == choice.text
    assert len(choice.logprobs.token_logprobs) == len(choice.logprobs.tokens)
    assert all(value <= 0 for value in choice.logprobs.token_logprobs)
    assert choice.logprobs.text_offset == list(range(len(choice.text)))


def test_concurrent_requests_get_their_own_answers(engine, server):
    prompts = [(",".join(str(i * k) for i in range(1, 2 + k)) + ",", 2 + k % 5) for k in range(24)]
    expected = [alone(engine, prompt, limit) for prompt, limit in prompts]

    def ask(item):
        prompt, limit = item
        response = httpx.post(
            server.url + "/v1/completions",
            json={"model": MODEL, "prompt": prompt, "max_tokens": limit, "temperature": 0},
            timeout=60,
        )
        return response.status_code, response.json()["choices"][0]["text"]

    before = httpx.get(server.url + "/health").json()["batches_run"]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(ask, prompts))
    assert answers == [(200, text) for text in expected]
    after = httpx.get(server.url + "/health").json()["batches_run"]
    assert 1 <= after - before <= len(prompts)


def test_next_terms(server):
    response = httpx.post(
        server.url + "/v1/next-terms", json={"terms": [1, 2, 3, 4, 5], "n": 3, "top_k": 3}
    )
    assert response.status_code == 200
    body = response.json()
    best = body["candidates"][0]
    assert best["continuation"] == [6, 7, 8] and best["value"] == 6
    assert (
        best["method"] and best["explanation"]
    )  # which exact solver answers is not the point here
    assert 1 <= len(body["candidates"]) <= 3
    assert all(0 <= c["probability"] <= 1 for c in body["candidates"])
    assert [c["rank"] for c in body["candidates"]] == list(range(1, len(body["candidates"]) + 1))
    as_text = httpx.post(
        server.url + "/v1/next-terms", json={"terms": "1, 2, 3, 4, 5", "n": 3, "top_k": 3}
    )
    assert as_text.json()["candidates"][0]["continuation"] == [6, 7, 8]


BIG = "1" * 100_000
BAD_REQUESTS = [
    # (name, path, raw body, expected status, param or None)
    ("malformed json", "/v1/completions", b'{"model": "tiny", "prompt": ', 400, None),
    ("not an object", "/v1/completions", b"[1, 2, 3]", 400, None),
    ("empty body", "/v1/completions", b"", 400, None),
    ("not utf-8", "/v1/completions", b'{"model": "\xff"}', 400, None),
    ("NaN", "/v1/completions", b'{"model": "tiny", "prompt": "1,", "temperature": NaN}', 400, None),
    ("missing prompt", "/v1/completions", {"model": "tiny"}, 400, "prompt"),
    ("prompt is a number", "/v1/completions", {**GOOD, "prompt": 5}, 400, "prompt"),
    ("prompt list of numbers", "/v1/completions", {**GOOD, "prompt": [[1, 2]]}, 400, "prompt"),
    ("max_tokens is text", "/v1/completions", {**GOOD, "max_tokens": "5"}, 400, "max_tokens"),
    ("temperature is text", "/v1/completions", {**GOOD, "temperature": "hot"}, 400, "temperature"),
    ("n is a bool", "/v1/completions", {**GOOD, "n": True}, 400, "n"),
    ("stream is a number", "/v1/completions", {**GOOD, "stream": 1}, 400, "stream"),
    ("empty prompt", "/v1/completions", {**GOOD, "prompt": ""}, 400, "prompt"),
    ("blank prompt", "/v1/completions", {**GOOD, "prompt": "   "}, 400, "prompt"),
    ("empty prompt list", "/v1/completions", {**GOOD, "prompt": []}, 400, "prompt"),
    ("non-numeric prompt", "/v1/completions", {**GOOD, "prompt": "1,a,3,"}, 400, "prompt"),
    ("words", "/v1/completions", {**GOOD, "prompt": "Once upon a time"}, 400, "prompt"),
    ("leading zeros", "/v1/completions", {**GOOD, "prompt": "01,02,03,"}, 400, "prompt"),
    ("negative zero", "/v1/completions", {**GOOD, "prompt": "1,-0,"}, 400, "prompt"),
    ("double comma", "/v1/completions", {**GOOD, "prompt": "1,,2,"}, 400, "prompt"),
    ("terms split by spaces", "/v1/completions", {**GOOD, "prompt": "1 2 3,"}, 400, "prompt"),
    ("bad prompt in a list", "/v1/completions", {**GOOD, "prompt": ["1,2,", "x"]}, 400, "prompt"),
    ("100,000-digit term", "/v1/completions", {**GOOD, "prompt": f"1,{BIG},"}, 400, "prompt"),
    ("prompt over the context", "/v1/completions", {**GOOD, "prompt": "1," * 3000}, 400, "prompt"),
    (
        "prompt + max_tokens over the context",
        "/v1/completions",
        {**GOOD, "prompt": "1," * 2000, "max_tokens": 100},
        400,
        "prompt",
    ),
    ("absurd max_tokens", "/v1/completions", {**GOOD, "max_tokens": 10**12}, 400, "max_tokens"),
    ("zero max_tokens", "/v1/completions", {**GOOD, "max_tokens": 0}, 400, "max_tokens"),
    ("absurd n", "/v1/completions", {**GOOD, "n": 1_000_000}, 400, "n"),
    ("zero n", "/v1/completions", {**GOOD, "n": 0}, 400, "n"),
    ("too many completions", "/v1/completions", {**GOOD, "prompt": ["1,"] * 5, "n": 4}, 400, "n"),
    ("negative temperature", "/v1/completions", {**GOOD, "temperature": -1}, 400, "temperature"),
    ("zero top_p", "/v1/completions", {**GOOD, "top_p": 0}, 400, "top_p"),
    ("five stops", "/v1/completions", {**GOOD, "stop": [",", "1", "2", "3", "4"]}, 400, "stop"),
    ("empty stop", "/v1/completions", {**GOOD, "stop": ""}, 400, "stop"),
    (
        "stop token outside the vocabulary",
        "/v1/completions",
        {**GOOD, "stop_token_ids": [99]},
        400,
        "stop_token_ids",
    ),
    ("logprobs 50", "/v1/completions", {**GOOD, "logprobs": 50}, 400, "logprobs"),
    ("echo", "/v1/completions", {**GOOD, "echo": True}, 400, "echo"),
    ("unknown model", "/v1/completions", {**GOOD, "model": "gpt-4"}, 404, "model"),
    ("huge JSON integer", "/v1/next-terms", f'{{"terms": [1, {BIG}]}}'.encode(), 400, None),
    ("100,000-digit term as text", "/v1/next-terms", {"terms": ["1", BIG[:99_999]]}, 400, "terms"),
    ("no terms", "/v1/next-terms", {"terms": []}, 400, "terms"),
    ("terms not a list", "/v1/next-terms", {"terms": {"a": 1}}, 400, "terms"),
    ("bool term", "/v1/next-terms", {"terms": [1, True, 3]}, 400, "terms"),
    ("float term", "/v1/next-terms", {"terms": [1, 2.5, 3]}, 400, "terms"),
    ("leading-zero term", "/v1/next-terms", {"terms": ["1", "02", "3"]}, 400, "terms"),
    ("non-numeric terms", "/v1/next-terms", {"terms": "one, two, three"}, 400, "terms"),
    ("absurd next-terms n", "/v1/next-terms", {"terms": [1, 2, 3], "n": 10**9}, 400, "n"),
    ("zero top_k", "/v1/next-terms", {"terms": [1, 2, 3], "top_k": 0}, 400, "top_k"),
    ("absurd top_k", "/v1/next-terms", {"terms": [1, 2, 3], "top_k": 10**6}, 400, "top_k"),
    (
        "body over the limit",
        "/v1/completions",
        b'{"model": "tiny", "prompt": "' + b"1," * 150_000 + b'"}',
        413,
        None,
    ),
    ("unknown route", "/v1/chat/nothing", GOOD, 404, None),
]


@pytest.mark.parametrize(
    "name,path,body,status,param", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS]
)
def test_bad_input_gets_a_4xx_and_the_server_stays_healthy(server, name, path, body, status, param):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        server.url + path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "Traceback" not in response.text
    if param is not None:
        assert error["param"] == param
    good = httpx.post(server.url + "/v1/completions", json=GOOD)
    assert good.status_code == 200 and good.json()["choices"][0]["finish_reason"] in (
        "stop",
        "length",
    )


def test_chunked_body_over_the_limit_gets_413(server):
    def chunks():
        for _ in range(30):
            yield b"1" * 10_000

    response = httpx.post(server.url + "/v1/completions", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_wrong_method_gets_405(server):
    response = httpx.get(server.url + "/v1/completions")
    assert response.status_code == 405 and "error" in response.json()


def test_the_openai_client_raises_its_own_errors(client):
    with pytest.raises(openai.BadRequestError, match="leading zeros"):
        client.completions.create(model=MODEL, prompt="01,2,", max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="other", prompt="1,2,", max_tokens=2)


def test_api_key(engine):
    from nextterm.predict import SolverPredictor

    config = ServeConfig(model_name=MODEL, api_key="secret-key")
    with BackgroundServer(create_app(engine, SolverPredictor(), config)) as running:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "secret-key"}):
            response = httpx.post(running.url + "/v1/completions", json=GOOD, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(running.url + "/v1/models").status_code == 401
        assert httpx.get(running.url + "/health").status_code == 200
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(
                base_url=running.url + "/v1", api_key="wrong", max_retries=0
            ).models.list()
        good = openai.OpenAI(base_url=running.url + "/v1", api_key="secret-key", max_retries=0)
        assert good.completions.create(
            model=MODEL, prompt="1,2,", max_tokens=2, temperature=0
        ).choices
        answer = httpx.post(
            running.url + "/v1/next-terms",
            json={"terms": [2, 4, 8, 16, 32]},
            headers={"Authorization": "Bearer secret-key"},
        ).json()
        assert answer["candidates"][0]["value"] == 64 and answer["predictor"] == "solvers"
