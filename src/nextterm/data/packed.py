"""Nibble-packed token files: the on-disk format of the training data, its writer and its reader.

Every token id of the 16-token vocabulary (:mod:`nextterm.tokenizer`) fits in 4 bits, so a file
stores two tokens per byte. Each stored sequence is one whole example: ``BOS t1 , t2 , ... , EOS``.

Layout (all integers little-endian)::

    offset  size        field
    0       8           magic  b"NTPACKED"
    8       4           version (uint32, currently 1)
    12      4           flags (uint32, 0; reserved)
    16      8           count: number of sequences N (uint64)
    24      8           total_tokens: sum of all lengths (uint64)
    32      8 * N       offsets: start of each sequence, in tokens (nibbles) from the data start
    32+8N   4 * N       lengths: tokens in each sequence (uint32)
    32+12N  ceil(T/2)   data: token k of the stream is the low nibble of byte k // 2 when k is
                        even and the high nibble when k is odd

Sequences are written back to back in the nibble stream (offset[i+1] = offset[i] + length[i] for a
file made by :class:`PackedWriter`), so nothing is wasted on padding; a reader only relies on the
index, so other writers may leave gaps. :class:`PackedReader` memory-maps the file: opening it
costs nothing and ``reader[i]`` unpacks only sequence ``i``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from nextterm.errors import NextTermError

MAGIC = b"NTPACKED"
VERSION = 1
HEADER_SIZE = 32
_HEADER_DTYPE = np.dtype(
    [("magic", "S8"), ("version", "<u4"), ("flags", "<u4"), ("count", "<u8"), ("total", "<u8")]
)
_FLUSH_TOKENS = 1 << 22
_RANGE_MESSAGE = "token ids must be in 0..15 to be packed as nibbles"


class PackedFormatError(NextTermError):
    """A file is not a valid packed token file, or tokens cannot be packed."""


def pack_nibbles(tokens: np.ndarray) -> np.ndarray:
    """Pack an even-length uint8 array of ids 0-15 into bytes (first id in the low nibble)."""
    return tokens[0::2] | (tokens[1::2] << 4)


def unpack_nibbles(data: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_nibbles`: ``2 * len(data)`` ids."""
    out = np.empty(2 * len(data), dtype=np.uint8)
    out[0::2] = data & 0x0F
    out[1::2] = data >> 4
    return out


