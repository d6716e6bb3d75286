"""``nextterm lookup``: list the OEIS sequences containing the given terms; build the index."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nextterm.cli_args import UsageError, int_between, terms_text
from nextterm.resources import INDEX_ENV, INDEX_NAME


def register(subparsers) -> None:
    """Add the ``lookup`` subcommand."""
    parser = subparsers.add_parser(
        "lookup",
        help="find OEIS sequences containing the given terms",
        description=(
            "Find OEIS sequences containing TERMS as a contiguous run, with their names and next "
            "terms. TERMS are written as for `nextterm predict` (5,8,13,21,34 or 5 8 13 21 34; "
            "read from stdin when absent). Build the index once with --build --oeis DIR (DIR "
            "holds stripped.gz and optionally names.gz); pass --allowed train_ids.txt to index "
            "only those A-numbers."
        ),
    )
    parser.add_argument(
        "terms", nargs="*", help="terms such as 5,8,13,21,34; read from stdin when absent"
    )
    parser.add_argument(
        "--index",
        help=f"index file (default ${INDEX_ENV}, else the one `nextterm data fetch` built; "
        f"DIR/{INDEX_NAME} with --build)",
    )
    parser.add_argument("--build", action="store_true", help="build the index from --oeis DIR")
    parser.add_argument("--oeis", help="directory with stripped.gz (and names.gz)")
    parser.add_argument(
        "--allowed", help="file of A-numbers (one a line) to index, e.g. train_ids.txt"
    )
    parser.add_argument(
        "--limit",
        type=int_between("--limit", 1, 1000),
        default=10,
        help="most matches to list (default 10)",
    )
    parser.add_argument("--ignore-sign", action="store_true", help="match absolute values")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=_lookup)


def _build(args) -> Path:
    from nextterm.lookup import LookupIndex, LookupIndexError

    if not args.oeis:
        raise LookupIndexError("--build needs --oeis DIR (the directory holding stripped.gz)")
    directory = Path(args.oeis)
    stripped = directory / "stripped.gz"
    if not stripped.exists():
        raise LookupIndexError(f"{stripped} not found")
    names = directory / "names.gz"
    allowed = None
    if args.allowed:
        try:
            allowed = Path(args.allowed).read_text().split()
        except OSError as error:
            raise LookupIndexError(f"cannot read {args.allowed}: {error.strerror}") from error
    index = LookupIndex.build(stripped, names if names.exists() else None, allowed)
    path = index.save(args.index or directory / INDEX_NAME)
    print(
        f"indexed {index.meta['sequences']} sequences ({index.meta['terms']} terms) "
        f"in {index.meta['build_seconds']} s -> {path}",
        file=sys.stderr,
    )
    return path


def _lookup(args: argparse.Namespace) -> int:
    from nextterm.lookup import LookupIndex, LookupIndexError
    from nextterm.resources import find_lookup_index
    from nextterm.sequences import parse_terms

    if args.build:  # then look up TERMS in the new index, when given
        terms = parse_terms(" ".join(args.terms)) if args.terms else None
        path = _build(args)
        if terms is None:
            return 0
    else:
        text = terms_text(args.terms)
        if not text.strip() and not args.terms:
            raise UsageError("give TERMS to look up (or --build --oeis DIR to build the index)")
        terms = parse_terms(text)
        if args.index and not Path(args.index).is_file():
            raise LookupIndexError(f"--index {args.index}: no such file")
        path = args.index or find_lookup_index()
    if not path:
        raise LookupIndexError(
            f"no lookup index: run `nextterm data fetch` once, or pass --index FILE or set "
            f"${INDEX_ENV} (build one with --build --oeis DIR)"
        )
    index = LookupIndex.load(path)
    matches = index.search(terms, limit=args.limit, ignore_sign=args.ignore_sign)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "anum": m.anum,
                        "name": m.name,
                        "offset": m.offset,
                        "next_terms": list(m.next_terms),
                    }
                    for m in matches
                ]
            )
        )
    else:
        for m in matches:
            following = ", ".join(str(t) for t in m.next_terms[:5]) or "(end of data)"
            print(f"{m.anum}  at term {m.offset + 1}  next: {following}  {m.name}".rstrip())
    if not matches:
        print("no OEIS sequence in the index contains these terms", file=sys.stderr)
        return 1
    return 0
