"""``nextterm convert`` and ``nextterm model create|info|ship``: checkpoint directories from the shell.

Cheap to import: torch and transformers load inside the handlers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

_DTYPES = ("float32", "bfloat16", "float16")


def register(subparsers) -> None:
    """Add ``convert`` and ``model`` (``create``, ``info``, ``ship``) to the ``nextterm`` parser."""
    from nextterm.models.presets import preset_names

    convert = subparsers.add_parser(
        "convert",
        help="convert an interleaved-RoPE training checkpoint to the Hugging Face layout",
        description="Permute q/k projections (and q/k norms) from interleaved RoPE pairs (2i, 2i+1) to "
        "the split-half pairs (i, i+d/2) of transformers' Qwen3, and write a checkpoint "
        "directory that loads with AutoModelForCausalLM.",
    )
    convert.add_argument(
        "src", help="source checkpoint directory (config.json + model.safetensors)"
    )
    convert.add_argument("dst", help="destination directory (replaced atomically if it exists)")
    convert.add_argument(
        "--subfolder", default=None, help="subfolder of SRC holding the checkpoint"
    )
    convert.add_argument(
        "--dtype", choices=_DTYPES, default=None, help="store weights in this dtype"
    )
    convert.set_defaults(func=_convert)

    model = subparsers.add_parser("model", help="create or inspect NextTerm model checkpoints")
    actions = model.add_subparsers(dest="model_command", required=True)
    create = actions.add_parser("create", help="write a freshly initialised model of a preset")
    create.add_argument(
        "--preset",
        required=True,
        choices=preset_names(),
        metavar="PRESET",
        help=f"one of {', '.join(preset_names())}",
    )
    create.add_argument("--out", required=True, help="checkpoint directory to write")
    create.add_argument("--seed", type=int, default=0, help="initialisation seed (default 0)")
    create.set_defaults(func=_create)
    info = actions.add_parser(
        "info", help="print parameters, tokenizer, config and meta of a checkpoint"
    )
    info.add_argument("dir", help="checkpoint directory")
    info.add_argument("--subfolder", default=None, help="subfolder of DIR holding the checkpoint")
    info.set_defaults(func=_info)
    ship = actions.add_parser(
        "ship",
        help="install a trained checkpoint as the package's default model, with its model card",
        description="Copy CHECKPOINT (without its training state, with its ranker.json) into the "
        "package's assets atomically, check that it loads and write its README.md model card from "
        "its config, meta, training run and evaluation summaries. With --current, refuse it "
        "unless it is more accurate on the OEIS held-out items in every pair of summaries.",
    )
    ship.add_argument("checkpoint", help="checkpoint directory (e.g. RUN/final_latest)")
    ship.add_argument(
        "--results",
        type=Path,
        nargs="+",
        default=[],
        help="the candidate's benchmarks/run_evals.py summaries (quoted in the card)",
    )
    ship.add_argument(
        "--current",
        type=Path,
        nargs="+",
        default=[],
        help="the shipped model's summaries, in the order of --results: ship only if better",
    )
    ship.add_argument(
        "--run", type=Path, help="training run directory (default: the checkpoint's parent)"
    )
    ship.add_argument(
        "--out", type=Path, help="where to install (default: the package's nextterm-default)"
    )
    ship.set_defaults(func=_ship)


def _convert(args: argparse.Namespace) -> int:
    import torch

    from nextterm.models.checkpoint import (
        CheckpointError,
        load_checkpoint,
        read_meta,
        resolve_checkpoint,
        save_checkpoint,
    )
    from nextterm.models.rope import convert_model_

    source = resolve_checkpoint(args.src, args.subfolder)
    meta = read_meta(source)
    if meta.get("rope_layout") == "split-half":
        raise CheckpointError(
            f"{source} is already in the split-half RoPE layout; nothing to convert"
        )
    model = load_checkpoint(source, dtype=getattr(torch, args.dtype) if args.dtype else None)
    convert_model_(model)
    conversion = {
        "from": "interleaved (2i, 2i+1)",
        "to": "split-half (i, i+d/2)",
        "permuted": ["q_proj", "k_proj", "q_norm", "k_norm"],
        "dtype": str(model.dtype),
    }
    target = save_checkpoint(
        model,
        args.dst,
        meta={
            **meta,
            "rope_layout": "split-half",
            "source_checkpoint": str(source),
            "conversion": conversion,
        },
    )
    print(f"converted {source} -> {target}")
    return 0


def _create(args: argparse.Namespace) -> int:
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.models.presets import count_parameters, create_model

    model = create_model(args.preset, seed=args.seed)
    target = save_checkpoint(
        model,
        args.out,
        meta={
            "preset": args.preset,
            "seed": args.seed,
            "tokens_trained": 0,
            "rope_layout": "split-half",
        },
    )
    print(f"wrote {args.preset} ({count_parameters(model):,} parameters) to {target}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from nextterm.models.checkpoint import read_config, read_meta, resolve_checkpoint, weight_shapes

    directory = resolve_checkpoint(args.dir, args.subfolder)
    config = read_config(directory, vocabulary=None)
    shapes = weight_shapes(directory)
    parameters = sum(_product(shape) for shape in shapes.values())
    print(f"checkpoint: {directory}")
    print(f"parameters: {parameters:,} in {len(shapes)} tensors")
    print(f"tokenizer: {_tokenizer_line(directory, config)}")
    print("config: " + json.dumps(config, indent=2, sort_keys=True))
    print("meta: " + json.dumps(read_meta(directory), indent=2, sort_keys=True))
    return 0


def _ship(args: argparse.Namespace) -> int:
    from nextterm.models.ship import DEFAULT_TARGET, ship

    shipped = ship(
        args.checkpoint,
        results=args.results,
        current=args.current,
        target=args.out or DEFAULT_TARGET,
        run=args.run,
    )
    for row in shipped.comparisons:
        print(row.line())
    ranker = "with its ranker.json" if shipped.ranker else "without a ranker.json"
    print(f"installed {args.checkpoint} -> {shipped.target} ({ranker})")
    return 0


def _tokenizer_line(directory, config: dict) -> str:
    """Which tokenizer the directory holds, and whether it matches the model's vocabulary."""
    from nextterm.models.checkpoint import (
        TOKENIZER_NAMES,
        CheckpointError,
        model_vocabulary,
        tokenizer_vocabulary,
    )

    try:
        found = tokenizer_vocabulary(directory)
    except CheckpointError as error:
        return f"unusable: {error}"
    if found is None:
        return "none (no tokenizer.json)"
    expected = model_vocabulary(config)
    mismatch = (
        ""
        if found == expected
        else f" (does not match the model: vocab_size {config.get('vocab_size')})"
    )
    return TOKENIZER_NAMES[found] + mismatch


def _product(shape: list[int]) -> int:
    result = 1
    for size in shape:
        result *= size
    return result
