"""The ranker's report: held-out accuracy, per-source coverage and precision, calibration."""

from __future__ import annotations

from pathlib import Path

from nextterm.calibration import plot_reliability


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def write_report(report: dict, folder: Path) -> Path:
    """``calibration.md`` and ``calibration.png`` (reliability) in ``folder``; returns the .md."""
    folder.mkdir(parents=True, exist_ok=True)
    held, fit = report["held_out"], report["fit"]
    plot_reliability(
        {"held-out": held["reliability"], "fit (validation + prefixes)": fit["reliability"]},
        folder / "calibration.png",
        title="Learned ranker: reliability of the top-1 answer",
    )
    lines = [
        "## Learned ranker over every source",
        "",
        f"Command: `{report['command']}` ({report['machine']}; {report['seconds']:.0f} s). Fitted on "
        f"{report['fit_items']} items (validation sequences, short prefixes of them and of rule-made "
        f"sequences); measured on {report['test_items']} held-out items (seeded sample). "
        f"{len(report['meta'].get('features', []))} features, ranker file `{report['ranker_file']}`.",
        "",
        "| set | items | top-1 accuracy | ECE (top-1) |",
        "|---|---|---|---|",
        f"| held-out | {held['items']} | {_percent(held['accuracy'])} | {held['ece']:.4f} |",
        f"| fit | {fit['items']} | {_percent(fit['accuracy'])} | {fit['ece']:.4f} |",
        "",
        "Each source alone on the held-out items (its own most confident candidate):",
        "",
        "| source | coverage | precision |",
        "|---|---|---|",
        *(
            f"| {row['source']} | {_percent(row['coverage'])} | {_percent(row['precision'])} |"
            for row in held["sources"]
        ),
        "",
        f"Whose candidate the ranker puts first (held-out): {held['top_sources']}.",
        "",
        "Declining below a confidence (held-out):",
        "",
        "| min confidence | answered | precision | accuracy over all |",
        "|---|---|---|---|",
        *(
            f"| {row['min_confidence']} | {_percent(row['answered'])} | {_percent(row['precision'])} "
            f"| {_percent(row['accuracy'])} |"
            for row in held["thresholds"]
        ),
        "",
        "Reliability of the top-1 answer, held-out:",
        "",
        "| confidence bin | n | mean confidence | accuracy |",
        "|---|---|---|---|",
        *(
            f"| {row['low']:.1f}-{row['high']:.1f} | {row['count']} | {row['confidence']:.3f} | "
            f"{row['accuracy']:.3f} |"
            for row in held["reliability"]
            if row["count"]
        ),
        "",
        "![reliability](calibration.png)",
        "",
    ]
    path = folder / "calibration.md"
    path.write_text("\n".join(lines))
    return path
