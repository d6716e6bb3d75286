"""Length-bucketed training batches of whole sequences from a packed file, resumable and sharded.

Every example is one sequence from its start (``BOS t1 , t2 , ...``), never several sequences
concatenated. A sequence longer than ``context_len`` is cut after the last separator that fits, so
an example always ends on a term boundary (sequences whose first term does not fit are skipped;
:attr:`TokenBatches.skipped` counts them). Examples are right-padded with PAD (id 14);
``labels`` equal ``input_ids`` on real tokens and -100 on padding (Hugging Face causal-LM models
shift labels themselves, so the loss covers every real next token).

Sampling, per epoch ``e``: the valid sequences are shuffled with ``default_rng([seed, e])``, cut
into buckets of ``bucket_size`` sequences, each bucket sorted by length and split greedily into
batches with ``B * T <= max_tokens`` (``T`` the longest example in the batch), and the batch order
is shuffled again. The default bucket holds about :data:`BATCHES_PER_BUCKET` batches (at least
:data:`MIN_BUCKET_SIZE` sequences): a bucket of only a few large batches pads each one to its
longest member (at 262,144 tokens per batch on OEIS, buckets of 4,096 sequences left 27% padding
and 19% of the budget unfilled; buckets of 65,536 sequences, 4% and 1%). Rank ``r`` of ``world_size`` takes batches ``r, r + world_size, ...``; every
rank gets the same number per epoch (the remainder is dropped), so distributed steps stay in
lockstep. Iteration never ends (epoch after epoch); :meth:`TokenBatches.state_dict` records the
epoch and the batches already yielded, and :meth:`TokenBatches.load_state_dict` resumes exactly
there.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from nextterm.data import DataError
from nextterm.data.packed import PackedReader
from nextterm.tokenizer import PAD_ID, SEP_ID

IGNORE_INDEX = -100
BATCHES_PER_BUCKET = 64
MIN_BUCKET_SIZE = 4096


class TokenBatches:
    """Infinite iterable of ``{"input_ids", "attention_mask", "labels"}`` LongTensor batches."""

    def __init__(
        self,
        reader: PackedReader,
        max_tokens: int,
        context_len: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        bucket_size: int | None = None,
    ) -> None:
        if context_len < 2:
            raise DataError(f"context_len must be at least 2, got {context_len}")
        if max_tokens < context_len:
            raise DataError(
                f"max_tokens ({max_tokens}) must be at least context_len ({context_len})"
            )
        if world_size < 1 or not 0 <= rank < world_size:
            raise DataError(f"rank {rank} is not valid for world_size {world_size}")
        if bucket_size is not None and bucket_size < 1:
            raise DataError(f"bucket_size must be positive, got {bucket_size}")
        self.reader = reader
        self.max_tokens = max_tokens
        self.context_len = context_len
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.example_lengths = self._example_lengths()
        self.valid = np.flatnonzero(self.example_lengths >= 2)
        if bucket_size is None:
            mean_length = float(self.example_lengths[self.valid].mean()) if len(self.valid) else 1.0
            bucket_size = max(MIN_BUCKET_SIZE, int(BATCHES_PER_BUCKET * max_tokens / mean_length))
        self.bucket_size = bucket_size
        self.skipped = len(reader) - len(self.valid)
        self.epoch = 0
        self.step = 0
        self._plan_epoch = -1
        self._plan: list[np.ndarray] = []
        if self.batches_in_epoch == 0:
            raise DataError(
                f"{len(self.valid)} usable sequences make fewer batches than world_size={world_size}"
            )

    def _example_lengths(self) -> np.ndarray:
        """Tokens used from each sequence: all of it, or up to its last separator in context."""
        lengths = np.asarray(self.reader.lengths, dtype=np.int64).copy()
        for index in np.flatnonzero(lengths > self.context_len):
            tokens = self.reader.read(int(self.reader.offsets[index]), self.context_len)
            separators = np.flatnonzero(tokens == SEP_ID)
            lengths[index] = separators[-1] + 1 if len(separators) else 0
        return lengths

    def _epoch_plan(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches (arrays of sequence indices) for ``epoch``."""
        if epoch == self._plan_epoch:
            return self._plan
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.valid)
        batches: list[np.ndarray] = []
        for start in range(0, len(order), self.bucket_size):
            bucket = order[start : start + self.bucket_size]
            bucket = bucket[np.argsort(self.example_lengths[bucket], kind="stable")]
            lengths = self.example_lengths[bucket].tolist()
            first = 0
            for end in range(1, len(bucket) + 1):
                if end < len(bucket) and (end + 1 - first) * lengths[end] <= self.max_tokens:
                    continue
                batches.append(bucket[first:end])
                first = end
        shuffled = [batches[i] for i in rng.permutation(len(batches))]
        per_rank = len(shuffled) // self.world_size
        self._plan = shuffled[self.rank : per_rank * self.world_size : self.world_size]
        self._plan_epoch = epoch
        return self._plan

    @property
    def batches_in_epoch(self) -> int:
        """Batches this rank yields in the current epoch."""
        return len(self._epoch_plan(self.epoch))

    def collate(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """The padded batch of the sequences ``indices``."""
        lengths = self.example_lengths[indices]
        width = int(lengths.max())
        mask = np.arange(width) < lengths[:, None]
        # one gather for the whole batch (a Python loop over rows is slower than a GPU step)
        starts = self.reader.offsets[indices].astype(np.int64)[:, None]
        positions = np.where(mask, starts + np.arange(width), starts)
        ids = np.where(mask, self.reader.gather(positions), PAD_ID).astype(np.int64)
        labels = np.where(mask, ids, IGNORE_INDEX)
        return {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask.astype(np.int64)),
            "labels": torch.from_numpy(labels),
        }

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            plan = self._epoch_plan(self.epoch)
            while self.step < len(plan):
                indices = plan[self.step]
                self.step += 1
                yield self.collate(indices)
            self.epoch += 1
            self.step = 0

    def state_dict(self) -> dict[str, int]:
        """Position (epoch, batches yielded in it) plus the settings it is only valid for."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "seed": self.seed,
            "world_size": self.world_size,
            "max_tokens": self.max_tokens,
            "context_len": self.context_len,
            "bucket_size": self.bucket_size,
            "num_sequences": len(self.reader),
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume at ``state``'s position; raises ValueError if it was made with other settings."""
        current = self.state_dict()
        for key in (
            "seed",
            "world_size",
            "max_tokens",
            "context_len",
            "bucket_size",
            "num_sequences",
        ):
            if key in state and int(state[key]) != current[key]:
                raise DataError(
                    f"batch state was saved with {key}={state[key]}, this sampler has {current[key]}"
                )
        epoch, step = int(state["epoch"]), int(state["step"])
        if epoch < 0 or not 0 <= step <= len(self._epoch_plan(epoch)):
            raise DataError(f"batch state position epoch={epoch} step={step} is out of range")
        self.epoch, self.step = epoch, step
