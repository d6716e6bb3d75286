"""Batched next-term decoding: greedy and beam search over terms, raw token generation.

:class:`Engine` drives any model through a :class:`DecodeSession` (KV cache for transformers,
recurrent state for SeqCond); see :mod:`nextterm.engine.engine` and :mod:`nextterm.engine.session`.
"""

from nextterm.engine.engine import (
    Cancelled,
    Engine,
    EngineError,
    Generation,
    Sampling,
    cancel_when,
    context_groups,
    default_device,
    derive_seed,
    fit_prompt,
)
from nextterm.engine.session import (
    DecodeSession,
    KVCacheSession,
    StaticKVCacheSession,
    open_session,
)

__all__ = [
    "Cancelled",
    "DecodeSession",
    "Engine",
    "EngineError",
    "Generation",
    "KVCacheSession",
    "Sampling",
    "StaticKVCacheSession",
    "cancel_when",
    "context_groups",
    "default_device",
    "derive_seed",
    "fit_prompt",
    "open_session",
]
