"""``nextterm export gguf CHECKPOINT OUT.gguf --type {f32,f16,q8_0}``."""

from __future__ import annotations

import argparse

from nextterm.export.gguf_export import GGUF_TYPES
from nextterm.tokenizer import EOS_ID, SEP_ID


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export gguf`` to the ``nextterm`` parser."""
    export = subparsers.add_parser(
        "export", help="export a checkpoint for other runtimes (GGUF for llama.cpp)"
    )
    formats = export.add_subparsers(dest="export_format", required=True)
    gguf = formats.add_parser(
        "gguf",
        help="write a Qwen3 checkpoint as a GGUF file for llama.cpp, LM Studio, Ollama",
        description="Write a Qwen3 NextTerm checkpoint as one GGUF file (llama.cpp's qwen3 "
        "architecture, the 16-token digit vocabulary). SeqCond models cannot be exported: "
        "llama.cpp has no such architecture.",
    )
    gguf.add_argument("checkpoint", help="checkpoint directory or hub id")
    gguf.add_argument("out", help="the .gguf file to write (replaced if it exists)")
    gguf.add_argument(
        "--type",
        dest="gguf_type",
        choices=GGUF_TYPES,
        default="f16",
        help="tensor type: f32, f16 (default) or q8_0 (8-bit; matrices whose rows are not a "
        "multiple of 32 stay f16)",
    )
    gguf.add_argument(
        "--subfolder", default=None, help="subfolder of CHECKPOINT holding the checkpoint"
    )
    gguf.set_defaults(func=_export_gguf)


def _export_gguf(args: argparse.Namespace) -> int:
    from transformers.utils import logging as transformers_logging

    from nextterm.export.gguf_export import export_gguf

    transformers_logging.disable_progress_bar()
    report = export_gguf(args.checkpoint, args.out, args.gguf_type, subfolder=args.subfolder)
    print(
        f"wrote {report.path} ({report.gguf_type}, {report.tensors} tensors, "
        f"{report.parameters:,} parameters, {report.size_bytes:,} bytes)"
    )
    if report.kept_f16:
        print(f"kept in f16 (rows not a multiple of 32): {', '.join(report.kept_f16)}")
    print(
        f"prompt: terms followed by commas, e.g. '1,1,2,3,5,8,' (BOS is added); greedy; stop on "
        f"',' (id {SEP_ID}) for one term or the end-of-sequence token (id {EOS_ID})"
    )
    return 0
