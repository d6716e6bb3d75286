"""``nextterm generate``: chat with a SeqCond text model (Nautile-370M layout) from the command line.

``nextterm generate --model DIR "prompt"`` prints the answer; ``--show-reasoning`` also prints the
reasoning the model wrote between ``<|think_start|>`` and ``<|think_end|>``. Sampling defaults are the
card's. Cheap to import: torch and transformers load inside the handler.
"""

from __future__ import annotations

import argparse

from nextterm.errors import NextTermError


class GenerateCommandError(NextTermError):
    """A model directory or option that ``nextterm generate`` cannot use."""


def register(subparsers) -> None:
    """Add the ``generate`` subcommand."""
    parser = subparsers.add_parser(
        "generate",
        help="answer a prompt with a SeqCond text model (Nautile-370M layout)",
        description="Generate an answer with a SeqCond chat model (think-then-answer template).",
    )
    parser.add_argument("prompt", help="the user message")
    parser.add_argument(
        "--model", required=True, help="model directory (config.json + model.safetensors) or hub id"
    )
    parser.add_argument(
        "--show-reasoning", action="store_true", help="also print the model's reasoning"
    )
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--temperature", type=float, default=0.15, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--repetition-penalty", type=float, default=1.1)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--tokenizer-file",
        default=None,
        help="a local cl100k_base.tiktoken ranks file (default: the model directory's tokenizer.json)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"]
    )
    parser.add_argument("--acceleration", default="auto", choices=["auto", "cuda_graph", "none"])
    parser.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    """Load the model and tokenizer, generate, print; returns the exit code."""
    from pathlib import Path

    import torch

    from nextterm.models.seqcond.generation import SamplingConfig, generate_ids
    from nextterm.models.seqcond.modeling import SeqCondForCausalLM
    from nextterm.models.seqcond.text_tokenizer import load_text_tokenizer

    if not args.prompt.strip():
        raise GenerateCommandError("the prompt is empty")
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(args.device)
        except RuntimeError as error:
            raise GenerateCommandError(f"unknown device {args.device!r}") from error
    if args.dtype == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    else:
        dtype = getattr(torch, args.dtype)
    config = SamplingConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
    )
    model_dir = Path(args.model)
    tokenizer = load_text_tokenizer(model_dir if model_dir.is_dir() else None, args.tokenizer_file)
    try:
        model = SeqCondForCausalLM.from_pretrained(args.model, dtype=dtype)
    except (OSError, ValueError) as error:
        raise GenerateCommandError(
            f"cannot load a SeqCond model from {args.model}: {error}"
        ) from error
    model = model.to(device).eval()
    generated = generate_ids(
        model, [tokenizer.encode_chat(args.prompt)], config, acceleration=args.acceleration
    )[0]
    reply = tokenizer.split_reply(generated)
    if args.show_reasoning:
        print(f"Reasoning:\n{reply.reasoning}\n\nAnswer:\n{reply.answer}")
    else:
        print(reply.answer if reply.answer or not reply.reasoning else reply.reasoning)
    return 0
