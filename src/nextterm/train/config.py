"""Training configuration: one dataclass with the card's defaults, read from TOML, overridden by CLI.

A TOML file holds any subset of the :class:`TrainConfig` fields at its top level, plus an optional
``[model]`` table of overrides passed to ``create_model`` (e.g. ``num_hidden_layers = 2``).
Values given on the command line win over the file, which wins over the defaults. Every run writes
the resolved config (``train_config.json``) next to its checkpoints.

This module is cheap to import (no torch): the CLI reads it at parse time.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextterm.errors import NextTermError

COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")
"""``torch.compile`` backends a run may ask for: kernels generated, or graphs traced only."""


class ConfigError(NextTermError):
    """A training config value or file is invalid."""


@dataclass
class TrainConfig:
    """Everything one training run needs; token counts are in tokens seen (all ranks together)."""

    preset: str = "nextterm-1m"
    data: str = ""
    out: str = ""
    tokens: int = 1_000_000
    seed: int = 0
    model: dict[str, Any] = field(default_factory=dict)
    init_from: str = ""
    # batching: micro_batch_tokens is the padded token budget of one forward pass on one rank;
    # step_tokens is the budget of label tokens per optimizer step (gradient accumulation).
    context_len: int = 4096
    micro_batch_tokens: int = 16_384
    step_tokens: int = 65_536
    # auto_batch: probe micro_batch_tokens, then halves of it, and keep the largest that fits in
    # device memory (see nextterm.train.autobatch)
    auto_batch: bool = False
    # time_budget_s: end the loop after this many seconds even if `tokens` is not reached; the
    # schedule then follows the clock when it runs ahead of the tokens (0: no time limit)
    time_budget_s: float = 0.0
    # optimizers (the card: Muon for 2-D hidden weights, AdamW for the rest)
    muon_lr: float = 1e-2
    adamw_lr: float = 1e-4
    muon_momentum: float = 0.95
    muon_weight_decay: float = 0.0
    adamw_betas: tuple[float, float] = (0.9, 0.95)
    adamw_weight_decay: float = 0.0
    grad_clip: float = 1.0
    # schedule: linear warmup, cosine to min_lr_ratio, linear cooldown to 0 (fractions of tokens)
    warmup_frac: float = 0.01
    cooldown_frac: float = 0.1
    min_lr_ratio: float = 0.1
    # evaluation, checkpoints, logging (every_tokens values are in tokens seen; 0 disables)
    eval_every_tokens: int = 250_000
    val_tokens: int = 65_536
    accuracy_samples: int = 64
    checkpoint_every_tokens: int = 500_000
    keep_last: int = 3
    log_every_steps: int = 1
    # hardware
    device: str = "auto"
    dtype: str = "auto"
    compile: bool = False
    compile_backend: str = "inductor"  # "eager" / "aot_eager" trace without generating kernels
    peak_tflops: float = 0.0
    threads: int = 0  # torch intra-op threads on the CPU; 0 keeps torch's default

    def validate(self) -> TrainConfig:
        """Return self if every value is usable, else raise :class:`ConfigError`."""
        if not self.data:
            raise ConfigError("no training data directory given (--data)")
        if not self.out:
            raise ConfigError("no output directory given (--out)")
        positive = ("tokens", "context_len", "micro_batch_tokens", "step_tokens", "keep_last")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.tokens < self.step_tokens:  # else one step at learning rate 0 "succeeds"
            raise ConfigError(
                f"--tokens {self.tokens:,} is less than one optimizer step ({self.step_tokens:,} "
                "tokens, --step-tokens): train for more tokens or lower --step-tokens"
            )
        if self.micro_batch_tokens < self.context_len:
            raise ConfigError(
                f"micro_batch_tokens ({self.micro_batch_tokens}) must be at least "
                f"context_len ({self.context_len})"
            )
        for name in ("warmup_frac", "cooldown_frac", "min_lr_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.warmup_frac + self.cooldown_frac > 1.0:
            raise ConfigError("warmup_frac + cooldown_frac must not exceed 1")
        for name in (
            "eval_every_tokens",
            "checkpoint_every_tokens",
            "val_tokens",
            "accuracy_samples",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.muon_lr < 0 or self.adamw_lr < 0 or self.grad_clip < 0 or self.peak_tflops < 0:
            raise ConfigError("learning rates, grad_clip and peak_tflops must not be negative")
        if self.time_budget_s < 0:
            raise ConfigError(f"time_budget_s must not be negative, got {self.time_budget_s}")
        if self.compile_backend not in COMPILE_BACKENDS:
            raise ConfigError(
                f"compile_backend must be one of {', '.join(COMPILE_BACKENDS)}, got {self.compile_backend!r}"
            )
        if self.threads < 0:
            raise ConfigError(f"threads must not be negative, got {self.threads}")
        if self.log_every_steps <= 0:
            raise ConfigError("log_every_steps must be positive")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu or cuda[:N], got {self.device!r}")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ConfigError(f"dtype must be auto, float32 or bfloat16, got {self.dtype!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        values = dataclasses.asdict(self)
        values["adamw_betas"] = list(self.adamw_betas)
        return values


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(name: str, value: Any) -> Any:
    default = getattr(TrainConfig(), name)
    if name == "adamw_betas":
        if not (isinstance(value, (list, tuple)) and len(value) == 2):
            raise ConfigError("adamw_betas must be a pair of floats")
        return (float(value[0]), float(value[1]))
    if name == "model":
        if not isinstance(value, dict):
            raise ConfigError("model must be a table of create_model overrides")
        return dict(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


def make_config(values: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from ``values`` (e.g. a parsed TOML file), then ``overrides``.

    ``None`` overrides are ignored (unset CLI flags). Unknown names raise :class:`ConfigError`.
    """
    merged: dict[str, Any] = {}
    for source in (values or {}, overrides):
        for name, value in source.items():
            if value is None:
                continue
            if name not in _FIELDS:
                raise ConfigError(f"unknown training config key {name!r}")
            merged[name] = _coerce(name, value)
    return TrainConfig(**merged)


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Read a TOML config file (if given), apply ``overrides`` and validate the result."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            with path.open("rb") as handle:
                values = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    return make_config(values, **overrides).validate()
