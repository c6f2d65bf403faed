"""The paper's analyses (synaug.experiments.analyses): each runs end to end on its tiny settings
through its jobs and collector, and the pieces that decide their numbers are checked against independent
computations (mixture counts, probe sanity, the plotted boundary, plan formulas)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dataclasses import replace

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.engine.execute import apply_subset
from synaug.engine.job import Job
from synaug.engine.specs import DataSpec, GeneratorSpec, PlanSpec, Subset
from synaug.engine.workspace import Workspace
from synaug.errors import ConfigError, SynaugError
from synaug.experiments.analyses import fig2, fig3, fig4, fig5, uniformization
from synaug.validate import check_results_folder
from synaug.experiments.analyses.common import options
from synaug.experiments.catalog import (EXPERIMENTS, ExperimentContext, experiment_config, reports_shot_groups,
                                       run_jobs)
from synaug.experiments.experiment_report import STATUSES, write_result
from synaug.generators.base import quality_knob
from synaug.plots import pyplot

NAMES = ("fig2", "fig3", "fig4", "fig5", "uniformization")


def tiny_context(name: str, tmp_path, **opts) -> ExperimentContext:
    """The config `synaug experiment NAME` resolves with the experiment's tiny overrides, plus
    experiment `options`."""
    cfg = experiment_config(EXPERIMENTS[name], {"out": str(tmp_path / name), "options": opts}, tiny=True)
    quiet = lambda *a, **k: None  # noqa: E731
    return ExperimentContext(cfg, Workspace(shared=tmp_path / "shared", progress=False, log=quiet), quiet)


def run_tiny(name: str, tmp_path, **opts):
    """One tiny run, its result checked for shape and written as `synaug experiment` writes it."""
    ctx = tiny_context(name, tmp_path, **opts)
    result = EXPERIMENTS[name].collect(ctx, run_jobs(ctx, EXPERIMENTS[name].jobs(ctx)))
    written = write_result(EXPERIMENTS[name], ctx.config.raw, ctx.out, result, 0.0)
    assert json.loads((ctx.out / "results.json").read_text())["experiment"] == name == written["experiment"]
    assert (ctx.out / "report.html").is_file()
    for file_name, caption in result.figures:
        assert (ctx.out / file_name).is_file() and (ctx.out / file_name).stat().st_size > 1000, file_name
        assert caption
    assert result.findings and {f.status for f in result.findings} <= set(STATUSES)
    assert all(f.claim and f.evidence for f in result.findings)
    for name_, c in result.curves.items():  # one shape: {"x": [...], series: {"mean": [...], "std": [...]}}
        assert set(c) > {"x"}, name_
        for series, v in c.items():
            if series != "x":
                assert set(v) == {"mean", "std"} and len(v["mean"]) == len(v["std"]) == len(c["x"]), (name_, series)
    return ctx, result


def test_all_registered_with_tiny_settings():
    for name in NAMES:
        exp = EXPERIMENTS[name]
        assert exp.name == name and exp.tiny and exp.paper and callable(exp.jobs) and callable(exp.collect)


def test_unknown_option_is_a_config_error(tmp_path):
    ctx = tiny_context("fig5", tmp_path, nn=3)
    with pytest.raises(ConfigError, match="nn"):
        options(ctx, fig5.DEFAULTS, fig5.RULES)


# ----------------------------------------------------------------------------- fig2
def toy_set(per_class: int, classes: int, synthetic: bool) -> ImageSet:
    labels = np.repeat(np.arange(classes), per_class)
    images = np.arange(len(labels), dtype=np.int32).reshape(-1, 1, 1, 1) + (1000 if synthetic else 0)  # ids
    return ImageSet(images, labels, [str(c) for c in range(classes)], synthetic=np.full(len(labels), synthetic))


def mixture(real, syn, real_n, syn_n):
    """The training split a job with this subset trains on (the engine's `apply_subset`)."""
    job = Job("m", "ce", DataSpec("mnist-lt"), plan=PlanSpec(), generator=GeneratorSpec(),
              subset=Subset(real=real_n, synthetic=syn_n, seed=0))
    return apply_subset(job, DatasetSplits(train=real, test=real), syn)[0].train


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 0.75, 1.0])
def test_fig2_mixture_counts_are_exact(fraction):
    C, n = 10, 13
    real, syn = toy_set(n, C, False), toy_set(n, C, True)
    counts = {c: n for c in range(C)}
    order = np.random.default_rng(1).permutation(C)
    real_n, syn_n, replaced = fig2.replacement_counts("class-wise", fraction, counts, order)
    mix = mixture(real, syn, real_n, syn_n)
    k = int(round(fraction * C))
    assert sorted(replaced) == sorted(order[:k].tolist())
    for c in range(C):
        in_c = mix.labels == c
        assert in_c.sum() == n  # every class keeps its size
        assert mix.synthetic[in_c].sum() == (n if c in replaced else 0)
    real_n, syn_n, _ = fig2.replacement_counts("instance-wise", fraction, counts, order)
    mix = mixture(real, syn, real_n, syn_n)
    for c in range(C):
        in_c = mix.labels == c
        assert in_c.sum() == n
        assert abs(mix.synthetic[in_c].sum() - fraction * n) <= 1
    assert len(np.unique(mix.images.ravel())) == len(mix)  # no image drawn twice


