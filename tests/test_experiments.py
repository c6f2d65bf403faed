"""`synaug experiment`: the paper's tables as named experiments, run end to end on tiny settings
(a few steps, plans that fill cells to 100 images), checked against independent computations:
the rows a table must have given what this synaug registers, the mean and std over seeds against
numpy's over the per-run metrics files, the paper's numbers against the paper text, the shared
synthetic images generated once."""

import html
import json
from dataclasses import replace

import numpy as np
import pytest
import yaml

from synaug.cli import main
from synaug.data import DATASETS, load_dataset
from synaug.errors import ConfigError, SynaugError
from synaug.eval.specs import metric
from synaug.experiments import paper
from synaug.experiments.catalog import experiment_config
from synaug.experiments.claims import Claim
from synaug.experiments.experiment_report import STATUSES
from synaug.experiments.library import EXPERIMENTS, run_named
from synaug.experiments.tables import groups, longtail
from synaug.experiments.tables.spec import Row, TableSpec, slug
from synaug.experiments.tasks import TASKS
from synaug.generators import GENERATORS
from synaug.generators.base import takes_option
from synaug.training.methods import get_method

TABLES = {"table1": longtail.TABLE1.rows, "table2": longtail.TABLE2.rows, "table3a": groups.TABLE3A.rows,
          "table3b": groups.TABLE3B.rows, "table3c": groups.TABLE3C.rows, "table3d": groups.TABLE3D.rows,
          "table3b-lt": longtail.TABLE3B_LT.rows, "table4": groups.TABLE4.rows, "table5": longtail.TABLE5.rows}
# table3a-r50 is table3a's spec on torchvision's resnet50: too slow for a CPU end-to-end test (its config is checked)
QUIET = dict(progress=False, log=lambda *a, **k: None, tiny=True)


def expected_rows(rows) -> list[str]:
    """Rows that can run here: a registered method (or fallback), a registered generator, and no
    image translation (needs the diffusion generator; the tiny config renders)."""
    def registered(name):
        try:
            return get_method(name) is not None
        except SynaugError:
            return False

    def ok(r):
        return (any(registered(m) for m in (r.method, *r.fallback)) and (r.img2img is None or takes_option("render", "img2img"))
                and (r.generator is None or r.generator in GENERATORS))
    return [r.label for r in rows if ok(r)]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """One folder for every experiment of this module, so their generated images are shared."""
    return tmp_path_factory.mktemp("experiments")


