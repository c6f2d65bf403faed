"""Figure 5 (ICML paper): class vs group imbalance on a 2-D toy.

Four Gaussians with the same covariance, one per (class y, group a) cell: the class moves the mean
along x, the latent group along y, so a classifier that ignores the group is a VERTICAL line
("the fairer the classifiers, the more vertically aligned"). Four settings change the cell counts
n(y, a) (the paper gives no numbers; ours, with ratio r):

- balanced: every cell N;
- class imbalance: class 1 has N / r in both groups;
- group imbalance: group 1 has N / r in both classes;
- class + group imbalance: class 1 has N / r, and within it group 1 has N / r^2.

In that geometry class imbalance alone cannot tilt the boundary (both groups see the same class gap,
so the boundary only shifts along x). Two more settings use a geometry where it can: the group moves
the classes closer (group 1's class means at +-gap x separation on x, gap < 1, as a sensitive
attribute that makes classes harder to tell apart), so class imbalance shifts the boundary more in
group 1 than in group 0 and tilts it:

- class imbalance, group-dependent gap; group imbalance, group-dependent gap (counts as above).

A logistic regression (scikit-learn) is fit on each, and on the same data uniformized: every cell
filled up to N with samples drawn from its known Gaussian (SYNAuG's synthetic data when the
generator knows the group), and re-sampled (cell-balanced sample weights, no new data). Test data
are balanced over cells, in each setting's geometry. Measures: "tilt", the boundary's angle from
vertical in degrees (the paper's picture: the fairer, the more vertical); DP and EO, the demographic
parity and equal opportunity gaps between the groups (`fairness_gaps`, fairlearn's definitions);
accuracy and the worst cell's.
"""

from __future__ import annotations

import numpy as np

from synaug.eval.metrics import fairness_gaps
from synaug.experiments.analyses.common import by_seed, fmt, number, options, save_figure
from synaug.experiments.catalog import Experiment, ExperimentResult, Finding, register_experiment
from synaug.experiments.claims import FindingSet
from synaug.experiments.stats import Stat
from synaug.experiments.table import Table
from synaug.plots import pyplot

DEFAULTS = {"n": 500, "ratio": 10, "separation": 1.5, "test_per_cell": 2000, "gap": 0.5}
GAP_CLASS, GAP_GROUP = "class imbalance, group-dependent gap", "group imbalance, group-dependent gap"
# setting -> (cell counts, whether the group narrows the class gap)
GEOMETRY = {"balanced": ("balanced", False), "class imbalance": ("class imbalance", False),
            "group imbalance": ("group imbalance", False), "class + group imbalance": ("class + group imbalance", False),
            GAP_CLASS: ("class imbalance", True), GAP_GROUP: ("group imbalance", True)}
SETTINGS = tuple(GEOMETRY)
VARIANTS = ("original", "re-sampled", "uniformized")
COLUMNS = ("accuracy", "worst_cell", "tilt", "dp", "eo")
RULES = {"n": number(2, integer=True), "ratio": number(1), "separation": number(0),
         "test_per_cell": number(1, integer=True), "gap": number(0, 1)}


def cell_counts(setting: str, n: int, r: float) -> dict:
    """{(class, group): count} of one setting (module docstring)."""
    small, tiny = max(int(round(n / r)), 1), max(int(round(n / r ** 2)), 1)
    return {"balanced": {(0, 0): n, (0, 1): n, (1, 0): n, (1, 1): n},
            "class imbalance": {(0, 0): n, (0, 1): n, (1, 0): small, (1, 1): small},
            "group imbalance": {(0, 0): n, (0, 1): small, (1, 0): n, (1, 1): small},
            "class + group imbalance": {(0, 0): n, (0, 1): n, (1, 0): small, (1, 1): tiny}}[setting]


def cell_mean(y: int, a: int, separation: float, gap: float = 1.0) -> np.ndarray:
    """The cell's mean: class on x (group 1's class gap scaled by `gap`), group on y."""
    return np.array([(2 * y - 1) * separation * (gap if a else 1.0), (2 * a - 1) * separation])


