"""Small JSON files the package writes and reads back (calibration maps, the learned ranker):
written atomically, read with one clear error per way a file can be wrong."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from nextterm.errors import NextTermError


def save_json(path: str | Path, data: dict, indent: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, then a rename), readable
    like the checkpoint's other files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=indent)
        handle.write("\n")
    os.chmod(temp, 0o644)  # mkstemp makes it 0600
    os.replace(temp, path)
    return path


def load_json(path: str | Path, kind: str, file_format: str, error: type[NextTermError]) -> dict:
    """The object in the ``kind`` file ``path`` (e.g. "ranker"), which must declare
    ``{"format": file_format}``; ``error`` says what is wrong otherwise."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as failure:
        raise error(f"cannot read {kind} file {path}: {failure.strerror}") from failure
    except ValueError as failure:
        raise error(f"{kind} file {path} is not valid JSON") from failure
    if not isinstance(data, dict) or data.get("format") != file_format:
        raise error(f"{path} is not a nextterm {kind} file ({file_format})")
    return data