class PackedWriter:
    """Stream sequences of token ids into a packed file; the file appears atomically on close.

    Use as a context manager::

        with PackedWriter("train.packed") as writer:
            writer.add([12, 1, 11, 13])
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._data = tempfile.NamedTemporaryFile(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".data", delete=False
        )
        self._lengths: list[int] = []
        self._pending: list[np.ndarray] = []
        self._pending_tokens = 0
        self._carry: np.ndarray = np.zeros(0, dtype=np.uint8)
        self._closed = False

    @property
    def count(self) -> int:
        """Sequences added so far."""
        return len(self._lengths)

    def add(self, tokens: Sequence[int] | np.ndarray) -> None:
        """Append one sequence of token ids (each 0-15)."""
        array = np.asarray(tokens)
        if array.ndim != 1:
            raise PackedFormatError("a sequence of token ids must be one-dimensional")
        if array.size >= 1 << 32:
            raise PackedFormatError("a sequence may hold at most 2**32 - 1 tokens")
        if array.dtype != np.uint8:  # uint8 arrays are range-checked in bulk by _flush
            if array.size and (array.min() < 0 or array.max() > 15):
                raise PackedFormatError(_RANGE_MESSAGE)
            array = array.astype(np.uint8)
        self._lengths.append(int(array.size))
        self._pending.append(array)
        self._pending_tokens += array.size
        if self._pending_tokens >= _FLUSH_TOKENS:
            self._flush()

    def add_many(self, sequences: Iterable[Sequence[int] | np.ndarray]) -> None:
        """Append every sequence of ``sequences``."""
        for tokens in sequences:
            self.add(tokens)

    def _flush(self, final: bool = False) -> None:
        stream = np.concatenate([self._carry, *self._pending]) if self._pending else self._carry
        self._pending, self._pending_tokens = [], 0
        if stream.size and stream.max() > 15:
            raise PackedFormatError(_RANGE_MESSAGE)
        if final and stream.size % 2:
            stream = np.concatenate([stream, np.zeros(1, dtype=np.uint8)])
        even = stream.size - stream.size % 2
        self._data.write(pack_nibbles(stream[:even]).tobytes())
        self._carry = stream[even:].copy()

    def close(self) -> Path:
        """Write header, index and data to :attr:`path` and return it."""
        if self._closed:
            return self.path
        try:
            self._flush(final=True)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._data.close()
        lengths = np.asarray(self._lengths, dtype="<u4")
        offsets = np.zeros(len(lengths), dtype="<u8")
        if len(lengths) > 1:
            np.cumsum(lengths[:-1], dtype="<u8", out=offsets[1:])
        header = np.zeros(1, dtype=_HEADER_DTYPE)
        header[0] = (MAGIC, VERSION, 0, len(lengths), int(lengths.sum(dtype=np.uint64)))
        final = tempfile.NamedTemporaryFile(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp", delete=False
        )
        try:
            with final:
                final.write(header.tobytes())
                final.write(offsets.tobytes())
                final.write(lengths.tobytes())
                with open(self._data.name, "rb") as data:
                    shutil.copyfileobj(data, final, 1 << 22)
            os.chmod(final.name, 0o644)
            os.replace(final.name, self.path)
        finally:
            Path(self._data.name).unlink(missing_ok=True)
            Path(final.name).unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        """Discard everything written; :attr:`path` is left untouched."""
        self._closed = True
        self._data.close()
        Path(self._data.name).unlink(missing_ok=True)

    def __enter__(self) -> PackedWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_packed(path: str | Path, sequences: Iterable[Sequence[int] | np.ndarray]) -> Path:
    """Write ``sequences`` (each a list or array of token ids) to a packed file at ``path``."""
    with PackedWriter(path) as writer:
        writer.add_many(sequences)
    return Path(path)


class PackedReader:
    """Memory-mapped random access to a packed file: ``len(reader)``, ``reader[i]`` (uint8 ids).

    Attributes:
        lengths: uint32 array, tokens in each sequence.
        offsets: uint64 array, start of each sequence in the nibble stream.
        total_tokens: sum of the lengths.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
        except OSError as error:
            raise PackedFormatError(
                f"cannot read packed file {self.path}: {error.strerror}"
            ) from error
        if size < HEADER_SIZE:
            raise PackedFormatError(f"{self.path} is too short to be a packed token file")
        header = np.fromfile(self.path, dtype=_HEADER_DTYPE, count=1)[0]
        if bytes(header["magic"]) != MAGIC:
            raise PackedFormatError(f"{self.path} is not a packed token file (bad magic)")
        if int(header["version"]) != VERSION:
            raise PackedFormatError(
                f"{self.path} has format version {int(header['version'])}; this reader knows {VERSION}"
            )
        count, self.total_tokens = int(header["count"]), int(header["total"])
        data_start = HEADER_SIZE + 12 * count
        if size < data_start:
            raise PackedFormatError(f"{self.path} is truncated (index incomplete)")
        self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        self.offsets = self._map[HEADER_SIZE : HEADER_SIZE + 8 * count].view("<u8")
        self.lengths = self._map[HEADER_SIZE + 8 * count : data_start].view("<u4")
        self._data = self._map[data_start:]
        if count and int(self.offsets[-1]) + int(self.lengths[-1]) > 2 * len(self._data):
            raise PackedFormatError(f"{self.path} is truncated (data shorter than its index)")

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> np.ndarray:
        count = len(self.lengths)
        if not -count <= index < count:
            raise IndexError(f"sequence index {index} out of range for {count} sequences")
        return self.read(int(self.offsets[index]), int(self.lengths[index]))

    def read(self, start: int, length: int) -> np.ndarray:
        """``length`` ids of the nibble stream from token position ``start``."""
        first = start >> 1
        tokens = unpack_nibbles(self._data[first : (start + length + 1) >> 1])
        skip = start & 1
        return tokens[skip : skip + length]

    def gather(self, positions: np.ndarray) -> np.ndarray:
        """The ids at nibble-stream ``positions`` (an int64 array of any shape), as uint8."""
        data = self._data[positions >> 1]
        return (data >> ((positions & 1) << 2).astype(np.uint8)) & 0x0F

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self[index]