def test_fig2_end_to_end(tmp_path):
    ctx, result = run_tiny("fig2", tmp_path)
    assert not reports_shot_groups(EXPERIMENTS["fig2"], result)  # balanced data: no Many / Medium / Few to state
    fractions = ctx.config.options["fractions"]
    for setting in fig2.SETTINGS:
        assert result.curves[setting]["x"] == [100 * f for f in sorted(fractions)]
        assert len(result.curves[setting]["accuracy"]["mean"]) == len(fractions)
    rows = result.tables[0].rows
    per_class = ctx.config.options["per_class"]
    assert rows["class-wise 50 %"]["synthetic"] == 5 * per_class  # 5 of 10 classes all synthetic
    assert rows["instance-wise 50 %"]["real"] == rows["instance-wise 50 %"]["synthetic"] == 5 * per_class
    assert rows["class-wise 0 %"]["replaced"].mean is None and rows["class-wise 100 %"]["kept"].mean is None
    assert len(result.findings) == 5


# ----------------------------------------------------------------------------- fig3
def test_fig3_probe_is_at_chance_on_one_distribution_and_perfect_on_two():
    rng = np.random.default_rng(0)
    same = rng.normal(size=(1200, 16))
    chance = fig3.probe_accuracy(same[:600], same[600:], seed=0)
    assert 38 <= chance["total"] <= 62
    far = fig3.probe_accuracy(rng.normal(size=(600, 16)), rng.normal(size=(600, 16)) + 4.0, seed=0)
    assert far["total"] >= 99 and far["real"] >= 99 and far["synthetic"] >= 99


def test_fig3_centroid_closeness_counts_pairs():
    # synthetic classes collapsed together far from the real ones: every pair counts
    real = np.array([[0.0, 0], [10, 0]])
    syn = np.array([[0.0, 50], [1, 50]])
    assert fig3.centroid_closeness(real, np.array([0, 1]), syn, np.array([0, 1])) == 1.0
    # synthetic on top of its own real class: no pair counts
    assert fig3.centroid_closeness(real, np.array([0, 1]), real + 0.01, np.array([0, 1])) == 0.0


def test_fig3_end_to_end(tmp_path):
    ctx, result = run_tiny("fig3", tmp_path)
    # its feature networks train outside the run store (runs/feature-net/seedS, no job.json): the folder is
    # still synaug's, so the same command runs again there
    assert any((ctx.out / "runs" / "feature-net").glob("seed*/versions.json"))
    assert check_results_folder(ctx.out) == ctx.out
    rows = result.tables[0].rows
    assert set(rows) == {"real vs synthetic", "control: real vs real"}
    for row in rows.values():
        assert set(row) == {"real", "synthetic", "total"} and 0 <= row["total"].mean <= 100
    assert result.tables[0].paper["real vs synthetic"]["total"] == 74.16
    assert result.figures[0][0] == "fig3_pca.png"


# ----------------------------------------------------------------------------- fig4
def test_fig4_level_options_leave_the_default_out(tmp_path):
    ctx = tiny_context("fig4-render", tmp_path)
    knob = quality_knob("render")
    assert dict(fig4.level_generator(ctx, knob, 0.0).options) == {}
    assert dict(fig4.level_generator(ctx, knob, 0.5).options) == {"degrade": 0.5}
    assert knob.quality(0.25) == 0.75 and quality_knob("diffusion").quality(10) == 10


