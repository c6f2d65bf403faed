"""The workshop paper's uniformization study (its Fig. 3: accuracy vs number of synthetic samples).

On the long tail (the config's dataset and imbalance), SYNAuG is trained with two families of
synthetic budgets (plan strategies of `synaug.plan`):

- U-beta: every class ends with exactly beta images: classes above beta lose real images (a
  seeded subset of beta is kept, `plan.real_cuts`), classes below are filled with synthetic ones;
- LT+alpha: alpha synthetic images are added to every class; the real long tail is kept, so the
  absolute differences between classes remain.

Many / Medium / Few are always the classes' split of the ORIGINAL long tail (a U-beta run that cuts
the head still reports it as Many). The paper (CIFAR100-LT, IF 100): accuracy rises as synthetic
data are added; LT+alpha gains most at first, as the Few classes stop being few; with much
synthetic data the two families end up alike.
"""

from __future__ import annotations

import numpy as np

from synaug.experiments.analyses.common import (listed, number, method_name, SHOT_LABELS, SHOTS, capped, curve, fmt, mean_of, options,
                                                plot_shots, save_figure, shot_accuracy, stat, take_per_class,
                                                verdict, with_train)
from synaug.experiments.catalog import Experiment, ExperimentResult, Finding, Table, register_experiment
from synaug.plan import plan_counts, real_cuts
from synaug.plots import pyplot

DEFAULTS = {"betas": [50, 100, 200, 400], "alphas": [0, 50, 100, 200, 400], "method": "synaug",
            "per_class": None}
FAMILIES = (("U", "betas", "U-{}"), ("LT+", "alphas", "LT+{}"))
RULES = {"betas": listed(number(0, integer=True)), "alphas": listed(number(0, integer=True)),
         "method": method_name, "per_class": number(1, integer=True, optional=True)}


def training_counts(counts: dict, strategy: str) -> tuple[dict, dict]:
    """(real kept, synthetic added) per class of a strategy, from `synaug.plan`'s formulas."""
    add, cut = plan_counts(counts, strategy), real_cuts(counts, strategy)
    return {c: n - cut[c] for c, n in counts.items()}, add


def level(ctx, opts, splits, counts: dict, strategy: str) -> tuple[dict, dict]:
    """One budget over the seeds: ({Many, Medium, Few, All: stat}, {real, synthetic per class})."""
    th = ctx.config["thresholds"]
    real_n, _ = training_counts(counts, strategy)
    synthetic = ctx.synthetic(splits, strategy=strategy, use_groups=False)
    shots = []
    for seed in ctx.seeds:
        train = splits.train.subset(take_per_class(splits.train, real_n, seed))
        m = ctx.train_eval(opts["method"], with_train(splits, train), strategy.replace("+", "plus"), seed,
                           synthetic=synthetic)
        shots.append({**shot_accuracy(m["per_class"], list(counts.values()), th["many"], th["few"]),
                      "accuracy": m["accuracy"]})
    made = {"real": np.bincount(train.labels, minlength=len(counts)).tolist(),
            "synthetic": synthetic.class_counts().tolist()}
    return {k: stat([s[k] for s in shots]) for k in SHOTS}, made


