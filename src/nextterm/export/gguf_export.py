"""Write a Qwen3 NextTerm checkpoint as one GGUF file that llama.cpp runs as its ``qwen3`` model.

Everything format-specific comes from the ``gguf`` package (llama.cpp's own writer): the metadata
keys, the tensor names (its ``qwen3`` name map turns ``model.layers.N.self_attn.q_proj.weight``
into ``blk.N.attn_q.weight``), the q8_0 quantizer. The weights are written as transformers runs
them: transformers' Qwen3 rotates split-half pairs ``(i, i + d/2)``, the "NEOX" RoPE that
llama.cpp's ``qwen3`` uses, so q/k need no permutation (a checkpoint still in the interleaved
training layout is converted first with ``nextterm convert``).

The tokenizer is the 16-token digit vocabulary as a byte-level BPE (``gpt2``) vocabulary: every
token is one character or a control token, so BPE leaves each character as its own token, and
llama.cpp drops characters outside the vocabulary as the Hugging Face tokenizer does. BOS 12 is
added in front of every prompt; EOS 13 ends a sequence and ``,`` (11) ends a term.

Types: ``f32`` (every tensor), ``f16`` (matrices; norm weights stay f32, as llama.cpp's converter
keeps them), ``q8_0`` (matrices whose rows are a multiple of 32 values; any other matrix stays
f16, and the report says which).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from nextterm.errors import NextTermError
from nextterm.tokenizer import BOS_ID, EOS_ID, PAD_ID, RESERVED_ID, SPECIAL_IDS, TOKENS

GGUF_TYPES = ("f32", "f16", "q8_0")
PRE_TOKENIZER = "qwen2"
"""llama.cpp's pre-tokenizer of the Qwen2/Qwen3 family: digits are split one by one."""
PLACEHOLDER_MERGE = "<pad> <pad>"
"""The one BPE merge written. The digit vocabulary has none, but the ``gguf`` writer drops empty
arrays and llama.cpp refuses a ``gpt2`` vocabulary without a merges key. Control tokens are split
off before BPE runs, so two of them never meet as BPE symbols: the merge never applies."""


