"""M1-111 forecasting: MAPE of term-by-term continuation, beside classical forecasters.

Data: ``m1_111.jsonl``, ``{"sn", "period", "type", "x": history, "xx": the h future values,
"h"}``; h is 6 (yearly), 8 (quarterly) or 18 (monthly).

Decimal rule (reversible): let d be the largest number of decimals among a series' history
values (written in their shortest exact form, ``2.5`` has 1, ``1200`` has 0); every history value
is multiplied by 10^d, which makes it an integer exactly (decimal arithmetic, no float rounding),
the predictor continues that integer sequence, and each forecast is divided by 10^d. Integer
series have d = 0 and are untouched.

Forecast: the predictor's best candidate with ``n_terms = h`` (term-by-term continuation). Where a
predictor gives no candidate, or fewer than h terms, the missing steps repeat the last value it
has (the last predicted term, else the last history value: the naive forecast); such steps are
counted in the summary as ``fallback_steps``.

Score: MAPE = mean over series of (mean over the horizon of 100 * |y - yhat| / |y|); lower is
better. Classical forecasters from statsforecast (AutoETS, AutoARIMA, AutoTheta, Naive, SeasonalNaive with
season length 1 / 4 / 12 for yearly / quarterly / monthly) run on the same series in the same run;
a model that cannot fit a series (statsforecast refuses ETS on very short ones) forecasts it
naively, counted as ``naive_fallbacks``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from nextterm.evals.common import (  # noqa: E402
    BenchmarkResult,
    EvalError,
    Predictor,
    predict_in_batches,
    read_jsonl,
)
from nextterm.sequences import format_terms  # noqa: E402

SEASON_LENGTH = {"YEARLY": 1, "QUARTERLY": 4, "MONTHLY": 12}
CLASSICAL = ("AutoETS", "AutoARIMA", "AutoTheta", "Naive", "SeasonalNaive")
DECIMAL_RULE = (
    "decimal series: d = the largest number of decimals among the history values; "
    "values are multiplied by 10^d (exact decimal arithmetic), continued as integers, "
    "and forecasts divided by 10^d"
)

Number = int | float


@dataclass(frozen=True)
class Series:
    """One M1 series: its history, the h values to forecast and its period."""

    sn: str
    period: str
    kind: str
    history: tuple[Number, ...]
    future: tuple[Number, ...]

    @property
    def h(self) -> int:
        return len(self.future)

    @property
    def season_length(self) -> int:
        return SEASON_LENGTH[self.period]


def load_series(path: Path) -> list[Series]:
    """Read and check the M1-111 file."""
    series = []
    for number, record in enumerate(read_jsonl(path), start=1):
        try:
            item = Series(
                sn=str(record["sn"]),
                period=str(record["period"]).upper(),
                kind=str(record.get("type", "")),
                history=tuple(record["x"]),
                future=tuple(record["xx"]),
            )
        except (KeyError, TypeError) as error:
            raise EvalError(f"{path}:{number}: missing field {error}") from error
        values = item.history + item.future
        if item.period not in SEASON_LENGTH:
            raise EvalError(f"{path}:{number}: unknown period {item.period!r}")
        if not item.history or not item.future:
            raise EvalError(f"{path}:{number}: empty history or horizon")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            raise EvalError(f"{path}:{number}: values must be numbers")
        if int(record.get("h", item.h)) != item.h:
            raise EvalError(f"{path}:{number}: h={record['h']} but {item.h} future values")
        series.append(item)
    return series


def decimals(value: Number) -> int:
    """Number of decimals in the shortest exact writing of ``value`` (``2.50`` -> 1)."""
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def to_integers(values: Sequence[Number]) -> tuple[list[int], int]:
    """Apply the decimal rule: ``(integers, d)`` with ``integers[i] = values[i] * 10^d``."""
    d = max((decimals(v) for v in values), default=0)
    return [int(Decimal(repr(v)).scaleb(d)) for v in values], d


def from_integers(integers: Sequence[int], d: int) -> list[Number]:
    """Undo :func:`to_integers`: divide by 10^d (integers are returned unchanged for d = 0)."""
    if d == 0:
        return list(integers)
    return [float(Decimal(n).scaleb(-d)) for n in integers]


def ape(actual: Sequence[Number], forecast: Sequence[Number]) -> list[float]:
    """Absolute percentage error per horizon step: 100 * |y - yhat| / |y|."""
    if len(actual) != len(forecast):
        raise EvalError(f"{len(forecast)} forecasts for {len(actual)} actual values")
    if any(y == 0 for y in actual):
        raise EvalError("MAPE is undefined when an actual value is 0")
    return [100 * abs(float(y) - _as_float(f)) / abs(float(y)) for y, f in zip(actual, forecast)]


def _as_float(value: Number) -> float:
    """``float(value)``, or an infinity for an integer beyond the float range (an absurd forecast)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def mape(actual: Sequence[Number], forecast: Sequence[Number]) -> float:
    """Mean absolute percentage error of one series' forecast."""
    errors = ape(actual, forecast)
    return sum(errors) / len(errors)


def macro_mape(per_series: Sequence[float]) -> float:
    """The benchmark's score: the mean of the series' MAPEs."""
    return sum(per_series) / len(per_series) if per_series else float("nan")


