"""The learned ranker: gradient-boosted trees over value features, with a calibrated probability.

Fitting uses scikit-learn's ``HistGradientBoostingClassifier`` (chosen over LightGBM: no extra
dependency, and on the validation data it ranks as well at this size); the fitted trees are then
exported to plain arrays and isotonic maps (:class:`~nextterm.calibration.CalibrationMap`),
fitted on scores of trees that did not see the prompt (cross-fitting), turn their score into a
probability. The maps are split two ways. By prompt length: short prompts (at most :data:`SHORT_PROMPT` terms,
where even a right-looking rule is often not the intended one) and longer ones, whose answers are
right more often at the same score. And by rank: the prompt's best-scored value (the answer a
user is given, whose confidence is what the calibration is judged on) has its own map, because a
value that wins its prompt is right more often than a runner-up at the same score; runners-up
get the map of all values, kept below the answer's. The saved ranker is one JSON file;
predicting needs numpy only (no scikit-learn import at start-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nextterm.calibration import CalibrationMap
from nextterm.errors import NextTermError
from nextterm.jsonfile import load_json, save_json
from nextterm.ranking.features import FEATURES

FORMAT = "nextterm-ranker-2"
MAPS = ("short", "long", "short-top", "long-top")
"""Probability maps: by prompt length, for all values and for the prompt's best-scored one."""
MIN_MAP_ROWS = 200
"""Fewest rows a map is fitted on (else the map of all values, or of all answers)."""
FOLDS = 10
"""Parts of the fit prompts scored out of fold for the probability maps (ten: the trees that
score a part saw nine tenths of the prompts, close to the final trees; held-out ECE was lower than
with five)."""


class RankerError(NextTermError):
    """A ranker file is missing, unreadable, of another format, or fitting data is unusable."""


