"""``nextterm train``: train a preset on a packed data directory (also ``python -m nextterm.train``).

Settings come from the defaults of :class:`nextterm.train.config.TrainConfig`, then ``--config``
(a TOML file), then the flags given here. Launch several processes with
``torchrun --nproc_per_node N -m nextterm.train ...`` for DDP.
"""

from __future__ import annotations

import argparse
import os

from nextterm.train.config import load_config

_OVERRIDES: tuple[tuple[str, type, str], ...] = (
    ("context_len", int, "tokens per training example (longer sequences are cut at a term end)"),
    ("micro_batch_tokens", int, "padded tokens per forward pass on one process"),
    ("step_tokens", int, "label tokens per optimizer step, all processes together"),
    ("muon_lr", float, "peak Muon learning rate (2-D hidden weights)"),
    ("adamw_lr", float, "peak AdamW learning rate (embeddings, head, norms)"),
    ("warmup_frac", float, "fraction of --tokens spent warming up"),
    ("cooldown_frac", float, "fraction of --tokens spent cooling down to 0"),
    ("grad_clip", float, "gradient-norm clip (0: none)"),
    ("eval_every_tokens", int, "validate every this many tokens (0: only at the end)"),
    ("val_tokens", int, "validation tokens per evaluation"),
    ("accuracy_samples", int, "val.jsonl items for next-term accuracy"),
    ("checkpoint_every_tokens", int, "write checkpoint_tokens_* every this many tokens (0: never)"),
    ("keep_last", int, "token-named checkpoints to keep"),
    ("seed", int, "seed of model init and data order"),
    ("device", str, "auto, cpu, cuda or cuda:N"),
    ("dtype", str, "compute dtype: auto (bf16 on CUDA, fp32 on CPU), float32 or bfloat16"),
    ("peak_tflops", float, "peak TFLOPS of one device for the MFU estimate"),
    ("threads", int, "torch CPU threads (1 is fastest for small models on a busy machine)"),
    ("init_from", str, "start from this checkpoint's weights instead of a fresh preset"),
    (
        "time_budget_s",
        float,
        "end training after this many seconds even before --tokens (0: no limit)",
    ),
    ("compile_backend", str, "torch.compile backend: inductor, aot_eager or eager"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``nextterm train`` (shared with ``python -m nextterm.train``)."""
    parser.add_argument("--preset", help="model preset (`nextterm model create --help` lists them)")
    parser.add_argument("--data", help="directory made by `nextterm data build`")
    parser.add_argument("--tokens", type=int, help="tokens to train for (all processes together)")
    parser.add_argument("--out", help="run directory for checkpoints, config, metrics and plot")
    parser.add_argument("--config", help="TOML file of TrainConfig values (flags win over it)")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --out"
    )
    parser.add_argument(
        "--compile", action="store_true", default=None, help="torch.compile the model"
    )
    parser.add_argument(
        "--auto-batch",
        action="store_true",
        default=None,
        help="probe --micro-batch-tokens and halves of it; keep the largest that fits in device memory",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    for name, kind, text in _OVERRIDES:
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, help=text)


def run(args: argparse.Namespace) -> int:
    """Handler of ``nextterm train``: resolve the config, train, print where the results are."""
    from nextterm.train.loop import train

    overrides = {name: getattr(args, name) for name, _, _ in _OVERRIDES}
    config = load_config(
        args.config,
        preset=args.preset,
        data=args.data,
        tokens=args.tokens,
        out=args.out,
        compile=args.compile,
        auto_batch=args.auto_batch,
        **overrides,
    )
    result = train(config, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        best = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
        last = "n/a" if result.val_loss is None else f"{result.val_loss:.4f}"
        loss = (
            "n/a (nothing left to train)"
            if result.final_loss != result.final_loss
            else f"{result.final_loss:.4f}"
        )
        print(
            f"trained {result.tokens:,} tokens in {result.steps} steps: loss {loss}, "
            f"val loss {last} (best {best}), {result.tokens_per_second:,.0f} tokens/s; "
            f"checkpoints in {result.out}"
        )
    return 0


def register(subparsers) -> None:
    """Add ``train`` to the ``nextterm`` subcommands."""
    parser = subparsers.add_parser(
        "train",
        help="train a model on packed data (Muon + AdamW, checkpoints by tokens)",
        description=__doc__.split("\n\n")[0],
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
