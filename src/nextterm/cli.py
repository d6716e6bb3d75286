"""The ``nextterm`` command line: thin wrappers that parse arguments and call the library.

``nextterm predict`` lives here; every other room registers its own subcommands from its
``commands`` module (listed in :data:`COMMAND_MODULES`). Option values are checked while parsing
(:mod:`nextterm.cli_args`), the terms before any model loads. Errors the user caused
(:class:`~nextterm.errors.NextTermError`, wrong options included) print ``error: <message>`` and
exit with status 2; any other exception is a bug: one line says so and names the file its
traceback went to (status 70). Under ``--json`` either is a JSON object on standard output,
``{"error": {"message": ..., "type": ..., "exit_status": ...}}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Sequence

from nextterm.candidates import Candidate, describe_candidate
from nextterm.cli_args import (
    CommandLineParser,
    UsageError,
    checkpoint,
    device,
    existing_file,
    fraction,
    int_between,
    terms_text,
)
from nextterm.errors import NextTermError, report_bug
from nextterm.resources import add_lookup_arguments, lookup_index_from, note_missing_index

COMMAND_MODULES = (
    "nextterm.lookup_commands",
    "nextterm.models.commands",
    "nextterm.models.seqcond.commands",
    "nextterm.data.commands",
    "nextterm.train.commands",
    "nextterm.serve.commands",
    "nextterm.evals.commands",
    "nextterm.ranking.commands",
    "nextterm.export.commands",
)
_TERMS_ARGUMENT = re.compile(r"-?[0-9][0-9,;\s-]*")
EXIT_NO_ANSWER = 1
EXIT_USAGE = 2
EXIT_BUG = 70  # EX_SOFTWARE of sysexits.h
MAX_NEXT_TERMS = 100
"""Most next terms ``-n`` asks for: the shipped model's context (512 tokens) holds little more."""
MAX_TOP_K = 50
MAX_BEAM = 64
MAX_JOBS = 256
TERMS_COMMANDS = ("predict", "lookup")
"""Subcommands whose positional arguments are terms (``-1,2,-3`` is a term there, not an option)."""


def _read_file_items(args: argparse.Namespace):
    """Every sequence of ``--file`` (``-``: standard input), parsed before anything loads."""
    from nextterm.batch import read_items

    if args.terms:
        raise UsageError("give the terms or --file, not both")
    if args.file == "-":
        return read_items(sys.stdin, "standard input")
    with open(args.file, encoding="utf-8", errors="replace") as handle:
        return read_items(handle, args.file)


def _run_predict(args: argparse.Namespace) -> int:
    from nextterm.sequences import parse_terms

    if args.jobs is not None and not args.file:
        raise UsageError("--jobs applies to --file: give a file of sequences")
    items = _read_file_items(args) if args.file else None
    terms = None if items else parse_terms(terms_text(args.terms))
    from nextterm.predict import load_predictor, predict

    kind = "solvers" if args.no_model and args.predictor != "hybrid" else args.predictor
    if not args.no_model:
        # The answer, not a weight-loading bar (when the torch engine loads the model); an
        # environment variable, so that transformers is imported only if that engine is used.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    index = lookup_index_from(args) if kind == "hybrid" else None
    load = {
        "kind": kind,
        "model": args.model,
        "device": args.device,
        "beam_width": args.beam,
        "lookup_index": index,
        "with_model": not args.no_model,
        "effort": args.effort,
    }
    predictor = load_predictor(**load)
    if items:
        status = _predict_file(args, load, predictor, items)
        if kind == "hybrid":
            note_missing_index(args, index)
        return status
    candidates = predict(
        terms,
        n_terms=args.n,
        top_k=args.top_k,
        predictor=predictor,
        min_confidence=args.min_confidence,
    )
    if kind == "hybrid":
        note_missing_index(args, index)
    if args.json:
        payload = {
            "terms": terms,
            "predictor": predictor.name,
            "candidates": [candidate.to_dict() for candidate in candidates],
        }
        print(json.dumps(payload))
        return 0 if candidates else EXIT_NO_ANSWER
    if not candidates:
        print(
            "no credible continuation found "
            f"(predictor {predictor.name}, minimum confidence {args.min_confidence})",
            file=sys.stderr,
        )
        return EXIT_NO_ANSWER
    best = candidates[0]
    shown = ", ".join(str(term) for term in (best.continuation or (best.value,))[: args.n])
    print(shown)
    if best.confidence < 0.5:
        print(f"low confidence ({best.confidence:.3f}): treat this as a guess")
    for rank, candidate in enumerate(candidates, start=1):
        print(describe_candidate(candidate, rank, args.n))
    return 0


def _predict_file(args: argparse.Namespace, load: dict, predictor, items) -> int:
    """One result line per sequence of ``--file``; status 1 when any got no credible answer."""
    from nextterm.batch import Recipe, default_jobs, json_line, run_batch, text_line

    recipe = Recipe(load, n_terms=args.n, top_k=args.top_k, min_confidence=args.min_confidence)

    def write(item, candidates: list[Candidate]) -> None:
        if args.json:
            print(json_line(item, candidates), flush=True)
        else:
            print(text_line(candidates, lambda c: describe_candidate(c, None, args.n)), flush=True)

    # The predictor loaded here checks the options before any worker starts (workers load their
    # own). An accelerator batches by itself: worker processes would each hold a copy of the model.
    jobs = args.jobs or (default_jobs(len(items)) if args.device in (None, "cpu") else 1)
    progress = sys.stderr is not None and sys.stderr.isatty()
    unanswered = run_batch(items, recipe, write, predictor=predictor, jobs=jobs, progress=progress)
    return EXIT_NO_ANSWER if unanswered else 0


