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

from dataclasses import replace

import numpy as np

from synaug.eval.specs import metric
from synaug.experiments.analyses.common import (SHOTS, class_pool, curve, fmt, listed, mean_of, method_name, number,
                                                options, plot_shots, save_figure, stats_of, synthetic_for, verdict)
from synaug.experiments.catalog import Experiment, ExperimentResult, Finding, register_experiment
from synaug.experiments.table import Table
from synaug.plots import pyplot

DEFAULTS = {"betas": [50, 100, 200, 400], "alphas": [0, 50, 100, 200, 400], "method": "synaug",
            "per_class": None}
FAMILIES = (("U", "betas", "U-{}"), ("LT+", "alphas", "LT+{}"))
RULES = {"betas": listed(number(0, integer=True)), "alphas": listed(number(0, integer=True)),
         "method": method_name, "per_class": number(1, integer=True, optional=True)}


def budgets(opts) -> list[tuple[str, str]]:
    """(family, strategy) of every budget, U-beta first."""
    return [(family, pattern.format(v)) for family, key, pattern in FAMILIES for v in opts[key]]


def jobs(ctx) -> list:
    """`method` (default synaug) at every budget and seed; each plan keeps a seeded subset of beta real
    images in the cells above beta (the plan's cuts) and fills the rest."""
    opts = options(ctx, DEFAULTS, RULES)
    data = class_pool(ctx, opts["per_class"])
    return [ctx.config.job(opts["method"], seed, strategy.replace("+", "plus"), data=data,
                           plan=replace(ctx.config.plan, strategy=strategy))
            for _, strategy in budgets(opts) for seed in ctx.seeds]


def collect(ctx, results) -> ExperimentResult:
    opts = options(ctx, DEFAULTS, RULES)
    data = class_pool(ctx, opts["per_class"])
    counts = [int(n) for n in ctx.splits(data).train.class_counts()]
    result = ExperimentResult()
    rows, made_rows, points = {}, {}, {f: ([], []) for f, _, _ in FAMILIES}
    for family, strategy in budgets(opts):
        rows[strategy] = stats_of(results.runs(strategy.replace("+", "plus")), SHOTS)
        syn = synthetic_for(ctx, data, strategy)
        made_rows[strategy] = {"real": [r["real"] - r["cut"] for r in syn.meta["cells"]],
                               "synthetic": syn.images.class_counts().tolist(),
                               "total synthetic": int(len(syn.images))}
        points[family][0].append(len(syn.images))
        points[family][1].append(rows[strategy])
    result.curves = {family: curve(xs, pts, SHOTS) for family, (xs, pts) in points.items()}
    result.tables.append(Table(f"{opts['method']}: accuracy (%) by synthetic budget", list(SHOTS), rows,
                               note="Many / Medium / Few by the original long tail's class counts"))
    result.tables.append(Table("Training images per class", ["real", "synthetic", "total synthetic"], made_rows,
                               note=f"original real counts per class: {counts}"))
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
        ax.set_title(metric(k).label)
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
    dataset="mnist-lt", jobs=jobs, collect=collect,
    defaults={"dataset": "mnist-lt", "imbalance": 100, "seeds": [0, 1, 2],
              "train": {"steps": 300, "batch_size": 64, "stage2_steps": 100}},
    tiny={"seeds": [0], "train": {"steps": 3, "batch_size": 16, "stage2_steps": 1},
          "options": {"betas": [4, 8], "alphas": [0, 3], "per_class": 10}}))
