"""The ``nextterm`` command line: thin wrappers that parse arguments and call the library.

``nextterm predict`` lives here; every other room registers its own subcommands from its
``commands`` module (listed in :data:`COMMAND_MODULES`). Errors the user caused
(:class:`~nextterm.errors.NextTermError`) print ``error: <message>`` and exit with status 2; any
other exception is a bug: one line says so and names the file its traceback went to (status 70).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Sequence

from nextterm.candidates import Candidate
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
)
_TERMS_ARGUMENT = re.compile(r"-?[0-9][0-9,\s-]*")
EXIT_NO_ANSWER = 1
EXIT_USAGE = 2
EXIT_BUG = 70  # EX_SOFTWARE of sysexits.h


def _confidence_label(confidence: float) -> str:
    if confidence >= 0.9:
        return "high"
    if confidence >= 0.5:
        return "medium"
    return "low"


def _describe(candidate: Candidate, rank: int, n_terms: int) -> str:
    values = ", ".join(
        str(term) for term in (candidate.continuation or (candidate.value,))[:n_terms]
    )
    line = (
        f"{rank}. {values}    confidence {candidate.confidence:.3f} "
        f"({_confidence_label(candidate.confidence)}), {candidate.method}: {candidate.explanation}"
    )
    if candidate.evidence and candidate.method == "lookup":
        line += f"; matched {candidate.evidence} given terms"
    elif candidate.evidence >= 2:  # fewer: the explanation itself says how unconfirmed it is
        line += f"; confirmed by {candidate.evidence} further given terms"
    return line


def _read_terms_text(arguments: list[str]) -> str:
    if arguments:
        return " ".join(arguments)
    if sys.stdin is not None and not sys.stdin.isatty():
        return sys.stdin.read()
    return ""


def _run_predict(args: argparse.Namespace) -> int:
    from nextterm.predict import load_predictor, predict
    from nextterm.sequences import parse_terms

    terms = parse_terms(_read_terms_text(args.terms))
    kind = "solvers" if args.no_model and args.predictor != "hybrid" else args.predictor
    if not args.no_model:
        # The answer, not a weight-loading bar (when the torch engine loads the model); an
        # environment variable, so that transformers is imported only if that engine is used.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    index = lookup_index_from(args) if kind == "hybrid" else None
    predictor = load_predictor(
        kind,
        model=args.model,
        device=args.device,
        beam_width=args.beam,
        lookup_index=index,
        with_model=not args.no_model,
        effort=args.effort,
    )
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
        print(_describe(candidate, rank, args.n))
    return 0


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
        "(e.g. 1,1,2,3,5,8 or 1 1 2 3 5 8) or on standard input.",
    )
    parser.add_argument("terms", nargs="*", help="the terms; read from stdin when absent")
    parser.add_argument("-n", type=int, default=1, help="how many next terms (default 1)")
    parser.add_argument("--top-k", type=int, default=3, help="candidates to list (default 3)")
    parser.add_argument(
        "--predictor",
        choices=("hybrid", "solvers", "model", "model-beam"),
        default="hybrid",
        help="which predictor (default hybrid: verified solvers first, then the model)",
    )
    parser.add_argument(
        "--model", help="checkpoint directory or hub id (default: the shipped model)"
    )
    parser.add_argument("--no-model", action="store_true", help="exact solvers only")
    add_lookup_arguments(parser)
    _add_effort(parser)
    parser.add_argument("--beam", type=int, default=4, help="beam width for model candidates")
    parser.add_argument("--device", help="torch device for the model (default: cuda if available)")
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="decline candidates below this confidence (0..1)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_run_predict)


def build_parser() -> argparse.ArgumentParser:
    """The full ``nextterm`` parser with every room's subcommands."""
    parser = argparse.ArgumentParser(
        prog="nextterm",
        description="Integer-sequence continuation: the next terms, how sure, and why.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_predict(subparsers)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


_VALUED_OPTIONS = frozenset(
    {
        "-n",
        "--top-k",
        "--beam",
        "--min-confidence",
        "--predictor",
        "--model",
        "--device",
        "--lookup-index",
        "--effort",
    }
)


def _split_negative_terms(argv: list[str]) -> list[str]:
    """Let ``nextterm predict -1,2,-3`` work: argparse would read ``-1,2,-3`` as an option.

    Numeric arguments that are not an option's value are moved after ``--``.
    """
    if not argv or argv[0] != "predict" or "--" in argv:
        return argv
    options, terms, rest = [], [], argv[1:]
    index = 0
    while index < len(rest):
        arg = rest[index]
        if arg in _VALUED_OPTIONS and index + 1 < len(rest):
            options.extend(rest[index : index + 2])
            index += 2
            continue
        (terms if _TERMS_ARGUMENT.fullmatch(arg) else options).append(arg)
        index += 1
    return ["predict", *options, "--", *terms]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nextterm`` console script; returns the exit status."""
    arguments = _split_negative_terms(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(arguments)
    try:
        return args.func(args)
    except NextTermError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # not the user's doing: say so, keep the traceback
        print(report_bug(error), file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
