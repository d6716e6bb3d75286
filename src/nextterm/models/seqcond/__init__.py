"""The SeqCond hybrid backbone (Nautile-370M architecture): SCA + transformer blocks, 2:1.

Importing :mod:`nextterm.models.seqcond.modeling` registers ``SeqCondConfig`` /
``SeqCondForCausalLM`` with transformers' ``AutoConfig`` / ``AutoModelForCausalLM``. This package
module does it at once when transformers is already loaded; otherwise it stays cheap (the CLI
imports ``.commands`` at start-up) and registers on first access to any name below.

* :mod:`.configuration`: ``SeqCondConfig``; :mod:`.layers`: SCA and transformer blocks;
* :mod:`.modeling`: ``SeqCondForCausalLM`` (parallel forward, ``prefill`` / ``decode_step``);
* :mod:`.generation`: sampling and CUDA-graph decoding; :mod:`.session`: the engine's decode session;
* :mod:`.presets`: ``nautile-370m`` and the digit-vocabulary ``nextterm-sca-*`` presets;
* :mod:`.text_tokenizer`: the cl100k_base (+1) chat tokenizer as a transformers tokenizer (registered with
  ``AutoTokenizer``), :mod:`.text_vocab`: its ids; :mod:`.commands`: ``nextterm generate``.
"""

from __future__ import annotations

import importlib
import sys

_EXPORTS = {
    "SeqCondConfig": "nextterm.models.seqcond.configuration",
    "SeqCondConfigError": "nextterm.models.seqcond.configuration",
    "SeqCondForCausalLM": "nextterm.models.seqcond.modeling",
    "SeqCondModel": "nextterm.models.seqcond.modeling",
    "SeqCondInputError": "nextterm.models.seqcond.modeling",
    "DecodeState": "nextterm.models.seqcond.modeling",
    "register_auto_classes": "nextterm.models.seqcond.modeling",
    "SeqCondSession": "nextterm.models.seqcond.session",
    "SamplingConfig": "nextterm.models.seqcond.generation",
    "SCA_PRESETS": "nextterm.models.seqcond.presets",
    "SEQCOND_PRESETS": "nextterm.models.seqcond.presets",
    "create_sca_model": "nextterm.models.seqcond.presets",
    "make_seqcond_config": "nextterm.models.seqcond.presets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    importlib.import_module("nextterm.models.seqcond.modeling")  # registers the Auto classes
    return getattr(module, name)


if "transformers" in sys.modules:
    importlib.import_module("nextterm.models.seqcond.modeling")
