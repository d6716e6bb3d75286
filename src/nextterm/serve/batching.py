"""Dynamic batching: requests that arrive together are run together, behind a bounded queue.

Each request is a *job*: a key and a list of items (prompts, sequences). A worker task takes
every job waiting in the queue (up to ``max_batch`` items), groups them by key, and calls
``run(key, items, cancels)`` once per group in a single background thread, so the event loop
keeps accepting requests while the model computes and the requests that queued meanwhile form the
next batch. A full queue refuses new jobs at once (:class:`QueueFullError`) instead of growing
without bound.

A job is cancelled by cancelling the future :meth:`DynamicBatcher.enqueue` returned (its caller
timed out or went away). A cancelled job that is still waiting leaves the queue's count at once
and is never run; for a running one, ``cancels`` (one :class:`threading.Event` per item, set when
its job is cancelled) lets ``run`` stop that job's work at its next step. When a batch fails, its
live jobs are retried one by one so that one bad job cannot fail the others.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Runner = Callable[[Hashable, list, list[threading.Event]], list]


class QueueFullError(RuntimeError):
    """The queue holds ``max_queue`` live jobs already."""


@dataclass
class _Job:
    key: Hashable
    items: list
    future: asyncio.Future
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def live(self) -> bool:
        return not self.future.done() and not self.cancel.is_set()


class DynamicBatcher:
    """Runs ``run(key, items, cancels) -> results`` (one result per item) over batches of queued jobs.

    Use inside a running event loop: ``await start()``, then ``enqueue(key, items)`` (or ``await
    submit(key, items)``) from request handlers, and ``await stop()`` at shutdown.
    """

    def __init__(self, run: Runner, max_batch: int = 64, max_queue: int = 256) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        self._run = run
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._waiting: deque[_Job] = deque()
        self._wakeup: asyncio.Event | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._worker: asyncio.Task | None = None
        self._running: list[_Job] = []
        self.batches_run = 0
        self.items_run = 0

    async def start(self) -> None:
        """Create the model thread and the worker task in the running loop."""
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nextterm-engine")
        self._worker = asyncio.create_task(self._work(), name="nextterm-batcher")

    async def stop(self) -> None:
        """Stop the worker and the model thread; queued and running jobs are cancelled."""
        for job in [*self._waiting, *self._running]:
            job.future.cancel()
        self._waiting.clear()
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._worker = self._executor = None

    @property
    def running(self) -> bool:
        """Whether the worker is alive and accepting jobs."""
        return self._worker is not None and not self._worker.done()

    def pending(self) -> int:
        """Live jobs waiting in the queue (cancelled ones do not count)."""
        return sum(job.live for job in self._waiting)

    def enqueue(self, key: Hashable, items: list) -> asyncio.Future:
        """Queue one job; returns the future of its results (one per item, in order).

        Cancel the future to cancel the job. Raises :class:`QueueFullError` (nothing queued) when
        ``max_queue`` live jobs are waiting, ``RuntimeError`` when the batcher is not running.
        """
        if self._wakeup is None or not self.running:
            raise RuntimeError("the batcher is not running")
        while self._waiting and not self._waiting[0].live:
            self._waiting.popleft()
        if self.pending() >= self.max_queue:
            raise QueueFullError(f"{self.max_queue} requests are already waiting")
        job = _Job(key, list(items), asyncio.get_running_loop().create_future())
        job.future.add_done_callback(lambda future: future.cancelled() and job.cancel.set())
        self._waiting.append(job)
        self._wakeup.set()
        return job.future

    async def submit(self, key: Hashable, items: list) -> list:
        """Queue one job and wait for its results; cancelling the wait cancels the job.

        Raises:
            QueueFullError: the queue is full; nothing was queued.
            Exception: whatever ``run`` raised for this job.
        """
        return await self.enqueue(key, items)

    def _take_batch(self) -> list[_Job]:
        jobs, size = [], 0
        while self._waiting:
            job = self._waiting[0]
            if not job.live:
                self._waiting.popleft()
                continue
            if jobs and size + len(job.items) > self.max_batch:
                break
            jobs.append(self._waiting.popleft())
            size += len(job.items)
        return jobs

    async def _work(self) -> None:
        assert self._wakeup is not None
        while True:
            jobs = self._take_batch()
            if not jobs:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            groups: dict[Hashable, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            for key, group in groups.items():
                await self._run_group(key, group)

    async def _run_group(self, key: Hashable, group: list[_Job]) -> None:
        live = [job for job in group if job.live]
        if not live:
            return
        self._running = live
        try:
            results = await self._call(key, live)
        except Exception as error:  # noqa: BLE001 - reported to the callers, not raised here
            if len(live) > 1:
                for job in live:
                    await self._run_group(key, [job])
            elif not live[0].future.done():
                live[0].future.set_exception(error)
            return
        finally:
            self._running = []
        offset = 0
        for job in live:
            chunk = results[offset : offset + len(job.items)]
            offset += len(job.items)
            if not job.future.done():
                job.future.set_result(chunk)

    async def _call(self, key: Hashable, jobs: list[_Job]) -> list[Any]:
        items = [item for job in jobs for item in job.items]
        cancels = [job.cancel for job in jobs for _ in job.items]
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._executor, self._run, key, items, cancels)
        if len(results) != len(items):
            raise RuntimeError(
                f"batch runner returned {len(results)} results for {len(items)} items"
            )
        self.batches_run += 1
        self.items_run += len(items)
        return results