def test_fig4_render_variant_end_to_end(tmp_path):
    ctx, result = run_tiny("fig4-render", tmp_path)
    assert reports_shot_groups(EXPERIMENTS["fig4-render"], result)
    levels = ctx.config.options["levels"]
    ran = result.curves["synaug"]["x"]
    assert len(ran) + len(result.skipped) == len(levels)  # every level ran or says why not
    assert all("degrade" in s for s in result.skipped)
    assert 1.0 in ran  # degrade 0 (today's images) always runs
    assert set(result.curves) == {"synaug", "ce (real data only)"}
    assert "ce" in result.tables[0].rows
    quality = result.tables[1]  # each level's images measured: CAS, real-trained score, Fréchet distance
    assert set(quality.rows) == {"synaug (degrade 0)", "synaug (degrade 1)"} and quality.columns[0] == "CAS"
    assert all(0 <= r["CAS"] <= 100 and r["FD"] >= 0 for r in quality.rows.values())
    # a collection from the stored runs with the synthetic sets gone draws nothing: the accuracy table comes from
    # the records, the grid and quality table are skipped with why; with the sets there, it reads them again
    empty = replace(ctx, ws=Workspace(shared=tmp_path / "gone", progress=False, log=ctx.log), collect_only=True)
    again = fig4.collect(empty, run_jobs(empty, fig4.jobs(empty)))
    assert again.tables[0].rows == result.tables[0].rows and len(again.tables) == 1
    assert any("--collect-only" in s for s in again.skipped) and not (tmp_path / "gone").exists()
    kept = replace(ctx, collect_only=True)
    assert len(fig4.collect(kept, run_jobs(kept, fig4.jobs(kept))).tables) == 2


def test_fig4_a_generator_without_a_quality_knob_is_skipped(tmp_path):
    ctx = tiny_context("fig4-render", tmp_path)
    ctx.config = replace(ctx.config, generator=GeneratorSpec("smote"))
    assert [j.name for j in fig4.jobs(ctx)] == ["ce"]  # the baseline only
    result = fig4.collect(ctx, run_jobs(ctx, []))
    assert result.skipped and "smote" in result.skipped[0] and not result.tables


# ----------------------------------------------------------------------------- fig5
def test_fig5_plotted_line_is_the_models_boundary():
    rng = np.random.default_rng(3)
    x, y, _ = fig5.sample(fig5.cell_counts("class + group imbalance", 300, 5), 1.5, rng)
    clf = fig5.fit_linear(x, y)
    w, b = fig5.boundary(clf)
    fig, ax = pyplot().subplots()
    line = fig5.draw_boundary(ax, w, b, 5.0)
    pts = np.c_[line.get_xdata(), line.get_ydata()]
    assert np.allclose(clf.decision_function(pts), 0, atol=1e-8)
    assert np.allclose(pts @ clf.coef_[0] + clf.intercept_[0], 0, atol=1e-8)
    assert np.ptp(pts, axis=0).max() == pytest.approx(10.0)  # spans the square
    pyplot().close(fig)


def test_fig5_cell_counts_and_uniformized_sizes():
    counts = fig5.cell_counts("class + group imbalance", 400, 10)
    assert counts == {(0, 0): 400, (0, 1): 400, (1, 0): 40, (1, 1): 4}
    rng = np.random.default_rng(0)
    x, y, a = fig5.sample(counts, 1.5, rng)
    _, y2, a2 = fig5.uniformized(x, y, a, counts, 400, 1.5, rng)
    assert np.bincount(y2 * 2 + a2).tolist() == [400] * 4


def test_fig5_uniformizing_improves_the_worst_cell(tmp_path):
    _, result = run_tiny("fig5", tmp_path)
    rows = result.tables[0].rows
    assert len(rows) == len(fig5.SETTINGS) * len(fig5.VARIANTS)
    for s in ("class imbalance", "class + group imbalance"):
        assert rows[f"{s} / uniformized"]["worst_cell"].mean > rows[f"{s} / original"]["worst_cell"].mean + 5
    tilted = rows["class + group imbalance / original"]["tilt"].mean
    assert tilted > rows["class + group imbalance / uniformized"]["tilt"].mean


def test_fig5_class_imbalance_tilts_only_where_the_group_narrows_the_class_gap():
    """Equal class gaps in both groups: class imbalance shifts the boundary along x and leaves it vertical;
    with group 1's classes closer together the same counts tilt it (the setting the paper's claim needs)."""
    tilts = {}
    for gap in (1.0, 0.5):
        rng = np.random.default_rng(11)
        counts = fig5.cell_counts("class imbalance", 3000, 10)
        x, y, a = fig5.sample(counts, 1.5, rng, gap)
        tilts[gap] = fig5.tilt_degrees(fig5.boundary(fig5.fit_linear(x, y))[0])
    assert tilts[1.0] < 1.5 < 3.0 < tilts[0.5]
    assert fig5.cell_mean(1, 1, 2.0, 0.5).tolist() == [1.0, 2.0] and fig5.cell_mean(1, 0, 2.0, 0.5).tolist() == [2.0, -2.0]


