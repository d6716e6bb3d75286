"""Batched next-term decoding: greedy and beam search over terms, raw token generation.

:class:`Engine` drives any model through a :class:`DecodeSession` (KV cache for transformers,
recurrent state for SeqCond); see :mod:`nextterm.engine.engine` and :mod:`nextterm.engine.session`.
:class:`NumpyEngine` (:mod:`nextterm.engine.numpy_engine`) runs small Qwen3-style checkpoints on
the CPU with numpy alone, with the same answers; :func:`load_engine` picks one of the two.

Names are imported on first use, so that importing this package does not import torch.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "Cancelled": "nextterm.engine.common",
    "EngineError": "nextterm.engine.common",
    "cancel_when": "nextterm.engine.common",
    "fit_prompt": "nextterm.engine.common",
    "Engine": "nextterm.engine.engine",
    "Generation": "nextterm.engine.engine",
    "Sampling": "nextterm.engine.engine",
    "context_groups": "nextterm.engine.engine",
    "default_device": "nextterm.engine.engine",
    "derive_seed": "nextterm.engine.engine",
    "DecodeSession": "nextterm.engine.session",
    "KVCacheSession": "nextterm.engine.session",
    "StaticKVCacheSession": "nextterm.engine.session",
    "open_session": "nextterm.engine.session",
    "NumpyEngine": "nextterm.engine.numpy_engine",
    "load_engine": "nextterm.engine.loading",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_NAMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES})
