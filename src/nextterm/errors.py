"""The base of every error a user can cause: bad input, a missing or malformed file, settings that
cannot work together.

Each room raises its own subclass (:class:`~nextterm.sequences.SequenceError`,
:class:`~nextterm.models.checkpoint.CheckpointError`, ...). The command line and the HTTP server
catch :class:`NextTermError` alone and report its message to the user; any other exception is a
bug and is reported as one, with its traceback. It subclasses ``ValueError`` so that callers that
caught ``ValueError`` before keep working.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback


class NextTermError(ValueError):
    """Something the user asked for cannot be done; the message says what and how to fix it."""


def report_bug(error: BaseException) -> str:
    """Write the traceback of ``error`` (not a :class:`NextTermError`) to a file in the temporary
    directory and return one line for the user that says it is a bug and where the file is."""
    text = "".join(traceback.format_exception(error))
    handle, name = tempfile.mkstemp(
        prefix=f"nextterm-bug-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt"
    )
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    summary = (
        f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
    )
    return f"internal error (a bug in nextterm, not in your input): {summary}; traceback written to {name}"
