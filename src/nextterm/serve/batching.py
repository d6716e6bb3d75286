"""Dynamic batching: requests that arrive together are run together, behind a bounded queue.

Each request is a *job*: a key and a list of items (prompts, sequences). A worker task takes
every job waiting in the queue (up to ``max_batch`` items), groups them by key, and calls
``run(key, items)`` once per group in a single background thread, so the event loop keeps
accepting requests while the model computes and the requests that queued meanwhile form the next
batch. A full queue refuses new jobs at once (:class:`QueueFullError`) instead of growing without
bound. A job whose caller gave up (time limit, disconnect) is skipped. When a batch fails, its
jobs are retried one by one so that one bad job cannot fail the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


class QueueFullError(RuntimeError):
    """The queue holds ``max_queue`` jobs already."""


@dataclass
class _Job:
    key: Hashable
    items: list
    future: asyncio.Future


class DynamicBatcher:
    """Runs ``run(key, items) -> results`` (one result per item) over batches of queued jobs.

    Use inside a running event loop: ``await start()``, then ``await submit(key, items)`` from
    request handlers, and ``await stop()`` at shutdown.
    """

    def __init__(
        self, run: Callable[[Hashable, list], list], max_batch: int = 64, max_queue: int = 256
    ) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        self._run = run
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._queue: asyncio.Queue[_Job] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._worker: asyncio.Task | None = None
        self.batches_run = 0
        self.items_run = 0

    async def start(self) -> None:
        """Create the queue, the model thread and the worker task in the running loop."""
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nextterm-engine")
        self._worker = asyncio.create_task(self._work(), name="nextterm-batcher")

    async def stop(self) -> None:
        """Stop the worker and the model thread; jobs still queued are cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait().future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._worker = self._executor = None

    @property
    def running(self) -> bool:
        """Whether the worker is alive and accepting jobs."""
        return self._worker is not None and not self._worker.done()

    def pending(self) -> int:
        """Jobs waiting in the queue."""
        return 0 if self._queue is None else self._queue.qsize()

    async def submit(self, key: Hashable, items: list) -> list:
        """Queue one job and wait for its results (one per item, in order).

        Raises:
            QueueFullError: the queue is full; nothing was queued.
            RuntimeError: the batcher is not running.
            Exception: whatever ``run`` raised for this job.
        """
        if self._queue is None or not self.running:
            raise RuntimeError("the batcher is not running")
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Job(key, list(items), future))
        except asyncio.QueueFull as error:
            raise QueueFullError(f"{self.max_queue} requests are already waiting") from error
        return await future

    async def _work(self) -> None:
        assert self._queue is not None
        held: _Job | None = None
        while True:
            first = held if held is not None else await self._queue.get()
            held = None
            jobs, size = [first], len(first.items)
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if size + len(job.items) > self.max_batch:
                    held = job
                    break
                jobs.append(job)
                size += len(job.items)
            groups: dict[Hashable, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            for key, group in groups.items():
                await self._run_group(key, group)

    async def _run_group(self, key: Hashable, group: list[_Job]) -> None:
        live = [job for job in group if not job.future.done()]
        if not live:
            return
        items = [item for job in live for item in job.items]
        try:
            results = await self._call(key, items)
        except Exception as error:  # noqa: BLE001 - reported to the callers, not raised here
            if len(live) > 1:
                for job in live:
                    await self._run_group(key, [job])
            elif not live[0].future.done():
                live[0].future.set_exception(error)
            return
        offset = 0
        for job in live:
            chunk = results[offset : offset + len(job.items)]
            offset += len(job.items)
            if not job.future.done():
                job.future.set_result(chunk)

    async def _call(self, key: Hashable, items: list) -> list[Any]:
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._executor, self._run, key, items)
        if len(results) != len(items):
            raise RuntimeError(f"batch runner returned {len(results)} results for {len(items)} items")
        self.batches_run += 1
        self.items_run += len(items)
        return results
