"""Option values checked while the command line is parsed, before anything heavy loads.

Every checker is an ``argparse`` ``type=`` function: a wrong value stops the command with a message
in the user's words (``-n must be between 1 and 100, got 0``) before a model or an index is read.
:class:`CommandLineParser` turns argparse's own complaints (unknown option, missing value) into a
:class:`UsageError` instead of printing the usage and exiting, so the command line reports every
error the same way (one line, or a JSON object under ``--json``).

Only the standard library is imported here; torch is imported to check ``--device`` only when a
device other than the CPU is named.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from nextterm.errors import NextTermError

_DEVICE = re.compile(r"(cpu|cuda|mps)(:[0-9]+)?")


class UsageError(NextTermError):
    """The command line itself is wrong: an unknown option, a missing or out-of-range value."""


class CommandLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises :class:`UsageError` rather than exiting (subparsers made
    from it are of the same class)."""

    def error(self, message: str):
        # argparse writes "argument -n: -n must be ..." for a checker's message: name it once.
        named = re.match(r"argument ([^:]+): (.*)", message, re.DOTALL)
        if named:
            option, text = named.group(1).split("/")[0], named.group(2)
            message = text if text.startswith(option) else f"{option}: {text}"
        raise UsageError(message)


def terms_text(arguments: list[str]) -> str:
    """The terms as typed: the command-line arguments joined, else standard input (when it is
    not a terminal), else nothing."""
    if arguments:
        return " ".join(arguments)
    if sys.stdin is not None and not sys.stdin.isatty():
        return sys.stdin.read()
    return ""


def int_between(option: str, low: int, high: int) -> Callable[[str], int]:
    """A checker for an integer option from ``low`` to ``high`` inclusive."""

    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} must be a whole number from {low} to {high}, got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{option} must be between {low} and {high}, got {value}"
            )
        return value

    return check


def fraction(option: str) -> Callable[[str], float]:
    """A checker for a probability option: a number from 0 to 1."""

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} must be a number from 0 to 1, got {text!r}"
            ) from None
        if not 0.0 <= value <= 1.0:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{option} must be between 0 and 1, got {text}")
        return value

    return check


def existing_file(option: str, stdin: bool = False) -> Callable[[str], str]:
    """A checker for an option naming a file that must exist (``-`` for stdin when allowed)."""

    def check(text: str) -> str:
        if stdin and text == "-":
            return text
        path = Path(text).expanduser()
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{option} {text}: is a folder, not a file")
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"{option} {text}: no such file")
        return str(path)

    return check


def checkpoint(option: str) -> Callable[[str], str]:
    """A checker for ``--model``: an existing checkpoint folder, or a hub id (``org/name``).

    Anything that reads as a local path (absolute, ``./``, ``~``, or more than one ``/``) must be a
    folder holding ``config.json``; a hub id is left for the loader to resolve.
    """

    def check(text: str) -> str:
        path = Path(text).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise argparse.ArgumentTypeError(
                    f"{option} {text}: not a checkpoint folder (no config.json in it)"
                )
            return str(path)
        looks_local = text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
        if looks_local or path.exists():
            raise argparse.ArgumentTypeError(f"{option} {text}: no such checkpoint folder")
        return text

    return check


def device(text: str) -> str:
    """A checker for ``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, and one this PyTorch
    build and machine offer."""
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"--device must be cpu, cuda, cuda:N or mps, got {text!r}")
    kind = text.split(":")[0]
    if kind == "cpu":
        if text != "cpu":
            raise argparse.ArgumentTypeError(f"--device cpu takes no number, got {text!r}")
        return text
    import torch

    if kind == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError(
                "MPS is not available on this machine; use --device cpu"
            )
        return text
    if torch.version.cuda is None:
        raise argparse.ArgumentTypeError(
            "CUDA is not available in this PyTorch build; use --device cpu"
        )
    count = torch.cuda.device_count()
    if count == 0:
        raise argparse.ArgumentTypeError("no CUDA device is visible; use --device cpu")
    number = int(text.split(":")[1]) if ":" in text else 0
    if number >= count:
        raise argparse.ArgumentTypeError(
            f"--device {text}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return text
