"""Server limits without a model: dynamic batching, the bounded queue, time limits and
cancellation, and how generated tokens become a choice (max_tokens, stop ids, stop strings)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from nextterm.engine import context_groups
from nextterm.serve.app import create_app
from nextterm.serve.batching import DynamicBatcher, QueueFullError
from nextterm.serve.completions import ChoiceBuilder, Token
from nextterm.serve.config import ServeConfig
from nextterm.serve.server import BackgroundServer
from nextterm.tokenizer import EOS_ID, SEP_ID


def run(coroutine):
    return asyncio.run(coroutine)


def test_jobs_that_arrive_together_run_in_one_batch():
    calls = []

    def double(key, items, cancels):
        calls.append((key, list(items)))
        return [item * 2 for item in items]

    async def scenario():
        batcher = DynamicBatcher(double, max_batch=8, max_queue=16)
        await batcher.start()
        try:
            return await asyncio.gather(
                batcher.submit("a", [1, 2]),
                batcher.submit("a", [3]),
                batcher.submit("b", [4]),
                batcher.submit("a", [5, 6]),
            )
        finally:
            await batcher.stop()

    assert run(scenario()) == [[2, 4], [6], [8], [10, 12]]
    assert calls == [("a", [1, 2, 3, 5, 6]), ("b", [4])]


def test_batches_hold_at_most_max_batch_items():
    sizes = []

    def identity(key, items, cancels):
        sizes.append(len(items))
        return list(items)

    async def scenario():
        batcher = DynamicBatcher(identity, max_batch=3, max_queue=16)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit("k", [i, i]) for i in range(4)))
        finally:
            await batcher.stop()

    assert run(scenario()) == [[i, i] for i in range(4)]
    assert sizes == [2, 2, 2, 2]


def test_a_failing_job_does_not_fail_its_batch():
    def picky(key, items, cancels):
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]

    async def scenario():
        batcher = DynamicBatcher(picky, max_batch=8, max_queue=8)
        await batcher.start()
        try:
            return await asyncio.gather(
                batcher.submit("k", ["x"]),
                batcher.submit("k", ["bad"]),
                batcher.submit("k", ["y"]),
                return_exceptions=True,
            )
        finally:
            await batcher.stop()

    first, second, third = run(scenario())
    assert first == ["X"] and third == ["Y"]
    assert isinstance(second, ValueError)


def test_a_full_queue_refuses_at_once_and_abandoned_jobs_are_skipped():
    release, started, seen = threading.Event(), threading.Event(), []

    def slow(key, items, cancels):
        seen.extend(items)
        started.set()
        release.wait(10)
        return list(items)

    async def scenario():
        batcher = DynamicBatcher(slow, max_batch=1, max_queue=1)
        await batcher.start()
        try:
            running = asyncio.ensure_future(batcher.submit("k", ["first"]))
            await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
            waiting = asyncio.ensure_future(batcher.submit("k", ["abandoned"]))
            await asyncio.sleep(0)
            with pytest.raises(QueueFullError):
                await batcher.submit("k", ["refused"])
            waiting.cancel()
            release.set()
            assert await running == ["first"]
            return await batcher.submit("k", ["after"])
        finally:
            await batcher.stop()

    assert run(scenario()) == ["after"]
    assert seen == ["first", "after"]


class BlockingEngine:
    """Answers "12" to every prompt, but only once `release` is set."""

    max_context = 64

    def __init__(self):
        self.release, self.started = threading.Event(), threading.Event()

    def generate(self, prompts, settings, top_logprobs=0, on_step=None):
        self.started.set()
        self.release.wait(30)
        rows = list(range(len(prompts)))
        for token in (1, 2, EOS_ID):
            on_step(rows, [token] * len(rows), [-0.1] * len(rows), [[] for _ in rows])


def test_time_limit_gives_504_and_full_queue_gives_503():
    engine = BlockingEngine()
    config = ServeConfig(model_name="m", max_batch=1, max_queue=1, timeout=1.0)
    body = {"model": "m", "prompt": "1,", "max_tokens": 2, "temperature": 0}
    with (
        BackgroundServer(create_app(engine, None, config)) as server,
        httpx.Client(timeout=30) as http,
    ):
        url = server.url + "/v1/completions"
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(http.post, url, json=body)
            assert engine.started.wait(30)
            second = pool.submit(http.post, url, json=body)
            while http.get(server.url + "/health").json()["queued"] < 1:
                pass
            refused = http.post(url, json=body)
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "server_overloaded"
            assert refused.headers["retry-after"] == "1"
            timed_out = first.result()
            assert timed_out.status_code == 504 and timed_out.json()["error"]["code"] == "timeout"
            assert second.result().status_code == 504
        engine.release.set()
        # The worker first finishes the two abandoned jobs; the server is healthy once it drains.
        deadline = time.monotonic() + 20
        answer = http.post(url, json=body)
        while answer.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
            answer = http.post(url, json=body)
        assert answer.status_code == 200 and answer.json()["choices"][0]["text"] == "12"


def build(ids, max_tokens, stop_ids, stop_strings=()):
    """The choice a builder makes of ``ids``, and the tokens it released, step by step."""
    builder = ChoiceBuilder(max_tokens, frozenset(stop_ids), tuple(stop_strings))
    released = [[token.id for token in builder.add(Token(token_id, -1.0))] for token_id in ids]
    return builder.choice(), released


def test_a_choice_ends_at_its_own_limits():
    ids = [1, 2, 3, SEP_ID, 4, 5]
    stops = (SEP_ID, EOS_ID)
    choice, _ = build(ids, 6, stops)
    assert (choice.text, choice.finish_reason) == ("123", "stop")
    short, _ = build(ids, 2, stops)
    assert (short.text, short.finish_reason, [t.logprob for t in short.tokens]) == (
        "12",
        "length",
        [-1.0, -1.0],
    )
    # the stop id just past max_tokens: the request ends by length
    assert build(ids, 3, stops)[0].finish_reason == "length"
    assert build(ids, 6, (EOS_ID,))[0].text == "123,45"
    cut, _ = build(ids, 6, (EOS_ID,), stop_strings=["3,4", "99"])
    assert (cut.text, cut.finish_reason, len(cut.tokens)) == ("12", "stop", 2)
    assert build([1, 2, 3], 6, stops)[0].finish_reason == "length"


def test_streamed_text_holds_back_only_what_may_start_a_stop_string():
    ids = [1, 2, 3, SEP_ID, 4, 5]
    _, released = build(ids, 6, (EOS_ID,), stop_strings=["3,4"])
    assert released == [
        [1],
        [2],
        [],
        [],
        [],
        [],
    ]  # "3" and "3," could begin "3,4"; then it is found
    _, released = build(ids, 6, (EOS_ID,), stop_strings=["3,9"])
    assert released == [[1], [2], [], [], [3, SEP_ID, 4], [5]]  # "3,4" is not "3,9": released
    _, released = build(ids, 6, (EOS_ID,))
    assert released == [[token] for token in ids]


def test_context_groups_never_push_a_prompt_out_of_the_context():
    items = [([0] * 50, 10), ([0] * 5, 40), ([0] * 20, 30), ([0] * 3, 2)]
    groups = context_groups([len(p) for p, _ in items], [b for _, b in items], max_context=64)
    assert sorted(index for group in groups for index in group) == [0, 1, 2, 3]
    for group in groups:
        budget = items[group[0]][1]
        assert budget == max(items[index][1] for index in group)
        assert all(len(items[index][0]) + budget <= 64 for index in group)
    assert len(groups) == 2
