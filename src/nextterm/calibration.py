"""Calibrated confidence: per-source maps from a candidate's raw confidence to its chance of being
right.

Each source of candidates has its own notion of confidence (the solvers' evidence score, the
lookup's share of agreeing matches, the model's probability), so they cannot be ranked together
as they are. :class:`Calibration` holds one monotone map per source (see :func:`source_of`),
fitted on a validation split by isotonic regression on (raw confidence, was it right) pairs, each
constant step then smoothed towards the source's (Laplace-smoothed) base rate so that no step
claims certainty, and one seen on a few items stays near the base rate. A map is a list of knots
applied with :func:`numpy.interp`: prediction needs no scikit-learn (only fitting does).

When several sources give the same value, :meth:`Calibration.rank` keeps one candidate for it
whose confidence comes from the ``agreement`` map, fitted on the noisy-OR of the agreeing sources'
calibrated confidences (sources are not independent, so the noisy-OR alone would overstate it),
and is never below the most confident agreeing source's own (a second source agreeing is not
evidence against a value; the few agreement pairs make a coarse map).
A source with too few validation pairs gets no map and keeps its raw confidence; unfitted
agreement takes the largest agreeing confidence.

Also here: the expected calibration error and reliability table that measure how well a set of
confidences is calibrated, and a reliability plot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nextterm.candidates import SOURCES as CANDIDATE_SOURCES
from nextterm.candidates import Candidate, source_of
from nextterm.errors import NextTermError
from nextterm.jsonfile import load_json, save_json

AGREEMENT = "agreement"
SOURCES = (*CANDIDATE_SOURCES, AGREEMENT)
"""Calibrated sources: each candidate source (:func:`~nextterm.candidates.source_of`), and a value
given by several of them at once."""

FORMAT = "nextterm-calibration-1"
MIN_POINTS = 20
"""Fewest validation pairs a source needs for a map of its own."""
SMOOTHING = 2.0
"""Pseudo-count pulling each fitted step towards the source's base rate."""
DEFAULT_BINS = 10


class CalibrationError(NextTermError):
    """A calibration file is missing, unreadable or of another format, or fitting data is bad."""


