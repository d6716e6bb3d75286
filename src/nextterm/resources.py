"""Where nextterm keeps what a user fetches once: the OEIS files, the lookup index built from
them and the evaluation files (``nextterm data fetch``), found again by ``predict``, ``serve`` and
``eval``.

The folder is ``$NEXTTERM_CACHE`` when set, else ``$XDG_CACHE_HOME/nextterm``, else
``~/.cache/nextterm``. ``$NEXTTERM_LOOKUP_INDEX`` names an index file elsewhere;
``$NEXTTERM_DATA`` names a folder holding ``evals/iq57.jsonl`` and ``evals/m1_111.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nextterm.cli_args import existing_file
from nextterm.errors import NextTermError

CACHE_ENV = "NEXTTERM_CACHE"
INDEX_ENV = "NEXTTERM_LOOKUP_INDEX"
INDEX_NAME = "lookup.idx"
DATA_ENV = "NEXTTERM_DATA"
EVAL_FILES = {"iq57": "iq57.jsonl", "m1": "m1_111.jsonl"}
"""The data file of each benchmark that reads one, under ``evals/`` of a data folder."""

MISSING_INDEX_HINT = (
    "note: no OEIS lookup index, so sequences are not named and relatives are not looked up; "
    "`nextterm data fetch` downloads the OEIS files once and builds it"
)


class ResourceError(NextTermError):
    """A configured resource (an index named by the environment) is missing."""


def cache_dir() -> Path:
    """The folder for fetched data (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "nextterm"


def default_index_path() -> Path:
    """Where ``nextterm data fetch`` builds the lookup index."""
    return cache_dir() / INDEX_NAME


def find_lookup_index() -> Path | None:
    """The lookup index to use when none is given: ``$NEXTTERM_LOOKUP_INDEX`` (which must exist),
    else the fetched one when present, else None."""
    named = os.environ.get(INDEX_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ResourceError(f"${INDEX_ENV} names {path}, which does not exist")
        return path
    path = default_index_path()
    return path if path.is_file() else None


def eval_data_file(benchmark: str, data_dir: Path | None = None) -> Path:
    """The file a benchmark of :data:`EVAL_FILES` reads (which may not exist): under ``evals/`` of
    ``data_dir`` when given, else of ``$NEXTTERM_DATA`` when set, else of the cache folder, where
    ``nextterm data fetch --from DIR`` copies it."""
    if data_dir is None and os.environ.get(DATA_ENV):
        data_dir = Path(os.environ[DATA_ENV]).expanduser()
    return (data_dir if data_dir is not None else cache_dir()) / "evals" / EVAL_FILES[benchmark]


def require_eval_data_file(benchmark: str, data_dir: Path | None = None) -> Path:
    """:func:`eval_data_file` when it exists, else a :class:`ResourceError` saying how to get it."""
    path = eval_data_file(benchmark, data_dir)
    if not path.is_file():
        raise ResourceError(
            f"{benchmark}: no data file at {path}; `nextterm data fetch --from DIR` copies "
            f"DIR/evals/{EVAL_FILES[benchmark]} into the cache (or pass --data-dir DIR)"
        )
    return path


def add_lookup_arguments(parser: argparse.ArgumentParser) -> None:
    """``--lookup-index FILE`` and ``--no-lookup``, the same for predict, serve and eval."""
    parser.add_argument(
        "--lookup-index",
        type=existing_file("--lookup-index"),
        help=f"OEIS lookup index file (default: ${INDEX_ENV}, else the one `nextterm data fetch` built)",
    )
    parser.add_argument("--no-lookup", action="store_true", help="do not consult the lookup index")


def lookup_index_from(args: argparse.Namespace) -> Path | None:
    """The index the arguments name, else the default one, else None."""
    if args.no_lookup:
        return None
    return Path(args.lookup_index) if args.lookup_index else find_lookup_index()


def note_missing_index(args: argparse.Namespace, index: Path | None) -> None:
    """After a command's answer: one line on stderr saying how to get the index it went without
    (nothing when the user chose ``--no-lookup``)."""
    if index is None and not args.no_lookup:
        print(MISSING_INDEX_HINT, file=sys.stderr)