def run(ctx) -> ExperimentResult:
    opts = options(ctx, DEFAULTS, RULES)
    base = ctx.splits()
    splits = capped(with_train(base, base.train.without_groups()), opts["per_class"])
    counts = {c: int(n) for c, n in enumerate(splits.train.class_counts())}
    result = ExperimentResult()
    rows, made_rows = {}, {}
    for family, key, pattern in FAMILIES:
        xs, points = [], []
        for value in opts[key]:
            strategy = pattern.format(value)
            rows[strategy], made_rows[strategy] = level(ctx, opts, splits, counts, strategy)
            made_rows[strategy]["total synthetic"] = int(sum(made_rows[strategy]["synthetic"]))
            xs.append(made_rows[strategy]["total synthetic"])
            points.append(rows[strategy])
        result.curves[family] = curve(xs, points, SHOTS)
    result.tables.append(Table(f"{opts['method']}: accuracy (%) by synthetic budget", [SHOT_LABELS[k] for k in SHOTS],
                               {s: {SHOT_LABELS[k]: r[k] for k in SHOTS} for s, r in rows.items()},
                               note="Many / Medium / Few by the original long tail's class counts"))
    result.tables.append(Table("Training images per class (seed " + str(ctx.seeds[-1]) + ")",
                               ["real", "synthetic", "total synthetic"], made_rows,
                               note=f"original real counts per class: {list(counts.values())}"))
    result.figures.append((save_figure(ctx, draw(result.curves), "uniformization.png"),
                           "Many / Medium / Few / All vs the number of synthetic images: U-beta and LT+alpha"))
    result.findings.extend(findings(result.curves))
    return result


def draw(curves: dict):
    plt = pyplot()
    fig, axes = plt.subplots(1, len(SHOTS), figsize=(4 * len(SHOTS), 3.4))
    for ax, k in zip(axes, SHOTS):
        for family, _, _ in FAMILIES:
            plot_shots(ax, curves[family], f"{family} ", keys=(k,), style="-o" if family == "U" else "--s")
        ax.set_title(SHOT_LABELS[k])
        ax.set_xlabel("synthetic images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("test accuracy (%)")
    return fig


def findings(curves: dict) -> list[Finding]:
    u, lt = curves["U"], curves["LT+"]
    rises = {f: (mean_of(c, "accuracy")[int(np.argmin(c["x"]))], mean_of(c, "accuracy")[int(np.argmax(c["x"]))])
             for f, c in (("U", u), ("LT+", lt)) if len(c["x"]) >= 2}
    out = [Finding("Accuracy rises as synthetic data are added",
                   verdict(None if len(rises) < 2 else all(b > a for a, b in rises.values())),
                   "rule: All at the largest budget > All at the smallest, in both families; "
                   + "; ".join(f"{f}: {fmt(a)} -> {fmt(b)}" for f, (a, b) in rises.items()))]
    order = np.argsort(lt["x"])
    few = mean_of(lt, "few")[order]
    gains = np.diff(few)
    out.append(Finding("LT+alpha: the first synthetic images help the Few classes most",
                       verdict(None if len(gains) < 2 or np.isnan(gains).any() else bool(gains[0] == gains.max())),
                       "rule: Few's first gain (smallest to next budget) is the largest of the consecutive gains; "
                       f"Few along LT+: {', '.join(fmt(v) for v in few)}"))
    ends = (mean_of(u, "accuracy")[int(np.argmax(u["x"]))] if u["x"] else None,
            mean_of(lt, "accuracy")[int(np.argmax(lt["x"]))] if lt["x"] else None)
    out.append(Finding("With much synthetic data, LT+alpha and U-beta perform alike",
                       verdict(None if None in ends else abs(ends[0] - ends[1]) <= 3),
                       f"rule: All at the largest U-beta and LT+alpha budgets within 3 points; {fmt(ends[0])} vs "
                       f"{fmt(ends[1])}"))
    return out


register_experiment(Experiment(
    name="uniformization", title="Uniformization: U-beta vs LT+alpha synthetic budgets",
    paper="Workshop paper Fig. 3: accuracy vs number of synthetic samples on CIFAR100-LT (IF 100) for U-beta "
          "(every class capped and filled to beta) and LT+alpha (alpha synthetic images added to every class)",
    dataset="mnist-lt", run=run,
    defaults={"dataset": "mnist-lt", "imbalance": 100, "seeds": [0, 1, 2],
              "train": {"steps": 300, "batch_size": 64, "stage2_steps": 100}},
    tiny={"seeds": [0], "train": {"steps": 3, "batch_size": 16, "stage2_steps": 1},
          "options": {"betas": [4, 8], "alphas": [0, 3], "per_class": 10}}))
