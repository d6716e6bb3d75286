"""The whole data pipeline: OEIS stripped file -> a directory ready for training and evaluation.

Output directory:

* ``train.packed``: every kept training sequence (cut to ``max_seq_tokens`` on a term boundary),
  ``augment.copies`` augmented copies of each, then ``synthetic.count`` synthetic sequences;
* ``val.packed``: the validation sequences, not augmented;
* ``heldout.jsonl`` / ``val.jsonl``: ``{"id", "prompt", "answer"}`` items, held-out set and a
  sample of ``val_items`` validation sequences (see :mod:`nextterm.data.splits`);
* ``train_ids.txt``: A-numbers of the training sequences kept after decontamination;
* ``summary.json``: counts (read, skipped, per split, removed by each rule, sequences and tokens
  per file, transforms and families used), the configuration and the elapsed time.

Every random choice derives from ``BuildConfig.seed`` (the augmentations of sequence ``A`` draw
from ``Random(f"{seed}:{A}")``, so they do not depend on processing order) and ``split.seed``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from nextterm.data import DataError
from nextterm.data.augment import AugmentConfig, augment
from nextterm.data.encode import encode_sequence, encode_text_ids, truncate_text
from nextterm.data.oeis import bfile_path, extend_with_bfile, read_bfile, read_stripped
from nextterm.data.packed import PackedReader, PackedWriter
from nextterm.data.splits import (
    HELDOUT,
    TRAIN,
    VAL,
    SplitConfig,
    SplitReport,
    assign_splits,
    decontaminate,
    make_item,
    term_count,
)
from nextterm.data.synthetic import SyntheticConfig, cap_digits, generate
from nextterm.sequences import MAX_TERM_DIGITS


@dataclass
class BuildConfig:
    """Everything ``nextterm data build`` can be told (JSON config files mirror these fields)."""

    seed: int = 0
    max_seq_tokens: int = 4096
    """Stored sequences are cut to this many tokens (BOS and EOS included) on a term boundary."""
    max_term_digits: int = MAX_TERM_DIGITS
    """A real sequence is cut before its first longer term."""
    val_items: int = 2000
    split: SplitConfig = field(default_factory=SplitConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def to_dict(self) -> dict:
        """Plain JSON values (tuples become lists); :func:`config_from_dict` reads them back."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=sorted))


_SECTIONS = {"split": SplitConfig, "augment": AugmentConfig, "synthetic": SyntheticConfig}


def config_from_dict(values: dict) -> BuildConfig:
    """A :class:`BuildConfig` from nested plain values; unknown keys raise :class:`~nextterm.data.DataError`."""
    known = {f.name for f in dataclasses.fields(BuildConfig)}
    unknown = set(values) - known
    if unknown:
        raise DataError(f"unknown build config key(s): {', '.join(sorted(unknown))}")
    kwargs = dict(values)
    for name, cls in _SECTIONS.items():
        if name in kwargs:
            section = kwargs[name]
            fields = {f.name for f in dataclasses.fields(cls)}
            if not isinstance(section, dict) or set(section) - fields:
                raise DataError(
                    f"config section {name!r} must be an object with keys among: "
                    f"{', '.join(sorted(fields))}"
                )
            section = {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}
            kwargs[name] = cls(**section)
    return BuildConfig(**kwargs)


def load_config(path: str | Path) -> BuildConfig:
    """Read a JSON build config file."""
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"cannot read build config {path}: {error}") from error
    if not isinstance(values, dict):
        raise DataError(f"build config {path} must hold a JSON object")
    return config_from_dict(values)


def read_sequences(
    stripped: str | Path,
    config: BuildConfig,
    counts: Counter,
    bfiles: str | Path | None = None,
    progress: bool = True,
) -> list[tuple[str, str]]:
    """Non-degenerate ``(A-number, text)`` pairs, b-file extended and digit-capped."""
    kept = []
    too_long = re.compile(rf"\d{{{config.max_term_digits + 1}}}")
    for anumber, text in tqdm(
        read_stripped(stripped), desc="read", unit=" seq", disable=not progress
    ):
        counts["read"] += 1
        if bfiles is not None and bfile_path(bfiles, anumber).is_file():
            extended = extend_with_bfile(text, read_bfile(bfile_path(bfiles, anumber)))
            counts["extended_by_bfile"] += extended is not text
            text = extended
        long_term = too_long.search(text)
        if long_term is not None:
            text = text[: text.rfind(",", 0, long_term.start()) + 1]
            counts["cut_at_long_term"] += 1
        if term_count(text) < config.split.min_terms:
            counts["degenerate_skipped"] += 1
            continue
        kept.append((anumber, text))
    return kept