@dataclass(frozen=True)
class CalibrationMap:
    """A monotone map raw confidence -> calibrated confidence, linear between knots."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    points: int = 0
    positives: int = 0

    def __call__(self, raw: float) -> float:
        return float(np.interp(float(raw), self.x, self.y))

    @classmethod
    def fit(
        cls, raw: Sequence[float], correct: Sequence[bool], smoothing: float = SMOOTHING
    ) -> CalibrationMap:
        """Isotonic regression of ``correct`` on ``raw``, each step smoothed to the base rate."""
        from sklearn.isotonic import IsotonicRegression

        xs = np.asarray(raw, dtype=np.float64)
        ys = np.asarray(correct, dtype=np.float64)
        if xs.ndim != 1 or len(xs) != len(ys) or len(xs) == 0:
            raise CalibrationError(
                f"need matching non-empty raw/correct lists, got {len(xs)} and {len(ys)}"
            )
        if not np.all(np.isfinite(xs)):
            raise CalibrationError("raw confidences must be finite numbers")
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(xs, ys)
        fitted = iso.predict(xs)
        rate = (float(ys.sum()) + 1.0) / (len(ys) + 2.0)  # Laplace: never exactly 0 or 1
        levels = np.unique(fitted)
        smoothed = np.array(
            [
                (ys[fitted == level].sum() + smoothing * rate)
                / ((fitted == level).sum() + smoothing)
                for level in levels
            ]
        )
        knots_y = np.maximum.accumulate(np.interp(iso.y_thresholds_, levels, smoothed))
        return cls(
            x=tuple(round(float(v), 6) for v in iso.X_thresholds_),
            y=tuple(round(float(v), 6) for v in knots_y),
            points=len(xs),
            positives=int(ys.sum()),
        )

    def to_dict(self) -> dict:
        return {
            "x": list(self.x),
            "y": list(self.y),
            "points": self.points,
            "positives": self.positives,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CalibrationMap:
        x, y = [float(v) for v in data["x"]], [float(v) for v in data["y"]]
        if not x or len(x) != len(y) or any(b < a for a, b in zip(x, x[1:])):
            raise CalibrationError(
                "a calibration map needs increasing x knots matching its y knots"
            )
        if any(not 0.0 <= v <= 1.0 for v in y):
            raise CalibrationError("calibrated confidences must lie in 0..1")
        return cls(
            x=tuple(x),
            y=tuple(y),
            points=int(data.get("points", 0)),
            positives=int(data.get("positives", 0)),
        )


def noisy_or(confidences: Iterable[float]) -> float:
    """Chance that at least one is right if they were independent: ``1 - prod(1 - p)``."""
    return 1.0 - math.prod(1.0 - min(max(float(p), 0.0), 1.0) for p in confidences)


class Calibration:
    """Per-source calibration maps (see the module docstring)."""

    def __init__(
        self, maps: dict[str, CalibrationMap] | None = None, meta: dict | None = None
    ) -> None:
        unknown = set(maps or {}) - set(SOURCES)
        if unknown:
            raise CalibrationError(f"unknown calibration sources: {', '.join(sorted(unknown))}")
        self.maps = dict(maps or {})
        self.meta = dict(meta or {})

    def calibrate(self, source: str, raw: float) -> float:
        """Calibrated confidence of ``raw`` from ``source`` (the raw value when it has no map)."""
        mapping = self.maps.get(source)
        return float(raw) if mapping is None else mapping(raw)

    def apply(self, candidate: Candidate) -> Candidate:
        """The candidate with its calibrated confidence (the raw one in
        ``details["raw_confidence"]``, its source in ``details["source"]``)."""
        raw = candidate.details.get("raw_confidence", candidate.confidence)
        source = source_of(candidate)
        details = {**candidate.details, "raw_confidence": raw, "source": source}
        return replace(candidate, confidence=self.calibrate(source, raw), details=details)

    def combine(self, agreeing: Sequence[Candidate]) -> Candidate:
        """One candidate for a value several calibrated candidates give: the most confident one,
        with the agreement confidence (at least its own) when they come from several sources."""
        best: dict[str, Candidate] = {}
        for candidate in agreeing:
            source = candidate.details.get("source", source_of(candidate))
            if source not in best or candidate.confidence > best[source].confidence:
                best[source] = candidate
        lead = max(best.values(), key=lambda c: c.confidence)
        if len(best) == 1:
            return lead
        votes = {c.method: c.confidence for c in best.values() if c is not lead}
        joint = noisy_or(c.confidence for c in best.values())
        mapping = self.maps.get(AGREEMENT)
        confidence = lead.confidence if mapping is None else max(lead.confidence, mapping(joint))
        details = {**lead.details, "votes": votes, "sources": sorted(best), "agreement_raw": joint}
        return replace(lead, confidence=confidence, details=details)

    def rank(self, candidates: Iterable[Candidate], top_k: int | None = None) -> list[Candidate]:
        """All candidates calibrated, one per value (agreeing sources combined), best first."""
        merged = [self.combine(group) for group in _groups(self.apply(c) for c in candidates)]
        merged.sort(key=lambda c: (-c.confidence, -c.details["raw_confidence"]))
        return merged if top_k is None else merged[:top_k]

    @classmethod
    def fit(
        cls,
        items: Iterable[tuple[Sequence[Candidate], int]],
        min_points: int = MIN_POINTS,
        smoothing: float = SMOOTHING,
        meta: dict | None = None,
    ) -> Calibration:
        """Fit on ``(candidates of every source for one question, right answer)`` pairs: each
        source on all its candidates, then the agreement map on the values several sources gave."""
        items = [(list(candidates), int(answer)) for candidates, answer in items]
        pairs: dict[str, tuple[list[float], list[bool]]] = {}
        for candidates, answer in items:
            for candidate in candidates:
                raw, right = pairs.setdefault(source_of(candidate), ([], []))
                raw.append(float(candidate.details.get("raw_confidence", candidate.confidence)))
                right.append(candidate.value == answer)
        maps = {
            source: CalibrationMap.fit(raw, right, smoothing)
            for source, (raw, right) in pairs.items()
            if len(raw) >= min_points
        }
        partial = cls(maps)
        joint, right = [], []
        for candidates, answer in items:
            for group in _groups(partial.apply(c) for c in candidates):
                if len({c.details["source"] for c in group}) > 1:
                    joint.append(partial.combine(group).details["agreement_raw"])
                    right.append(group[0].value == answer)
        if len(joint) >= min_points:
            maps[AGREEMENT] = CalibrationMap.fit(joint, right, smoothing)
        counts = {source: len(raw) for source, (raw, _) in pairs.items()}
        counts[AGREEMENT] = len(joint)
        info = {
            "items": len(items),
            "pairs": counts,
            "min_points": min_points,
            "smoothing": smoothing,
        }
        return cls(maps, {**info, **(meta or {})})

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "maps": {source: mapping.to_dict() for source, mapping in sorted(self.maps.items())},
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        """Write the calibration as JSON (atomically: a temporary file, then a rename)."""
        return save_json(path, self.to_dict(), indent=1)

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a calibration written by :meth:`save`."""
        data = load_json(path, "calibration", FORMAT, CalibrationError)
        try:
            maps = {source: CalibrationMap.from_dict(m) for source, m in data["maps"].items()}
        except (KeyError, TypeError, ValueError) as error:
            raise CalibrationError(f"calibration file {path} is malformed: {error}") from error
        return cls(maps, data.get("meta"))


