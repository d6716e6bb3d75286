"""Which engine runs a checkpoint: the numpy one for small models on the CPU, else torch's.

A ``nextterm predict`` process spends most of its time importing torch and transformers, so a
small float32 Qwen3 checkpoint (the shipped one) with no device asked for runs on
:class:`~nextterm.engine.numpy_engine.NumpyEngine`, which gives the same answers without them.
Everything else (a ``device``, bigger or SeqCond models, other dtypes) gets
:class:`~nextterm.engine.engine.Engine`. The environment variable ``NEXTTERM_ENGINE`` overrides the
choice: ``torch`` always uses the torch engine, ``numpy`` requires the numpy one.
"""

from __future__ import annotations

import os
from pathlib import Path

from nextterm.engine.common import EngineError

ENGINE_VARIABLE = "NEXTTERM_ENGINE"
ENGINE_CHOICES = ("auto", "numpy", "torch")
NUMPY_MAX_PARAMETERS = 12_000_000
"""Largest model the automatic choice gives the numpy engine (the presets up to ``nextterm-10m``):
beyond it the start-up saved is small next to the decoding time, where torch is faster."""


def engine_choice() -> str:
    """``auto``, ``numpy`` or ``torch``, from :data:`ENGINE_VARIABLE` (default ``auto``)."""
    choice = os.environ.get(ENGINE_VARIABLE, "").strip().lower() or "auto"
    if choice not in ENGINE_CHOICES:
        raise EngineError(
            f"{ENGINE_VARIABLE} must be one of {', '.join(ENGINE_CHOICES)}, got {choice!r}"
        )
    return choice


def load_engine(path: str | Path, device: str | None = None):
    """An engine over the checkpoint ``path``: numpy when :func:`engine_choice` allows it and the
    model is small, float32 Qwen3 and no ``device`` is asked for; else the torch engine."""
    from nextterm.engine.numpy_engine import NumpyEngine

    choice = engine_choice()
    if choice == "numpy":
        if device not in (None, "cpu"):
            raise EngineError(f"the numpy engine runs on the CPU, not on {device!r}")
        return NumpyEngine.from_pretrained(path)
    if choice == "auto" and device is None:
        try:
            return NumpyEngine.from_pretrained(path, max_parameters=NUMPY_MAX_PARAMETERS)
        except EngineError:  # not a model it runs: the torch engine does
            pass
    from nextterm.engine.engine import Engine

    return Engine.from_pretrained(path, device=device)
