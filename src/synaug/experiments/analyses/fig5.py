"""Figure 5 (ICML paper): class vs group imbalance on a 2-D toy.

Four Gaussians with the same covariance, one per (class y, group a) cell: the class moves the mean
along x, the latent group along y, so a classifier that ignores the group is a VERTICAL line
("the fairer the classifiers, the more vertically aligned"). Four settings change the cell counts
n(y, a) (the paper gives no numbers; ours, with ratio r):

- balanced: every cell N;
- class imbalance: class 1 has N / r in both groups;
- group imbalance: group 1 has N / r in both classes;
- class + group imbalance: class 1 has N / r, and within it group 1 has N / r^2.

A logistic regression (scikit-learn) is fit on each, and on the same data uniformized: every cell
filled up to N with samples drawn from its known Gaussian (SYNAuG's synthetic data when the
generator knows the group), and re-sampled (cell-balanced sample weights, no new data). Test data
are balanced over cells; "worst cell" is the lowest cell accuracy, "tilt" the boundary's angle
from vertical in degrees.
"""

from __future__ import annotations

import numpy as np

from synaug.experiments.analyses.common import by_seed, fmt, number, options, save_figure
from synaug.experiments.catalog import Experiment, ExperimentResult, Finding, register_experiment
from synaug.experiments.claims import FindingSet
from synaug.experiments.stats import Stat
from synaug.experiments.table import Table
from synaug.plots import pyplot

DEFAULTS = {"n": 500, "ratio": 10, "separation": 1.5, "test_per_cell": 2000}
SETTINGS = ("balanced", "class imbalance", "group imbalance", "class + group imbalance")
VARIANTS = ("original", "re-sampled", "uniformized")
COLUMNS = ("accuracy", "worst_cell", "tilt")
RULES = {"n": number(2, integer=True), "ratio": number(1), "separation": number(0),
         "test_per_cell": number(1, integer=True)}


def cell_counts(setting: str, n: int, r: float) -> dict:
    """{(class, group): count} of one setting (module docstring)."""
    small, tiny = max(int(round(n / r)), 1), max(int(round(n / r ** 2)), 1)
    return {"balanced": {(0, 0): n, (0, 1): n, (1, 0): n, (1, 1): n},
            "class imbalance": {(0, 0): n, (0, 1): n, (1, 0): small, (1, 1): small},
            "group imbalance": {(0, 0): n, (0, 1): small, (1, 0): n, (1, 1): small},
            "class + group imbalance": {(0, 0): n, (0, 1): n, (1, 0): small, (1, 1): tiny}}[setting]


def cell_mean(y: int, a: int, separation: float) -> np.ndarray:
    return np.array([(2 * y - 1) * separation, (2 * a - 1) * separation])


def sample(counts: dict, separation: float, rng: np.random.Generator):
    """(x (N, 2), class y, group a) drawn from the cells' Gaussians (identity covariance)."""
    xs, ys, gs = [np.zeros((0, 2))], [np.zeros(0, int)], [np.zeros(0, int)]
    for (y, a), k in sorted(counts.items()):
        xs.append(rng.normal(size=(k, 2)) + cell_mean(y, a, separation))
        ys.append(np.full(k, y))
        gs.append(np.full(k, a))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)


def fit_linear(x, y, weights=None):
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(C=1e4, max_iter=1000).fit(x, y, sample_weight=weights)


def cell_balanced_weights(y, a) -> np.ndarray:
    """Weights that make every (class, group) cell count the same (re-sampling in expectation)."""
    cells = y * 2 + a
    counts = np.bincount(cells, minlength=4).astype(float)
    return (len(cells) / (4 * counts))[cells]


def uniformized(x, y, a, counts: dict, n: int, separation: float, rng):
    """The data plus, for every cell below n, fresh samples of its Gaussian up to n."""
    extra = sample({c: n - k for c, k in counts.items() if k < n}, separation, rng)
    return np.concatenate([x, extra[0]]), np.concatenate([y, extra[1]]), np.concatenate([a, extra[2]])


def boundary(clf) -> tuple[np.ndarray, float]:
    """(w, b) of the decision boundary w . x + b = 0."""
    return clf.coef_[0].astype(float), float(clf.intercept_[0])


def tilt_degrees(w: np.ndarray) -> float:
    """Angle of the boundary from vertical (0 = ignores the group coordinate)."""
    return float(np.degrees(np.arctan2(abs(w[1]), abs(w[0]))))


def evaluate(clf, x, y, a) -> dict:
    pred = clf.predict(x)
    cells = [float((pred[(y == c) & (a == g)] == c).mean()) * 100 for c in (0, 1) for g in (0, 1)]
    return {"accuracy": float((pred == y).mean()) * 100, "worst_cell": min(cells),
            "tilt": tilt_degrees(boundary(clf)[0])}


def fit_variant(variant: str, x, y, a, counts, opts, rng):
    if variant == "re-sampled":
        return fit_linear(x, y, cell_balanced_weights(y, a)), (x, y, a)
    if variant == "uniformized":
        data = uniformized(x, y, a, counts, opts["n"], opts["separation"], rng)
        return fit_linear(data[0], data[1]), data
    return fit_linear(x, y), (x, y, a)


def jobs(ctx) -> list:
    return []  # scikit-learn's logistic regression on drawn points (collect)


