"""The training loop: read it top to bottom (config, data, model, optimizer, then one loop).

Each optimizer step draws micro-batches until ``step_tokens`` label tokens (summed over all ranks;
fewer for the last step) are in hand, then runs forward/backward on each (DDP syncs gradients on the last one only), clips
the gradient norm and steps Muon + AdamW at the schedule's learning rate for the tokens seen so
far. Every ``eval_every_tokens`` it measures the validation loss (all ranks) and next-term
accuracy (rank 0) and keeps ``best_val``; every ``checkpoint_every_tokens`` it writes
``checkpoint_tokens_*`` with the full training state; at the end it writes ``final_latest``.
Only rank 0 writes files. ``resume=True`` continues from the newest resumable checkpoint exactly:
same weights, optimizer moments, schedule position, data position and RNG states.

Before the loop, ``auto_batch`` probes micro-batch sizes (:mod:`nextterm.train.autobatch`; this
also compiles a compiled model). With a time limit (``time_budget_s``, or a ``deadline`` given to
:func:`train`) the loop ends before a step would cross it, and the learning-rate schedule is read
at the tokens seen or at the same fraction of the time limit, whichever is further: the cooldown
then ends with the time, however fast the machine is.
"""

from __future__ import annotations

import contextlib
import json
import math
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from nextterm.errors import NextTermError
from nextterm.train import distributed
from nextterm.train.autobatch import probe_micro_batch
from nextterm.train.checkpoints import (
    BEST_VAL,
    FINAL_LATEST,
    CheckpointManager,
    ResumeError,
    capture_rng_state,
    load_training_state,
    load_weights,
    restore_rng_state,
    utc_now,
)
from nextterm.train.config import TrainConfig
from nextterm.train.evaluate import (
    ANSWER_RESERVE_TOKENS,
    ValidationSet,
    label_tokens,
    loss_sum,
    next_term_accuracy,
    read_next_term_samples,
)
from nextterm.train.metrics import MetricsLog, matmul_parameters, mfu, peak_flops, plot_losses
from nextterm.train.optim import HybridOptimizer
from nextterm.train.schedule import Schedule

CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss.png"


class TrainError(NextTermError):
    """A training run cannot start with the given data, output directory or settings."""


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports."""

    out: Path
    steps: int
    tokens: int
    final_loss: float
    val_loss: float | None
    best_val_loss: float | None
    tokens_per_second: float
    micro_batch_tokens: int
    loop_seconds: float
    """Wall time from the first step to the end (evaluations and checkpoints included)."""


def _data_files(data_dir: Path) -> tuple[Path, Path, Path]:
    train_path, val_path, samples_path = (
        data_dir / name for name in ("train.packed", "val.packed", "val.jsonl")
    )
    if not train_path.is_file():
        raise TrainError(f"{data_dir} has no train.packed (build it with `nextterm data build`)")
    if not val_path.is_file():
        raise TrainError(f"{data_dir} has no val.packed (build it with `nextterm data build`)")
    return train_path, val_path, samples_path


def _compute_dtype(config: TrainConfig, device: torch.device) -> torch.dtype:
    if config.dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return torch.bfloat16 if config.dtype == "bfloat16" else torch.float32


def _build_model(config: TrainConfig) -> torch.nn.Module:
    if config.init_from:
        from nextterm.models.checkpoint import load_checkpoint

        return load_checkpoint(config.init_from, dtype=torch.float32)
    from nextterm.models.presets import create_model

    return create_model(config.preset, seed=config.seed, **config.model)


def _crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in ``(before, after]`` (``every`` 0 never crosses)."""
    return every > 0 and after // every > before // every


def train(
    config: TrainConfig, resume: bool = False, progress: bool = True, deadline: float | None = None
) -> TrainResult:
    """Run (or resume) the training that ``config`` describes; returns the final numbers.

    ``deadline``: a :func:`time.monotonic` instant by which the loop must end (the final
    evaluation and checkpoint come after it); it shortens ``time_budget_s`` when sooner.
    """
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    context = distributed.setup(config.device)
    try:
        return _train(config, context, resume, progress, deadline)
    finally:
        distributed.teardown()


