"""Readers for the OEIS file formats: ``stripped(.gz)``, ``names(.gz)`` and b-files.

* stripped: ``A000045 ,0,1,1,2,3,5,...,`` one sequence a line, ``#`` comment lines.
* names: ``A000045 Fibonacci numbers: ...`` one a line, ``#`` comment lines.
* b-file ``bNNNNNN.txt``: lines ``n a(n)`` (``#`` comments, blank lines), consecutive ``n``.

Sequences are handled as canonical text (``"0,1,1,2,"``, every term followed by a comma): that is
the stripped format's own spelling and the model's text format, so reading a 300k-sequence file
costs no integer parsing. Files ending in ``.gz`` are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from nextterm.errors import NextTermError

_STRIPPED_LINE = re.compile(r"(A\d{6,}) ,((?:-?\d+,)*)")
_NAMES_LINE = re.compile(r"(A\d{6,}) (.*)")
_BFILE_LINE = re.compile(r"(-?\d+)\s+(-?\d+)")


class OeisFormatError(NextTermError):
    """An OEIS file does not follow its documented format."""


def open_text(path: str | Path) -> IO[str]:
    """Open ``path`` for reading text, decompressing ``.gz`` files."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as error:
        raise OeisFormatError(f"cannot read {path}: {error.strerror or error}") from error


def read_stripped(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield ``(A-number, canonical terms text)`` for each sequence of a stripped file.

    Raises:
        OeisFormatError: a line is neither a comment nor ``A-number ,t1,t2,...,``.
    """
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            match = _STRIPPED_LINE.fullmatch(line)
            if match is None:
                raise OeisFormatError(f"{path}:{number}: not a stripped-format line: {line[:60]!r}")
            yield match.group(1), match.group(2)


def read_names(path: str | Path) -> dict[str, str]:
    """Map A-number -> sequence name from a names file."""
    names = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            match = _NAMES_LINE.fullmatch(line)
            if match is None:
                raise OeisFormatError(f"{path}:{number}: not a names-format line: {line[:60]!r}")
            names[match.group(1)] = match.group(2)
    return names


def read_bfile(path: str | Path) -> str:
    """Canonical terms text of a b-file (terms in file order; indices must be consecutive)."""
    terms, previous = [], None
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = _BFILE_LINE.fullmatch(line)
            if match is None:
                raise OeisFormatError(f"{path}:{number}: not a b-file line 'n a(n)': {line[:60]!r}")
            index = int(match.group(1))
            if previous is not None and index != previous + 1:
                raise OeisFormatError(f"{path}:{number}: index {index} does not follow {previous}")
            previous = index
            terms.append(match.group(2))
    return "".join(f"{term}," for term in terms)


def bfile_path(directory: str | Path, anumber: str) -> Path:
    """Where the b-file of ``anumber`` lives in ``directory`` (``A000045`` -> ``b000045.txt``)."""
    return Path(directory) / f"b{anumber[1:]}.txt"


def extend_with_bfile(text: str, bfile_text: str) -> str:
    """The b-file terms when they extend ``text`` (start with all its terms), else ``text``."""
    if len(bfile_text) > len(text) and bfile_text.startswith(text):
        return bfile_text
    return text