def collect(ctx, results) -> ExperimentResult:
    opts = options(ctx, DEFAULTS, RULES)
    runs = {}  # (setting, variant) -> [(metrics, clf, data) per seed]
    for seed in ctx.seeds:
        rng = np.random.default_rng([seed, 5])
        test = sample({c: opts["test_per_cell"] for c in cell_counts("balanced", 1, 1)}, opts["separation"], rng)
        for setting in SETTINGS:
            counts = cell_counts(setting, opts["n"], opts["ratio"])
            x, y, a = sample(counts, opts["separation"], rng)
            for variant in VARIANTS:
                clf, data = fit_variant(variant, x, y, a, counts, opts, rng)
                runs.setdefault((setting, variant), []).append((evaluate(clf, *test), clf, data))
    rows = {f"{s} / {v}": {k: Stat.of([m[k] for m, _, _ in runs[s, v]], ctx.seeds) for k in COLUMNS}
            for s in SETTINGS for v in VARIANTS}
    result = ExperimentResult(tables=[Table(
        "2-D toy: logistic regression per imbalance setting", list(COLUMNS), rows,
        note=f"N = {opts['n']} per cell, ratio r = {opts['ratio']}, class means +-{opts['separation']} on x, "
             "group means +-same on y, identity covariance; accuracy and worst cell (%) on a cell-balanced "
             "test set; tilt = boundary angle from vertical (degrees)")])
    result.tables.append(Table(f"Learned boundaries w1 x + w2 y + b = 0 (seed {ctx.seeds[0]})", ["w1", "w2", "b"],
                               {k: dict(zip(("w1", "w2", "b"), [*boundary(v[0][1])[0].tolist(), boundary(v[0][1])[1]]))
                                for k, v in ((f"{s} / {v}", runs[s, v]) for s in SETTINGS for v in VARIANTS)}))
    fig = draw({k: v[0] for k, v in runs.items()})
    result.figures.append((save_figure(ctx, fig, "fig5_toy.png"),
                           "Scatter per setting (columns) and training data (rows) with the learned linear "
                           f"boundary (black), seed {ctx.seeds[0]}; colour = class, marker = group"))
    result.findings.extend(findings(rows, ctx.seeds))
    return result


def draw_boundary(ax, w: np.ndarray, b: float, lim: float):
    """The line w . x + b = 0 across the square [-lim, lim]^2, as a bold black line; returns it."""
    if abs(w[1]) >= abs(w[0]):   # closer to horizontal: y as a function of x
        xs = np.array([-lim, lim])
        ys = -(w[0] * xs + b) / w[1]
    else:                        # closer to vertical: x as a function of y
        ys = np.array([-lim, lim])
        xs = -(w[1] * ys + b) / w[0]
    line, = ax.plot(xs, ys, "k-", lw=2.5)
    return line


def draw(first_seed: dict):
    plt = pyplot()
    fig, axes = plt.subplots(len(VARIANTS), len(SETTINGS), figsize=(3.2 * len(SETTINGS), 3.2 * len(VARIANTS)),
                             squeeze=False)
    for i, variant in enumerate(VARIANTS):
        for j, setting in enumerate(SETTINGS):
            ax = axes[i][j]
            m, clf, (x, y, a) = first_seed[setting, variant]
            lim = float(np.abs(x).max()) + 0.5
            for c, colour in ((0, "tab:blue"), (1, "tab:orange")):
                for g, marker in ((0, "o"), (1, "^")):
                    sel = (y == c) & (a == g)
                    ax.scatter(x[sel, 0], x[sel, 1], s=4, c=colour, marker=marker, alpha=0.35)
            draw_boundary(ax, *boundary(clf), lim)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_title(f"{setting}\n{variant}: worst {m['worst_cell']:.0f} %, tilt {m['tilt']:.0f}°", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def findings(rows: dict, seeds) -> list[Finding]:
    def val(setting, variant, key):
        return by_seed(rows[f"{setting} / {variant}"][key])

    f = FindingSet()
    cls, grp = val("class imbalance", "original", "worst_cell"), val("group imbalance", "original", "worst_cell")
    f.paired("Class imbalance makes the classifier more unfair than group imbalance", grp, cls,
             f"worst-cell accuracy under group imbalance {fmt(np.mean(list(grp.values())))} % vs class imbalance "
             f"{fmt(np.mean(list(cls.values())))} %")
    both, both_tilt = val("class + group imbalance", "original", "worst_cell"), val("class + group imbalance", "original", "tilt")
    cls_tilt = val("class imbalance", "original", "tilt")
    f.rule("Group imbalance together with class imbalance amplifies the unfairness (tilted boundary)",
           {s: bool(both_tilt[s] > cls_tilt[s] and both[s] < cls[s]) for s in seeds},
           "class + group imbalance has a larger tilt and a lower worst cell than class imbalance")
    imbalanced = SETTINGS[1:]
    f.rule("Uniformizing the cells with synthetic samples improves the worst cell",
           {s: all(val(st, "uniformized", "worst_cell")[s] > val(st, "original", "worst_cell")[s] for st in imbalanced)
            for s in seeds}, "uniformized - original worst-cell accuracy > 0 in every imbalanced setting")
    return f.findings(Finding)


register_experiment(Experiment(
    name="fig5", title="Class vs group imbalance on a 2-D Gaussian toy",
    paper="ICML Fig. 5: four 2-D Gaussians (class x latent group), four imbalance settings; the linear "
          "classifiers learned on each (more vertical = fairer)",
    dataset="none (2-D Gaussians)", jobs=jobs, collect=collect,
    defaults={"seeds": [0, 1, 2]},
    tiny={"seeds": [0], "bootstrap": 100, "train": {"steps": 1}, "options": {"n": 200, "test_per_cell": 300}}))
