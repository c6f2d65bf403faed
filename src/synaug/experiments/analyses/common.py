"""What the paper's analyses (Figures 2-5, the workshop's uniformization study) share: their own
options, mean/std over seeds, Many/Medium/Few recomputed on a fixed class split, mixed real +
synthetic training sets, and saving a figure into the experiment's folder.

Experiment options (levels, fractions, per-class caps) are not training options, so they live
under the config's `options` block: `options(ctx, DEFAULTS, RULES)` is DEFAULTS updated by that
block, every value checked by its rule (an unknown name or a bad value is a ConfigError).
"""

from __future__ import annotations

import numbers
from dataclasses import replace
from typing import Callable

import numpy as np

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.errors import ConfigError, check_keys
from synaug.eval.metrics import many_medium_few
from synaug.experiments.aggregate import mean_std
from synaug.experiments.catalog import ExperimentContext
from synaug.plots import pyplot, save_png
from synaug.train.methods import get_method

SHOTS = ("many", "medium", "few", "accuracy")
SHOT_LABELS = {"many": "Many", "medium": "Medium", "few": "Few", "accuracy": "All"}


def options(ctx: ExperimentContext, defaults: dict, rules: dict) -> dict:
    """`defaults` updated by the config's `options` block: an unknown name, or a value its rule
    (one of the checkers below, per name) refuses, is a ConfigError naming the option."""
    given = ctx.config.get("options") or {}
    check_keys(given, defaults, "experiment options")
    return {**defaults, **{k: rules[k](k, v) for k, v in given.items()}}


def _refuse(name: str, wanted: str, value) -> ConfigError:
    return ConfigError(f"experiment option {name}: expected {wanted}, got {value!r}")


def number(lo: float, hi: float = float("inf"), integer: bool = False, optional: bool = False) -> Callable:
    """A checker: a number (an integer with `integer`) in [lo, hi] (None too with `optional`)."""
    wanted = f"{'an integer' if integer else 'a number'} in [{lo:g}, {hi:g}]" + (" or null" if optional else "")

    def check(name, value):
        if value is None and optional:
            return None
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and lo <= value <= hi
        if not ok or (integer and value != int(value)):
            raise _refuse(name, wanted, value)
        return int(value) if integer else float(value)
    return check


def listed(item: Callable, optional: bool = False, empty: bool = False) -> Callable:
    """A checker: a list (non-empty unless `empty`) whose every entry `item` accepts (None too with
    `optional`)."""
    def check(name, value):
        if value is None and optional:
            return None
        if not isinstance(value, list) or not (value or empty):
            raise _refuse(name, "a list" if empty else "a non-empty list", value)
        return [item(f"{name}[{i}]", v) for i, v in enumerate(value)]
    return check


def method_name(name, value):
    """A checker: a registered (or composed) method name."""
    if not isinstance(value, str):
        raise _refuse(name, "a method name", value)
    get_method(value)
    return value


def flag(name, value):
    if not isinstance(value, bool):
        raise _refuse(name, "true or false", value)
    return value


def stat(values) -> dict:
    """{"mean", "std", "seeds"}: the shape of a table cell and of a curve point."""
    m, s = mean_std(list(values))
    return {"mean": m, "std": s, "seeds": [None if v is None else float(v) for v in values]}


def shot_accuracy(per_class, counts, many: int, few: int) -> dict:
    """Many / Medium / Few / All-class mean of per-class test accuracies (%), the classes split by
    `counts` (the ORIGINAL training counts: a run that cuts real images keeps its classes' split)."""
    acc = np.array([np.nan if a is None else a for a in per_class], dtype=float)
    out = {}
    for name, classes in many_medium_few(counts, many, few).items():
        vals = acc[classes][~np.isnan(acc[classes])]
        out[name] = float(vals.mean()) if len(vals) else None
    return out


def curve(xs: list, per_level: list[dict], keys) -> dict:
    """{"x": xs, key: {"mean": [...], "std": [...]}} from one {key: stat} per level."""
    out = {"x": list(xs)}
    for k in keys:
        out[k] = {"mean": [lv[k]["mean"] for lv in per_level], "std": [lv[k]["std"] for lv in per_level]}
    return out


def per_class_indices(labels: np.ndarray, seed: int) -> dict[int, np.ndarray]:
    """Every class's sample indices in a seeded random order (taking the first n gives nested,
    seeded subsets: 25 % replaced is part of 50 % replaced)."""
    rng = np.random.default_rng([seed, 2024])
    return {int(c): rng.permutation(np.where(labels == c)[0]) for c in np.unique(labels)}


def take_per_class(ds: ImageSet, n_of: dict[int, int], seed: int) -> np.ndarray:
    """Sorted indices of `ds`: the first n_of[c] of class c's seeded order."""
    order = per_class_indices(ds.labels, seed)
    picked = [order[c][:int(n)] for c, n in n_of.items() if c in order and n > 0]
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(0, np.int64)


def mixture(real: ImageSet, synthetic: ImageSet, real_n: dict, synthetic_n: dict, seed: int) -> ImageSet:
    """real_n[c] real images and synthetic_n[c] synthetic images of every class c, seeded."""
    return real.subset(take_per_class(real, real_n, seed)).concat(
        synthetic.subset(take_per_class(synthetic, synthetic_n, seed + 1)))


def with_train(splits: DatasetSplits, train: ImageSet) -> DatasetSplits:
    return replace(splits, train=train)


def capped(splits: DatasetSplits, per_class: int | None) -> DatasetSplits:
    """`splits` with at most `per_class` training images per class (seeded; None keeps all)."""
    if not per_class:
        return splits
    train = splits.train
    n_of = {c: min(int(per_class), int(n)) for c, n in enumerate(train.class_counts())}
    return with_train(splits, train.subset(take_per_class(train, n_of, 0)))


def balanced_pool(ctx: ExperimentContext, per_class: int | None = None) -> DatasetSplits:
    """The config's dataset at imbalance 1 with class labels only, its training pool capped at
    `per_class` images per class (seeded; None keeps all)."""
    splits = ctx.splits(imbalance=1)
    return capped(with_train(splits, splits.train.without_groups()), per_class)


def save_figure(ctx: ExperimentContext, fig, name: str) -> str:
    """The figure as ctx.out/NAME (PNG), closed; returns NAME for `ExperimentResult.figures`."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    save_png(fig, ctx.out / name)
    return name


def plot_shots(ax, c: dict, label: str = "", keys=SHOTS, style: str = "-o") -> None:
    """Mean ± std of each key of a `curve` against its x, one line per key."""
    for k in keys:
        mean = np.array([np.nan if v is None else v for v in c[k]["mean"]], float)
        std = np.array([0.0 if v is None else v for v in c[k]["std"]], float)
        line, = ax.plot(c["x"], mean, style, label=f"{label}{SHOT_LABELS.get(k, k)}")
        ax.fill_between(c["x"], mean - std, mean + std, color=line.get_color(), alpha=0.15)


def mean_of(c: dict, key: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in c[key]["mean"]], float)


def verdict(ok: bool | None) -> str:
    """A finding's status from its rule: None means the numbers to decide are missing."""
    return "not runnable" if ok is None else "reproduced" if ok else "not reproduced"


def fmt(v, digits: int = 2) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"
