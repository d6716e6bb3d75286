"""The grammar of one generated term, as tensors the decode loop can index without Python work.

A term is an optional ``-``, then digits with no leading zero (``0`` alone is allowed, ``-0`` is
not), then one stop id (``,`` EOS or PAD). States:

``START`` (nothing yet) -> ``-`` MINUS | ``0`` ZERO | ``1-9`` DIGITS
``MINUS`` -> ``1-9`` DIGITS;  ``ZERO`` -> stop;  ``DIGITS`` -> ``0-9`` DIGITS | stop -> ``DONE``.

``allowed[state]`` is the boolean mask of permitted next ids; ``transition[state, id]`` the next state
(:class:`GrammarTables` in numpy, :class:`TermGrammar` on a torch device).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nextterm.tokenizer import MINUS_ID, STOP_IDS, VOCAB_SIZE

if TYPE_CHECKING:
    import torch

START, MINUS, ZERO, DIGITS, DONE = range(5)
DIGIT_IDS = tuple(range(10))
NONZERO_IDS = tuple(range(1, 10))
CONTENT_IDS = tuple(range(MINUS_ID + 1))
"""Ids that continue a term (digits and ``-``): ids 0..10, so a slice ``[:11]`` of the logits."""


@dataclass(frozen=True)
class GrammarTables:
    """The grammar as numpy arrays (what the numpy engine indexes; :class:`TermGrammar` is the
    same on a torch device)."""

    allowed: np.ndarray  # [states, V] bool
    transition: np.ndarray  # [states, V] int64
    can_stop: np.ndarray  # [states] bool
    is_stop: np.ndarray  # [V] bool

    @classmethod
    def build(cls) -> GrammarTables:
        allowed = np.zeros((5, VOCAB_SIZE), dtype=bool)
        transition = np.full((5, VOCAB_SIZE), DONE, dtype=np.int64)
        allowed[START, [*DIGIT_IDS, MINUS_ID]] = True
        transition[START, MINUS_ID] = MINUS
        transition[START, 0] = ZERO
        transition[START, list(NONZERO_IDS)] = DIGITS
        allowed[MINUS, list(NONZERO_IDS)] = True
        transition[MINUS, list(NONZERO_IDS)] = DIGITS
        allowed[ZERO, list(STOP_IDS)] = True
        allowed[DIGITS, [*DIGIT_IDS, *STOP_IDS]] = True
        transition[DIGITS, list(DIGIT_IDS)] = DIGITS
        allowed[DONE] = True
        is_stop = np.zeros(VOCAB_SIZE, dtype=bool)
        is_stop[list(STOP_IDS)] = True
        can_stop = allowed[:, list(STOP_IDS)].any(-1) & (np.arange(5) != DONE)
        return cls(allowed, transition, can_stop, is_stop)


@dataclass(frozen=True)
class TermGrammar:
    allowed: torch.Tensor  # [states, V] bool
    transition: torch.Tensor  # [states, V] long
    can_stop: torch.Tensor  # [states] bool
    is_stop: torch.Tensor  # [V] bool

    @classmethod
    def build(cls, device: torch.device | str = "cpu") -> TermGrammar:
        import torch

        tables = GrammarTables.build()
        return cls(
            *(
                torch.from_numpy(table).to(device)
                for table in (tables.allowed, tables.transition, tables.can_stop, tables.is_stop)
            )
        )

    def allowed_ids(self, generated: list[int]) -> list[int]:
        """Ids permitted after the term prefix ``generated`` (for ``generate``'s
        ``prefix_allowed_tokens_fn``; used by tests and the benchmark)."""
        state = START
        for token_id in generated:
            if self.is_stop[token_id]:
                return list(range(VOCAB_SIZE))
            state = int(self.transition[state, token_id])
        return self.allowed[state].nonzero().flatten().tolist()
