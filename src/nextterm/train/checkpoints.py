"""Training checkpoints: named by tokens seen, written atomically, pruned, and resumable.

Layout of a run directory (``out``)::

    out/checkpoint_tokens_000000500123/   model (models' save_checkpoint layout) + training_state.pt
    out/best_val/                         model with the lowest validation loss so far
    out/final_latest/                     model at the end of training + training_state.pt

Each checkpoint directory is first written under a ``.tmp-`` name and renamed into place, so a
run killed at any moment leaves either the old directory or the new one, never half of one.
``training_state.pt`` holds what an exact resume needs beyond the weights: optimizer states,
step and token counters, each rank's data-iterator state and RNG states (python, numpy, torch).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nextterm.errors import NextTermError
from nextterm.train.config import ConfigError

CHECKPOINT_PATTERN = re.compile(r"^checkpoint_tokens_(\d{12,})$")
BEST_VAL = "best_val"
FINAL_LATEST = "final_latest"
STATE_FILE = "training_state.pt"
_TMP_PREFIX = ".tmp-"
_OLD_PREFIX = ".old-"


def checkpoint_name(tokens: int) -> str:
    """``checkpoint_tokens_{tokens:012d}``, the card's name for a checkpoint after ``tokens``."""
    return f"checkpoint_tokens_{tokens:012d}"


def capture_rng_state() -> dict[str, Any]:
    """The python, numpy and torch (CPU and CUDA) RNG states of this process."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`capture_rng_state` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def no_transformers_bars() -> Iterator[None]:
    """Hide transformers' per-file "Writing model shards" / "Loading weights" bars meanwhile."""
    from transformers.utils import logging as transformers_logging

    enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            transformers_logging.enable_progress_bar()


def load_weights(model: nn.Module, directory: str | Path) -> None:
    """Copy the float32 weights of checkpoint ``directory`` into ``model`` (same architecture)."""
    from nextterm.models.checkpoint import load_checkpoint

    with no_transformers_bars():
        model.load_state_dict(load_checkpoint(directory, dtype=torch.float32).state_dict())


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string (for checkpoint meta files)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class CheckpointManager:
    """Writes, prunes and finds the checkpoints of one run directory (call it on rank 0 only)."""

    def __init__(self, out: str | Path, keep_last: int = 3) -> None:
        if keep_last <= 0:
            raise ConfigError(f"keep_last must be positive, got {keep_last}")
        self.out = Path(out)
        self.keep_last = keep_last

    def recover(self) -> None:
        """Clean what a killed run may have left: unfinished ``.tmp-`` dirs, swapped-out ``.old-``."""
        if not self.out.is_dir():
            return
        for path in self.out.iterdir():
            if path.name.startswith(".") and ".tmp-" in path.name:  # ours, or save_checkpoint's
                shutil.rmtree(path)
            elif path.name.startswith(_OLD_PREFIX):
                final = self.out / path.name[len(_OLD_PREFIX) :]
                if final.exists():
                    shutil.rmtree(path)
                else:
                    path.rename(final)

    def checkpoints(self) -> list[tuple[int, Path]]:
        """``(tokens, path)`` of every complete token-named checkpoint, oldest first."""
        if not self.out.is_dir():
            return []
        found = []
        for path in self.out.iterdir():
            match = CHECKPOINT_PATTERN.match(path.name)
            if match and path.is_dir():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest_resumable(self) -> Path | None:
        """The directory with the most tokens that holds a training state, or None."""
        from nextterm.models.checkpoint import read_meta

        candidates = list(self.checkpoints())
        final = self.out / FINAL_LATEST
        if (final / STATE_FILE).is_file():
            candidates.append((int(read_meta(final)["tokens_trained"]), final))
        candidates = [(t, p) for t, p in candidates if (p / STATE_FILE).is_file()]
        return max(candidates, key=lambda item: item[0])[1] if candidates else None

    def save(
        self,
        name: str,
        model: nn.Module,
        meta: dict[str, Any],
        training_state: dict[str, Any] | None = None,
    ) -> Path:
        """Write ``model`` (+ ``training_state``) as ``out/name``, replacing it atomically."""
        from nextterm.models.checkpoint import save_checkpoint

        self.out.mkdir(parents=True, exist_ok=True)
        temporary = self.out / f"{_TMP_PREFIX}{name}"
        if temporary.exists():
            shutil.rmtree(temporary)
        with no_transformers_bars():
            save_checkpoint(model, temporary, meta=meta)
        if training_state is not None:
            torch.save(training_state, temporary / STATE_FILE)
        final = self.out / name
        if final.exists():
            old = self.out / f"{_OLD_PREFIX}{name}"
            if old.exists():
                shutil.rmtree(old)
            final.rename(old)
            os.replace(temporary, final)
            shutil.rmtree(old)
        else:
            os.replace(temporary, final)
        return final

    def save_tokens(
        self, tokens: int, model: nn.Module, meta: dict[str, Any], training_state: dict[str, Any]
    ) -> Path:
        """Write ``checkpoint_tokens_{tokens}`` and keep only the last ``keep_last`` of them."""
        path = self.save(checkpoint_name(tokens), model, meta, training_state)
        for _, old in self.checkpoints()[: -self.keep_last]:
            shutil.rmtree(old)
        return path


class ResumeError(NextTermError):
    """A run cannot be resumed from what is on disk."""


def load_training_state(directory: str | Path) -> dict[str, Any]:
    """The training state saved in a checkpoint directory (a trusted file this trainer wrote)."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise ResumeError(f"{directory} has no {STATE_FILE}: it cannot be resumed")
    return torch.load(path, map_location="cpu", weights_only=False)
