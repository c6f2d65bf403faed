"""The workshop paper's uniformization study (its Fig. 3: accuracy vs number of synthetic samples).

On the long tail (the config's dataset and imbalance), SYNAuG is trained with two families of
synthetic budgets (plan strategies of `synaug.plans`):

- U-beta: every class ends with exactly beta images: classes above beta lose real images (a
  seeded subset of beta is kept, `plan.real_cuts`), classes below are filled with synthetic ones;
- LT+alpha: alpha synthetic images are added to every class; the real long tail is kept, so the
  absolute differences between classes remain.

Each budget is trained twice: at the config's fixed number of steps (so a small set sees many more
epochs than a large one: at 300 x 64 images U-50 gets about 38 epochs, U-400 about 5) and at equal
epochs (`epochs`, default 20: steps = epochs x the set's size / batch size, as the paper trains a
fixed number of epochs); both are shown, and the paper's claims are judged at equal epochs (the
fixed-step ones are the exploratory family).

Many / Medium / Few are always the classes' split of the ORIGINAL long tail (a U-beta run that cuts
the head still reports it as Many). The paper (CIFAR100-LT, IF 100): accuracy rises as synthetic
data are added; LT+alpha gains most at first, as the Few classes stop being few; with much
synthetic data the two families end up alike.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from synaug.eval.specs import metric
from synaug.experiments.analyses.common import (SHOTS, by_seed, class_pool, curve, fmt, listed, method_name, number,
                                                options, plot_shots, save_figure, stats_of, synthetic_for)
from synaug.experiments.catalog import Experiment, ExperimentResult, Finding, register_experiment
from synaug.experiments.claims import FindingSet
from synaug.experiments.config import LONG_TAIL_SPLIT
from synaug.experiments.table import Table
from synaug.plots import pyplot

DEFAULTS = {"betas": [50, 100, 200, 400], "alphas": [0, 50, 100, 200, 400], "method": "synaug",
            "per_class": None, "epochs": 20}
FAMILIES = (("U", "betas", "U-{}"), ("LT+", "alphas", "LT+{}"))
RULES = {"betas": listed(number(0, integer=True)), "alphas": listed(number(0, integer=True)),
         "method": method_name, "per_class": number(1, integer=True, optional=True),
         "epochs": number(1, integer=True, optional=True)}
# (schedule, folder suffix, the family its claims belong to): the paper trains equal epochs
SCHEDULES = (("equal epochs", "-epochs", "paper"), ("fixed steps", "", "exploratory"))


def budgets(opts) -> list[tuple[str, str]]:
    """(family, strategy) of every budget, U-beta first."""
    return [(family, pattern.format(v)) for family, key, pattern in FAMILIES for v in opts[key]]


def set_size(counts, strategy: str) -> int:
    """Training images of a budget: U-beta leaves every class with exactly beta, LT+alpha adds alpha
    to every class of the real long tail."""
    family, _, value = strategy.partition("-") if strategy.startswith("U-") else strategy.partition("+")
    return len(counts) * int(value) if family == "U" else int(sum(counts)) + len(counts) * int(value)


def epoch_steps(ctx, counts, strategy: str, epochs: int) -> int:
    """Stage-1 steps that give `epochs` passes over the budget's training set."""
    return max(1, -(-epochs * set_size(counts, strategy) // ctx.config.train.batch_size))


def schedules(opts) -> list[tuple]:
    return [sch for sch in SCHEDULES if sch[0] == "fixed steps" or opts["epochs"]]


def jobs(ctx) -> list:
    """`method` (default synaug) at every budget and seed, at the config's steps and at equal epochs;
    each plan keeps a seeded subset of beta real images in the cells above beta (the plan's cuts) and
    fills the rest."""
    opts = options(ctx, DEFAULTS, RULES)
    data = class_pool(ctx, opts["per_class"])
    counts = ctx.splits(data).train.class_counts()
    out = []
    for schedule, suffix, _ in schedules(opts):
        for _, strategy in budgets(opts):
            train = {"steps": epoch_steps(ctx, counts, strategy, opts["epochs"])} if suffix else None
            out += [ctx.config.job(opts["method"], seed, strategy.replace("+", "plus") + suffix, data=data,
                                   plan=replace(ctx.config.plan, strategy=strategy), train=train)
                    for seed in ctx.seeds]
    return out


def collect(ctx, results) -> ExperimentResult:
    opts = options(ctx, DEFAULTS, RULES)
    data = class_pool(ctx, opts["per_class"])
    counts = [int(n) for n in ctx.splits(data).train.class_counts()]
    result, made_rows = ExperimentResult(), {}
    for _, strategy in budgets(opts):
        syn = synthetic_for(ctx, data, strategy)
        made_rows[strategy] = {"real": [r["real"] - r["cut"] for r in syn.meta["cells"]],
                               "synthetic": syn.images.class_counts().tolist(),
                               "total synthetic": int(len(syn.images)), "training set": set_size(counts, strategy),
                               "steps at equal epochs": epoch_steps(ctx, counts, strategy, opts["epochs"] or 1)}
    f = FindingSet()
    for schedule, suffix, family in schedules(opts):
        rows, points = {}, {fam: ([], []) for fam, _, _ in FAMILIES}
        for fam, strategy in budgets(opts):
            rows[strategy] = stats_of(ctx, results, strategy.replace("+", "plus") + suffix, SHOTS)
            points[fam][0].append(made_rows[strategy]["total synthetic"])
            points[fam][1].append(rows[strategy])
        curves = {fam: curve(xs, pts, SHOTS) for fam, (xs, pts) in points.items()}
        result.curves.update({f"{fam} ({schedule})": c for fam, c in curves.items()})
        when = (f"{opts['epochs']} epochs of each set" if suffix else f"{ctx.config.train.steps} steps whatever the "
                "set's size")
        result.tables.append(Table(f"{opts['method']}: accuracy (%) by synthetic budget, {schedule} ({when})",
                                   list(SHOTS), rows, note="Many / Medium / Few by the original long tail's class counts"))
        result.figures.append((save_figure(ctx, draw(curves), f"uniformization{suffix}.png"),
                               f"Many / Medium / Few / All vs the number of synthetic images: U-beta and LT+alpha, "
                               f"{schedule}"))
        add_findings(f, ctx, opts, rows, points, schedule, family)
    result.tables.append(Table("Training images per class", ["real", "synthetic", "total synthetic", "training set",
                                                              "steps at equal epochs"], made_rows,
                               note=f"original real counts per class: {counts}"))
    result.findings.extend(f.findings(Finding))
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


def add_findings(f: FindingSet, ctx, opts, rows: dict, points: dict, schedule: str, family: str) -> None:
    """Each claim checked on every seed (`FindingSet.rule`); `points[family]` = (synthetic counts, Stats)."""
    def budget(fam, which):  # the strategy with the smallest / largest synthetic count of a family
        xs = points[fam][0]
        strategies = [s for f_, s in budgets(opts) if f_ == fam]
        return strategies[int(which(xs))] if xs else None

    def acc(strategy, key="accuracy"):
        return by_seed(rows[strategy][key]) if strategy else {}

    ends = {fam: (budget(fam, np.argmin), budget(fam, np.argmax)) for fam, _, _ in FAMILIES}
    f.rule(f"Accuracy rises as synthetic data are added ({schedule})",
           {s: all(acc(hi).get(s) is not None and acc(lo).get(s) is not None and acc(hi)[s] > acc(lo)[s]
                   for lo, hi in ends.values()) for s in ctx.seeds},
           "All at the largest budget > All at the smallest, in both families; means: "
           + "; ".join(f"{fam}: {fmt(rows[lo]['accuracy'].mean)} -> {fmt(rows[hi]['accuracy'].mean)}"
                       for fam, (lo, hi) in ends.items() if lo), family=family)
    lt = [s for fam, s in budgets(opts) if fam == "LT+"]
    lt = [lt[i] for i in np.argsort(points["LT+"][0])]
    f.rule(f"LT+alpha: the first synthetic images help the Few classes most ({schedule})",
           {s: first_gain_largest([acc(b, "few").get(s) for b in lt]) for s in ctx.seeds},
           "Few's first gain (smallest to next budget) is the largest of the consecutive gains; mean Few along LT+: "
           + ", ".join(fmt(rows[b]["few"].mean) for b in lt), family=family)
    u_end, lt_end = ends["U"][1], ends["LT+"][1]
    f.rule(f"With much synthetic data, LT+alpha and U-beta perform alike ({schedule})",
           {s: None if None in (acc(u_end).get(s), acc(lt_end).get(s)) else abs(acc(u_end)[s] - acc(lt_end)[s]) <= 3
            for s in ctx.seeds}, f"All at the largest U-beta and LT+alpha budgets within 3 points; means "
           f"{fmt(rows[u_end]['accuracy'].mean) if u_end else '-'} vs {fmt(rows[lt_end]['accuracy'].mean) if lt_end else '-'}",
           family=family)


def first_gain_largest(few: list) -> bool | None:
    if len(few) < 3 or None in few:
        return None
    gains = np.diff(np.array(few, float))
    return bool(gains[0] == gains.max())


register_experiment(Experiment(
    name="uniformization", title="Uniformization: U-beta vs LT+alpha synthetic budgets",
    paper="Workshop paper Fig. 3: accuracy vs number of synthetic samples on CIFAR100-LT (IF 100) for U-beta "
          "(every class capped and filled to beta) and LT+alpha (alpha synthetic images added to every class)",
    dataset="mnist-lt", jobs=jobs, collect=collect,
    defaults={"dataset": "mnist-lt", "imbalance": 100, "seeds": [0, 1, 2], "thresholds": LONG_TAIL_SPLIT,
              "train": {"steps": 300, "batch_size": 64, "stage2_steps": 100}},
    tiny={"seeds": [0], "bootstrap": 100, "train": {"steps": 3, "batch_size": 16, "stage2_steps": 1},
          "options": {"betas": [4, 8], "alphas": [0, 3], "per_class": 10, "epochs": 1}}))
