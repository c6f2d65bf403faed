"""Figure 2 (ICML paper; Fig. 2 of the workshop paper): the replacement test.

On a BALANCED pool (the dataset at imbalance 1, optionally capped per class), real images are
replaced by synthetic ones of the same class, (a) class-wise: k of the C classes become entirely
synthetic, and (b) instance-wise: the same fraction of every class; plain cross-entropy (`ce`, no
Mixup, no fine-tuning, as the paper) is trained on each mixture and tested on the real test set.
The paper (CIFAR100, 500 per class) sees a linear decline in (a), a logarithmic one in (b), and 1 %
real data in (b) about as good as 50 % real data in (a).

Synthetic images: one plan of `n_c` per class (the plan's final count is twice the real count),
generated once; a mixture takes the first images of a seeded order of each class, so the 25 %
mixture is part of the 50 % one.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from synaug.engine.specs import Subset
from synaug.experiments.analyses.common import (class_pool, curve, fmt, listed, mean_of, method_name, number,
                                                options, save_figure, verdict)
from synaug.experiments.catalog import Experiment, ExperimentResult, Finding, register_experiment
from synaug.experiments.stats import Stat
from synaug.experiments.table import Table
from synaug.plots import pyplot

DEFAULTS = {
    "fractions": [0.0, 0.25, 0.5, 0.75, 1.0],  # share of real images (or classes) replaced
    "instance_extra": [0.99],                  # instance-wise only: the paper's "1 % real data" point
    "per_class": None,                         # cap of real images per class (None: the whole pool)
    "method": "ce",
}
SETTINGS = ("class-wise", "instance-wise")
RULES = {"fractions": listed(number(0, 1)), "instance_extra": listed(number(0, 1), empty=True),
         "per_class": number(1, integer=True, optional=True), "method": method_name}


def replacement_counts(setting: str, fraction: float, counts: dict, class_order) -> tuple[dict, dict, list]:
    """(real per class, synthetic per class, replaced classes) of one mixture: class-wise, the first
    round(f * C) classes of `class_order` become all synthetic; instance-wise, round(f * n_c) of
    every class's n_c real images are replaced. Every class keeps its size."""
    if setting == "class-wise":
        replaced = [int(c) for c in list(class_order)[:int(round(fraction * len(counts)))]]
        return ({c: 0 if c in replaced else n for c, n in counts.items()},
                {c: n if c in replaced else 0 for c, n in counts.items()}, replaced)
    swap = {c: int(round(fraction * n)) for c, n in counts.items()}
    return {c: n - swap[c] for c, n in counts.items()}, swap, []


def run_name(setting: str, fraction: float) -> str:
    """All-real and all-synthetic mixtures are the same in both settings: trained once."""
    if fraction == 0:
        return "all-real"
    if fraction == 1:
        return "all-synthetic"
    return f"{setting}-{round(100 * fraction, 2):g}"


def pool(ctx, opts) -> tuple:
    """(the balanced pool's data spec, its class counts, the plan of n_c synthetic images per class)."""
    data = class_pool(ctx, opts["per_class"], imbalance=1)
    counts = {c: int(n) for c, n in enumerate(ctx.splits(data).train.class_counts())}
    return data, counts, replace(ctx.config.plan, strategy={c: 2 * n for c, n in counts.items()})


def levels(opts) -> dict:
    return {"class-wise": sorted(set(opts["fractions"])),
            "instance-wise": sorted(set(opts["fractions"]) | set(opts["instance_extra"]))}


def mixture(seed: int, setting: str, fraction: float, counts: dict) -> tuple[dict, dict, list]:
    """(real per class, synthetic per class, replaced classes) of one mixture at one seed."""
    order = np.random.default_rng([seed, 7]).permutation(len(counts))
    return replacement_counts(setting, fraction, counts, order)


def jobs(ctx) -> list:
    """Plain training (`method`, default ce) on every mixture and seed; the all-real and all-synthetic
    mixtures are the same job in both settings."""
    opts = options(ctx, DEFAULTS, RULES)
    data, counts, plan = pool(ctx, opts)
    out = []
    for setting, fractions in levels(opts).items():
        for f in fractions:
            for seed in ctx.seeds:
                real_n, syn_n, _ = mixture(seed, setting, f, counts)
                out.append(ctx.config.job(opts["method"], seed, run_name(setting, f), data=data, plan=plan,
                                          subset=Subset(real=real_n, synthetic=syn_n, seed=seed)))
    return list(dict.fromkeys(out))


def collect(ctx, results) -> ExperimentResult:
    opts = options(ctx, DEFAULTS, RULES)
    _, counts, _ = pool(ctx, opts)
    result = ExperimentResult()
    rows, curves = {}, {}
    for setting, fractions in levels(opts).items():
        points = [level_point(ctx, results, counts, setting, f) for f in fractions]
        for f, p in zip(fractions, points):
            rows[f"{setting} {100 * f:g} %"] = p
        curves[setting] = curve([100 * f for f in fractions], points, ("accuracy", "replaced", "kept"))
    result.tables.append(Table(f"Replacement test ({opts['method']}, test accuracy %)",
                               ["accuracy", "replaced", "kept", "real", "synthetic"], rows,
                               note="replaced / kept: mean accuracy of the classes made all-synthetic / "
                                    "left real (class-wise only); real / synthetic: training images"))
    result.curves = curves
    result.figures.append((save_figure(ctx, draw(curves), "fig2_replacement.png"),
                           "Test accuracy vs % of real data replaced by synthetic: (a) class-wise, (b) instance-wise"))
    result.findings.extend(findings(curves))
    return result