def _time_limit(
    config: TrainConfig, deadline: float | None, device: torch.device, world: int
) -> float:
    """Seconds the loop may run from now (inf without a limit), the same on every rank."""
    limit = config.time_budget_s or math.inf
    if deadline is not None:
        limit = min(limit, deadline - time.monotonic())
    if limit != math.inf:
        limit = distributed.all_reduce_sum([limit], device)[0] / world
    if limit <= 0:
        raise TrainError(
            f"the deadline passed {-limit:.0f} s before the first training step: setup (data, model, "
            "compilation, batch probe) took the whole time budget; allow more time"
        )
    return limit


def _train(
    config: TrainConfig,
    context: distributed.DistContext,
    resume: bool,
    progress: bool,
    deadline: float | None,
) -> TrainResult:
    from nextterm.data.batches import TokenBatches
    from nextterm.data.packed import PackedReader

    device, rank, world = context.device, context.rank, context.world_size
    dtype = _compute_dtype(config, device)
    out = Path(config.out)
    data_dir = Path(config.data)
    train_path, val_path, samples_path = _data_files(data_dir)
    manager = CheckpointManager(out, keep_last=config.keep_last)
    metrics = MetricsLog(out / METRICS_FILE)

    # -- where to start: fresh, or the newest resumable checkpoint ------------------------------
    if context.is_main:
        manager.recover()
    distributed.barrier()
    resume_from = manager.latest_resumable() if resume else None
    if not resume and (manager.checkpoints() or (out / FINAL_LATEST).exists()):
        raise TrainError(f"{out} already holds checkpoints: pass --resume, or choose another --out")
    state = load_training_state(resume_from) if resume_from else None
    if state is not None and state["world_size"] != world:
        raise ResumeError(
            f"{resume_from} was written by {state['world_size']} processes; resume it with as many"
        )

    # -- seeds, data, model, optimizer ----------------------------------------------------------
    random.seed(config.seed + rank)
    np.random.seed(config.seed + rank)
    torch.manual_seed(config.seed + rank)
    samples = (
        read_next_term_samples(samples_path, config.accuracy_samples)
        if context.is_main and samples_path.is_file()
        else []
    )
    model = _build_model(config)
    if resume_from is not None:
        load_weights(model, resume_from)
    model.to(device).train()
    optimizer = HybridOptimizer(
        model,
        muon_lr=config.muon_lr,
        adamw_lr=config.adamw_lr,
        muon_momentum=config.muon_momentum,
        muon_weight_decay=config.muon_weight_decay,
        adamw_betas=config.adamw_betas,
        adamw_weight_decay=config.adamw_weight_decay,
    )
    # dynamic shapes: batches vary in rows and width, and one graph serves them all
    forward_model: torch.nn.Module = (
        torch.compile(model, dynamic=True, backend=config.compile_backend)
        if config.compile
        else model
    )
    micro_tokens, probes = config.micro_batch_tokens, []
    if state is not None:
        micro_tokens = int(state["data"][rank]["max_tokens"])  # the resumed sampler's budget
    elif config.auto_batch:
        micro_tokens, probes = probe_micro_batch(
            forward_model, model, config.micro_batch_tokens, config.context_len, device, dtype
        )
        micro_tokens = min(distributed.all_gather_objects(micro_tokens))  # ranks step in lockstep
    batches = TokenBatches(
        PackedReader(train_path),
        micro_tokens,
        config.context_len,
        seed=config.seed,
        rank=rank,
        world_size=world,
    )
    validation = ValidationSet(
        val_path, micro_tokens, config.context_len, config.val_tokens, rank, world
    )
    schedule = Schedule.from_fractions(
        config.tokens, config.warmup_frac, config.cooldown_frac, config.min_lr_ratio
    )
    step, tokens, elapsed = 0, 0, 0.0
    best_val: float | None = None
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        batches.load_state_dict(state["data"][rank])
        restore_rng_state(state["rng"][rank])
        step, tokens, elapsed, best_val = (
            state["step"],
            state["tokens"],
            state["elapsed_s"],
            state["best_val_loss"],
        )
    if context.distributed:
        forward_model = DistributedDataParallel(
            forward_model, device_ids=[device.index] if device.type == "cuda" else None
        )
    n_matmul = matmul_parameters(model)
    device_name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu"
    )
    peak = peak_flops(device_name, config.peak_tflops)

    # -- run directory: resolved config, metrics log ---------------------------------------------
    if context.is_main:
        out.mkdir(parents=True, exist_ok=True)
        resolved = {
            **config.to_dict(),
            "resolved": {
                "world_size": world,
                "device": str(device),
                "device_name": device_name,
                "compute_dtype": str(dtype).removeprefix("torch."),
                "parameters": sum(p.numel() for p in model.parameters()),
                "micro_batch_tokens": micro_tokens,
                "bucket_size": batches.bucket_size,
                "matmul_parameters": n_matmul,
                "muon_parameters": [name for name, _ in optimizer.split.muon],
                "adamw_parameters": [name for name, _ in optimizer.split.adamw],
                "peak_flops": peak,
                "torch": torch.__version__,
                "resumed_from": str(resume_from) if resume_from else None,
                "started": utc_now(),
            },
        }
        (out / CONFIG_FILE).write_text(json.dumps(resolved, indent=2) + "\n")
        if state is None:
            metrics.path.unlink(missing_ok=True)
        else:
            metrics.truncate_after(step)
        for probe in probes:
            metrics.append(probe.to_dict())

    def meta(kind: str, val_loss: float | None) -> dict:
        return {
            "tokens_trained": tokens,
            "preset": config.preset,
            "data": str(data_dir.resolve()),
            "step": step,
            "val_loss": val_loss,
            "best_val_loss": best_val,
            "time": utc_now(),
            "elapsed_s": round(elapsed, 3),
            "world_size": world,
            "kind": kind,
        }

    def training_state() -> dict | None:
        data_states = distributed.all_gather_objects(batches.state_dict())
        rng_states = distributed.all_gather_objects(capture_rng_state())
        if not context.is_main:
            return None
        return {
            "version": 1,
            "step": step,
            "tokens": tokens,
            "elapsed_s": elapsed,
            "best_val_loss": best_val,
            "world_size": world,
            "optimizer": optimizer.state_dict(),
            "data": data_states,
            "rng": rng_states,
            "config": config.to_dict(),
        }

    def evaluate() -> tuple[float, float | None]:
        total, count = validation.loss_sums(model, device, dtype)
        total, count = distributed.all_reduce_sum([total, count], device)
        accuracy = None
        if samples:
            max_prompt = max(2, config.context_len - ANSWER_RESERVE_TOKENS)
            accuracy = next_term_accuracy(model, samples, device, max_prompt)
        return total / max(count, 1.0), accuracy

    # -- the loop ---------------------------------------------------------------------------------
    iterator = iter(batches)
    bar = tqdm(
        total=config.tokens,
        initial=min(tokens, config.tokens),
        unit="tok",
        unit_scale=True,
        dynamic_ncols=True,
        disable=not (progress and context.is_main),
    )
    loss, val_loss, window_tokens, window_start = float("nan"), None, 0, time.perf_counter()
    tokens_per_second = 0.0
    time_limit = _time_limit(config, deadline, device, world)
    loop_start, start_tokens, out_of_time = time.perf_counter(), tokens, False

    def shared(*seconds: float) -> list[float]:
        """Durations averaged over the ranks: every rank then reads the same learning rate and
        stops at the same step."""
        return [value / world for value in distributed.all_reduce_sum(list(seconds), device)]

    def position() -> int:
        """Tokens at which to read the schedule: those seen, or the time limit's share if further."""
        if time_limit == math.inf:
            return tokens
        fraction = min(1.0, shared(time.perf_counter() - loop_start)[0] / time_limit)
        return max(tokens, start_tokens + int((config.tokens - start_tokens) * fraction))

    while tokens < config.tokens and not out_of_time:
        step_start = time.perf_counter()
        optimizer.set_multiplier(schedule.multiplier(position()))
        micro_batches, step_tokens = [], 0
        budget = min(config.step_tokens, config.tokens - tokens)  # the last step stops at --tokens
        while step_tokens < budget:
            batch = next(iterator)
            micro_batches.append(batch)
            step_tokens += int(distributed.all_reduce_sum([label_tokens(batch)], device)[0])
        step_loss = torch.zeros((), device=device)
        for index, batch in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            sync = (
                contextlib.nullcontext()
                if last or not context.distributed
                else forward_model.no_sync()
            )
            with sync:
                total, _ = loss_sum(forward_model, batch, device, dtype)
                (total * (world / step_tokens)).backward()
            step_loss += total.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            model.parameters(), config.grad_clip if config.grad_clip > 0 else float("inf")
        )
        lrs = optimizer.lrs()
        optimizer.step()
        optimizer.zero_grad()
        before, step, tokens = tokens, step + 1, tokens + step_tokens
        loss = distributed.all_reduce_sum([float(step_loss)], device)[0] / step_tokens
        now = time.perf_counter()
        elapsed += now - step_start
        window_tokens += step_tokens
        bar.update(min(tokens, config.tokens) - min(before, config.tokens))

        if step % config.log_every_steps == 0 and context.is_main:
            tokens_per_second = window_tokens / max(now - window_start, 1e-9)
            utilisation = mfu(n_matmul, tokens_per_second / world, peak)
            window_tokens, window_start = 0, now
            record = {
                "kind": "train",
                "step": step,
                "tokens": tokens,
                "loss": loss,
                "grad_norm": float(grad_norm),
                **{f"lr_{name}": value for name, value in lrs.items()},
                "tokens_per_s": tokens_per_second,
                "mfu": utilisation,
                "elapsed_s": elapsed,
            }
            metrics.append(record)
            postfix = {"loss": f"{loss:.4f}", "tok/s": f"{tokens_per_second:,.0f}"}
            if utilisation is not None:
                postfix["mfu"] = f"{utilisation:.1%}"
            bar.set_postfix(postfix, refresh=False)

        if time_limit != math.inf:  # stop before a step like the last one would cross the limit
            ran, last_step = shared(now - loop_start, now - step_start)
            out_of_time = ran + last_step > time_limit
        finished = tokens >= config.tokens or out_of_time
        if _crossed(before, tokens, config.eval_every_tokens) or finished:
            eval_start = time.perf_counter()
            val_loss, accuracy = evaluate()
            if context.is_main:
                record = {
                    "kind": "eval",
                    "step": step,
                    "tokens": tokens,
                    "val_loss": val_loss,
                    "seconds": time.perf_counter() - eval_start,
                }
                if accuracy is not None:
                    record["next_term_accuracy"] = accuracy
                metrics.append(record)
                plot_losses(
                    metrics.records(), out / PLOT_FILE, title=f"{config.preset} on {data_dir.name}"
                )
            if best_val is None or val_loss < best_val:
                best_val = val_loss
                if context.is_main:
                    manager.save(BEST_VAL, model, meta(BEST_VAL, val_loss))
        if finished:
            final_state = training_state()
            if context.is_main:
                manager.save(FINAL_LATEST, model, meta(FINAL_LATEST, val_loss), final_state)
        elif _crossed(before, tokens, config.checkpoint_every_tokens):
            checkpoint_state = training_state()
            if context.is_main:
                manager.save_tokens(tokens, model, meta("checkpoint", val_loss), checkpoint_state)
    bar.close()
    distributed.barrier()
    return TrainResult(
        out=out,
        steps=step,
        tokens=tokens,
        final_loss=loss,
        val_loss=val_loss,
        best_val_loss=best_val,
        tokens_per_second=tokens * 1.0 / max(elapsed, 1e-9),
        micro_batch_tokens=micro_tokens,
        loop_seconds=time.perf_counter() - loop_start,
    )