class GGUFExportError(NextTermError):
    """A checkpoint that cannot become a llama.cpp GGUF file, or an output path that cannot be written."""


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_gguf` wrote."""

    path: Path
    gguf_type: str
    tensors: int
    parameters: int
    size_bytes: int
    kept_f16: list[str] = field(default_factory=list)
    """Matrices left in f16 by ``q8_0`` because their rows are not a multiple of 32 values."""


def export_gguf(
    checkpoint: str | Path, out: str | Path, gguf_type: str = "f16", subfolder: str | None = None
) -> ExportReport:
    """Write the checkpoint at ``checkpoint`` (a directory or hub id, plus ``subfolder``) to the
    GGUF file ``out`` (replaced atomically if it exists) in ``gguf_type``: f32, f16 or q8_0."""
    from nextterm.models.checkpoint import (
        load_checkpoint,
        read_config,
        read_meta,
        resolve_checkpoint,
    )

    if gguf_type not in GGUF_TYPES:
        raise GGUFExportError(
            f"unknown GGUF type {gguf_type!r}; choose one of: {', '.join(GGUF_TYPES)}"
        )
    target = _output_path(out)
    directory = resolve_checkpoint(checkpoint, subfolder)
    config = read_config(directory, vocabulary=None)
    _check_exportable(directory, config)
    import torch

    model = load_checkpoint(directory, dtype=torch.float32)
    tensors = {name: tensor.detach().cpu().numpy() for name, tensor in model.state_dict().items()}
    name = read_meta(directory).get("preset") or directory.name
    return _write(target, config, tensors, gguf_type, name)


def _output_path(out: str | Path) -> Path:
    target = Path(out).expanduser()
    if target.is_dir():
        raise GGUFExportError(f"{str(target)!r} is a directory; give the path of the .gguf file")
    if not target.parent.is_dir():
        raise GGUFExportError(
            f"the folder {str(target.parent)!r} does not exist; create it first or choose another output path"
        )
    return target.resolve()


def _check_exportable(directory: Path, config: dict) -> None:
    """Refuse what llama.cpp's ``qwen3`` cannot run, in the user's terms."""
    model_type = config.get("model_type")
    if model_type == "seqcond":
        raise GGUFExportError(
            f"{directory} is a SeqCond hybrid model: llama.cpp has no SeqCond architecture, so it "
            "cannot be exported to GGUF (only the Qwen3 presets can)"
        )
    if model_type != "qwen3":
        raise GGUFExportError(
            f"{directory} is a {model_type!r} model; GGUF export supports the Qwen3 NextTerm models only"
        )
    rope = config.get("rope_parameters") or {"rope_type": "default"}
    problems = []
    if rope.get("rope_type", "default") != "default":
        problems.append(f"RoPE scaling {rope.get('rope_type')!r}")
    if config.get("attention_bias"):
        problems.append("attention biases")
    if config.get("use_sliding_window"):
        problems.append("sliding-window attention")
    if config.get("hidden_act", "silu") != "silu":
        problems.append(f"activation {config.get('hidden_act')!r}")
    if problems:
        raise GGUFExportError(
            f"{directory} uses {', '.join(problems)}, which llama.cpp's qwen3 does not run; "
            "GGUF export supports the plain Qwen3 layout of the NextTerm presets"
        )


def _write(target: Path, config: dict, tensors: dict, gguf_type: str, name: str) -> ExportReport:
    import gguf

    temporary = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    writer = gguf.GGUFWriter(temporary, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN3])
    try:
        _add_metadata(writer, config, gguf_type, name)
        _add_vocabulary(writer)
        kept_f16, parameters = _add_tensors(writer, config, tensors, gguf_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(temporary, target)
    except OSError as error:
        raise GGUFExportError(f"cannot write {target}: {error}") from error
    finally:
        writer.close()
        temporary.unlink(missing_ok=True)
    return ExportReport(
        path=target,
        gguf_type=gguf_type,
        tensors=len(writer.tensors[0]),
        parameters=parameters,
        size_bytes=target.stat().st_size,
        kept_f16=kept_f16,
    )


def _file_type(gguf_type: str):
    import gguf

    return {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }[gguf_type]


def _add_metadata(writer, config: dict, gguf_type: str, name: str) -> None:
    import gguf

    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    rope = config.get("rope_parameters") or {}
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config.get("num_key_value_heads") or config["num_attention_heads"])
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10_000.0))))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(_file_type(gguf_type))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _add_vocabulary(writer) -> None:
    import gguf

    types = []
    for token_id in range(len(TOKENS)):
        if token_id == RESERVED_ID:
            types.append(gguf.TokenType.UNUSED)
        elif token_id in SPECIAL_IDS:
            types.append(gguf.TokenType.CONTROL)
        else:
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(PRE_TOKENIZER)
    writer.add_token_list(list(TOKENS))
    writer.add_token_types(types)
    writer.add_token_merges([PLACEHOLDER_MERGE])
    writer.add_bos_token_id(BOS_ID)
    writer.add_eos_token_id(EOS_ID)
    writer.add_pad_token_id(PAD_ID)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)


def _add_tensors(writer, config: dict, tensors: dict, gguf_type: str) -> tuple[list[str], int]:
    """Add every weight under its llama.cpp name; returns the matrices q8_0 left in f16 and the
    number of parameters written."""
    import gguf
    import numpy as np

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN3, config["num_hidden_layers"])
    q8_0 = gguf.GGMLQuantizationType.Q8_0
    block = gguf.GGML_QUANT_SIZES[q8_0][0]
    tied = bool(config.get("tie_word_embeddings"))
    kept_f16, parameters = [], 0
    for hf_name, data in tensors.items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp uses token_embd as the output head when `output` is absent
        base, dot, suffix = hf_name.rpartition(".")
        mapped = names.get_name(base)
        if mapped is None or suffix not in ("weight", "bias"):
            raise GGUFExportError(f"tensor {hf_name!r} has no llama.cpp qwen3 counterpart")
        data = data.astype(np.float32)
        parameters += data.size
        raw_dtype = None
        if data.ndim == 1 or gguf_type == "f32":
            pass  # norm weights stay f32 in every type
        elif gguf_type == "q8_0" and data.shape[-1] % block == 0:
            data, raw_dtype = gguf.quants.quantize(data, q8_0), q8_0
        else:
            if gguf_type == "q8_0":
                kept_f16.append(f"{mapped}{dot}{suffix}")
            data = data.astype(np.float16)
        writer.add_tensor(f"{mapped}{dot}{suffix}", data, raw_dtype=raw_dtype)
    return kept_f16, parameters