@dataclass(frozen=True)
class Tree:
    """One regression tree as arrays indexed by node (leaves have ``left == right == -1``)."""

    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray

    def to_dict(self) -> dict:
        return {
            "feature": self.feature.tolist(),
            "threshold": [float(t) for t in self.threshold],
            "missing_left": self.missing_left.astype(int).tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": [float(v) for v in self.value],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Tree:
        return cls(
            feature=np.asarray(data["feature"], dtype=np.int64),
            threshold=np.asarray(data["threshold"], dtype=np.float64),
            missing_left=np.asarray(data["missing_left"], dtype=bool),
            left=np.asarray(data["left"], dtype=np.int64),
            right=np.asarray(data["right"], dtype=np.int64),
            value=np.asarray(data["value"], dtype=np.float64),
        )


def _export(predictor) -> Tree:
    """Arrays of one fitted scikit-learn tree predictor (its ``nodes`` record array)."""
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    return Tree(
        feature=np.where(leaf, 0, nodes["feature_idx"].astype(np.int64)),
        threshold=nodes["num_threshold"].astype(np.float64),
        missing_left=nodes["missing_go_to_left"].astype(bool),
        left=np.where(leaf, -1, nodes["left"].astype(np.int64)),
        right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
        value=nodes["value"].astype(np.float64),
    )


def _pack(trees: Sequence[Tree]) -> tuple[Tree, np.ndarray]:
    """All trees as one node table (children re-indexed) and each tree's root index, so that a
    forest is walked for every (row, tree) pair at once."""
    roots, offset, parts = [], 0, []
    for tree in trees:
        roots.append(offset)
        shift = lambda child, offset=offset: np.where(child >= 0, child + offset, -1)  # noqa: E731
        parts.append(
            (
                tree.feature,
                tree.threshold,
                tree.missing_left,
                shift(tree.left),
                shift(tree.right),
                tree.value,
            )
        )
        offset += len(tree.value)
    columns = [np.concatenate(column) for column in zip(*parts)] if parts else [np.zeros(0)] * 6
    return Tree(*columns), np.asarray(roots, dtype=np.int64)


SHORT_PROMPT = 8
"""Prompts of at most this many terms get the short-prompt probability map."""

_LENGTH = FEATURES.index("prompt_terms")


def _is_short(rows: np.ndarray) -> np.ndarray:
    return rows[:, _LENGTH] <= SHORT_PROMPT


def _best_of_each(scores: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """Mask of each prompt's best-scored row (the first of equal scores, as ``np.argmax``)."""
    best = np.zeros(len(scores), dtype=bool)
    for prompt in np.unique(prompts):
        where = np.flatnonzero(prompts == prompt)
        best[where[int(np.argmax(scores[where]))]] = True
    return best


class Ranker:
    """Trees (raw score = baseline + sum of trees, a logit) and the probability maps on top
    (``calibration[name]`` for each name in :data:`MAPS`)."""

    def __init__(
        self,
        trees: Sequence[Tree],
        baseline: float,
        calibration: dict[str, CalibrationMap],
        meta: dict | None = None,
    ) -> None:
        if set(calibration) != set(MAPS):
            raise RankerError(f"a ranker needs the probability maps {', '.join(MAPS)}")
        self.trees = list(trees)
        self.baseline = float(baseline)
        self.calibration = dict(calibration)
        self.meta = dict(meta or {})
        self._forest, self._roots = _pack(self.trees)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Uncalibrated probabilities (sigmoid of the trees' logit) of each row being right."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
        forest = self._forest
        node = np.broadcast_to(self._roots, (len(rows), len(self._roots))).copy()
        row_index = np.arange(len(rows))[:, None]
        inner = forest.left[node] >= 0
        while inner.any():
            x = rows[np.broadcast_to(row_index, node.shape)[inner], forest.feature[node[inner]]]
            at = node[inner]
            go_left = np.where(np.isnan(x), forest.missing_left[at], x <= forest.threshold[at])
            node[inner] = np.where(go_left, forest.left[at], forest.right[at])
            inner = forest.left[node] >= 0
        logit = self.baseline + forest.value[node].sum(axis=1)
        return 1.0 / (1.0 + np.exp(-logit))

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """Calibrated probability of each value of one prompt (its rows) being the right next
        term: the best-scored value through the answer map, the others through the map of all
        values and strictly below the answer, so the order of the scores is kept."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
        if len(rows) == 0:
            return np.zeros(0)
        scores = self.scores(rows)
        length = "short" if _is_short(rows[:1])[0] else "long"
        values = np.array([self.calibration[length](score) for score in scores])
        best = int(np.argmax(scores))
        values[best] = self.calibration[f"{length}-top"](scores[best])
        others = np.arange(len(rows)) != best
        values[others] = np.minimum(values[others], np.nextafter(values[best], 0.0))
        return values

    @classmethod
    def fit(
        cls,
        rows: np.ndarray,
        labels: Sequence[bool],
        prompts: Sequence[int],
        *,
        seed: int = 0,
        folds: int = FOLDS,
        meta: dict | None = None,
    ) -> Ranker:
        """Trees on every prompt; the probability maps on scores of trees that did not see the
        prompt: each of ``folds`` parts of the prompts (whole prompts, so no prompt's values are
        split) is scored by trees fitted on the other parts."""
        rows = np.asarray(rows, dtype=np.float64)
        labels = np.asarray(labels, dtype=bool)
        prompts = np.asarray(prompts)
        if rows.ndim != 2 or rows.shape[1] != len(FEATURES) or len(rows) != len(labels):
            raise RankerError(f"need rows of {len(FEATURES)} features and one label each")
        if labels.all() or not labels.any():
            raise RankerError("fitting needs both right and wrong candidates")
        if folds < 2:
            raise RankerError("the probability maps need at least 2 folds")
        rows = np.where(np.isnan(rows).all(axis=0), 0.0, rows)  # a column no source ever filled
        unique = np.unique(prompts)
        order = np.random.default_rng(seed).permutation(len(unique)) % folds
        fold = order[np.searchsorted(unique, prompts)]
        scores = np.zeros(len(rows))
        for part in range(folds):
            inside = fold == part
            rest = labels[~inside]
            if inside.any() and rest.any() and not rest.all():
                scores[inside] = cls._trees(rows[~inside], rest, seed).scores(rows[inside])
        short, top = _is_short(rows), _best_of_each(scores, prompts)
        overall = CalibrationMap.fit(scores, labels)
        overall_top = CalibrationMap.fit(scores[top], labels[top]) if labels[top].any() else overall
        parts = {
            "short": (short, overall),
            "long": (~short, overall),
            "short-top": (short & top, overall_top),
            "long-top": (~short & top, overall_top),
        }
        calibration = {
            name: CalibrationMap.fit(scores[part], labels[part])
            if labels[part].any() and part.sum() >= MIN_MAP_ROWS
            else fallback
            for name, (part, fallback) in parts.items()
        }
        final = cls._trees(rows, labels, seed)
        info = {
            "rows": int(len(rows)),
            "prompts": int(len(unique)),
            "positives": int(labels.sum()),
            "map_folds": folds,
            "features": list(FEATURES),
        }
        return cls(final.trees, final.baseline, calibration, {**info, **(meta or {})})

    @classmethod
    def _trees(cls, rows: np.ndarray, labels: np.ndarray, seed: int) -> Ranker:
        """Gradient-boosted trees fitted on ``rows``, with identity maps (for their scores)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        # A fixed number of iterations: scikit-learn's early stopping holds out a random tenth
        # of the rows, which made the fitted ranker (and its held-out accuracy) depend on the seed.
        model = HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.08,
            max_leaf_nodes=31,
            min_samples_leaf=30,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        ).fit(rows, labels)
        trees = [_export(iteration[0]) for iteration in model._predictors]
        identity = CalibrationMap(x=(0.0, 1.0), y=(0.0, 1.0))
        return cls(
            trees, float(np.ravel(model._baseline_prediction)[0]), dict.fromkeys(MAPS, identity)
        )

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "features": list(FEATURES),
            "baseline": self.baseline,
            "trees": [tree.to_dict() for tree in self.trees],
            "calibration": {name: mapping.to_dict() for name, mapping in self.calibration.items()},
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        """Write the ranker as JSON, atomically (a temporary file, then a rename)."""
        return save_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Ranker:
        """Read a ranker written by :meth:`save`."""
        data = load_json(path, "ranker", FORMAT, RankerError)
        if data.get("features") != list(FEATURES):
            raise RankerError(
                f"{path} was fitted on other features: refit it with nextterm calibrate"
            )
        try:
            trees = [Tree.from_dict(t) for t in data["trees"]]
            calibration = {
                name: CalibrationMap.from_dict(m) for name, m in data["calibration"].items()
            }
            return cls(trees, data["baseline"], calibration, data.get("meta"))
        except (KeyError, TypeError, ValueError) as error:
            raise RankerError(f"ranker file {path} is malformed: {error}") from error
