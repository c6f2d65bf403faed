"""What the paper's analyses (Figures 2-5, the workshop's uniformization study) share: their own
options, curves of Stats, the synthetic set of a plan, and saving a figure into the experiment's folder.

Experiment options (levels, fractions, per-class caps) are not training options, so they live
under the config's `options` block: `options(ctx, DEFAULTS, RULES)` is DEFAULTS updated by that
block, every value checked by its rule (an unknown name or a bad value is a ConfigError).
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral, Real
from typing import Callable

import numpy as np

from synaug.constraints import BOOLEAN, Interval, check, failure
from synaug.engine.caching import training_side
from synaug.engine.specs import DataSpec, GeneratorSpec
from synaug.engine.synthetic import SyntheticSet
from synaug.errors import check_keys
from synaug.eval.metrics import SHOT_GROUPS
from synaug.eval.specs import metric
from synaug.experiments.catalog import ExperimentContext
from synaug.experiments.stats import Stat
from synaug.experiments.uncertainty import row_stats
from synaug.plots import save_png
from synaug.methods import get_method

SHOTS = (*SHOT_GROUPS, "accuracy")


def options(ctx: ExperimentContext, defaults: dict, rules: dict) -> dict:
    """`defaults` updated by the config's `options` block: an unknown name, or a value its rule
    (one of the checkers below, per name) refuses, is a ConfigError naming the option."""
    given = ctx.config.options or {}
    check_keys(given, defaults, "experiment options")
    return {**defaults, **{k: rules[k](k, v) for k, v in given.items()}}


WHERE = "experiment option"


def number(lo: float, hi: float | None = None, integer: bool = False, optional: bool = False) -> Callable:
    """A checker: a number (an integer with `integer`) in [lo, hi] (None too with `optional`)."""
    allowed = (Interval(Integral if integer else Real, lo, hi, closed="both" if hi is not None else "left"),
               *([None] if optional else []))

    def checker(name, value):
        check(f"{WHERE} {name}", value, *allowed)
        return value if value is None else (int(value) if integer else float(value))
    return checker


def listed(item: Callable, optional: bool = False, empty: bool = False) -> Callable:
    """A checker: a list (non-empty unless `empty`) whose every entry `item` accepts (None too with
    `optional`)."""
    def checker(name, value):
        if value is None and optional:
            return None
        if not isinstance(value, list) or not (value or empty):
            raise failure(f"{WHERE} {name}", "a list" if empty else "a non-empty list", value)
        return [item(f"{name}[{i}]", v) for i, v in enumerate(value)]
    return checker


def method_name(name, value):
    """A checker: a registered (or composed) method name."""
    if not isinstance(value, str):
        raise failure(f"{WHERE} {name}", "a method name", value)
    get_method(value)
    return value


def flag(name, value):
    return check(f"{WHERE} {name}", value, BOOLEAN)


def class_pool(ctx: ExperimentContext, per_class: int | None, imbalance: float | None = None) -> DataSpec:
    """The config's data with class labels only (no groups), at `imbalance` (default the config's),
    at most `per_class` training images per class (seeded; None keeps all)."""
    return ctx.data(groups=False, per_class=per_class,
                    imbalance=ctx.config.data.imbalance if imbalance is None else imbalance)


def synthetic_for(ctx: ExperimentContext, data: DataSpec, strategy, generator: GeneratorSpec | None = None,
                  seed: int = 0) -> SyntheticSet:
    """The synthetic set of `strategy` on `data` as run seed `seed` draws it (`RunConfig.seeded`),
    generated once and shared."""
    data, plan = ctx.config.seeded(data, replace(ctx.config.plan, strategy=strategy), seed)
    return ctx.ws.planned(data, plan, generator or ctx.config.generator,
                          training_side(ctx.splits(data), ctx.config.train))


def stats_of(ctx: ExperimentContext, results, name: str, keys) -> dict:
    """{key: Stat over the seeds of the jobs named `name`, with its test-sampling interval}."""
    return row_stats(results.row(ctx.ws, name), keys, ctx.config.bootstrap)


def by_seed(stat: Stat) -> dict:
    """A Stat's per-seed values as {seed: value}."""
    return dict(zip(stat.seeds, stat.values))


def curve(xs: list, points: list[dict], keys) -> dict:
    """{"x": xs, key: {"mean": [...], "std": [...]}} from one {key: Stat} per level."""
    out = {"x": list(xs)}
    for k in keys:
        out[k] = {"mean": [p[k].mean for p in points], "std": [p[k].std for p in points]}
    return out


def mean_of(c: dict, key: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in c[key]["mean"]], float)


def save_figure(ctx: ExperimentContext, fig, name: str) -> str:
    """The figure as ctx.out/NAME (PNG), closed; returns NAME for `ExperimentResult.figures`."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    save_png(fig, ctx.out / name)
    return name


def plot_shots(ax, c: dict, label: str = "", keys=SHOTS, style: str = "-o") -> None:
    """Mean ± std of each key of a `curve` against its x, one line per key."""
    for k in keys:
        mean = mean_of(c, k)
        std = np.array([0.0 if v is None else v for v in c[k]["std"]], float)
        line, = ax.plot(c["x"], mean, style, label=f"{label}{metric(k).label}")
        ax.fill_between(c["x"], mean - std, mean + std, color=line.get_color(), alpha=0.15)


def fmt(v, digits: int = 2) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"
