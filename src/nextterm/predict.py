"""The predictors users call: exact solvers, a model through the engine, and the hybrid of both.

Every predictor follows :class:`Predictor`: given a batch of sequences it returns, per sequence,
candidates ranked best first (an empty list means "no credible answer"). The hybrid puts verified
solver answers first and model candidates after, so a model plugs in without changing callers;
with a :class:`~nextterm.calibration.Calibration` (``calibration.json`` beside the model) it ranks
every source's candidates together by calibrated confidence instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from nextterm.calibration import Calibration
from nextterm.candidates import Candidate, source_of
from nextterm.errors import NextTermError
from nextterm.sequences import validate_terms

if TYPE_CHECKING:
    from nextterm.ranking import Ranker

CANDIDATES_PER_SOURCE = 5
"""Fewest candidates each source offers the hybrid, whatever the number of answers asked for."""

SCORING_CONTEXT = 128
"""Tokens of each prompt the model sees when it scores candidates for the ranker (the last terms:
the whole context would double the model's cost for little change in its opinion)."""

RANKER_FILE = "ranker.json"
"""File name of a model's learned ranker, in its checkpoint directory (``nextterm calibrate``)."""

CALIBRATION_FILE = "calibration.json"
"""File name of a per-source calibration in a checkpoint directory (checkpoints calibrated before the
learned ranker; ``nextterm calibrate`` writes :data:`RANKER_FILE`)."""

DEFAULT_MODEL_NAME = "nextterm-default"
"""Folder name of the checkpoint shipped inside the package (``nextterm/assets/<name>``)."""

PREDICTOR_KINDS = ("solvers", "model", "model-beam", "hybrid")


class PredictorError(NextTermError):
    """A predictor cannot be built as asked (unknown kind, missing model)."""


class Predictor(Protocol):
    """Anything that continues sequences."""

    name: str

    def predict_batch(
        self, sequences: list[list[int]], n_terms: int = 1, top_k: int = 5
    ) -> list[list[Candidate]]:
        """Ranked candidates per sequence; each candidate's ``continuation`` has ``n_terms`` values."""
        ...


class SolverPredictor:
    """Exact, self-verifying symbolic solvers and the Occam rule search (``effort``: how deep)."""

    name = "solvers"

    def __init__(self, effort: str = "default") -> None:
        from nextterm.solvers import SolveConfig

        self.config = SolveConfig(effort=effort)

    def predict_batch(
        self, sequences: list[list[int]], n_terms: int = 1, top_k: int = 5
    ) -> list[list[Candidate]]:
        from nextterm.solvers import solve

        return [
            solve(list(terms), n_terms=n_terms, max_candidates=top_k, config=self.config)
            for terms in sequences
        ]


class ModelPredictor:
    """A NextTerm checkpoint through the batched engine.

    Candidates come from greedy decoding (``beam_width`` 1, one candidate) or from beam search over
    whole terms, each with the model's probability of the term as its confidence. Further terms
    (``n_terms`` > 1) continue each candidate greedily.
    """

    def __init__(self, engine, beam_width: int = 1, name: str | None = None) -> None:
        self.engine = engine
        self.beam_width = max(1, beam_width)
        self.name = name or ("model" if self.beam_width == 1 else "model-beam")

    def predict_batch(
        self, sequences: list[list[int]], n_terms: int = 1, top_k: int = 5
    ) -> list[list[Candidate]]:
        if not sequences:
            return []
        if self.beam_width == 1:
            # True greedy decoding (the card's protocol): a width-1 beam would also collect every
            # shorter prefix of the greedy term, whose stop probabilities a weak model overrates.
            greedy = self.engine.greedy_next_term([list(terms) for terms in sequences])
            ranked = [
                [(value, probability)] if value is not None else [] for value, probability in greedy
            ]
        else:
            ranked = self.engine.beam_next_term(
                [list(terms) for terms in sequences],
                beam_width=max(self.beam_width, top_k),
                top_k=top_k,
            )
        extensions: dict[tuple[int, int], list[int | None]] = {}
        if n_terms > 1:
            keys = [(row, value) for row, options in enumerate(ranked) for value, _ in options]
            continued = self.engine.next_terms(
                [list(sequences[row]) + [value] for row, value in keys], n_terms=n_terms - 1
            )
            extensions = dict(zip(keys, continued))
        results = []
        for row, options in enumerate(ranked):
            candidates = []
            for value, probability in options:
                tail = extensions.get((row, value), [])
                continuation = (value, *[term for term in tail if term is not None])
                candidates.append(
                    Candidate(
                        value=value,
                        confidence=float(probability),
                        method="model",
                        explanation=f"model probability {probability:.3f}",
                        continuation=continuation[:n_terms],
                    )
                )
            results.append(candidates)
        return results


class LookupPredictor:
    """Next terms of the indexed OEIS sequences that contain the given terms."""

    name = "lookup"

    def __init__(self, index) -> None:
        self.index = index

    def predict_batch(
        self, sequences: list[list[int]], n_terms: int = 1, top_k: int = 5
    ) -> list[list[Candidate]]:
        from nextterm.lookup import lookup_candidates

        return [
            lookup_candidates(self.index, terms, n_terms=n_terms)[:top_k] for terms in sequences
        ]


class HybridPredictor:
    """Solvers, lookup and model in one ranking.

    A series that looks measured (sales, temperatures: :func:`nextterm.forecast.looks_measured`)
    that no rule verifies gets the statistical forecast first (``forecast=False`` turns this
    route off). With a learned :class:`~nextterm.ranking.Ranker`: every distinct value any source gave is
    scored by the ranker (the model's teacher-forced log-probability of each value among its
    features), its calibrated probability is the confidence. Else with a per-source
    :class:`Calibration`: every candidate ranked by calibrated confidence; with neither, verified
    solver answers first, then the rest by raw confidence (see :func:`rank_candidates`). When
    several sources give the same value, one candidate keeps it and records the others. After
    the ranking, :mod:`nextterm.trend` keeps a model guess that breaks an obvious trend or leaves
    the series' level from coming first, and every answer a lookup candidate agrees with gets
    the sequence's A-number and name (``details["oeis"]``).
    """

    name = "hybrid"

    def __init__(
        self,
        solvers: Predictor | None = None,
        model: ModelPredictor | None = None,
        lookup: Predictor | None = None,
        calibration: Calibration | None = None,
        ranker: Ranker | None = None,
        forecast: bool = True,
    ) -> None:
        self.solvers = solvers or SolverPredictor()
        self.forecast = forecast
        self.model = model
        self.others = [source for source in (lookup, model) if source is not None]
        self.calibration = calibration
        self.ranker = ranker

    def candidates_batch(
        self, sequences: list[list[int]], n_terms: int = 1, top_k: int = 5
    ) -> list[list[Candidate]]:
        """Every source's candidates per sequence, unranked (what the ranker is fitted on); each
        source offers at least :data:`CANDIDATES_PER_SOURCE`, so that agreement can be seen."""
        top_k = max(top_k, CANDIDATES_PER_SOURCE)
        exact = self.solvers.predict_batch(sequences, n_terms=n_terms, top_k=top_k)
        others = [
            source.predict_batch(sequences, n_terms=n_terms, top_k=top_k) for source in self.others
        ]
        return [[c for lists in found for c in lists] for found in zip(exact, *others)]

    def value_features(self, sequences: list[list[int]], found: list[list[Candidate]]):
        """Per sequence, its value groups and their feature rows (the model scores every value)."""
        from nextterm.ranking import feature_matrix, group_by_value

        groups = [group_by_value(candidates) for candidates in found]
        logprobs = None
        if self.model is not None:
            logprobs = self.model.engine.score_terms(
                [list(terms) for terms in sequences],
                [[g.value for g in row] for row in groups],
                context=SCORING_CONTEXT,
            )
        return [
            (row, feature_matrix(terms, row, None if logprobs is None else logprobs[i]))
            for i, (terms, row) in enumerate(zip(sequences, groups))
        ]

    def predict_batch(
        self, sequences: list[list[int]], n_terms: int = 1, top_k: int = 5
    ) -> list[list[Candidate]]:
        found = self.candidates_batch(sequences, n_terms=n_terms, top_k=top_k)
        results = []
        for terms, row, candidates in zip(sequences, self._rank(sequences, found, top_k), found):
            results.append(self._guarded(list(terms), row, candidates, n_terms, top_k))
        return results

    def _guarded(
        self,
        terms: list[int],
        ranked: list[Candidate],
        found: list[Candidate],
        n_terms: int,
        top_k: int,
    ) -> list[Candidate]:
        """The ranking after the forecast route and the trend guards, every answer a lookup
        candidate agrees with named by its OEIS sequence."""
        from nextterm.trend import guard_level, guard_trend

        if self.forecast:
            ranked = guard_level(terms, _forecast_route(terms, ranked, n_terms, top_k), n_terms)
        ranked = guard_trend(terms, ranked)
        lookups = [c for c in found if source_of(c) == "lookup"]
        return [_named(candidate, lookups) for candidate in ranked[:top_k]]

    def _rank(
        self, sequences: list[list[int]], found: list[list[Candidate]], top_k: int
    ) -> list[list[Candidate]]:
        if self.ranker is None:
            return [
                rank_candidates(
                    [c for c in candidates if _is_solver(c)],
                    [c for c in candidates if not _is_solver(c)],
                    top_k,
                    self.calibration,
                )
                for candidates in found
            ]
        ranked = []
        for groups, rows in self.value_features(sequences, found):
            probabilities: Iterable[float] = self.ranker.probabilities(rows) if len(groups) else []
            ranked.append(
                sorted(
                    (_ranked_candidate(group, float(p)) for group, p in zip(groups, probabilities)),
                    key=lambda c: (-c.confidence, -c.details["raw_confidence"]),
                )[:top_k]
            )
        return ranked


def _forecast_route(
    terms: list[int], ranked: list[Candidate], n_terms: int, top_k: int
) -> list[Candidate]:
    """A measured series (noisy, no exact structure) that no rule verifies gets the statistical
    forecast first: unverified guesses (model, lookup, short rules) extrapolate noise wildly."""
    from nextterm.forecast import forecast_candidates, looks_measured

    if any(_is_solver(c) and c.details.get("verified", True) for c in ranked) or not looks_measured(
        terms
    ):
        return ranked
    return (forecast_candidates(terms, n_terms) + ranked)[:top_k]


def _is_solver(candidate: Candidate) -> bool:
    """From the solvers or the rule search (not lookup, model or forecast)."""
    return source_of(candidate) in ("solver", "rule", "interpolation")


def _ranked_candidate(group, probability: float) -> Candidate:
    """The candidate that speaks for a value group, with the ranker's probability."""
    lead = group.lead
    others = {
        source_of(c): round(c.confidence, 6) for c in group.by_source.values() if c is not lead
    }
    details = {
        **lead.details,
        "raw_confidence": lead.confidence,
        "source": source_of(lead),
        **({"other_sources": others} if others else {}),
    }
    return replace(lead, confidence=probability, details=details)


def _agrees(candidate: Candidate, lookup: Candidate) -> bool:
    """Whether a lookup candidate gives the same next terms as ``candidate`` (as many as both
    have)."""
    mine = candidate.continuation or (candidate.value,)
    theirs = lookup.continuation or (lookup.value,)
    return candidate.value == lookup.value and all(a == b for a, b in zip(mine, theirs))


def _named(candidate: Candidate, lookups: Sequence[Candidate]) -> Candidate:
    """``candidate`` with ``details["oeis"]`` (A-number, name, transform) of the first, best
    lookup candidate whose continuation agrees with it, its explanation ending with the name
    (the rule says why; the name says which sequence a person knows it as). A lookup candidate
    names itself: its explanation already holds the name."""
    if "oeis" in candidate.details:
        return candidate
    lookup = candidate if source_of(candidate) == "lookup" else None
    lookup = lookup or next((c for c in lookups if _agrees(candidate, c)), None)
    if lookup is None or "anum" not in lookup.details:
        return candidate
    anum, name = lookup.details["anum"], lookup.details.get("name", "")
    oeis = {"anum": anum, "name": name, "transform": lookup.details.get("transform", "identity")}
    explanation = candidate.explanation
    if lookup is not candidate:
        via = "" if oeis["transform"] == "identity" else f" (via {oeis['transform']})"
        explanation = f"{explanation}; OEIS {anum} {name}{via}".rstrip()
    return replace(candidate, explanation=explanation, details={**candidate.details, "oeis": oeis})


def rank_candidates(
    exact: list[Candidate],
    others: list[Candidate],
    top_k: int,
    calibration: Calibration | None = None,
) -> list[Candidate]:
    """The hybrid's ranking of the solvers' candidates (``exact``) and the other sources' ones:
    by calibrated confidence with ``calibration`` (agreeing sources combined), else the
    uncalibrated order of :func:`_merge`."""
    if calibration is not None:
        return calibration.rank([*exact, *others], top_k)
    return _merge(exact, others, top_k)


def _merge(exact: list[Candidate], others: list[Candidate], top_k: int) -> list[Candidate]:
    """Verified solver candidates in their order, then every other candidate (unverified solver
    guesses included) by confidence; one entry per value."""
    verified = [c for c in exact if c.details.get("verified", True)]
    guesses = [c for c in exact if not c.details.get("verified", True)]
    ranked = verified + sorted(others + guesses, key=lambda candidate: -candidate.confidence)
    votes: dict[int, dict[str, float]] = {}
    for candidate in ranked:
        votes.setdefault(candidate.value, {}).setdefault(candidate.method, candidate.confidence)
    lookups = [candidate for candidate in others if candidate.method == "lookup"]
    merged, seen = [], set()
    for candidate in ranked:
        if candidate.value in seen:
            continue
        seen.add(candidate.value)
        extra = {m: p for m, p in votes[candidate.value].items() if m != candidate.method}
        if extra:
            candidate = replace(candidate, details={**candidate.details, "votes": extra})
        merged.append(_named(candidate, lookups))
    return merged[:top_k]


def default_model_path() -> Path | None:
    """The checkpoint shipped inside the package, or None when this build has none."""
    path = Path(str(resources.files("nextterm") / "assets" / DEFAULT_MODEL_NAME))
    return path if (path / "config.json").is_file() else None


def load_predictor(
    kind: str = "hybrid",
    model: str | Path | None = None,
    device: str | None = None,
    beam_width: int = 4,
    lookup_index: str | Path | None = None,
    with_model: bool = True,
    calibration: Calibration | str | Path | None = None,
    effort: str = "default",
) -> Predictor:
    """Build a predictor by name.

    Args:
        kind: one of :data:`PREDICTOR_KINDS`.
        model: checkpoint directory or hub id; defaults to the shipped model. For ``hybrid`` with
            no model available, the hybrid runs on the solvers alone.
        device: torch device for the model; by default a small model runs on the CPU with the
            numpy engine, any other on CUDA when available, else the CPU (see
            :func:`nextterm.engine.loading.load_engine`).
        beam_width: beam width for ``model-beam`` and ``hybrid``.
        lookup_index: an OEIS lookup index file (``nextterm lookup --build``) for ``hybrid``.
        with_model: False makes ``hybrid`` use no model even when one is shipped.
        calibration: for ``hybrid``, a :class:`Calibration` or its JSON file; by default the
            model directory's ``calibration.json`` when there is one (else uncalibrated ranking).
        effort: the rule search's effort (``default`` or ``deep``) for ``solvers`` and ``hybrid``.
    """
    if kind not in PREDICTOR_KINDS:
        raise PredictorError(
            f"unknown predictor {kind!r}; choose one of {', '.join(PREDICTOR_KINDS)}"
        )
    if calibration is not None and kind != "hybrid":
        raise PredictorError(f"a calibration applies to the hybrid predictor, not to {kind!r}")
    if kind == "solvers":
        return SolverPredictor(effort)
    model_path = model if model is not None else default_model_path()
    if not with_model and kind == "hybrid":
        model_path = None
    if model_path is None and kind != "hybrid":
        raise PredictorError("no model given and no shipped model found: pass --model DIR")
    engine = None
    if model_path is not None:
        from nextterm.engine.loading import load_engine

        engine = load_engine(model_path, device=device)
    if kind == "model":
        return ModelPredictor(engine, beam_width=1)
    if kind == "model-beam":
        return ModelPredictor(engine, beam_width=beam_width)
    return build_hybrid(engine, model_path, beam_width, lookup_index, calibration, effort)


def build_hybrid(
    engine=None,
    model_path: str | Path | None = None,
    beam_width: int = 4,
    lookup_index: str | Path | None = None,
    calibration: Calibration | str | Path | None = None,
    effort: str = "default",
) -> HybridPredictor:
    """The hybrid over an already loaded engine (the server shares one engine with completions).

    With a model, the learned ranker ``<model_path>/ranker.json`` (``nextterm calibrate``) ranks
    every candidate when that file exists; otherwise the calibration defaults to
    ``<model_path>/calibration.json`` when that file exists. Without a model, the uncalibrated
    ranking (verified answers first) applies: the ranker was fitted with the model's opinions.
    """
    lookup = None
    if lookup_index is not None:
        from nextterm.lookup import LookupIndex

        lookup = LookupPredictor(LookupIndex.load(lookup_index))
    model_predictor = None if engine is None else ModelPredictor(engine, beam_width, name="model")
    beside_model = None if model_path is None else Path(model_path) / CALIBRATION_FILE
    if calibration is None and beside_model is not None and beside_model.is_file():
        calibration = beside_model
    if calibration is not None and not isinstance(calibration, Calibration):
        calibration = Calibration.load(calibration)
    ranker = None
    ranker_path = None if model_path is None else Path(model_path) / RANKER_FILE
    if engine is not None and ranker_path is not None and ranker_path.is_file():
        from nextterm.ranking import Ranker

        ranker = Ranker.load(ranker_path)
    return HybridPredictor(
        solvers=SolverPredictor(effort),
        model=model_predictor,
        lookup=lookup,
        calibration=calibration,
        ranker=ranker,
    )


def predict(
    terms: Sequence[object],
    n_terms: int = 1,
    top_k: int = 5,
    predictor: Predictor | None = None,
    min_confidence: float = 0.0,
) -> list[Candidate]:
    """Ranked candidates for one sequence (validated here), dropping those below ``min_confidence``
    (compared with the calibrated confidence when the predictor is a calibrated hybrid)."""
    values = validate_terms(terms)
    if n_terms < 1:
        raise PredictorError(f"n_terms must be at least 1, got {n_terms}")
    chosen = predictor or SolverPredictor()
    candidates = chosen.predict_batch([values], n_terms=n_terms, top_k=top_k)[0]
    return [candidate for candidate in candidates if candidate.confidence >= min_confidence]
