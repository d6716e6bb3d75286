"""Batched next-term decoding: greedy and beam search over terms, raw token generation.

:class:`Engine` drives any model through a :class:`DecodeSession` (KV cache for transformers,
recurrent state for SeqCond); see :mod:`nextterm.engine.engine` and :mod:`nextterm.engine.session`.
"""

from nextterm.engine.engine import Engine, EngineError, Generation, fit_prompt
from nextterm.engine.session import DecodeSession, KVCacheSession, StaticKVCacheSession, open_session

__all__ = ["DecodeSession", "Engine", "EngineError", "Generation", "KVCacheSession",
           "StaticKVCacheSession", "fit_prompt", "open_session"]