def mape_by_step(errors: Sequence[Sequence[float]]) -> list[float]:
    """Mean APE at each horizon step over the series that have that step."""
    longest = max((len(e) for e in errors), default=0)
    steps = []
    for step in range(longest):
        values = [e[step] for e in errors if len(e) > step]
        steps.append(sum(values) / len(values))
    return steps


def forecast_with_predictor(
    predictor: Predictor, series: Sequence[Series], *, batch_size: int = 32
) -> list[dict]:
    """Continue every series term by term; one record per series (see module docstring)."""
    scaled = [to_integers(s.history) for s in series]
    records: list[dict | None] = [None] * len(series)
    for h in sorted({s.h for s in series}):
        indices = [i for i, s in enumerate(series) if s.h == h]
        answers = predict_in_batches(
            predictor,
            [scaled[i][0] for i in indices],
            n_terms=h,
            top_k=1,
            batch_size=batch_size,
            desc=f"m1 h={h}",
        )
        for i, candidates in zip(indices, answers):
            integers, d = scaled[i]
            best = candidates[0] if candidates else None
            predicted = list(best.continuation or (best.value,))[:h] if best else []
            fallback = h - len(predicted)
            filled = predicted + [predicted[-1] if predicted else integers[-1]] * fallback
            forecast = from_integers(filled, d)
            errors = ape(series[i].future, forecast)
            records[i] = {
                "id": series[i].sn,
                "period": series[i].period,
                "prompt": format_terms(integers),
                "scale_decimals": d,
                "answer": list(series[i].future),
                "prediction": forecast,
                "method": best.method if best else "none",
                "correct": forecast == list(series[i].future),
                "fallback_steps": fallback,
                "mape": sum(errors) / len(errors),
                "ape_by_step": errors,
            }
    return [r for r in records if r is not None]


def forecast_classical(series: Sequence[Series]) -> list[dict]:
    """AutoETS, AutoARIMA, AutoTheta, Naive and SeasonalNaive forecasts; one record per series
    and model."""
    import numpy as np
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    records = []
    for item in series:
        history = np.asarray(item.history, dtype=float)
        models = {
            "AutoETS": AutoETS(season_length=item.season_length),
            "AutoARIMA": AutoARIMA(season_length=item.season_length),
            "AutoTheta": AutoTheta(season_length=item.season_length),
            "Naive": Naive(),
            "SeasonalNaive": SeasonalNaive(season_length=item.season_length),
        }
        for name, model in models.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    forecast = [float(v) for v in model.forecast(y=history, h=item.h)["mean"]]
                fitted = True
            except (NotImplementedError, ValueError, ArithmeticError):
                forecast, fitted = [float(history[-1])] * item.h, False
            errors = ape(item.future, forecast)
            records.append(
                {
                    "id": item.sn,
                    "period": item.period,
                    "model": name,
                    "answer": list(item.future),
                    "prediction": forecast,
                    "fitted": fitted,
                    "mape": sum(errors) / len(errors),
                    "ape_by_step": errors,
                }
            )
    return records


def _scores(records: Sequence[dict]) -> dict:
    by_period = {
        period: macro_mape([r["mape"] for r in records if r["period"] == period])
        for period in SEASON_LENGTH
        if any(r["period"] == period for r in records)
    }
    return {
        "mape": macro_mape([r["mape"] for r in records]),
        "by_period": by_period,
        "by_step": mape_by_step([r["ape_by_step"] for r in records]),
    }


def run(
    predictor: Predictor,
    path: Path,
    *,
    batch_size: int = 32,
    classical: bool = True,
) -> BenchmarkResult:
    """Forecast every series with ``predictor`` (and the classical models) and score MAPE."""
    series = load_series(path)
    records = forecast_with_predictor(predictor, series, batch_size=batch_size)
    summary = {
        "series": len(series),
        "scaled_series": sum(r["scale_decimals"] > 0 for r in records),
        "decimal_rule": DECIMAL_RULE,
        "fallback_steps": sum(r["fallback_steps"] for r in records),
        "horizon_steps": sum(s.h for s in series),
        **_scores(records),
        "methods": {
            m: sum(r["method"] == m for r in records)
            for m in sorted({r["method"] for r in records})
        },
        "data": str(path),
    }
    tables = {}
    if classical:
        classical_records = forecast_classical(series)
        summary["classical"] = {
            name: {
                **_scores([r for r in classical_records if r["model"] == name]),
                "naive_fallbacks": sum(
                    r["model"] == name and not r["fitted"] for r in classical_records
                ),
            }
            for name in CLASSICAL
        }
        tables["m1_classical"] = classical_records
    return BenchmarkResult("m1", summary, records, tables)


def plot(result: BenchmarkResult, path: Path, label: str = "predictor") -> None:
    """MAPE at each horizon step for the predictor and each classical forecaster."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    lines = {label: result.summary["by_step"]}
    lines.update({name: s["by_step"] for name, s in result.summary.get("classical", {}).items()})
    for name, steps in lines.items():
        axes.plot(
            range(1, len(steps) + 1),
            steps,
            marker="o",
            markersize=3,
            linewidth=2.5 if name == label else 1.2,
            zorder=3 if name == label else 2,
            label=name,
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("horizon step (steps 9-18: monthly series only)")
    axes.set_ylabel("MAPE (%)")
    axes.set_title(f"M1-111 MAPE per horizon step ({result.summary['series']} series)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
