"""Muon + AdamW optimizer groups, the NextTerm card's hybrid.

``torch.optim.Muon`` takes the 2-D hidden weight matrices (attention and MLP projections);
``torch.optim.AdamW`` (fused) takes everything else: the token embedding, the output head (tied or not),
norms, biases and any parameter that is not 2-D. :class:`HybridOptimizer` steps both and sets their
learning rates from one schedule multiplier.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nextterm.train.checkpoints import ResumeError


@dataclass
class ParamSplit:
    """Names of the parameters each optimizer owns (each trainable parameter appears once)."""

    muon: list[tuple[str, nn.Parameter]]
    adamw: list[tuple[str, nn.Parameter]]


def split_parameters(model: nn.Module) -> ParamSplit:
    """Muon gets 2-D weights other than embeddings and the output head; AdamW gets the rest."""
    special: set[int] = set()
    for getter in ("get_input_embeddings", "get_output_embeddings"):
        module = getattr(model, getter, lambda: None)()
        if module is not None and getattr(module, "weight", None) is not None:
            special.add(id(module.weight))
    muon: list[tuple[str, nn.Parameter]] = []
    adamw: list[tuple[str, nn.Parameter]] = []
    seen: set[int] = set()
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        if param.ndim == 2 and id(param) not in special:
            muon.append((name, param))
        else:
            adamw.append((name, param))
    return ParamSplit(muon=muon, adamw=adamw)


class HybridOptimizer:
    """Muon and AdamW stepped together; learning rates are base rate x schedule multiplier."""

    def __init__(
        self,
        model: nn.Module,
        muon_lr: float = 1e-2,
        adamw_lr: float = 1e-4,
        muon_momentum: float = 0.95,
        muon_weight_decay: float = 0.0,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_weight_decay: float = 0.0,
    ) -> None:
        split = split_parameters(model)
        self.split = split
        self.optimizers: list[torch.optim.Optimizer] = []
        self.base_lrs: list[float] = []
        if split.muon:
            self.optimizers.append(
                torch.optim.Muon(
                    [param for _, param in split.muon],
                    lr=muon_lr,
                    momentum=muon_momentum,
                    weight_decay=muon_weight_decay,
                )
            )
            self.base_lrs.append(muon_lr)
        if split.adamw:
            self.optimizers.append(
                torch.optim.AdamW(
                    [param for _, param in split.adamw],
                    lr=adamw_lr,
                    betas=adamw_betas,
                    weight_decay=adamw_weight_decay,
                    fused=True,  # one kernel for all parameters (CUDA and CPU)
                )
            )
            self.base_lrs.append(adamw_lr)

    def __iter__(self) -> Iterator[torch.optim.Optimizer]:
        return iter(self.optimizers)

    def set_multiplier(self, multiplier: float) -> None:
        """Set every group's learning rate to its base rate times ``multiplier``."""
        for optimizer, base_lr in zip(self.optimizers, self.base_lrs, strict=True):
            for group in optimizer.param_groups:
                group["lr"] = base_lr * multiplier

    def lrs(self) -> dict[str, float]:
        """Current learning rate of each optimizer, by its class name."""
        return {
            type(optimizer).__name__.lower(): optimizer.param_groups[0]["lr"]
            for optimizer in self.optimizers
        }

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()

    def zero_grad(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> list[dict[str, Any]]:
        return [optimizer.state_dict() for optimizer in self.optimizers]

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        if len(states) != len(self.optimizers):
            raise ResumeError(
                f"optimizer state has {len(states)} optimizers, this model needs {len(self.optimizers)}"
            )
        for optimizer, state in zip(self.optimizers, states, strict=True):
            optimizer.load_state_dict(state)
