"""Training NextTerm models: Muon + AdamW, token-based schedule, checkpoints, exact resume, DDP.

* :mod:`nextterm.train.config`: :class:`TrainConfig` and TOML loading (no torch import).
* :mod:`nextterm.train.optim`: Muon for 2-D hidden weights, AdamW for the rest.
* :mod:`nextterm.train.schedule`: warmup / cosine to 0.1x / cooldown to 0, in tokens seen.
* :mod:`nextterm.train.checkpoints`: ``checkpoint_tokens_*``, ``best_val``, ``final_latest``.
* :mod:`nextterm.train.loop`: :func:`train`, the loop itself.
* :mod:`nextterm.train.commands`: ``nextterm train``; ``python -m nextterm.train`` for torchrun.

This package module stays cheap to import: import the submodules.
"""