def _add_effort(parser: argparse.ArgumentParser) -> None:
    from nextterm.solvers.rules.settings import EFFORT_NAMES

    parser.add_argument(
        "--effort",
        choices=EFFORT_NAMES,
        default="default",
        help="how deep the rule search looks (default: interactive speed; deep: more shifts, "
        "pairs of primitives, longer interleavings)",
    )


def _add_predict(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict the next terms of a sequence",
        description="Predict the next terms of an integer sequence given on the command line "
        "(e.g. 1,1,2,3,5,8 or 1 1 2 3 5 8) or on standard input; or of every sequence of a file "
        "(--file, one a line). Exit status 1: no candidate reached --min-confidence (for --file: "
        "some sequence got none).",
    )
    parser.add_argument("terms", nargs="*", help="the terms; read from stdin when absent")
    parser.add_argument(
        "--file",
        type=existing_file("--file", stdin=True),
        help="predict every sequence of FILE (one a line; - for stdin): one result per line",
    )
    parser.add_argument(
        "--jobs",
        type=int_between("--jobs", 1, MAX_JOBS),
        help="worker processes for --file (default: one per CPU core, one per batch of 64 "
        "sequences at most; 1 with --device cuda or mps)",
    )
    parser.add_argument(
        "-n",
        type=int_between("-n", 1, MAX_NEXT_TERMS),
        default=1,
        help=f"how many next terms (default 1, at most {MAX_NEXT_TERMS})",
    )
    parser.add_argument(
        "--top-k",
        type=int_between("--top-k", 1, MAX_TOP_K),
        default=3,
        help="candidates to list (default 3)",
    )
    parser.add_argument(
        "--predictor",
        choices=("hybrid", "solvers", "model", "model-beam"),
        default="hybrid",
        help="which predictor (default hybrid: verified solvers first, then the model)",
    )
    parser.add_argument(
        "--model",
        type=checkpoint("--model"),
        help="checkpoint directory or hub id (default: the shipped model)",
    )
    parser.add_argument("--no-model", action="store_true", help="exact solvers only")
    add_lookup_arguments(parser)
    _add_effort(parser)
    parser.add_argument(
        "--beam",
        type=int_between("--beam", 1, MAX_BEAM),
        default=4,
        help="beam width for model candidates (default 4)",
    )
    parser.add_argument(
        "--device",
        type=device,
        help="cpu, cuda, cuda:N or mps (default: the CPU for the shipped model, else cuda if "
        "available)",
    )
    parser.add_argument(
        "--min-confidence",
        type=fraction("--min-confidence"),
        default=0.0,
        help="decline candidates below this confidence, from 0 to 1 (default 0: any candidate)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_run_predict)


def build_parser() -> argparse.ArgumentParser:
    """The full ``nextterm`` parser with every room's subcommands."""
    parser = CommandLineParser(
        prog="nextterm",
        description="Integer-sequence continuation: the next terms, how sure, and why.",
    )
    parser.add_argument("--version", action="version", version=f"nextterm {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_predict(subparsers)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nextterm")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _valued_options(parser: argparse.ArgumentParser, command: str) -> set[str]:
    """The option strings of ``command`` that take a value."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            options = action.choices[command]._option_string_actions
            return {name for name, option in options.items() if option.nargs != 0}
    return set()


def _split_negative_terms(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Let ``nextterm predict -1,2,-3`` work: argparse would read ``-1,2,-3`` as an option.

    In a command that takes terms, every argument that is not an option or an option's value is
    moved after ``--``.
    """
    if not argv or argv[0] not in TERMS_COMMANDS or "--" in argv:
        return argv
    valued = _valued_options(parser, argv[0])
    options, terms, rest = [], [], argv[1:]
    index = 0
    while index < len(rest):
        arg = rest[index]
        if arg in valued and index + 1 < len(rest):
            options.extend(rest[index : index + 2])
            index += 2
            continue
        is_term = _TERMS_ARGUMENT.fullmatch(arg) or not arg.startswith("-")
        (terms if is_term else options).append(arg)
        index += 1
    return [argv[0], *options, "--", *terms]


def _wants_json(arguments: list[str]) -> bool:
    options = arguments[: arguments.index("--")] if "--" in arguments else arguments
    return "--json" in options


def _fail(message: str, kind: str, status: int, as_json: bool) -> int:
    """Report an error on stderr, or as a JSON object on stdout under ``--json``."""
    if as_json:
        print(json.dumps({"error": {"message": message, "type": kind, "exit_status": status}}))
    else:
        print(message if status == EXIT_BUG else f"error: {message}", file=sys.stderr)
    return status


def _complete(parser: argparse.ArgumentParser) -> None:
    """Shell completion through argcomplete, when the shell asks for it and it is installed
    (``eval "$(register-python-argcomplete nextterm)"``)."""
    if "_ARGCOMPLETE" in os.environ:
        try:
            import argcomplete
        except ImportError:
            return
        argcomplete.autocomplete(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nextterm`` console script; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(arguments)
    try:
        parser = build_parser()
        _complete(parser)
        args = parser.parse_args(_split_negative_terms(parser, arguments))
        return args.func(args)
    except NextTermError as error:
        return _fail(str(error), type(error).__name__, EXIT_USAGE, as_json)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # not the user's doing: say so, keep the traceback
        return _fail(report_bug(error), "internal", EXIT_BUG, as_json)


if __name__ == "__main__":
    sys.exit(main())
