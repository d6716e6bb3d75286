"""The OEIS lookup index: find the sequences that contain given terms as a contiguous run.

:class:`LookupIndex` is built once from the OEIS ``stripped.gz`` (and optionally ``names.gz``),
restricted to a set of allowed A-numbers (the training split, so that held-out sequences are
never found), and saved as one file that loads by memory-mapping (milliseconds).

How it works: every term is reduced to a 64-bit fingerprint of its absolute value (the value
itself below 2^63, a hash of its digits above, the sign kept apart); every run of
:data:`GRAM` consecutive fingerprints is hashed to a key, and the keys are sorted. A query looks
up the rarest of its own runs, then checks the whole query against each hit with vectorized
comparisons. Matches are ranked as the OEIS page lists them (:meth:`LookupIndex.search`): how
much of the sequence the query covers (how few of its terms come before the match), a name, a term
after the match, then the A-number.
:meth:`LookupIndex.suffix_matches` finds the occurrences of a query's trailing terms instead, with
how far back each one agrees.

Data: The On-Line Encyclopedia of Integer Sequences (https://oeis.org), CC BY-SA 4.0.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nextterm.data.oeis import read_names, read_stripped
from nextterm.errors import NextTermError

GRAM = 3
"""Consecutive terms hashed together in the index; queries need at least this many terms."""

RANK_NOT_AT_START = 1.0
RANK_NO_NAME = 0.5
"""Penalties added to ``log10(A-number)`` when the lookup of relatives ranks the sequences of a
chain (lower ranks first): a match not at the start of its sequence (leading zeros aside, see
:meth:`LookupIndex.terms_before`), a sequence without a name. Low A-numbers are the classic,
most-referenced sequences, which is what a user typing a known sequence usually means."""

MAX_HITS = 4096
"""Most occurrences of a query's rarest run examined by :meth:`LookupIndex.suffix_matches`."""

_MAGIC = b"NEXTTERM-LOOKUP-1\n"
_BIG = np.uint64(1 << 63)
_MASK = (1 << 63) - 1
_STR_BITS = 14_000
"""Magnitudes this wide have more digits than ``str()`` converts by default (4300), and far more
than any OEIS term; they are hashed from their bytes, so they never match a stored term."""
_ALIGN = 64


class LookupIndexError(NextTermError):
    """The lookup index file is missing, unreadable or of another format."""


@dataclass(frozen=True)
class LookupMatch:
    """One sequence containing the query: where, and what follows it there."""

    anum: str
    name: str
    offset: int
    next_terms: tuple[int, ...]
    score: float = 0.0
    """``log10(A-number)`` plus the penalties of :data:`RANK_NOT_AT_START` (lower is better)."""
    before: int = 0
    """Terms of the sequence before the match, leading zeros aside (0: it covers the start)."""


