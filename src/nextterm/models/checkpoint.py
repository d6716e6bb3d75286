"""Save and load NextTerm checkpoint directories in the Hugging Face layout.

A checkpoint directory (as in the NextTerm-440M-Checkpoints card) holds:

* ``config.json`` and ``model.safetensors`` (``save_pretrained``),
* ``generation_config.json``: greedy, stop on ids ``[11, 13, 14]``, pad 14 (SeqCond text models:
  the card's sampling, stop on ``<|im_end|>`` 100279, pad 0),
* the tokenizer that matches the model's vocabulary: the 16-token digit tokenizer of
  :func:`nextterm.tokenizer.save_hf_tokenizer` (``vocab_size`` 16), or the Nautile text tokenizer of
  :mod:`nextterm.models.seqcond.text_tokenizer` (SeqCond models with ``vocab_size`` >= 100,282),
* ``oeis_checkpoint_meta.json``: tokens trained, source checkpoint, conversion details, ... .

It loads with plain ``AutoModelForCausalLM.from_pretrained(dir)`` and
``AutoTokenizer.from_pretrained(dir)``. Saving is atomic: files are written and fsynced in a
temporary directory beside the target, which is then renamed into place (an existing directory is
replaced only once the new one is complete). Loading checks the files first and turns every
problem (missing or truncated files, wrong vocabulary, a tokenizer that does not match the model,
missing weights) into a :class:`CheckpointError` with a one-line message.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from nextterm.errors import NextTermError
from nextterm.models.seqcond import text_vocab
from nextterm.tokenizer import PAD_ID, STOP_IDS, VOCAB_SIZE, save_hf_tokenizer

META_FILE = "oeis_checkpoint_meta.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
TOKENIZER_FILE = "tokenizer.json"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DIGIT, TEXT = "digit", "text"
"""The two vocabularies a checkpoint can use: the 16-token digit one, or the Nautile text one."""
TOKENIZER_NAMES = {
    DIGIT: "16-token digit tokenizer",
    TEXT: f"Nautile text tokenizer (cl100k_base + 4 chat specials, {text_vocab.TEXT_VOCAB_IDS:,} ids)",
}


class CheckpointError(NextTermError):
    """A checkpoint directory is missing, corrupt, or not a NextTerm model."""


def _fsync_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for path in [*sorted(p for p in directory.rglob("*") if p.is_dir()), directory]:
        _fsync_directory(path)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _generation_config(vocabulary: str):
    from transformers import GenerationConfig

    if vocabulary == TEXT:
        from nextterm.models.seqcond.generation import SamplingConfig

        card = SamplingConfig()
        return GenerationConfig(
            do_sample=True,
            temperature=card.temperature,
            top_p=card.top_p,
            top_k=card.top_k,
            repetition_penalty=card.repetition_penalty,
            eos_token_id=text_vocab.EOS_ID,
            pad_token_id=text_vocab.PAD_ID,
            max_new_tokens=card.max_new_tokens,
        )
    return GenerationConfig(
        do_sample=False,
        eos_token_id=list(STOP_IDS),
        pad_token_id=PAD_ID,
        max_new_tokens=192,
    )


def model_vocabulary(config: dict[str, Any]) -> str | None:
    """:data:`DIGIT`, :data:`TEXT` (a SeqCond model over the Nautile ids) or None, from a config dict."""
    vocab = config.get("vocab_size", config.get("text_config", {}).get("vocab_size"))
    if vocab == VOCAB_SIZE:
        return DIGIT
    if (
        config.get("model_type") == "seqcond"
        and isinstance(vocab, int)
        and vocab >= text_vocab.TEXT_VOCAB_IDS
    ):
        return TEXT
    return None


def tokenizer_vocabulary(directory: str | Path) -> str | None:
    """:data:`DIGIT` or :data:`TEXT` for the ``tokenizer.json`` in ``directory``; None if it has none."""
    path = Path(directory) / TOKENIZER_FILE
    if not path.is_file():
        return None
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        added = {token["content"]: token["id"] for token in spec.get("added_tokens", [])}
        ids = {*spec["model"]["vocab"].values(), *added.values()}
        model_type = spec["model"].get("type")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from error
    except (KeyError, TypeError, AttributeError) as error:
        raise CheckpointError(
            f"{path} is not a tokenizers file ({type(error).__name__}: {error})"
        ) from error
    size = max(ids, default=-1) + 1
    if model_type == "WordLevel" and size == VOCAB_SIZE:
        return DIGIT
    if size == text_vocab.TEXT_VOCAB_IDS and all(
        added.get(t) == i for t, i in text_vocab.SPECIAL_IDS.items()
    ):
        return TEXT
    raise CheckpointError(
        f"{path} is neither the {TOKENIZER_NAMES[DIGIT]} nor the {TOKENIZER_NAMES[TEXT]} ({size} ids)"
    )


def check_tokenizer(directory: str | Path, vocabulary: str) -> None:
    """Raise :class:`CheckpointError` when ``directory`` holds a tokenizer of another vocabulary."""
    found = tokenizer_vocabulary(directory)
    if found is not None and found != vocabulary:
        raise CheckpointError(
            f"{directory} holds a {vocabulary}-vocabulary model but the {TOKENIZER_NAMES[found]} "
            f"({TOKENIZER_FILE}): AutoTokenizer would load the wrong tokenizer; re-save it with save_checkpoint"
        )


def _text_tokenizer(model, tokenizer):
    """``tokenizer`` checked to be the Nautile one, or one built from the default cl100k_base ranks."""
    from nextterm.models.seqcond.text_tokenizer import SeqCondTextTokenizer, TokenizerFileError

    if tokenizer is None:
        try:
            return SeqCondTextTokenizer.from_ranks(
                model_max_length=model.config.max_position_embeddings
            )
        except TokenizerFileError as error:
            raise CheckpointError(
                f"cannot write the text tokenizer of this SeqCond model: {error}; or pass "
                "tokenizer=SeqCondTextTokenizer.from_ranks(PATH) to save_checkpoint"
            ) from error
    eos = tokenizer.convert_tokens_to_ids(text_vocab.IM_END)
    if len(tokenizer) != text_vocab.TEXT_VOCAB_IDS or eos != text_vocab.EOS_ID:
        raise CheckpointError(
            f"the tokenizer passed ({len(tokenizer):,} ids) is not the {TOKENIZER_NAMES[TEXT]} this model needs"
        )
    return tokenizer


def replace_directory(finished: Path, target: Path) -> None:
    """Put the finished folder ``finished`` at ``target`` by renames only: an existing ``target``
    is moved aside first and removed after, so readers see the old folder or the new one."""
    if target.exists():
        retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, retired)
        os.replace(finished, target)
        shutil.rmtree(retired)
    else:
        os.replace(finished, target)


def save_checkpoint(
    model,
    directory: str | Path,
    meta: dict[str, Any] | None = None,
    tokenizer=None,
    max_shard_size: int | None = None,
) -> Path:
    """Write ``model`` as a checkpoint directory at ``directory`` atomically; returns its path.

    ``meta`` (JSON-serialisable) goes into ``oeis_checkpoint_meta.json`` together with the
    architecture and parameter count. The tokenizer written matches the model: the digit tokenizer
    for ``vocab_size`` 16; for a SeqCond text model, ``tokenizer`` (a
    :class:`~nextterm.models.seqcond.text_tokenizer.SeqCondTextTokenizer`) or, when None, one built
    from the cl100k_base ranks found by default (``$NEXTTERM_TIKTOKEN_FILE`` or tiktoken's cache).
    ``max_shard_size`` (bytes of tensor data): split the weights into ``model-0000k-of-0000n``
    files of at most that size plus ``model.safetensors.index.json`` (default: one file).
    """
    from nextterm.models.presets import count_parameters

    vocabulary = model_vocabulary(model.config.to_dict())
    if vocabulary is None:
        raise CheckpointError(
            f"model vocab_size {model.config.vocab_size} matches no NextTerm tokenizer: 16 (digits) or, for "
            f"SeqCond, at least {text_vocab.TEXT_VOCAB_IDS:,} (Nautile text)"
        )
    if vocabulary == DIGIT and tokenizer is not None:
        raise CheckpointError(
            f"the model uses the 16-token digit vocabulary; the tokenizer passed ({len(tokenizer):,} ids) does "
            "not match it (save_checkpoint writes the digit tokenizer itself)"
        )
    if vocabulary == TEXT:
        tokenizer = _text_tokenizer(model, tokenizer)
    target = Path(directory).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "format": "nextterm-checkpoint-v1",
        "model_type": model.config.model_type,
        "parameters": count_parameters(model),
        **(meta or {}),
    }
    try:
        meta_text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint meta is not JSON-serialisable: {error}") from error
    temporary = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        if max_shard_size is None:
            model.save_pretrained(temporary)
        else:
            model.save_pretrained(temporary, max_shard_size=max_shard_size)
        _generation_config(vocabulary).save_pretrained(temporary)
        if vocabulary == DIGIT:
            save_hf_tokenizer(temporary, model_max_length=model.config.max_position_embeddings)
        else:
            tokenizer.save_pretrained(temporary)
        (temporary / META_FILE).write_text(meta_text)
        _fsync_tree(temporary)
        replace_directory(temporary, target)
        _fsync_directory(target.parent)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return target


def resolve_checkpoint(path_or_hub_id: str | Path, subfolder: str | None = None) -> Path:
    """The local directory of a checkpoint: a local path (plus ``subfolder``) or a downloaded hub id."""
    local = Path(path_or_hub_id).expanduser()
    if local.exists():
        directory = local / subfolder if subfolder else local
    elif isinstance(path_or_hub_id, str) and _HUB_ID.match(path_or_hub_id):
        from huggingface_hub import snapshot_download

        patterns = [f"{subfolder.strip('/')}/*"] if subfolder else None
        try:
            root = snapshot_download(path_or_hub_id, allow_patterns=patterns)
        except Exception as error:  # network, auth, missing repo: all user-facing
            raise CheckpointError(f"cannot download {path_or_hub_id!r}: {error}") from error
        directory = Path(root) / subfolder if subfolder else Path(root)
    else:
        raise CheckpointError(f"no checkpoint directory at {str(path_or_hub_id)!r}")
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {str(directory)!r}")
    return directory


def read_config(directory: str | Path, vocabulary: str | None = DIGIT) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint directory, checked for ``vocabulary``.

    ``vocabulary``: :data:`DIGIT` (the default: what the engine, training and serving need),
    :data:`TEXT`, or None for either.
    """
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{path.parent} has no config.json: not a checkpoint directory")
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(config, dict) or "model_type" not in config:
        raise CheckpointError(f"{path} has no model_type: not a transformers config")
    vocab = config.get("vocab_size", config.get("text_config", {}).get("vocab_size"))
    found = model_vocabulary(config)
    if found is None or (vocabulary == DIGIT and found == TEXT):
        kind = "a SeqCond text model" if found == TEXT else "not a NextTerm model"
        raise CheckpointError(
            f"{path} has vocab_size {vocab} ({kind}); NextTerm models use the {VOCAB_SIZE}-token digit vocabulary"
        )
    if vocabulary == TEXT and found != TEXT:
        raise CheckpointError(
            f"{path} has vocab_size {vocab}: a digit-vocabulary model, not a SeqCond text model"
        )
    return config


def read_model_config(directory: str | Path, vocabulary: str | None = DIGIT):
    """The model's config object (``Qwen3Config``, ``SeqCondConfig`` ...) of a checkpoint directory,
    read by ``AutoConfig`` after :func:`read_config` has checked it."""
    from transformers import AutoConfig

    config = read_config(directory, vocabulary)
    _ensure_registered(config["model_type"])
    try:
        return AutoConfig.from_pretrained(directory)
    except Exception as error:  # transformers raises many types for a bad file; all mean "corrupt"
        raise CheckpointError(f"cannot read the config of {directory}: {error}") from error


def _safetensors_header(path: Path) -> tuple[int, dict[str, Any]]:
    """Header length and header of a safetensors file (raises ValueError/OSError on a bad header)."""
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError("file shorter than the 8-byte header length")
        header_size = int.from_bytes(prefix, "little")
        if header_size > path.stat().st_size - 8:
            raise ValueError(f"header length {header_size} exceeds the file")
        header = json.loads(handle.read(header_size))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return header_size, {key: entry for key, entry in header.items() if key != "__metadata__"}


def _safetensors_size(path: Path) -> int:
    """Bytes that the safetensors header of ``path`` says the file holds."""
    header_size, tensors = _safetensors_header(path)
    return (
        8 + header_size + max((entry["data_offsets"][1] for entry in tensors.values()), default=0)
    )


def _weight_files(directory: Path) -> list[str]:
    index = directory / WEIGHTS_INDEX_FILE
    if index.is_file():
        try:
            return sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise CheckpointError(f"{index} is corrupt: {error}") from error
    if (directory / WEIGHTS_FILE).is_file():
        return [WEIGHTS_FILE]
    raise CheckpointError(f"{directory} has no {WEIGHTS_FILE}")


def weight_shapes(directory: str | Path) -> dict[str, list[int]]:
    """Tensor name -> shape of a checkpoint's weights, read from the safetensors headers only."""
    directory = Path(directory)
    _check_weights(directory)
    shapes = {}
    for name in _weight_files(directory):
        shapes.update(
            {key: entry["shape"] for key, entry in _safetensors_header(directory / name)[1].items()}
        )
    return shapes


def weight_dtypes(directory: str | Path) -> dict[str, set[str]]:
    """Weight file name -> the safetensors dtypes (``F32``, ``BF16``...) of its tensors, from the
    headers only (the files checked as :func:`load_checkpoint` checks them)."""
    directory = Path(directory)
    _check_weights(directory)
    return {
        name: {entry["dtype"] for entry in _safetensors_header(directory / name)[1].values()}
        for name in _weight_files(directory)
    }


def _check_weights(directory: Path) -> None:
    for name in _weight_files(directory):
        path = directory / name
        if not path.is_file():
            raise CheckpointError(f"{directory} lacks weight file {name}")
        try:
            needed = _safetensors_size(path)
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from error
        if path.stat().st_size < needed:
            raise CheckpointError(
                f"{path} is truncated: {path.stat().st_size} bytes, its header needs {needed}"
            )


def _ensure_registered(model_type: str) -> None:
    """Import our own architectures (SeqCond) so that ``AutoModelForCausalLM`` knows them."""
    from transformers import CONFIG_MAPPING

    if model_type in CONFIG_MAPPING:
        return
    try:
        importlib.import_module("nextterm.models.seqcond.modeling")  # registers the Auto classes
    except ImportError as error:
        raise CheckpointError(
            f"unknown model_type {model_type!r} (nextterm.models.seqcond: {error})"
        ) from error
    if model_type not in CONFIG_MAPPING:
        raise CheckpointError(
            f"unknown model_type {model_type!r}: not a transformers or nextterm model"
        )


def load_checkpoint(
    path_or_hub_id: str | Path,
    subfolder: str | None = None,
    device: str = "cpu",
    dtype=None,
    vocabulary: str | None = DIGIT,
):
    """Load a checkpoint as a ``PreTrainedModel`` in eval mode on ``device``.

    ``path_or_hub_id``: a local checkpoint directory, a directory with ``subfolder`` (the card's
    ``checkpoints/<name>``), or a Hugging Face hub id (downloaded with ``huggingface_hub``).
    ``dtype``: a ``torch.dtype`` or None for the dtype stored in the checkpoint.
    ``vocabulary``: the model vocabulary required (see :func:`read_config`); the directory's
    tokenizer must match the model's.
    """
    from transformers import AutoModelForCausalLM

    directory = resolve_checkpoint(path_or_hub_id, subfolder)
    config = read_config(directory, vocabulary)
    check_tokenizer(directory, model_vocabulary(config))
    _check_weights(directory)
    _ensure_registered(config["model_type"])
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            directory, dtype=dtype if dtype is not None else "auto", output_loading_info=True
        )
    except Exception as error:  # transformers raises many types for bad files; all mean "corrupt"
        detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        raise CheckpointError(f"cannot load {directory}: {detail}") from error
    problems = {
        key: info.get(key) for key in ("missing_keys", "unexpected_keys", "mismatched_keys")
    }
    problems = {key: sorted(map(str, value))[:5] for key, value in problems.items() if value}
    if problems:
        raise CheckpointError(f"{directory} does not match its config: {problems}")
    return model.to(device).eval()


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The ``oeis_checkpoint_meta.json`` of a checkpoint directory ({} if it has none)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {str(directory)!r}")
    path = directory / META_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return meta