def _write_items(path: Path, items: list[tuple[str, str]], max_prompt_tokens: int) -> None:
    with open(path, "w") as handle:
        for anumber, text in items:
            handle.write(json.dumps(make_item(anumber, text, max_prompt_tokens)) + "\n")


def build(
    stripped: str | Path,
    out_dir: str | Path,
    config: BuildConfig | None = None,
    bfiles: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Run the pipeline; write the output directory; return the summary (also in summary.json)."""
    config = config or BuildConfig()
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    report = SplitReport()
    sequences = read_sequences(stripped, config, counts, bfiles, progress)
    splits = decontaminate(assign_splits(sequences, config.split, report), config.split, report)
    del sequences

    _write_items(out / "heldout.jsonl", splits[HELDOUT], config.split.max_prompt_tokens)
    rng = random.Random(f"{config.seed}:val")
    sample = sorted(rng.sample(range(len(splits[VAL])), min(config.val_items, len(splits[VAL]))))
    _write_items(
        out / "val.jsonl", [splits[VAL][i] for i in sample], config.split.max_prompt_tokens
    )
    (out / "train_ids.txt").write_text("".join(f"{anumber}\n" for anumber, _ in splits[TRAIN]))

    with PackedWriter(out / "val.packed") as writer:
        for _, text in splits[VAL]:
            writer.add(encode_text_ids(text, config.max_seq_tokens))
    val_tokens = PackedReader(out / "val.packed").total_tokens

    transforms: Counter = Counter()
    families: Counter = Counter()
    packed = Counter()
    with PackedWriter(out / "train.packed") as writer:
        for anumber, text in tqdm(splits[TRAIN], desc="train", unit=" seq", disable=not progress):
            text = truncate_text(text, config.max_seq_tokens)
            tokens = encode_text_ids(text)
            writer.add(tokens)
            packed["real_sequences"] += 1
            packed["real_tokens"] += len(tokens)
            if not config.augment.copies:
                continue
            terms = [int(t) for t in text.split(",")[:-1]]
            rng = random.Random(f"{config.seed}:{anumber}")
            for _ in range(config.augment.copies):
                result = augment(terms, rng, config.augment)
                if result is None:
                    packed["augment_rejected"] += 1
                    continue
                new_terms = cap_digits(result[0], config.max_term_digits)
                if len(new_terms) < config.augment.min_terms:
                    packed["augment_rejected"] += 1
                    continue
                tokens = encode_sequence(new_terms, config.max_seq_tokens)
                writer.add(tokens)
                transforms.update(result[1])
                packed["augmented_sequences"] += 1
                packed["augmented_tokens"] += len(tokens)
        rng = random.Random(f"{config.seed}:synthetic")
        for _ in tqdm(
            range(config.synthetic.count), desc="synthetic", unit=" seq", disable=not progress
        ):
            result = generate(rng, config.synthetic)
            if result is None:
                packed["synthetic_rejected"] += 1
                continue
            tokens = encode_sequence(result[1], config.max_seq_tokens)
            writer.add(tokens)
            families[result[0]] += 1
            packed["synthetic_sequences"] += 1
            packed["synthetic_tokens"] += len(tokens)

    summary = {
        "input": str(stripped),
        "bfiles": str(bfiles) if bfiles is not None else None,
        "sequences": dict(counts),
        "splits": {side: len(items) for side, items in splits.items()},
        "rules": report.to_dict(),
        "heldout_jsonl_items": len(splits[HELDOUT]),
        "val_jsonl_items": len(sample),
        "train_packed": {
            **dict(packed),
            "sequences": packed["real_sequences"]
            + packed["augmented_sequences"]
            + packed["synthetic_sequences"],
            "tokens": packed["real_tokens"]
            + packed["augmented_tokens"]
            + packed["synthetic_tokens"],
            "bytes": os.path.getsize(out / "train.packed"),
        },
        "val_packed": {"sequences": len(splits[VAL]), "tokens": val_tokens},
        "augment_transforms": dict(transforms),
        "synthetic_families": dict(families),
        "config": config.to_dict(),
        "elapsed_seconds": round(time.perf_counter() - started, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
