"""The largest micro-batch that fits: forward/backward probes from the configured size down.

Each candidate (``micro_batch_tokens``, then halves of it, never below ``context_len``) runs
forward/backward passes on a full-width synthetic batch: ``tokens // context_len`` rows of
``context_len`` tokens, the widest and so the most memory-hungry shape a batch of that budget can
take (with a fused attention kernel, activation memory grows with rows x width). On CUDA a
candidate fits when it raises no out-of-memory error and its peak allocation stays under
``memory_fraction`` of the device's memory; on other devices, which have no limit that can be
probed safely, the first candidate is taken. The first pass of the first candidate compiles a
compiled model, so the probe also pays compilation before a timed loop starts, and the timed
passes of the chosen size measure its training throughput (tokens/s) on this machine.
"""

from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from nextterm.train.evaluate import loss_sum

MEMORY_FRACTION = 0.85
"""Peak allocation a fitting candidate may reach, as a fraction of the device memory: real
batches of the same budget are narrower but not smaller, and the optimizer states come later."""


@dataclass(frozen=True)
class Probe:
    """One candidate micro-batch size and what its passes showed."""

    micro_batch_tokens: int
    fits: bool
    tokens_per_second: float | None = None
    peak_memory_bytes: int | None = None
    seconds: float = 0.0
    """Wall time of this candidate's passes, compilation included for the first."""

    def to_dict(self) -> dict:
        return {"kind": "probe", **asdict(self)}


def candidates(micro_batch_tokens: int, context_len: int) -> list[int]:
    """``micro_batch_tokens``, then halves of it that still hold one full-width row."""
    sizes = [micro_batch_tokens]
    while sizes[-1] // 2 >= context_len:
        sizes.append(sizes[-1] // 2)
    return sizes


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _passes(
    forward_model: nn.Module, batch: dict, device: torch.device, dtype: torch.dtype, count: int
) -> None:
    for _ in range(count):
        total, _ = loss_sum(forward_model, batch, device, dtype)
        total.backward()
        del total


def _probe(
    forward_model: nn.Module,
    model: nn.Module,
    size: int,
    context_len: int,
    device: torch.device,
    dtype: torch.dtype,
    timed_passes: int,
    memory_fraction: float,
    may_fail: bool,
) -> Probe:
    """Passes at ``size`` tokens; an out-of-memory error is a non-fitting probe if ``may_fail``."""
    cuda = device.type == "cuda"
    rows = size // context_len
    generator = torch.Generator().manual_seed(0)  # leaves the global RNG streams untouched
    ids = torch.randint(0, model.config.vocab_size, (rows, context_len), generator=generator)
    batch = {"input_ids": ids, "labels": ids}
    started = time.perf_counter()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    try:
        _passes(forward_model, batch, device, dtype, 1)  # compiles, allocates
        _synchronize(device)
        timed_start = time.perf_counter()
        _passes(forward_model, batch, device, dtype, timed_passes)
        _synchronize(device)
        timed = time.perf_counter() - timed_start
    except torch.OutOfMemoryError:
        if not may_fail:
            raise
        return Probe(size, fits=False, seconds=time.perf_counter() - started)
    finally:
        model.zero_grad(set_to_none=True)
        if cuda:
            gc.collect()
            torch.cuda.empty_cache()
    if not cuda:
        return Probe(
            size,
            True,
            rows * context_len * timed_passes / timed,
            None,
            time.perf_counter() - started,
        )
    peak = torch.cuda.max_memory_allocated(device)
    fits = (
        not may_fail
        or peak <= memory_fraction * torch.cuda.get_device_properties(device).total_memory
    )
    return Probe(
        size, fits, rows * context_len * timed_passes / timed, peak, time.perf_counter() - started
    )


def probe_micro_batch(
    forward_model: nn.Module,
    model: nn.Module,
    micro_batch_tokens: int,
    context_len: int,
    device: torch.device,
    dtype: torch.dtype,
    timed_passes: int = 3,
    memory_fraction: float = MEMORY_FRACTION,
) -> tuple[int, list[Probe]]:
    """The chosen micro-batch size and every probe made; gradients are cleared afterwards.

    ``forward_model`` runs the passes (the compiled model, if any); ``model`` owns the parameters.
    The smallest candidate is taken if no larger one fits; if even it runs out of memory,
    :class:`torch.OutOfMemoryError` propagates.
    """
    probes: list[Probe] = []
    sizes = candidates(micro_batch_tokens, context_len)
    for index, size in enumerate(sizes):
        last = index == len(sizes) - 1
        probe = _probe(
            forward_model,
            model,
            size,
            context_len,
            device,
            dtype,
            timed_passes,
            memory_fraction,
            may_fail=not last and device.type == "cuda",
        )
        probes.append(probe)
        if probe.fits:
            break
    return probes[-1].micro_batch_tokens, probes
