"""The one statistics type: a metric over seeds (mean, sample std, n, the per-seed values in seed
order, a 95 % t-interval of the mean over seeds, and the 95 % test-sampling interval of the mean from
a bootstrap over test images, `synaug.eval.bootstrap`). Demos, runs, tables, curves and claims all
carry `Stat`s, as plain dicts in results.json."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from synaug.eval.specs import METRICS, metric


@dataclass
class Stat:
    mean: float | None
    std: float | None              # sample std (ddof=1); 0 for one value; None when nothing is defined
    n: int                         # values that are defined
    values: list = field(default_factory=list)   # per seed, None where undefined
    seeds: list = field(default_factory=list)
    ci95: list | None = None       # [low, high]: t-interval of the mean over seeds (None for n < 2)
    test_ci95: list | None = None  # [low, high]: the mean's interval when the test images are resampled

    @classmethod
    def of(cls, values, seeds=None) -> Stat:
        values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
        seeds = list(seeds) if seeds is not None else list(range(len(values)))
        defined = [v for v in values if v is not None]
        if not defined:
            return cls(None, None, 0, values, seeds)
        n = len(defined)
        mean = sum(defined) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in defined) / (n - 1)) if n > 1 else 0.0
        return cls(mean, std, n, values, seeds, t_interval(mean, std, n))

    def to_dict(self) -> dict:
        return asdict(self)


def t_interval(mean: float, std: float, n: int, level: float = 0.95) -> list | None:
    """The two-sided t-interval of a mean over n values (scipy.stats.t), None for n < 2."""
    if n < 2:
        return None
    from scipy import stats
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return [mean - half, mean + half]


def cell_mean(value):
    """The number a table cell shows: a Stat's (or its dict's) mean, or a plain value."""
    if isinstance(value, Stat):
        return value.mean
    return value.get("mean") if isinstance(value, dict) else value


def format_stat(value, fmt: str = "{:.2f}") -> str:
    """'mean ± std' (the std only with more than one seed), a plain number, or '-'."""
    mean = cell_mean(value)
    if mean is None:
        return "-"
    if not isinstance(mean, (int, float)):
        return str(mean)
    text = fmt.format(mean)
    d = value.to_dict() if isinstance(value, Stat) else value
    if isinstance(d, dict) and len(d.get("values") or d.get("seeds") or []) > 1 and d.get("std") is not None:
        text += f" ± {fmt.format(d['std'])}"
    return text


def bounds_of(key: str) -> tuple | None:
    """The scale a registered percentage metric lives on (0-100), for clipping its intervals; None for
    any other column (a count, a fraction, a table's own column)."""
    return (0.0, 100.0) if key in METRICS and metric(key).percent else None


MIN_SEEDS_FOR_INTERVAL = 3  # a t-interval from 2 seeds has 1 degree of freedom: wider than the scale itself


def format_intervals(value, fmt: str = "{:.2f}", bounds: tuple | None = None) -> str:
    """'seeds [low, high]; test images [low, high]' for a Stat (or its dict), '' when it has neither.
    The interval over seeds is shown only from `MIN_SEEDS_FOR_INTERVAL` seeds on ('n = 2: no interval'
    below); `bounds` (e.g. (0, 100) for an accuracy) clip both intervals to the metric's scale."""
    d = value.to_dict() if isinstance(value, Stat) else value
    if not isinstance(d, dict):
        return ""
    low, high = bounds if bounds else (-math.inf, math.inf)
    clip = lambda v: fmt.format(min(max(v, low), high))  # noqa: E731
    n = int(d.get("n") or 0)
    parts = []
    if d.get("ci95") and n >= MIN_SEEDS_FOR_INTERVAL:
        parts.append(f"seeds [{clip(d['ci95'][0])}, {clip(d['ci95'][1])}]")
    elif 1 < n < MIN_SEEDS_FOR_INTERVAL:
        parts.append(f"seeds n = {n}: no interval")
    if d.get("test_ci95"):
        parts.append(f"test images [{clip(d['test_ci95'][0])}, {clip(d['test_ci95'][1])}]")
    return "; ".join(parts)