@dataclass(frozen=True)
class SuffixHits:
    """Occurrences of a query's trailing terms that have a term after them, one per sequence
    (its longest, then earliest, occurrence); parallel arrays."""

    seq: np.ndarray
    """Sequence number in the index (see :meth:`LookupIndex.anum`, :meth:`LookupIndex.name`)."""
    anum: np.ndarray
    """A-number as an integer."""
    window: np.ndarray
    """How many trailing query terms agree with the sequence there."""
    offset: np.ndarray
    """Index in the sequence of the first agreeing term."""
    next_pos: np.ndarray
    """Flat position of the term after the match (read it with :meth:`LookupIndex.value`)."""
    next_mag: np.ndarray
    """Fingerprint of that term's magnitude (:func:`fingerprint`)."""
    next_neg: np.ndarray
    """Whether that term is negative."""
    named: np.ndarray
    """Whether the sequence has a name."""

    def __len__(self) -> int:
        return len(self.seq)

    def take(self, rows: np.ndarray) -> SuffixHits:
        """The hits at ``rows``."""
        return SuffixHits(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


def fingerprint(value: int) -> int:
    """64-bit fingerprint of ``|value|``: the value itself below 2^63, else a flagged hash."""
    magnitude = abs(int(value))
    if magnitude <= _MASK:
        return magnitude
    if magnitude.bit_length() > _STR_BITS:
        data = b"bytes:" + magnitude.to_bytes(-(-magnitude.bit_length() // 8), "little")
    else:
        data = str(magnitude).encode()
    digest = hashlib.blake2b(data, digest_size=8).digest()
    return (int.from_bytes(digest, "little") & _MASK) | (1 << 63)


def _gram_keys(mag: np.ndarray) -> np.ndarray:
    """Key of each run of GRAM fingerprints starting at positions 0..len-GRAM."""
    count = len(mag) - GRAM + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        key = np.zeros(count, dtype=np.uint64)
        for shift in range(GRAM):
            key = key * np.uint64(0x9E3779B97F4A7C15) + mag[shift : shift + count]
            key ^= key >> np.uint64(29)
        key *= np.uint64(0xBF58476D1CE4E5B9)
        key ^= key >> np.uint64(32)
    return key


def _parse_terms(text: str) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """Fingerprints, sign flags and the (position, digits) of big terms of one stripped line."""
    tokens = text.rstrip(",").split(",") if text else []
    try:
        values = np.array(tokens, dtype=np.int64)
        return np.abs(values).astype(np.uint64), (values < 0).astype(np.uint8), []
    except OverflowError:
        pass
    mags, negs, big = [], [], []
    for position, token in enumerate(tokens):
        value = int(token)
        mags.append(fingerprint(value))
        negs.append(1 if value < 0 else 0)
        if abs(value) > _MASK:
            big.append((position, token.lstrip("-")))
    return np.array(mags, dtype=np.uint64), np.array(negs, dtype=np.uint8), big


def _anum_int(anum: str) -> int:
    return int(anum.lstrip("A"))


class LookupIndex:
    """Searchable index over OEIS terms (see the module docstring)."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        # plain views of the memory maps: indexing a np.memmap wraps every result in a new memmap
        self.arrays = {name: np.asarray(array) for name, array in arrays.items()}
        arrays = self.arrays
        self.meta = meta
        self._anums = arrays["anums"]
        self._seq_start = arrays["seq_start"]
        self._mag = arrays["mag"]
        self._neg = arrays["neg"]
        self._keys = arrays["keys"]
        self._key_pos = arrays["key_pos"]

    def __len__(self) -> int:
        return len(self._anums)

    # --- building and storage ----------------------------------------------------------------

    @classmethod
    def build(
        cls,
        stripped_path: str | Path,
        names_path: str | Path | None = None,
        allowed_ids: Iterable[str] | None = None,
        progress: bool = True,
    ) -> LookupIndex:
        """Index every sequence of ``stripped_path`` whose A-number is in ``allowed_ids``
        (all when ``None``), with names from ``names_path`` when given."""
        started = time.perf_counter()
        allowed = None if allowed_ids is None else {a.strip() for a in allowed_ids if a.strip()}
        names = read_names(names_path) if names_path is not None else {}
        anums, mags, negs, starts = [], [], [], [0]
        big_pos, big_text = [], []
        total = 0
        for anum, text in tqdm(
            read_stripped(stripped_path), desc="indexing OEIS", unit="seq", disable=not progress
        ):
            if allowed is not None and anum not in allowed:
                continue
            mag, neg, big = _parse_terms(text)
            anums.append(_anum_int(anum))
            mags.append(mag)
            negs.append(neg)
            big_pos.extend(total + position for position, _ in big)
            big_text.extend(digits for _, digits in big)
            total += len(mag)
            starts.append(total)
        mag = np.concatenate(mags) if mags else np.zeros(0, dtype=np.uint64)
        neg = np.concatenate(negs) if negs else np.zeros(0, dtype=np.uint8)
        seq_start = np.array(starts, dtype=np.int64)
        keys, key_pos = [], []
        for index in range(len(anums)):
            lo, hi = seq_start[index], seq_start[index + 1]
            found = _gram_keys(mag[lo:hi])
            keys.append(found)
            key_pos.append(np.arange(lo, lo + len(found), dtype=np.uint32))
        key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)
        pos = np.concatenate(key_pos) if key_pos else np.zeros(0, dtype=np.uint32)
        order = np.argsort(key, kind="stable")
        name_bytes = [names.get(f"A{a:06d}", "").encode() for a in anums]
        arrays = {
            "anums": np.array(anums, dtype=np.int64),
            "seq_start": seq_start,
            "mag": mag,
            "neg": neg,
            "keys": key[order],
            "key_pos": pos[order],
            "big_pos": np.array(big_pos, dtype=np.int64),
            **_blob("big", [t.encode() for t in big_text]),
            **_blob("name", name_bytes),
        }
        meta = {
            "stripped": str(stripped_path),
            "names": str(names_path) if names_path is not None else None,
            "sequences": len(anums),
            "terms": int(total),
            "restricted": allowed is not None,
            "build_seconds": round(time.perf_counter() - started, 2),
        }
        return cls(arrays, meta)

    def save(self, path: str | Path) -> Path:
        """Write the index as one memory-mappable file (atomically: temp file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        layout, offset = {}, 0
        for name, array in self.arrays.items():
            layout[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
            offset += -(-array.nbytes // _ALIGN) * _ALIGN
        header = json.dumps({"arrays": layout, "meta": self.meta}).encode()
        data_start = -(-(len(_MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "wb") as handle:
            handle.write(_MAGIC + len(header).to_bytes(8, "little") + header)
            for name, array in self.arrays.items():
                handle.seek(data_start + layout[name]["offset"])
                handle.write(np.ascontiguousarray(array).tobytes())
            handle.truncate(data_start + offset)
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LookupIndex:
        """Open a saved index (memory-mapped: loading costs milliseconds, pages load on use)."""
        path = Path(path)
        try:
            with open(path, "rb") as handle:
                if handle.read(len(_MAGIC)) != _MAGIC:
                    raise LookupIndexError(f"{path} is not a nextterm lookup index")
                length = int.from_bytes(handle.read(8), "little")
                header = json.loads(handle.read(length))
        except OSError as error:
            raise LookupIndexError(f"cannot read lookup index {path}: {error.strerror}") from error
        data_start = -(-(len(_MAGIC) + 8 + length) // _ALIGN) * _ALIGN
        arrays = {}
        for name, spec in header["arrays"].items():
            shape = tuple(spec["shape"])
            if int(np.prod(shape)) == 0:
                arrays[name] = np.zeros(shape, dtype=np.dtype(spec["dtype"]))
                continue
            arrays[name] = np.memmap(
                path,
                dtype=np.dtype(spec["dtype"]),
                mode="r",
                offset=data_start + spec["offset"],
                shape=shape,
            )
        return cls(arrays, header["meta"])

    # --- queries -------------------------------------------------------------------------------

    def name(self, index: int) -> str:
        lo, hi = self.arrays["name_off"][index], self.arrays["name_off"][index + 1]
        return bytes(self.arrays["name_text"][lo:hi]).decode()

    def anum(self, index: int) -> str:
        return f"A{int(self._anums[index]):06d}"

    def value(self, position: int) -> int:
        """Exact term at a flat position."""
        magnitude = int(self._mag[position])
        if magnitude >> 63:
            big = int(np.searchsorted(self.arrays["big_pos"], position))
            lo, hi = self.arrays["big_off"][big], self.arrays["big_off"][big + 1]
            magnitude = int(bytes(self.arrays["big_text"][lo:hi]).decode())
        return -magnitude if self._neg[position] else magnitude

    def terms(self, index: int) -> list[int]:
        """All stored terms of the ``index``-th sequence."""
        lo, hi = int(self._seq_start[index]), int(self._seq_start[index + 1])
        return [self.value(position) for position in range(lo, hi)]

    def following(self, index: int, position: int, count: int) -> list[int]:
        """Up to ``count`` exact terms of the ``index``-th sequence from flat ``position`` on."""
        stop = min(position + count, int(self._seq_start[index + 1]))
        return [self.value(p) for p in range(position, stop)]

    def search(
        self, terms: Sequence[int], limit: int = 10, ignore_sign: bool = False, n_next: int = 10
    ) -> list[LookupMatch]:
        """Sequences containing ``terms`` as a contiguous run, best first (at most ``limit``).

        Queries shorter than :data:`GRAM` terms find nothing.
        """
        terms = [int(t) for t in terms]
        if len(terms) < GRAM or limit < 1 or len(self._keys) == 0:
            return []
        query_mag = np.array([fingerprint(t) for t in terms], dtype=np.uint64)
        query_keys = _gram_keys(query_mag)
        lows = np.searchsorted(self._keys, query_keys, side="left")
        highs = np.searchsorted(self._keys, query_keys, side="right")
        rarest = int(np.argmin(highs - lows))
        hits = np.asarray(self._key_pos[lows[rarest] : highs[rarest]], dtype=np.int64) - rarest
        seq = np.searchsorted(self._seq_start, hits + rarest, side="right") - 1
        fits = (hits >= self._seq_start[seq]) & (hits + len(terms) <= self._seq_start[seq + 1])
        hits, seq = hits[fits], seq[fits]
        query_neg = np.array([t < 0 for t in terms], dtype=np.uint8)
        for k in range(len(terms)):
            if len(hits) == 0:
                break
            keep = self._mag[hits + k] == query_mag[k]
            if not ignore_sign:
                keep &= self._neg[hits + k] == query_neg[k]
            hits, seq = hits[keep], seq[keep]
        if len(hits) == 0:
            return []
        offsets = hits - self._seq_start[seq]
        remaining = self._seq_start[seq + 1] - (hits + len(terms))
        names = self.arrays["name_off"]
        before = self.terms_before(seq, offsets)
        unnamed = names[seq + 1] == names[seq]
        # the OEIS page's order: the query covering the sequence from its start, a name, a term
        # after the match, then the A-number; the earliest occurrence speaks for a sequence
        order = np.lexsort((offsets, self._anums[seq], remaining == 0, unnamed, before))
        score = (
            np.log10(self._anums[seq].astype(np.float64) + 1)
            + RANK_NOT_AT_START * (before != 0)
            + RANK_NO_NAME * unnamed
        )
        matches, seen = [], set()
        for i in order:
            index = int(seq[i])
            if index in seen:
                continue
            seen.add(index)
            follow = int(hits[i]) + len(terms)
            stop = min(follow + n_next, int(self._seq_start[index + 1]))
            matches.append(
                LookupMatch(
                    anum=self.anum(index),
                    name=self.name(index),
                    offset=int(offsets[i]),
                    next_terms=tuple(self.value(p) for p in range(follow, stop)),
                    score=float(score[i]),
                    before=int(before[i]),
                )
            )
            if len(matches) >= limit:
                break
        return matches

    def terms_before(self, seq: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Terms of each sequence before a match at ``offsets``, not counting its leading zeros:
        many OEIS entries start with ``a(0) = 0`` by convention (``0, 1, 1, 2, 3, 5`` is
        Fibonacci), so a match right after them still covers the sequence from its start."""
        seq = np.asarray(seq, dtype=np.int64)
        offsets = np.asarray(offsets, dtype=np.int64)
        before = offsets.copy()
        starts = self._seq_start[seq]
        position = np.zeros(len(seq), dtype=np.int64)
        pending = np.flatnonzero(offsets > 0)
        while len(pending):  # one pass per leading zero: almost always one or two
            pending = pending[self._mag[starts[pending] + position[pending]] == 0]
            before[pending] -= 1
            position[pending] += 1
            pending = pending[position[pending] < offsets[pending]]
        return before

    def suffix_matches(
        self, terms: Sequence[int], min_window: int, max_hits: int = MAX_HITS
    ) -> SuffixHits:
        """Occurrences of the last ``min_window`` or more of ``terms`` with a term after them,
        and how many trailing terms (up to all of ``terms``) agree at each.

        Only the first ``max_hits`` occurrences (lowest A-numbers) of the rarest run of the
        shortest window are examined when every window is that common (``0,0,0,0,0``). Otherwise
        a window too common to say much is skipped: the shortest window whose rarest run occurs
        at most ``max_hits`` times sets the minimum.
        """
        terms = [int(t) for t in terms]
        n = len(terms)
        min_window = max(min_window, GRAM)
        if n < min_window or len(self._keys) == 0:
            return _empty_hits()
        query_mag = np.array([fingerprint(t) for t in terms], dtype=np.uint64)
        query_neg = np.array([t < 0 for t in terms], dtype=np.uint8)
        keys = _gram_keys(query_mag)
        lows = np.searchsorted(self._keys, keys, side="left")
        counts = np.searchsorted(self._keys, keys, side="right") - lows
        # rarest run within the last k terms, for every k: a suffix minimum over the runs
        suffix_min = np.minimum.accumulate(counts[::-1])[::-1]
        rare = np.flatnonzero(suffix_min[: n - min_window + 1] <= max_hits)
        first = int(rare[-1]) if len(rare) else n - min_window  # start of the shortest window
        rarest = first + int(np.argmin(counts[first:]))
        if counts[rarest] == 0:
            return _empty_hits()
        found = self._key_pos[lows[rarest] : lows[rarest] + min(int(counts[rarest]), max_hits)]
        base = np.asarray(found, dtype=np.int64) - rarest  # where terms[0] would sit
        seq = np.searchsorted(self._seq_start, base + rarest, side="right") - 1
        fits = (base + first >= self._seq_start[seq]) & (base + n < self._seq_start[seq + 1])
        base, seq = base[fits], seq[fits]
        for k in range(first, n):
            if len(base) == 0:
                return _empty_hits()
            same = (self._mag[base + k] == query_mag[k]) & (self._neg[base + k] == query_neg[k])
            base, seq = base[same], seq[same]
        if len(base) == 0:
            return _empty_hits()
        window = np.full(len(base), n - first, dtype=np.int64)
        alive = np.arange(len(base))
        for k in range(first - 1, -1, -1):
            position = base[alive] + k
            inside = position >= self._seq_start[seq[alive]]
            alive, position = alive[inside], position[inside]
            same = (self._mag[position] == query_mag[k]) & (self._neg[position] == query_neg[k])
            alive = alive[same]
            if len(alive) == 0:
                break
            window[alive] += 1
        next_pos = base + n
        order = np.lexsort((next_pos, -window, seq))
        firsts = order[np.r_[True, seq[order][1:] != seq[order][:-1]]]
        seq, window, next_pos = seq[firsts], window[firsts], next_pos[firsts]
        names = self.arrays["name_off"]
        return SuffixHits(
            seq=seq,
            anum=np.asarray(self._anums[seq], dtype=np.int64),
            window=window,
            offset=next_pos - window - self._seq_start[seq],
            next_pos=next_pos,
            next_mag=np.asarray(self._mag[next_pos]),
            next_neg=np.asarray(self._neg[next_pos]),
            named=names[seq + 1] > names[seq],
        )


def _empty_hits() -> SuffixHits:
    none = np.zeros(0, dtype=np.int64)
    mag, neg, named = none.astype(np.uint64), none.astype(np.uint8), none.astype(bool)
    return SuffixHits(none, none, none, none, none, mag, neg, named)


def _blob(prefix: str, items: list[bytes]) -> dict[str, np.ndarray]:
    """Variable-length byte strings as one byte array plus offsets."""
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    if items:
        offsets[1:] = np.cumsum([len(item) for item in items])
    text = np.frombuffer(b"".join(items), dtype=np.uint8).copy()
    return {f"{prefix}_off": offsets, f"{prefix}_text": text}