def test_list_names_every_experiment(capsys):
    assert main(["experiment", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(EXPERIMENTS)
    assert set(TABLES) | {"fig2", "fig3", "fig4", "fig5", "uniformization"} <= set(EXPERIMENTS)
    for line in lines:
        e = EXPERIMENTS[line.split()[0]]
        assert line.split()[1] == e.dataset.split()[0] and e.paper in line


def test_a_claim_naming_a_missing_row_is_an_error_when_its_table_registers():
    rows = (Row("ce", "ce"), Row("synaug", "synaug"))
    with pytest.raises(ConfigError, match="names row 'sinaug'"):
        TableSpec("t", rows, (Claim("SYNAuG beats CE", "sinaug", "ce", ("accuracy",)),))
    with pytest.raises(ConfigError, match="not in paper_numbers.yaml"):
        TableSpec("t", (Row("ce", "ce", paper="icml-table2/cee"),), ())
    with pytest.raises(ConfigError, match="unknown"):
        TableSpec("t", rows, (Claim("x", "synaug", "ce", ("acuracy",)),))


@pytest.mark.parametrize("argv,message", [
    (["experiment", "tabel2"], "did you mean 'table2'"),
    (["experiment", "table2", "--seeds", "0,x"], "bad --seeds"),
    (["experiment", "table2", "--seeds", "1,1"], "distinct seeds"),
    (["experiment"], "--list"),
    (["experiment", "table2", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["experiment", "table2", "--config", "missing.yaml"], "missing.yaml"),
])
def test_mistakes_are_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_config_cannot_change_the_task(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: fairness\n")
    assert main(["experiment", "table2", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TABLES))
def test_table_experiment_end_to_end(name, base, monkeypatch):
    monkeypatch.chdir(base)  # the default folders: runs/experiments/NAME, ../shared, ../experiments.html
    results = run_named(name, {}, **QUIET)
    out = base / "runs" / "experiments" / name
    saved = json.loads((out / "results.json").read_text())
    assert saved["experiment"] == name and saved["config"]["seeds"] == [0]
    task = TASKS[EXPERIMENTS[name].task]
    table = saved["tables"][0]
    assert table["columns"] == list(task.metrics) and table["labels"] == [metric(k).label for k in task.metrics]
    rows = TABLES[name]
    assert list(table["rows"]) == expected_rows(rows)
    not_run = [r.label for r in rows if r.label not in table["rows"]]
    assert [s.split(":")[0] for s in saved["skipped"] if s.split(":")[0] in not_run] == not_run
    for label, row in table["rows"].items():
        metrics = json.loads((out / "runs" / slug(label) / "seed0" / "metrics.json").read_text())
        for key in task.metrics:
            assert row[key]["values"] == [metrics[key]]
            # one seed: its value, no spread; a metric undefined here (no Few class at IF 10) stays None
            assert row[key]["mean"] == metrics[key]
            assert row[key]["std"] == (None if metrics[key] is None else 0.0)
    if "synaug" in table["rows"]:  # trained on the real images + those the tiny plan (U-100) adds per cell
        splits = load_dataset(saved["config"]["dataset"], imbalance=saved["config"]["imbalance"])
        added = sum(max(100 - int(n), 0) for n in splits.train.cell_counts().values())
        run = yaml.safe_load((out / "runs" / "synaug" / "seed0" / "config.yaml").read_text())
        assert run["synthetic_images"] == added > 0
    for f in saved["findings"]:
        assert f["status"] in STATUSES
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 1 and (out / f"{name}-table1.png").is_file()
    assert all(html.escape(label) in page for label in table["rows"]) and "Stand-in" in page
    assert results["tables"][0]["rows"].keys() == table["rows"].keys()
    assert f"<section id='{name}'>" in (out.parent / "experiments.html").read_text()  # the page of every experiment


@pytest.mark.slow
def test_paper_numbers_and_findings_follow_the_table(base, monkeypatch):
    """At the tiny setting's IF 10 the long-tail paper column is All at IF 10 (ICML Tables 1, 2, 5);
    the fairness one is the UTKFace row; a finding's status follows its stated rule."""
    monkeypatch.chdir(base)
    done = base / "runs" / "experiments" / "table2" / "results.json"
    t2 = json.loads(done.read_text()) if done.is_file() else run_named("table2", {}, **QUIET)
    table = t2["tables"][0]
    assert table["paper"]["synaug"] == {"accuracy": 69.01} and table["paper"]["ce"] == {"accuracy": 59.50}
    finding = next(f for f in t2["findings"] if f["claim"] == "SYNAuG beats CE on All")
    assert finding["status"] == "underpowered"  # one seed: nothing to test a difference against
    (test,) = finding["test"]["tests"]
    assert test["family"] == "paper" and test["delta"] == 1.0 and test["seeds_needed"] is None and "delta_reason" in test
    assert test["diff"] == pytest.approx(table["rows"]["synaug"]["accuracy"]["mean"] - table["rows"]["ce"]["accuracy"]["mean"])
    assert paper.row_numbers(groups.TABLE3B.rows[2].paper) == {"accuracy": 93.8, "dp": 0.06360, "ed_mean": 0.04663,
                                                               "eo": 0.05808}


@pytest.mark.slow
def test_two_experiments_share_generated_images(tmp_path):
    """table3a and table3d plan the same class x group cells: the second finds the images of the
    first (not one file rewritten) and adds only its class-only plan's folder."""
    shared = tmp_path / "shared"
    run_named("table3a", {"out": str(tmp_path / "a")}, shared=shared, **QUIET)
    first = {p: p.stat().st_mtime_ns for p in shared.rglob("*.png")}
    folders = {p.name for p in shared.iterdir() if p.is_dir()}
    assert len(folders) == 1 and len(first) == 100  # U-100 on cells of 40 and 60 images
    run_named("table3d", {"out": str(tmp_path / "d")}, shared=shared, **QUIET)
    again = {p: p.stat().st_mtime_ns for p in shared.rglob("*.png") if p.relative_to(shared).parts[0] in folders}
    assert again == first  # the same 100 files, none rewritten
    assert len({p.name for p in shared.iterdir() if p.is_dir()} - folders) == 1  # synaug-classes' plan


@pytest.mark.slow
def test_mean_and_std_over_seeds_and_reuse(tmp_path):
    import synaug

    out = tmp_path / "t3a"
    results = synaug.experiment("table3a", seeds=[0, 1], out=out, progress=False, tiny=True)
    for label, row in results["tables"][0]["rows"].items():
        for key, cell in row.items():
            per_run = [json.loads((out / "runs" / slug(label) / f"seed{s}" / "metrics.json").read_text())[key]
                       for s in (0, 1)]
            assert cell["values"] == per_run and cell["seeds"] == [0, 1]
            assert cell["mean"] == pytest.approx(np.mean(per_run))
            assert cell["std"] == pytest.approx(np.std(per_run, ddof=1))
    page = (out / "report.html").read_text()
    assert " ± " in page
    metrics = out / "runs" / "erm" / "seed1" / "metrics.json"
    stamp = metrics.stat().st_mtime_ns
    synaug.experiment("table3a", seeds=[0, 1], out=out, progress=False, tiny=True)
    assert metrics.stat().st_mtime_ns == stamp  # a finished, identical run is reused
    synaug.experiment("table3a", seeds=[1], out=out, steps=5, progress=False, tiny=True)
    assert metrics.stat().st_mtime_ns != stamp  # other steps: trained again, never stale numbers
    assert "steps: 5" in (out / "runs" / "erm" / "seed1" / "config.yaml").read_text()


@pytest.mark.slow
def test_cli_runs_an_experiment_from_a_config(tmp_path, capsys):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("plan: {strategy: U-100}\ntrain: {steps: 3, stage2_steps: 2, batch_size: 16}\n")
    out = tmp_path / "exp"
    assert main(["experiment", "table3a", "--config", str(cfg), "--seeds", "0", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Table 3(a)" in printed and "paper: All 93.9" in printed and str(out / "report.html") in printed
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["train"]["steps"] == 3 and saved["config"]["plan"]["strategy"] == "U-100"
    # a folder the user named holds everything: its generated images too, nothing written beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp", "mine.yaml"] and (out / "shared").is_dir()


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_names_its_dataset_task_and_resolves(name, tmp_path):
    """The registry contract: a registered dataset and task, and a config that resolves (defaults, tiny)."""
    e = EXPERIMENTS[name]
    synthetic_toy = e.draws_own_data  # fig5 draws its own 2-D Gaussians
    assert synthetic_toy == (name == "fig5")
    assert (synthetic_toy or e.dataset in DATASETS) and e.task in TASKS and e.paper and e.title
    assert callable(e.jobs) and callable(e.collect)
    cfg = experiment_config(e)
    # fig5 (seconds per seed) runs 10 seeds: its shape rules need at least 5 for a sign test (issue 29)
    assert (synthetic_toy or cfg.data.dataset == e.dataset) and cfg.task == e.task
    assert cfg.seeds == (tuple(range(10)) if name == "fig5" else (0, 1, 2))
    assert str(cfg.out) == f"runs/experiments/{name}"
    tiny = experiment_config(e, {"out": str(tmp_path)}, tiny=True)
    assert tiny.train.steps <= 10 and tiny.out == tmp_path


def test_a_finished_run_is_reused_only_for_the_same_job_and_data(tmp_path, monkeypatch):
    """A run folder records its job's stamp with a digest of the training and synthetic sets: the same
    job is reused, one whose synthetic set has the same size but other images (another plan seed) trains
    again, and a killed run of the same job resumes."""
    from synaug.engine import execute
    from synaug.engine.workspace import Workspace
    from synaug.experiments.catalog import ExperimentContext

    calls = []

    def fake_train(method, splits, cfg, run_dir, synthetic=None, **kw):
        calls.append((kw.get("resume"), None if synthetic is None else int(synthetic.images.sum())))
        (run_dir / "config.yaml").write_text("method: ce\n")

    monkeypatch.setattr(execute, "train_method", fake_train)
    monkeypatch.setattr(execute, "evaluate_and_record", lambda *a, **k: {"accuracy": float(len(calls))})
    cfg = experiment_config(EXPERIMENTS["table2"], {"out": str(tmp_path)}, tiny=True)
    ctx = ExperimentContext(cfg, Workspace(shared=tmp_path / "shared", progress=False, log=lambda *a, **k: None))
    job = cfg.job("uniformize", 0)
    other = cfg.job("uniformize", 0, plan=replace(job.plan, seed=1))  # same counts, other images
    run = lambda j: execute.run_job(j, cfg.run_dir(j), ctx.ws)  # noqa: E731
    first = run(job)
    assert run(job) == first and len(calls) == 1  # reused
    assert run(other)["accuracy"] == 2.0 and calls[-1][1] != calls[0][1]  # other images: trained again
    (cfg.run_dir(other) / "done").unlink()  # killed after training, before it finished
    run(other)
    assert calls[-1][0] is True  # the same job, unfinished: resumed from its checkpoints


@pytest.mark.parametrize("layer,match", [({"seeds": [0, 0]}, "distinct"), ({"seeds": [0, "a"]}, "distinct"),
                                         ({"thresholds": {"many": 5, "few": 50}}, "few <= many"),
                                         ({"options": {"levels": [1]}}, "it takes skip_rows"),
                                         ({"options": {"skip_rows": ["ce", "nope"]}}, "'nope' is not a row of this table"),
                                         ({"options": {"skip_rows": "ce"}}, "expected a list of row labels")])
def test_config_values_that_would_give_wrong_numbers_are_refused(layer, match, tmp_path):
    """A repeated seed would count one run twice in mean ± std; few > many puts a class in Many and Few;
    options a table does not take would be ignored silently."""
    with pytest.raises(SynaugError, match=match):
        run_named("table2", {**layer, "out": str(tmp_path)}, **QUIET)


def test_an_experiment_killed_before_its_results_is_rerun_in_the_same_folder(tmp_path, monkeypatch):
    """A crash after the shared images were drawn, before results.json: the folder holds only what
    synaug wrote, so the same command run again finishes there instead of refusing the folder."""
    from synaug.experiments import catalog

    def crash(ctx, jobs):
        (ctx.ws.shared / "some-plan").mkdir(parents=True)
        raise KeyboardInterrupt

    out = tmp_path / "fig5"
    with monkeypatch.context() as m:
        m.setattr(catalog, "run_jobs", crash)
        with pytest.raises(KeyboardInterrupt):
            run_named("fig5", {"out": str(out)}, **QUIET)
    assert not (out / "results.json").exists() and (out / "shared" / "some-plan").is_dir()
    run_named("fig5", {"out": str(out)}, **QUIET)
    assert json.loads((out / "results.json").read_text())["experiment"] == "fig5"


def test_the_one_seed_note_follows_the_tables_statistics_not_its_plain_values():
    """'(n = 1: one seed ...)' under a table of one-seed statistics, never under a table of plain
    values such as the uniformization's image counts, whose experiment ran several seeds."""
    from synaug.experiments.table import table_text

    def table(rows):
        return {"title": "t", "labels": ["All"], "fmt": [".2f"], "columns": ["accuracy"], "rows": rows}

    note = "(n = 1: one seed"
    assert note in table_text(table({"ce": {"accuracy": {"mean": 50.0, "std": None, "values": [50.0]}}}))
    assert note not in table_text(table({"ce": {"accuracy": {"mean": 50.0, "std": 1.0, "values": [49.0, 51.0]}}}))
    assert note not in table_text(table({"U-50": {"accuracy": 181}}))


# ----------------------------------------------------------------------------- claims (issue 29)
def test_claims_carry_their_family_and_margin():
    specs = [longtail.TABLE1, longtail.TABLE2, longtail.TABLE3B_LT, longtail.TABLE5, groups.TABLE3A, groups.TABLE3B,
             groups.TABLE3C, groups.TABLE3D, groups.TABLE4]
    families = {spec.title: [c.family for c in spec.claims] for spec in specs}
    assert families[longtail.TABLE1.title] == ["paper"] * 5 + ["exploratory"] * 2
    assert families[longtail.TABLE5.title] == ["paper"] * 8 + ["exploratory"] * 4
    assert families[groups.TABLE4.title] == ["paper"] * 6 + ["exploratory"] * 2
    fair = [c for spec in specs[4:8] for c in spec.claims if c.metrics[0] != "accuracy"]
    assert {c.delta for c in fair} == {0.01} and {c.delta for c in specs[0].claims} == {1.0}
    assert all(c.reason for spec in specs for c in spec.claims)
    # Table 3(d)'s "more effective" on DP, EO and ED, not DP alone
    assert groups.TABLE3D.claims[0].metrics == ("dp", "eo", "ed_mean")


def test_table4_maps_the_papers_synaug_row_to_uniformize_mixup_and_has_its_controls():
    rows = {r.paper or r.label: r for r in groups.TABLE4.rows}
    assert rows["icml-table4/synaug"].method == "uniformize-mixup"
    by_method = {r.method: r for r in groups.TABLE4.rows}
    for control, treated in (("erm-ft", "synaug"), ("erm-ft-val", "synaug-ft-val")):
        c, t = get_method(control), get_method(treated)
        assert (c.stage2, c.stage2_data, c.synthetic) == (t.stage2, t.stage2_data, False) and control in by_method
    claims = {(c.better, c.worse) for c in groups.TABLE4.claims}
    assert (by_method["synaug-ft-val"].label, by_method["erm-ft-val"].label) in claims
    assert (by_method["synaug-ft-val"].label, by_method["dfr"].label) in claims


def test_table5_labels_its_web_stand_in_as_what_it_is():
    web = next(r for r in longtail.TABLE5.rows if r.paper == "icml-table5/web")
    assert web.label == "in-distribution held-out real images (an upper bound, not web data)"
    every = next(c for c in longtail.TABLE5.claims if c.text.startswith("Every generation variant"))
    assert every.better == "ce" and every.lower and set(every.rivals) == {"intra-class image translation",
                                                                         "inter-class image translation"}


def test_a_config_can_leave_a_tables_costly_rows_out_and_every_claim_on_them_says_so(tmp_path):
    """`options: {skip_rows: [...]}` (table5's learned-generator rows refit a ddpm per seed and pool): those
    rows list no job, are skipped with the reason, and their claims are `not runnable here` naming the row
    not run, while the other rows and claims are as without the option."""
    from synaug.engine.workspace import Workspace
    from synaug.experiments.catalog import ExperimentContext, Results

    learned = [longtail.LEARNED_TRAIN, longtail.LEARNED_UNUSED]
    table5 = EXPERIMENTS["table5"]

    def context(layer):
        cfg = experiment_config(table5, {"out": str(tmp_path), "seeds": [0, 1, 2], **layer}, tiny=True)
        return ExperimentContext(cfg, Workspace(shared=tmp_path / "shared", progress=False, log=lambda *a, **k: None),
                                 log=lambda *a, **k: None, dry=True)
    ctx = context({"options": {"skip_rows": learned}})
    full, kept = table5.jobs(context({})), table5.jobs(ctx)
    assert {j.name for j in full} - {j.name for j in kept} == {slug(label) for label in learned}
    assert [j.key() for j in kept] == [j.key() for j in full if j.name not in {slug(label) for label in learned}]
    results = Results()
    for job in kept:  # SYNAuG 5 to 6 points above every other row on every seed
        gain = 5.0 + 0.5 * job.seed if job.name == slug(longtail.SYNAUG5) else 0.0
        results[job] = {**{k: 50.0 + job.seed + gain for k in TASKS["longtail"].metrics}, "per_class": [50.0] * 10}
    found = table5.collect(ctx, results)
    assert [s for s in found.skipped if "skip_rows" in s] == [f"{label}: left out by this config (options: skip_rows)"
                                                              for label in learned]
    status = {f.claim.split(" [")[0]: f for f in found.findings}
    on_learned = [c.text for c in longtail.TABLE5.claims if {c.better, c.worse} & set(learned)]
    assert len(on_learned) == 4
    for text in on_learned:
        assert status[text].status == "not runnable here" and " not run" in status[text].evidence
    assert status["SYNAuG beats CE on All"].status == "consistent"  # +5.5 ± 0.5 over 3 seeds


def test_table1_without_modifiers_is_not_runnable_on_a_generator_that_ignores_the_prompt():
    """With the class-conditional ddpm, (a) would draw the very images of (b): listed as not runnable, so
    its claim is `not runnable here`, not a zero difference called underpowered."""
    from types import SimpleNamespace
    from synaug.experiments.tables.spec import why_not_runnable
    row_a = next(r for r in longtail.TABLE1.rows if r.plan == "no-modifiers")
    ctx = lambda name: SimpleNamespace(config=SimpleNamespace(generator=SimpleNamespace(name=name)))  # noqa: E731
    assert why_not_runnable(row_a, ctx("render")) is None
    assert "not runnable here: the 'ddpm' generator draws from the class" in why_not_runnable(row_a, ctx("ddpm"))
    row_b = next(r for r in longtail.TABLE1.rows if r.label == "(b) + modifiers")
    assert why_not_runnable(row_b, ctx("ddpm")) is None


def test_paper_numbers_are_looked_up_by_imbalance_and_thresholds_scale():
    assert paper.row_numbers("icml-table2/synaug", 50) == {"accuracy": 61.36}
    assert paper.row_numbers("icml-table2/synaug", 10) == {"accuracy": 69.01}
    assert paper.row_numbers("icml-table5/web", 50) == {"accuracy": 56.40}
    assert paper.row_numbers("icml-table3/a/synaug-r50") == {"accuracy": 94.4, "dp": 0.05432, "ed_mean": 0.03936,
                                                             "eo": 0.05472}
    # one Many / Medium / Few split for every experiment that reports it on a long tail: the same classes carry
    # the same name in the tables' sections and the analyses' (mnist-lt's 250-image head: > 50 / 10-50 / < 10)
    for name in ("table1", "table2", "table3b-lt", "table5", "fig4", "fig4-render", "uniformization"):
        cfg = experiment_config(EXPERIMENTS[name], {})
        assert cfg.thresholds.scale_to == 500 and cfg.thresholds.effective([400, 4]) == (80, 16), name
        assert cfg.thresholds.effective([250, 149, 2]) == (50, 10), name
    assert experiment_config(EXPERIMENTS["table3a-r50"], {}).train.model == "resnet50"