def test_fig5_dp_and_eo_are_fairlearns():
    from fairlearn.metrics import demographic_parity_difference, equal_opportunity_difference
    rng = np.random.default_rng(12)
    x, y, a = fig5.sample(fig5.cell_counts("class + group imbalance", 400, 5), 1.5, rng)
    clf = fig5.fit_linear(x, y)
    m = fig5.evaluate(clf, x, y, a)
    pred = clf.predict(x)
    assert m["dp"] == pytest.approx(demographic_parity_difference(y, pred, sensitive_features=a))
    assert m["eo"] == pytest.approx(equal_opportunity_difference(y, pred, sensitive_features=a))


# ----------------------------------------------------------------------------- uniformization
def test_uniformization_counts_follow_the_strategy_formulas(tmp_path):
    ctx, result = run_tiny("uniformization", tmp_path)
    n = ctx.splits(ctx.data(groups=False, per_class=ctx.config.options["per_class"])).train.class_counts()
    made = result.tables[-1].rows
    for beta in ctx.config.options["betas"]:
        assert made[f"U-{beta}"]["real"] == np.minimum(n, beta).tolist()
        assert made[f"U-{beta}"]["synthetic"] == np.maximum(beta - n, 0).tolist()
    for alpha in ctx.config.options["alphas"]:
        assert made[f"LT+{alpha}"]["real"] == n.tolist()
        assert made[f"LT+{alpha}"]["synthetic"] == [alpha] * len(n)
    for family, key, _ in uniformization.FAMILIES:
        for schedule, _, _ in uniformization.SCHEDULES:
            c = result.curves[f"{family} ({schedule})"]
            assert len(c["x"]) == len(ctx.config.options[key]) == len(c["accuracy"]["mean"])
    assert set(result.tables[0].rows["U-4"]) == {"many", "medium", "few", "accuracy"}
    # equal epochs: steps = epochs x the set's size / batch size (U-beta: classes x beta; LT+alpha: real + classes x alpha)
    batch, epochs = ctx.config.train.batch_size, ctx.config.options["epochs"]
    for beta in ctx.config.options["betas"]:
        assert made[f"U-{beta}"]["training set"] == len(n) * beta
        assert made[f"U-{beta}"]["steps at equal epochs"] == -(-epochs * len(n) * beta // batch)
    jobs = uniformization.jobs(ctx)
    steps = {j.name: j.train.steps for j in jobs}
    assert steps["U-4-epochs"] == made["U-4"]["steps at equal epochs"] and steps["U-4"] == ctx.config.train.steps
    assert len(jobs) == 2 * len(ctx.seeds) * (len(ctx.config.options["betas"]) + len(ctx.config.options["alphas"]))
    assert [f.claim for f in result.findings][:3] == [
        "Accuracy rises as synthetic data are added (equal epochs)",
        "LT+alpha: the first synthetic images help the Few classes most (equal epochs)",
        "With much synthetic data, LT+alpha and U-beta perform alike (equal epochs)"]
    assert result.findings[0].test["family"] == "paper" and result.findings[3].test["family"] == "exploratory"


@pytest.mark.parametrize("name,opts,match", [
    ("fig2", {"fractions": [1.5]}, r"fractions\[0\]: must be a number from 0 to 1, got 1.5"),
    ("fig2", {"fractions": "abc"}, "fractions: must be a non-empty list, got 'abc'"),
    ("fig2", {"method": "nope"}, "unknown method"),
    ("fig5", {"n": 0}, "n: must be an integer >= 2"),
    ("fig5", {"ratio": 0}, "ratio: must be a number >= 1, got 0"),
    ("fig5", {"n": "abc"}, "n: must be an integer"),
    ("fig5", {"test_per_cell": -1}, "test_per_cell"),
    ("fig3", {"tsne": "yes"}, "tsne: must be true or false, got 'yes'"),
    ("uniformization", {"betas": [50.5]}, r"betas\[0\]: must be an integer"),
])
def test_bad_option_values_are_config_errors(name, opts, match, tmp_path):
    ctx = tiny_context(name, tmp_path, **opts)
    module = {"fig2": fig2, "fig3": fig3, "fig5": fig5, "uniformization": uniformization}[name]
    with pytest.raises(SynaugError, match=match):
        options(ctx, module.DEFAULTS, module.RULES)
