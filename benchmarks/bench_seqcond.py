"""Decode speed and decoding-state memory against context length: SCA hybrid vs Qwen3 transformer.

CPU (default): for each context length, prefill a random digit prompt of that length, then time
``--steps`` batch-1 decode steps of three models of about the same size, built in the same run:
the ``nextterm-sca-3m`` hybrid (2 SCA : 1 transformer), the same shape with SCA blocks only, and the
Qwen3 ``nextterm-3m`` transformer (transformers' DynamicCache). Reports tokens/s and the bytes of the
decoding state (SCA running sums vs key/value cache). Writes JSON, a Markdown section and a PNG.

``--device cuda``: the ``nautile-370m`` preset (random weights, bf16), batch 1, greedy decode tok/s
with ``acceleration="none"`` and ``"cuda_graph"``.

    .venv/bin/python benchmarks/bench_seqcond.py                  # CPU, a couple of minutes
    .venv/bin/python benchmarks/bench_seqcond.py --device cuda    # GPU, 370M preset
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from tqdm import tqdm

from nextterm.models.presets import create_model
from nextterm.models.seqcond.generation import SamplingConfig, generate_ids
from nextterm.models.seqcond.presets import create_sca_model

RESULTS = Path(__file__).resolve().parent / "results"
CONTEXTS = (256, 512, 1024, 2048, 4096)


def _parameters(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@torch.no_grad()
def _bench_seqcond(model, prompt: torch.Tensor, steps: int) -> dict:
    length = prompt.shape[1]
    logits, state = model.prefill(prompt, torch.tensor([length]), capacity=length + steps)
    token = logits.argmax(-1)
    start = time.perf_counter()
    for _ in range(steps):
        token = model.decode_step(state, token).argmax(-1)
    elapsed = time.perf_counter() - start
    used = int(state.position.max())
    kv_in_use = state.kv_nbytes() * used // state.capacity if state.kv_nbytes() else 0
    return {
        "tokens_per_s": steps / elapsed,
        "sca_state_bytes": state.sca_nbytes(),
        "kv_cache_bytes": kv_in_use,
    }


@torch.no_grad()
def _bench_qwen3(model, prompt: torch.Tensor, steps: int) -> dict:
    out = model(input_ids=prompt, use_cache=True)
    cache, token = out.past_key_values, out.logits[:, -1].argmax(-1)
    start = time.perf_counter()
    for _ in range(steps):
        out = model(input_ids=token.view(1, 1), past_key_values=cache, use_cache=True)
        cache, token = out.past_key_values, out.logits[:, -1].argmax(-1)
    elapsed = time.perf_counter() - start
    kv = sum(
        t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values)
    )
    return {"tokens_per_s": steps / elapsed, "sca_state_bytes": 0, "kv_cache_bytes": kv}


def run_cpu(steps: int, contexts: tuple[int, ...], seed: int) -> dict:
    models = {
        "sca-hybrid (nextterm-sca-3m)": ("seqcond", create_sca_model("nextterm-sca-3m", seed=seed)),
        "sca-only (nextterm-sca-3m, no attention)": (
            "seqcond",
            create_sca_model("nextterm-sca-3m", seed=seed, seqcond_ratio=100),
        ),
        "qwen3 (nextterm-3m)": ("qwen3", create_model("nextterm-3m", seed=seed)),
    }
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for context in tqdm(contexts, desc="context lengths"):
        prompt = torch.randint(0, 12, (1, context), generator=generator)
        for name, (kind, model) in models.items():
            bench = _bench_seqcond if kind == "seqcond" else _bench_qwen3
            rows.append(
                {
                    "model": name,
                    "parameters": _parameters(model),
                    "context": context,
                    **bench(model, prompt, steps),
                }
            )
    return {"device": "cpu", "steps": steps, "threads": torch.get_num_threads(), "rows": rows}


def run_cuda(steps: int, prompt_length: int, seed: int) -> dict:
    model = create_sca_model("nautile-370m", seed=seed).to("cuda", torch.bfloat16).eval()
    prompt = torch.randint(
        1, 100000, (prompt_length,), generator=torch.Generator().manual_seed(seed)
    ).tolist()
    config = SamplingConfig(max_new_tokens=steps, temperature=0.0, repetition_penalty=1.0)
    rows = []
    for acceleration in ("none", "cuda_graph"):
        generate_ids(
            model, [prompt], config, eos_token_ids=[], acceleration=acceleration
        )  # warm-up / capture
        torch.cuda.synchronize()
        start = time.perf_counter()
        generated = generate_ids(
            model, [prompt], config, eos_token_ids=[], acceleration=acceleration
        )[0]
        torch.cuda.synchronize()
        rows.append(
            {
                "acceleration": acceleration,
                "tokens": len(generated),
                "tokens_per_s": len(generated) / (time.perf_counter() - start),
            }
        )
    return {"device": torch.cuda.get_device_name(), "preset": "nautile-370m", "dtype": "bfloat16",
            "prompt_length": prompt_length, "parameters": _parameters(model), "rows": rows}  # fmt: skip


def _plot_cpu(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4))
    for name in dict.fromkeys(row["model"] for row in result["rows"]):
        rows = [row for row in result["rows"] if row["model"] == name]
        contexts = [row["context"] for row in rows]
        speed.plot(contexts, [row["tokens_per_s"] for row in rows], marker="o", label=name)
        total = [(row["sca_state_bytes"] + row["kv_cache_bytes"]) / 2**20 for row in rows]
        memory.plot(contexts, total, marker="o", label=f"{name}: total state")
        if any(row["sca_state_bytes"] for row in rows):
            memory.plot(
                contexts,
                [row["sca_state_bytes"] / 2**20 for row in rows],
                ls="--",
                label=f"{name}: SCA part",
            )
    for axis, label in ((speed, "decode tokens/s (batch 1)"), (memory, "decoding state (MiB)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("context length (tokens)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    speed.legend(fontsize=7)
    memory.legend(fontsize=7)
    figure.suptitle("SCA hybrid vs Qwen3 transformer, 2-core CPU")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def _markdown_cpu(result: dict, command: str) -> str:
    lines = [
        "## SeqCond (SCA hybrid) vs Qwen3: decode speed and state size against context length",
        "",
        f"Machine: 2-core CPU, no GPU (torch {torch.__version__}, {result['threads']} threads, "
        f"{platform.processor() or platform.machine()}). Command: `{command}`. Batch 1, "
        f"{result['steps']} greedy decode steps after a prefill of the given length, random weights.",
        "",
        "| model | params | context | decode tok/s | SCA state (KiB) | KV cache (KiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['model']} | {row['parameters']:,} | {row['context']} | {row['tokens_per_s']:.1f} | "
            f"{row['sca_state_bytes'] / 1024:.1f} | {row['kv_cache_bytes'] / 1024:.1f} |"
        )
    lines += [
        "",
        "The SCA state is the same size at every context length (running sums + conv buffer per SCA",
        "block); only the transformer blocks' key/value cache grows (the hybrid has a third of Qwen3's",
        "attention layers, so about a third of its cache). At these tiny sizes, batch-1 CPU decode speed",
        "is dominated by per-operator overhead, and the CPU was shared with other jobs during the run,",
        "so tok/s differences of 10-20% are noise; the trend with context length is the signal.",
        "",
        "![decode speed and state size](seqcond.png)",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, default=32, help="decode steps per measurement")
    parser.add_argument("--contexts", type=int, nargs="+", default=list(CONTEXTS))
    parser.add_argument("--prompt-length", type=int, default=128, help="CUDA run: prompt length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 avoids oversubscription)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    command = "python benchmarks/bench_seqcond.py " + " ".join(
        f"--{key.replace('_', '-')} {' '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in vars(args).items()
        if key != "out"
    )
    if args.device == "cpu":
        result = run_cpu(args.steps, tuple(args.contexts), args.seed)
        (args.out / "seqcond.json").write_text(json.dumps(result, indent=2))
        _plot_cpu(result, args.out / "seqcond.png")
        (args.out / "seqcond.md").write_text(_markdown_cpu(result, command))
    else:
        result = run_cuda(args.steps, args.prompt_length, args.seed)
        (args.out / "seqcond_cuda.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
