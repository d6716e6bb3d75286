"""The learning-rate schedule of the NextTerm card, as a pure function of tokens seen.

Linear warmup from 0 to the peak, cosine decay from the peak to ``min_ratio`` x peak, then a linear
cooldown from ``min_ratio`` x peak to 0 over the last ``cooldown_tokens``. The function returns a
multiplier in [0, 1] applied to every optimizer's base learning rate, so that a resumed run needs
nothing but its token count to be back on the curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nextterm.train.config import ConfigError


@dataclass(frozen=True)
class Schedule:
    """Warmup / cosine / cooldown over ``total_tokens`` (all counts in tokens seen)."""

    total_tokens: int
    warmup_tokens: int = 0
    cooldown_tokens: int = 0
    min_ratio: float = 0.1

    def __post_init__(self) -> None:
        if self.total_tokens <= 0:
            raise ConfigError(f"total_tokens must be positive, got {self.total_tokens}")
        if self.warmup_tokens < 0 or self.cooldown_tokens < 0:
            raise ConfigError("warmup_tokens and cooldown_tokens must not be negative")
        if self.warmup_tokens + self.cooldown_tokens > self.total_tokens:
            raise ConfigError("warmup_tokens + cooldown_tokens must not exceed total_tokens")
        if not 0.0 <= self.min_ratio <= 1.0:
            raise ConfigError(f"min_ratio must be in [0, 1], got {self.min_ratio}")

    @classmethod
    def from_fractions(
        cls, total_tokens: int, warmup_frac: float, cooldown_frac: float, min_ratio: float
    ) -> Schedule:
        """A schedule whose warmup and cooldown are fractions of ``total_tokens``."""
        return cls(
            total_tokens=total_tokens,
            warmup_tokens=int(total_tokens * warmup_frac),
            cooldown_tokens=int(total_tokens * cooldown_frac),
            min_ratio=min_ratio,
        )

    def multiplier(self, tokens: int) -> float:
        """Learning-rate multiplier after ``tokens`` tokens seen."""
        if tokens < self.warmup_tokens:
            return tokens / self.warmup_tokens
        decay_end = self.total_tokens - self.cooldown_tokens
        if tokens < decay_end:
            progress = (tokens - self.warmup_tokens) / (decay_end - self.warmup_tokens)
            cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
            return self.min_ratio + (1.0 - self.min_ratio) * cosine
        if tokens >= self.total_tokens:
            return 0.0
        return self.min_ratio * (self.total_tokens - tokens) / self.cooldown_tokens