def sample(counts: dict, separation: float, rng: np.random.Generator, gap: float = 1.0):
    """(x (N, 2), class y, group a) drawn from the cells' Gaussians (identity covariance)."""
    xs, ys, gs = [np.zeros((0, 2))], [np.zeros(0, int)], [np.zeros(0, int)]
    for (y, a), k in sorted(counts.items()):
        xs.append(rng.normal(size=(k, 2)) + cell_mean(y, a, separation, gap))
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


def uniformized(x, y, a, counts: dict, n: int, separation: float, rng, gap: float = 1.0):
    """The data plus, for every cell below n, fresh samples of its Gaussian up to n."""
    extra = sample({c: n - k for c, k in counts.items() if k < n}, separation, rng, gap)
    return np.concatenate([x, extra[0]]), np.concatenate([y, extra[1]]), np.concatenate([a, extra[2]])


def boundary(clf) -> tuple[np.ndarray, float]:
    """(w, b) of the decision boundary w . x + b = 0."""
    return clf.coef_[0].astype(float), float(clf.intercept_[0])


def tilt_degrees(w: np.ndarray) -> float:
    """Angle of the boundary from vertical (0 = ignores the group coordinate)."""
    return float(np.degrees(np.arctan2(abs(w[1]), abs(w[0]))))


def evaluate(clf, x, y, a) -> dict:
    pred = clf.predict(x)
    gaps = fairness_gaps(y, pred, a)
    cells = [float((pred[(y == c) & (a == g)] == c).mean()) * 100 for c in (0, 1) for g in (0, 1)]
    return {"accuracy": float((pred == y).mean()) * 100, "worst_cell": min(cells),
            "tilt": tilt_degrees(boundary(clf)[0]),
            "dp": gaps["dp"], "eo": gaps["eo"]}


def fit_variant(variant: str, x, y, a, counts, opts, rng, gap: float = 1.0):
    if variant == "re-sampled":
        return fit_linear(x, y, cell_balanced_weights(y, a)), (x, y, a)
    if variant == "uniformized":
        data = uniformized(x, y, a, counts, opts["n"], opts["separation"], rng, gap)
        return fit_linear(data[0], data[1]), data
    return fit_linear(x, y), (x, y, a)


def jobs(ctx) -> list:
    options(ctx, DEFAULTS, RULES)  # a bad option is refused before the experiment makes its folder
    return []  # scikit-learn's logistic regression on drawn points (collect)


def collect(ctx, results) -> ExperimentResult:
    opts = options(ctx, DEFAULTS, RULES)
    runs = {}  # (setting, variant) -> [(metrics, clf, data) per seed]
    for seed in ctx.seeds:
        rng = np.random.default_rng([seed, 5])
        tests = {narrow: sample({c: opts["test_per_cell"] for c in cell_counts("balanced", 1, 1)}, opts["separation"],
                                rng, opts["gap"] if narrow else 1.0) for narrow in (False, True)}
        for setting, (kind, narrow) in GEOMETRY.items():
            counts, gap = cell_counts(kind, opts["n"], opts["ratio"]), opts["gap"] if narrow else 1.0
            x, y, a = sample(counts, opts["separation"], rng, gap)
            for variant in VARIANTS:
                clf, data = fit_variant(variant, x, y, a, counts, opts, rng, gap)
                runs.setdefault((setting, variant), []).append((evaluate(clf, *tests[narrow]), clf, data))
    rows = {f"{s} / {v}": {k: Stat.of([m[k] for m, _, _ in runs[s, v]], ctx.seeds) for k in COLUMNS}
            for s in SETTINGS for v in VARIANTS}
    result = ExperimentResult(tables=[Table(
        "2-D toy: logistic regression per imbalance setting", list(COLUMNS), rows,
        note=f"N = {opts['n']} per cell, ratio r = {opts['ratio']}, class means +-{opts['separation']} on x, "
             f"group means +-same on y (group-dependent gap: group 1's class means at +-{opts['gap']} x that), identity "
             "covariance; accuracy and worst cell (%) on a cell-balanced test set; tilt = boundary angle from vertical "
             "(degrees); DP and EO = demographic parity and equal opportunity (TPR) gaps between the groups")])
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


