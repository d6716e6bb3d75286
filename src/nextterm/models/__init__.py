"""NextTerm language models: presets, Hugging Face checkpoint directories, RoPE conversion.

* :mod:`nextterm.models.presets`: named Qwen3 configs (``nextterm-1m`` ... ``nextterm-440m``),
  :func:`create_model`.
* :mod:`nextterm.models.checkpoint`: :func:`save_checkpoint` / :func:`load_checkpoint` in the layout of
  the NextTerm checkpoints card (loadable with plain ``AutoModelForCausalLM``).
* :mod:`nextterm.models.rope`: interleaved -> split-half RoPE conversion of training weights.
* :mod:`nextterm.models.seqcond`: the SeqCond hybrid backbone.

This package module stays cheap to import (no torch at import time): import the submodules.
"""

from nextterm.models.presets import PRESETS, create_model, make_config

__all__ = ["PRESETS", "create_model", "make_config"]