def level_point(ctx, results, counts, setting: str, fraction: float) -> dict:
    """One mixture over the seeds: {accuracy, replaced, kept, real, synthetic}."""
    acc, replaced_acc, kept_acc, seeds = [], [], [], []
    for seed, m in results.runs(run_name(setting, fraction)):
        real_n, syn_n, replaced = mixture(seed, setting, fraction, counts)
        per_class = np.array([np.nan if a is None else a for a in m["per_class"]], float)
        kept = [c for c in counts if c not in replaced]
        acc.append(m["accuracy"])
        replaced_acc.append(float(np.nanmean(per_class[replaced])) if replaced else None)
        kept_acc.append(float(np.nanmean(per_class[kept])) if kept else None)
        seeds.append(seed)
    real_n, syn_n, _ = mixture(ctx.seeds[-1], setting, fraction, counts)
    return {"accuracy": Stat.of(acc, seeds), "replaced": Stat.of(replaced_acc, seeds), "kept": Stat.of(kept_acc, seeds),
            "real": int(sum(real_n.values())), "synthetic": int(sum(syn_n.values()))}


def draw(curves: dict):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, setting, keys in zip(axes, SETTINGS, (("accuracy", "replaced", "kept"), ("accuracy",))):
        c = curves[setting]
        for k in keys:
            mean, std = mean_of(c, k), np.array([0.0 if v is None else v for v in c[k]["std"]], float)
            line, = ax.plot(c["x"], mean, "-o", label={"accuracy": "all classes"}.get(k, f"{k} classes"))
            ax.fill_between(c["x"], mean - std, mean + std, color=line.get_color(), alpha=0.15)
        ax.set_title(f"({'ab'[SETTINGS.index(setting)]}) {setting} replacement")
        ax.set_xlabel("real data replaced by synthetic (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("test accuracy (%)")
    return fig


def at(c: dict, key: str, x: float):
    """The mean of `key` at x (a percentage), or None where that level was not run."""
    return float(mean_of(c, key)[c["x"].index(x)]) if x in c["x"] else None


def findings(curves: dict) -> list[Finding]:
    cls, ins = curves["class-wise"], curves["instance-wise"]
    mid = [x for x in cls["x"] if 0 < x < 100 and x in ins["x"]]
    out = []
    a = mean_of(cls, "accuracy")
    r2 = None
    if len(a) >= 3 and np.ptp(a) > 0:
        slope, icpt = np.polyfit(cls["x"], a, 1)
        r2 = 1 - np.sum((a - (slope * np.array(cls["x"]) + icpt)) ** 2) / np.sum((a - a.mean()) ** 2)
        r2 = float(r2) if slope < 0 else 0.0
    out.append(Finding("Class-wise replacement: accuracy declines linearly with the share of classes replaced",
                       verdict(None if r2 is None else r2 >= 0.9),
                       f"rule: a falling straight line fits the class-wise curve with R^2 >= 0.9; R^2 = {fmt(r2, 3)}"))
    ci = [(at(cls, "accuracy", x), at(ins, "accuracy", x)) for x in mid]
    ok = None if not mid else np.mean([i for _, i in ci]) > np.mean([c for c, _ in ci])
    out.append(Finding("Instance-wise replacement degrades accuracy less than class-wise replacement",
                       verdict(ok), "rule: mean accuracy over the intermediate fractions, instance-wise > class-wise; "
                       + ", ".join(f"{x:g} %: class-wise {fmt(c)} vs instance-wise {fmt(i)}"
                                   for x, (c, i) in zip(mid, ci))))
    rk = [(at(cls, "replaced", x), at(cls, "kept", x)) for x in cls["x"] if 0 < x < 100]
    ok = None if not rk else np.mean([r for r, _ in rk]) < np.mean([k for _, k in rk])
    out.append(Finding("Class-wise: the classes with no real image are hurt most (the domain gap)",
                       verdict(ok), "rule: mean accuracy of replaced classes < kept classes over intermediate "
                       "fractions; " + "; ".join(f"replaced {fmt(r)} vs kept {fmt(k)}" for r, k in rk)))
    one, half = at(ins, "accuracy", 99), at(cls, "accuracy", 50)
    out.append(Finding("1 % real data (instance-wise) is about as good as 50 % real data (class-wise)",
                       verdict(None if one is None or half is None else one >= half - 5),
                       f"rule: instance-wise 99 % replaced >= class-wise 50 % replaced - 5 points; "
                       f"{fmt(one)} vs {fmt(half)} (paper, CIFAR100: 41.11 vs 43.96)"))
    few_real = [x for x in ins["x"] if 0 < x < 100]
    best, allsyn = (at(ins, "accuracy", max(few_real)) if few_real else None), at(ins, "accuracy", 100)
    out.append(Finding("Including at least a small amount of real data is crucial (all-synthetic is worst)",
                       verdict(None if best is None or allsyn is None else best > allsyn),
                       f"rule: instance-wise at {max(few_real, default=0):g} % replaced > 100 % replaced; "
                       f"{fmt(best)} vs {fmt(allsyn)}"))
    return out


register_experiment(Experiment(
    name="fig2", title="Replacement test: real vs synthetic data, class-wise and instance-wise",
    paper="ICML Fig. 2 / workshop Fig. 2: test accuracy when real training images of a balanced dataset are "
          "replaced by synthetic ones, whole classes at a time (a) or the same fraction of every class (b)",
    dataset="mnist-lt", jobs=jobs, collect=collect,
    defaults={"dataset": "mnist-lt", "imbalance": 1, "seeds": [0, 1, 2], "train": {"steps": 300, "batch_size": 64}},
    tiny={"seeds": [0], "train": {"steps": 3, "batch_size": 16, "stage2_steps": 1},
          "options": {"fractions": [0.0, 0.5, 1.0], "instance_extra": [], "per_class": 8}}))