TILT = {"delta": 2.0, "reason": "2 degrees of tilt: the paper shows the boundaries as a picture; 2 degrees is under a "
        "tenth of the tilts its figure draws, and below what the eye tells apart"}
GAPS = {"delta": 0.01, "reason": "0.01 of DP / EO, the fairness tables' margin (the paper's Table 3 effects: 0.005-0.035)"}
WORST = {"delta": 1.0, "reason": "1 point of worst-cell accuracy, the tables' accuracy margin"}


def findings(rows: dict, seeds) -> list[Finding]:
    def val(setting, key, variant="original"):
        return by_seed(rows[f"{setting} / {variant}"][key])

    def mean(setting, key, variant="original"):
        return fmt(rows[f"{setting} / {variant}"][key].mean, 4 if key in ("dp", "eo") else 2)

    f = FindingSet()
    for key, margin, what in (("tilt", TILT, "boundary tilt from vertical (degrees)"), ("dp", GAPS, "DP gap"),
                              ("eo", GAPS, "EO gap")):
        f.paired(f"Class imbalance makes the classifier more unfair than group imbalance: {what}",
                 val(GAP_CLASS, key), val(GAP_GROUP, key),
                 f"in the geometry where class imbalance can tilt the boundary (group-dependent class gap): class "
                 f"imbalance {mean(GAP_CLASS, key)} vs group imbalance {mean(GAP_GROUP, key)}", label=key, **margin)
    f.paired("Equal class gaps in both groups: class imbalance alone cannot tilt the boundary (group imbalance tilts "
             "more); by worst-cell accuracy class imbalance is still the more harmful", val("group imbalance", "worst_cell"),
             val("class imbalance", "worst_cell"), f"worst cell under group imbalance {mean('group imbalance', 'worst_cell')} % "
             f"vs class imbalance {mean('class imbalance', 'worst_cell')} %; tilt {mean('group imbalance', 'tilt')} vs "
             f"{mean('class imbalance', 'tilt')} degrees", label="worst_cell", family="exploratory", **WORST)
    both, cls = "class + group imbalance", "class imbalance"
    f.rule("Group imbalance together with class imbalance amplifies the unfairness (a more tilted boundary and a "
           "larger DP gap)", {s: bool(val(both, "tilt")[s] > val(cls, "tilt")[s] and val(both, "dp")[s] > val(cls, "dp")[s])
                               for s in seeds},
           f"class + group imbalance vs class imbalance: tilt {mean(both, 'tilt')} vs {mean(cls, 'tilt')} degrees, DP "
           f"{mean(both, 'dp')} vs {mean(cls, 'dp')}")
    imbalanced = [s for s in SETTINGS if s != "balanced"]
    f.rule("Uniformizing the cells with synthetic samples improves the worst cell and straightens the boundary",
           {s: all(val(st, "worst_cell", "uniformized")[s] > val(st, "worst_cell")[s]
                   and val(st, "tilt", "uniformized")[s] <= val(st, "tilt")[s] + TILT["delta"] for st in imbalanced)
            for s in seeds}, "uniformized vs original in every imbalanced setting: a higher worst cell and a tilt no "
           "more than 2 degrees larger", family="exploratory")
    return f.findings(Finding)


register_experiment(Experiment(
    name="fig5", title="Class vs group imbalance on a 2-D Gaussian toy",
    paper="ICML Fig. 5: four 2-D Gaussians (class x latent group), four imbalance settings; the linear "
          "classifiers learned on each (more vertical = fairer)",
    dataset="four 2-D Gaussians", jobs=jobs, collect=collect,
    defaults={"seeds": list(range(10))},  # seconds per seed: enough seeds for the sign test of its rules
    tiny={"seeds": [0], "bootstrap": 100, "train": {"steps": 1}, "options": {"n": 200, "test_per_cell": 300}}))
