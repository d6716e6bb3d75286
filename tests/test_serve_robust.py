"""A live server under the conditions that broke it: time limits, clients that go away, streaming,
seeded sampling under batching, extreme sampling values, hostile bodies and broken HTTP, bugs.

The model is a tiny random Qwen3 whose decode steps are slowed down (and never end by EOS), so
that "the work stopped" and "the next request was served at once" can be told apart by time.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import torch

from conftest import TINY_QWEN3
from nextterm.candidates import Candidate
from nextterm.engine import Engine
from nextterm.errors import NextTermError
from nextterm.models.presets import create_model
from nextterm.predict import HybridPredictor, ModelPredictor, SolverPredictor
from nextterm.serve.app import create_app
from nextterm.serve.config import ServeConfig
from nextterm.serve.server import BackgroundServer
from nextterm.tokenizer import EOS_ID, PAD_ID

MODEL = "tiny"


class SlowEngine(Engine):
    """Sleeps ``delay`` seconds per decode step and never emits EOS or PAD; counts steps."""

    delay = 0.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def session(self):
        session = super().session()
        prefill, step = session.prefill, session.step

        def no_end(logits):
            return logits.index_fill(1, torch.tensor([EOS_ID, PAD_ID]), -1e9)

        def slow_step(tokens):
            time.sleep(self.delay)
            self.steps += 1
            return no_end(step(tokens))

        session.prefill = lambda prompts: no_end(prefill(prompts))
        session.step = slow_step
        return session


@pytest.fixture(scope="module")
def engine():
    return SlowEngine(create_model("nextterm-1m", seed=0, initializer_range=0.3, **TINY_QWEN3))


@pytest.fixture()
def slow(engine):
    engine.delay, engine.steps = 0.1, 0
    yield engine
    engine.delay = 0.0


def serve(engine, predictor=None, **settings):
    config = ServeConfig(model_name=MODEL, **{"max_batch": 8, "max_queue": 8, **settings})
    return BackgroundServer(create_app(engine, predictor or SolverPredictor(), config))


def completion(**fields):
    return {"model": MODEL, "prompt": "1,2,3,", "max_tokens": 2, "temperature": 0, **fields}


def test_a_timed_out_request_stops_its_work_and_the_next_one_is_served_at_once(slow):
    """Before, the timed-out generation ran on (40 more steps here) and the next request waited
    behind it until it too timed out."""
    with serve(slow, timeout=1.0) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        started = time.monotonic()
        timed_out = http.post("/v1/completions", json=completion(max_tokens=50))
        assert timed_out.status_code == 504 and timed_out.json()["error"]["code"] == "timeout"
        assert time.monotonic() - started < 3
        started = time.monotonic()
        answer = http.post("/v1/completions", json=completion(max_tokens=2))
        assert answer.status_code == 200 and len(answer.json()["choices"][0]["text"]) == 2
        assert time.monotonic() - started < 0.9  # served at once, not behind the abandoned work
        steps = slow.steps
        time.sleep(0.5)
        assert slow.steps == steps < 40  # stopped: not the 49 steps that max_tokens=50 asks for


def test_a_client_that_goes_away_frees_the_model_and_its_queue_slot(slow):
    """Before, a dropped client's job ran to completion, and a dropped queued job kept its slot."""
    long = completion(max_tokens=50)
    with (
        serve(slow, timeout=30.0, max_batch=1, max_queue=1) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        with ThreadPoolExecutor(2) as pool:
            running = pool.submit(
                httpx.post, server.url + "/v1/completions", json=long, timeout=1.0
            )
            time.sleep(0.3)
            queued = pool.submit(httpx.post, server.url + "/v1/completions", json=long, timeout=0.6)
            with pytest.raises(httpx.TimeoutException):
                queued.result()
            time.sleep(0.3)
            assert (
                http.get("/health").json()["queued"] == 0
            )  # the dropped waiting job left the queue
            with pytest.raises(httpx.TimeoutException):
                running.result()
        time.sleep(0.3)
        steps = slow.steps
        time.sleep(0.5)
        assert slow.steps == steps < 40  # the dropped jobs stopped long before their 49 steps
        started = time.monotonic()
        answer = http.post("/v1/completions", json=completion(max_tokens=2))
        assert answer.status_code == 200 and time.monotonic() - started < 0.9
        assert slow.steps == steps + 1  # the new request took its one step, alone


def test_streaming_sends_each_token_as_it_is_made_and_stops_when_the_client_goes(slow):
    """Before, the whole generation ran first and its chunks were replayed at the end."""
    body = completion(max_tokens=20, stream=True)
    with serve(slow) as server:
        started = time.monotonic()
        arrivals = []
        with httpx.stream(
            "POST", server.url + "/v1/completions", json=body, timeout=30
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    arrivals.append(time.monotonic() - started)
        total = time.monotonic() - started
        assert total > 1.5 and len(arrivals) == 21  # 20 tokens and the closing chunk
        assert arrivals[0] < 0.25 * total and arrivals[10] < 0.75 * total
        long = {**body, "max_tokens": 50}
        with httpx.stream(
            "POST", server.url + "/v1/completions", json=long, timeout=30
        ) as response:
            next(response.iter_lines())
        steps = slow.steps
        time.sleep(0.6)
        assert slow.steps - steps <= 2  # the abandoned stream's decoding stopped


def test_a_stream_that_runs_out_of_time_ends_with_an_error_event(slow):
    with serve(slow, timeout=0.5) as server:
        with httpx.stream(
            "POST",
            server.url + "/v1/completions",
            json=completion(max_tokens=50, stream=True),
            timeout=30,
        ) as response:
            events = [line for line in response.iter_lines() if line]
    assert json.loads(events[-1][len("data: ") :])["error"]["code"] == "timeout"
    assert 1 <= len(events) < 20


def test_seeded_sampling_is_the_same_alone_and_batched(slow):
    """One generator per batch gave each batched copy of a seeded request other tokens."""
    seeded = completion(max_tokens=6, temperature=1.0, top_p=0.9, seed=11)
    with serve(slow, max_batch=16) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        alone = http.post("/v1/completions", json=seeded).json()["choices"][0]["text"]
        with ThreadPoolExecutor(5) as pool:
            pool.submit(
                http.post, "/v1/completions", json=completion(max_tokens=4)
            )  # the batch ahead
            time.sleep(0.15)
            copies = [pool.submit(http.post, "/v1/completions", json=seeded) for _ in range(4)]
            texts = [future.result().json()["choices"][0]["text"] for future in copies]
        assert http.get("/health").json()["batches_run"] <= 4  # the copies did share batches
    assert texts == [alone] * 4


def test_sampling_values_near_zero_are_answered(engine):
    """temperature 1e-40 and top_p 1e-46 gave 500 'probability tensor contains inf/nan'."""
    with serve(engine) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        greedy = http.post("/v1/completions", json=completion(max_tokens=5)).json()["choices"][0][
            "text"
        ]
        for values in (
            {"temperature": 1e-40},
            {"temperature": 1.0, "top_p": 1e-46},
            {"temperature": 5e-324},
        ):
            response = http.post("/v1/completions", json=completion(max_tokens=5, **values))
            assert response.status_code == 200 and response.json()["choices"][0]["text"] == greedy


def test_top_logprobs_are_filled_as_openai_does(engine):
    """top_logprobs was always null."""
    with serve(engine) as server:
        whole = httpx.post(
            server.url + "/v1/completions", json=completion(max_tokens=4, logprobs=3)
        )
        choice = whole.json()["choices"][0]
        stream = httpx.post(
            server.url + "/v1/completions", json=completion(max_tokens=4, logprobs=3, stream=True)
        )
    logprobs = choice["logprobs"]
    assert len(logprobs["top_logprobs"]) == len(logprobs["tokens"]) == 4
    for token, value, top in zip(
        logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"]
    ):
        assert 3 <= len(top) <= 4 and top[token] == pytest.approx(value)
        assert all(v <= 0 for v in top.values()) and max(top.values()) >= value
    chunks = [
        json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: {")
    ]
    streamed = [
        c["choices"][0]["logprobs"]["top_logprobs"][0]
        for c in chunks
        if c["choices"][0]["logprobs"]
    ]
    assert streamed == logprobs["top_logprobs"]


def test_a_lone_surrogate_is_a_400(engine):
    """The error handler could not encode a message quoting '\\ud800' and answered 500."""
    with serve(engine) as server:
        for body in (b'{"model": "\\ud800", "prompt": "1,"}', b'{"terms": "1,2,\\udfff"}'):
            path = "/v1/completions" if b"prompt" in body else "/v1/next-terms"
            response = httpx.post(server.url + path, content=body)
            assert (
                response.status_code == 400 and "surrogate" in response.json()["error"]["message"]
            )
        fine = httpx.post(
            server.url + "/v1/completions", content=b'{"model": "\\ud83d\\ude00", "prompt": "1,"}'
        )
        assert fine.status_code == 404  # a real character (an emoji) is just an unknown model


def _raw(server, data: bytes, wait: float = 10.0) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=wait) as connection:
        connection.sendall(data)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status_and_json(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_body_that_never_arrives_gets_a_408_and_the_connection_closes(engine):
    """A body that declared 100 bytes and sent 10 held the connection with no limit."""
    with serve(engine, read_timeout=0.5) as server:
        started = time.monotonic()
        raw = _raw(
            server,
            b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"{" * 10,
        )
        assert time.monotonic() - started < 3
        status, body = _status_and_json(raw)
        assert status == 408 and body["error"]["code"] == "request_timeout"
        raw = _raw(
            server, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le"
        )  # a head cut short
        status, body = _status_and_json(raw)
        assert status == 408 and body["error"]["code"] == "request_timeout"
        assert _raw(server, b"") == b""  # a connection that sends nothing is closed too
        assert time.monotonic() - started < 6


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nX: a\r\n\r\n",
    ],
    ids=["garbage", "negative length", "bad chunk", "no host"],
)
def test_malformed_http_gets_a_json_400(engine, data):
    """uvicorn answered these with a plain-text 'Invalid HTTP request received.'"""
    with serve(engine) as server:
        status, body = _status_and_json(_raw(server, data))
    assert status == 400 and set(body["error"]) == {"message", "type", "param", "code"}


class Predictor:
    """Raises what it is told to for the sequence [1, 2, 3]; answers 7 otherwise."""

    name = "test"

    def predict_batch(self, sequences, n_terms=1, top_k=5):
        if sequences[0] == [1, 2, 3]:
            raise self.failure
        return [[Candidate(7, 0.5, "test", "seven")] for _ in sequences]


@pytest.mark.parametrize(
    "failure,status",
    [
        (RuntimeError("boom"), 500),
        (ValueError("operands could not be broadcast"), 500),
        (NextTermError("bad idea"), 400),
    ],
)
def test_a_bug_is_a_500_with_a_request_id_and_the_connection_stays_open(
    engine, caplog, failure, status
):
    """Any ValueError was a 400 (a numpy bug looked like the user's fault); each 500 closed the
    connection."""
    import http.client

    predictor = Predictor()
    predictor.failure = failure
    with (
        serve(engine, predictor) as server,
        caplog.at_level(logging.ERROR, logger="nextterm.serve"),
    ):
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        connection.request("POST", "/v1/next-terms", body=b'{"terms": [1, 2, 3]}')
        response = connection.getresponse()
        error = json.loads(response.read())["error"]
        request_id = response.getheader("x-request-id")
        assert response.status == status and request_id.startswith("req-")
        connection.request(
            "POST", "/v1/next-terms", body=b'{"terms": [5, 6]}'
        )  # the same connection
        again = connection.getresponse()
        assert again.status == 200 and json.loads(again.read())["candidates"][0]["value"] == 7
        connection.close()
    if status == 500:
        assert request_id in error["message"] and error["code"] == "internal_error"
        assert str(failure) not in error["message"] and "Traceback" not in error["message"]
        logged = [record for record in caplog.records if request_id in record.getMessage()]
        assert logged and logged[0].exc_info[1] is failure
    else:
        assert error["message"] == "bad idea"


def test_next_terms_with_huge_terms_skips_the_model_and_keeps_the_verified_answer(engine):
    """Terms too long for the model's context failed the whole request with a 400; a verified
    answer whose continuation outgrew the output limit was dropped, and a guess took its place."""
    predictor = HybridPredictor(model=ModelPredictor(engine, beam_width=2, name="model"))
    with serve(engine, predictor) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        line = [k * 10**400 + 7 for k in range(1, 8)]  # 401-digit terms, a linear rule
        response = http.post("/v1/next-terms", json={"terms": [str(t) for t in line], "n": 2})
        assert response.status_code == 200
        assert response.json()["candidates"][0]["continuation"] == [
            8 * 10**400 + 7,
            9 * 10**400 + 7,
        ]
        ratio = (
            10**199 + 3
        )  # 200 digits: a geometric sequence whose 32nd next term has ~7000 digits
        powers = [str(ratio**k) for k in range(5)]
        body = http.post("/v1/next-terms", json={"terms": powers, "n": 32, "top_k": 3}).json()
    best = body["candidates"][0]
    assert best["value"] == ratio**5 and best["method"] != "model"
    shown = best["continuation"]
    assert best["truncated"] is True and shown == [ratio**k for k in range(5, 5 + len(shown))]
    assert 15 <= len(best["continuation"]) < 32  # every term up to 4000 digits, none beyond


def test_health_and_models_name_the_model_not_its_path(tmp_path):
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.serve.server import build_app, served_model_name

    directory = save_checkpoint(
        create_model("nextterm-1m", seed=0, **TINY_QWEN3), tmp_path / "my-model"
    )
    assert (
        served_model_name(directory) == "my-model" and served_model_name("org/name") == "org/name"
    )
    config = ServeConfig(model_name=served_model_name(directory))
    with BackgroundServer(build_app(directory, config, device="cpu")) as server:
        texts = httpx.get(server.url + "/health").text + httpx.get(server.url + "/v1/models").text
    assert "my-model" in texts and str(tmp_path) not in texts
