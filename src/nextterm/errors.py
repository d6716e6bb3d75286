"""The base of every error a user can cause: bad input, a missing or malformed file, settings that
cannot work together.

Each room raises its own subclass (:class:`~nextterm.sequences.SequenceError`,
:class:`~nextterm.models.checkpoint.CheckpointError`, ...). The command line and the HTTP server
catch :class:`NextTermError` alone and report its message to the user; any other exception is a
bug and is reported as one, with its traceback. It subclasses ``ValueError`` so that callers that
caught ``ValueError`` before keep working.
"""

from __future__ import annotations


class NextTermError(ValueError):
    """Something the user asked for cannot be done; the message says what and how to fix it."""