def _groups(candidates: Iterable[Candidate]) -> list[list[Candidate]]:
    groups: dict[int, list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.value, []).append(candidate)
    return list(groups.values())


def _bin_index(confidences: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((np.clip(confidences, 0.0, 1.0) * bins).astype(int), bins - 1)


def reliability_table(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = DEFAULT_BINS
) -> list[dict]:
    """Per equal-width confidence bin: its range, count, mean confidence and accuracy."""
    if bins < 1:
        raise CalibrationError(f"bins must be at least 1, got {bins}")
    p = np.asarray(confidences, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    index = _bin_index(p, bins)
    table = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        table.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": count,
                "confidence": float(p[mask].mean()) if count else None,
                "accuracy": float(y[mask].mean()) if count else None,
            }
        )
    return table


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = DEFAULT_BINS
) -> float:
    """Sum over equal-width bins of (share of answers in the bin) x |accuracy - mean confidence|."""
    table = reliability_table(confidences, correct, bins)
    total = sum(row["count"] for row in table)
    if total == 0:
        return 0.0
    return sum(
        row["count"] / total * abs(row["accuracy"] - row["confidence"])
        for row in table
        if row["count"]
    )


def plot_reliability(
    curves: dict[str, list[dict]], path: str | Path, title: str = "Reliability"
) -> Path:
    """Reliability diagram of several tables in one PNG: accuracy against mean confidence per bin
    (top) and the number of answers per bin (bottom, log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for label, table in curves.items():
        rows = [row for row in table if row["count"]]
        line = top.plot(
            [row["confidence"] for row in rows],
            [row["accuracy"] for row in rows],
            marker="o",
            label=f"{label} (n={sum(row['count'] for row in rows)})",
        )[0]
        bottom.stairs(
            [max(row["count"], 0.5) for row in table],
            [table[0]["low"], *(row["high"] for row in table)],
            color=line.get_color(),
        )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel("accuracy")
    top.set_title(title)
    top.legend(fontsize=8, loc="upper left")
    bottom.set_yscale("log")
    bottom.set_ylim(bottom=0.8)
    bottom.set_ylabel("answers per bin")
    bottom.set_xlabel("confidence")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
