#!/usr/bin/env bash
# The whole single-GPU training run in one command (src/nextterm/train/timed.py says what it does):
#
#   bash scripts/gpu_train.sh OUT                      # configs/gpu-timed.toml, runs/gpu-input/data.tar.xz
#   bash scripts/gpu_train.sh OUT --budget-s 300 ...   # any flag of `python -m nextterm.train.timed`
#
# It runs with the machine's python3 and the packages already there (PyTorch, transformers, numpy,
# safetensors, tokenizers, matplotlib, tqdm): nothing is installed, the package is imported from
# src/. `make gpu-input` writes the carried data bundle; `make gpu-rehearsal` runs this same script
# on the CPU with a tiny model and a 30-second budget.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: scripts/gpu_train.sh OUT [flags of python -m nextterm.train.timed]}"
shift
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# batches vary in shape: growable segments keep the CUDA allocator from fragmenting
export PYTORCH_CUDA_ALLOC_CONF="${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}"
exec "${PYTHON:-python3}" -m nextterm.train.timed \
    --config "$root/configs/gpu-timed.toml" --input "$root/runs/gpu-input/data.tar.xz" --out "$out" "$@"
