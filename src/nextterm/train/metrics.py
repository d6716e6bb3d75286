"""Training metrics: a JSONL log, model-FLOPs utilisation, and the loss plot.

MFU is estimated as ``6 * N * tokens_per_second / peak_flops`` with ``N`` the parameters that take
part in matrix multiplies (all but the input embedding, a lookup). The peak is per device and
dtype: :data:`PEAK_TFLOPS` holds the dense bf16 tensor-core peaks of known GPUs (datasheet values);
other devices (the CPU included) report no MFU unless ``peak_tflops`` is given in the config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PEAK_TFLOPS: dict[str, float] = {
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "H200": 989.0,
    "A100": 312.0,
}
"""Dense bf16 peak TFLOPS by a substring of ``torch.cuda.get_device_name()``, first match wins
(NVIDIA datasheets; H100 / H200 / A100 entries are the SXM parts)."""


def peak_flops(device_name: str, configured_tflops: float = 0.0) -> float | None:
    """Peak FLOP/s for MFU: the configured value if positive, else :data:`PEAK_TFLOPS`, else None."""
    if configured_tflops > 0:
        return configured_tflops * 1e12
    for key, tflops in PEAK_TFLOPS.items():
        if key in device_name:
            return tflops * 1e12
    return None


def matmul_parameters(model) -> int:
    """Parameters used in matrix multiplies: every parameter except the input embedding."""
    embedding = model.get_input_embeddings().weight
    return sum(p.numel() for p in model.parameters() if p is not embedding)


def mfu(n_params: int, tokens_per_second: float, peak: float | None) -> float | None:
    """Model-FLOPs utilisation ``6 * N * tokens/s / peak`` (None without a known peak)."""
    if peak is None or peak <= 0:
        return None
    return 6.0 * n_params * tokens_per_second / peak


class MetricsLog:
    """Append-only JSONL file of metric records (one dict per line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def records(self) -> list[dict[str, Any]]:
        """Every complete record (a torn last line from a killed run is skipped)."""
        if not self.path.is_file():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def truncate_after(self, step: int) -> None:
        """Drop records of steps after ``step`` (written by a run that is being resumed)."""
        kept = [record for record in self.records() if record.get("step", 0) <= step]
        text = "".join(json.dumps(record) + "\n" for record in kept)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(text)
        temporary.replace(self.path)


def plot_losses(records: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Train and validation loss against tokens seen, written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["tokens"], r["loss"]) for r in records if r.get("kind") == "train"]
    val = [
        (r["tokens"], r["val_loss"]) for r in records if r.get("kind") == "eval" and "val_loss" in r
    ]
    figure, axis = plt.subplots(figsize=(8, 4.5))
    if train:
        axis.plot(*zip(*train), label="train loss", linewidth=1)
    if val:
        axis.plot(*zip(*val), "o-", label="validation loss", linewidth=1.5)
    axis.set_xlabel("tokens seen")
    axis.set_ylabel("cross-entropy (nats/token)")
    axis.set_title(title or "training loss")
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
