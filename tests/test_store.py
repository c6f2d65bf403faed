"""The run store (issue 28): a job trained once for every table that lists it, tables re-scored from
the runs' records, `--dry-run`, the launchers giving the one-process results, and `synaug runs`."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch

from synaug import api
from synaug.cli import main
from synaug.engine import execute, records
from synaug.engine.specs import Thresholds
from synaug.engine.store import RunStore, read_run
from synaug.errors import RunFolderError
from synaug.eval.specs import METRICS, MetricSpec
from synaug.experiments.tasks import TASKS, Task

pytestmark = pytest.mark.slow


def tiny(name: str, tmp_path, **kwargs) -> dict:
    """A tiny experiment with its output folder under tmp_path/NAME and one store and shared folder."""
    folders = {"out": tmp_path / name, "store": tmp_path / "store", "shared": tmp_path / "shared"}
    return api.experiment(name, tiny=True, progress=False, **{**folders, **kwargs})


@pytest.fixture
def trained(monkeypatch):
    """The store folders (job keys) that training wrote into, in order."""
    calls = []
    real = execute.train_method

    def counted(method, splits, cfg, run_dir, **kw):
        calls.append(run_dir.name)
        return real(method, splits, cfg, run_dir, **kw)

    monkeypatch.setattr(execute, "train_method", counted)
    return calls


def keys(results: dict) -> set[str]:
    return {r["key"] for r in results["jobs"]["runs"]}


def test_table1_after_table2_trains_the_shared_jobs_zero_times(tmp_path, trained):
    t2 = tiny("table2", tmp_path)
    assert t2["jobs"]["trained"] == t2["jobs"]["distinct"] == len(keys(t2))
    trained.clear()
    t1 = tiny("table1", tmp_path)
    shared = keys(t1) & keys(t2)
    assert len(shared) == 2  # CE and SYNAuG: the same jobs in both tables
    assert not shared & set(trained)  # ... trained zero times for table1
    assert keys(t1) - keys(t2) <= set(trained)  # table1's own rows are trained
    assert t1["jobs"]["stored"] == len(shared) and t1["jobs"]["trained"] == len(keys(t1) - keys(t2))
    ce1 = t1["tables"][0]["rows"]["CE (reference)"]["accuracy"]["values"]
    assert ce1 == t2["tables"][0]["rows"]["ce"]["accuracy"]["values"]
    # the output folder shows each run by name: a link into the store
    link = tmp_path / "table1" / "runs" / "ce-reference" / "seed0"
    assert link.is_symlink() and (link / "done").is_file() and link.resolve().parent == (tmp_path / "store").resolve()


def test_a_new_metric_fills_every_stored_run_without_training(tmp_path, trained, monkeypatch):
    first = tiny("table2", tmp_path)
    trained.clear()
    real = records.metrics_of
    monkeypatch.setattr(records, "metrics_of", lambda s, pred: {**real(s, pred), "errors": float(np.sum(pred != s.labels))})
    monkeypatch.setitem(METRICS, "errors", MetricSpec("errors", "Errors", "{:.0f}", False, False, "wrong predictions"))
    old = TASKS["longtail"]
    monkeypatch.setitem(TASKS, "longtail", Task(old.name, old.dataset, old.methods, (*old.metrics, "errors"),
                                                old.headline, old.shot_groups, old.cell_metrics))
    again = tiny("table2", tmp_path)
    assert trained == [] and again["jobs"]["trained"] == 0
    table = again["tables"][0]
    assert table["columns"][-1] == "errors"
    for row, stats in table["rows"].items():
        accuracy = first["tables"][0]["rows"][row]["accuracy"]["values"][0]
        test_size = len(records.read_predictions(tmp_path / "table2" / "runs" / slug_of(row) / "seed0")["test_labels"])
        assert stats["errors"]["values"][0] == pytest.approx(round(test_size * (1 - accuracy / 100)))


def slug_of(label: str) -> str:
    from synaug.experiments.tables.spec import slug
    return slug(label)


def test_record_rescored_equals_the_metrics_written_at_training(tmp_path):
    tiny("table3a", tmp_path)
    store = RunStore(tmp_path / "store")
    for run in store.runs():
        stored = json.loads((run.folder / "metrics.json").read_text())
        record = records.read_predictions(run.folder)
        fresh = records.rescore(stored, record, 100, 20)
        for key in ("accuracy", "dp", "eo", "ed", "ed_mean", "worst_group", "mean_group", "per_cell"):
            assert fresh[key] == stored[key], key
        assert record["test_logits"].dtype == np.float16 and "val_logits" in record  # mnist-fair has a val split
        # one reader: as written (predictions as a list, what run_job returns) or re-scored with thresholds
        raw = read_run(run.folder)
        assert {k: v for k, v in raw.items() if k != "predictions"} == stored
        assert raw["predictions"] == records.predictions_of(record).tolist()
        rescored = read_run(run.folder, Thresholds(100, 20))
        assert rescored["rescored"] is True and rescored["accuracy"] == stored["accuracy"]
        assert np.array_equal(rescored["predictions"], record["test_pred"])
    (run.folder / "metrics.json").write_text("{")
    with pytest.raises(RunFolderError, match="metrics.json is missing or unreadable; remove"):
        read_run(run.folder)


def test_dry_run_counts_distinct_jobs_stored_and_an_eta(tmp_path, capsys, monkeypatch):
    from synaug.cli.commands import print_dry_run
    tiny("table3a", tmp_path)
    plan = api.experiment("all", tiny=True, progress=False, out=tmp_path / "all", store=tmp_path / "store",
                          shared=tmp_path / "shared", dry_run=True)
    assert plan["distinct"] < plan["listed"]  # CE / SYNAuG rows of several tables are one job each
    assert plan["stored"] == 2 and plan["to_train"] == plan["distinct"] - 2 and plan["eta_seconds"] > 0
    assert not (tmp_path / "all").exists()  # nothing trained, no output folder
    print_dry_run(plan)
    out = capsys.readouterr().out
    assert re.search(rf"jobs: +{plan['listed']} listed, {plan['distinct']} distinct after de-duplication, 2 stored", out)
    assert "min of training on 1 worker(s)" in out
    # what trains on images not drawn yet is counted, not timed: table5's learned-generator rows fit a ddpm on
    # seed 0's training split and on its unused pool first (each a fit the store does not hold)
    fits = [f for f in plan["fits_to_make"] if f.startswith("mnist-lt-ddpm-")]
    assert plan["sets_to_draw"] >= len(fits) >= 2 and all(f.endswith(" steps)") for f in fits)
    assert f"{plan['sets_to_draw']} synthetic set(s) to draw and {len(plan['fits_to_make'])} generator fit(s)" in out
    assert all(f"  fit {f}" in out for f in plan["fits_to_make"]) and not (tmp_path / "shared" / fits[0].split()[0]).exists()
    # the CLI (default folders, runs/experiments/NAME): nothing stored in a new store
    monkeypatch.chdir(tmp_path)
    assert main(["experiment", "table3a", "--dry-run", "--store", str(tmp_path / "other"), "--seeds", "0",
                 "--steps", "4"]) == 0
    assert re.search(r"\d+ listed, \d+ distinct after de-duplication, 0 stored", capsys.readouterr().out)
    assert not (tmp_path / "other").exists() and not (tmp_path / "runs").exists()  # a dry run writes nothing


def test_two_local_workers_and_submitit_give_the_one_process_results(tmp_path):
    pytest.importorskip("submitit")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # each worker trains on one thread: the same arithmetic as this process
    try:
        one = tiny("table3a", tmp_path / "one")
        two = tiny("table3a", tmp_path / "two", launcher="local", workers=2)
        sub = tiny("table3a", tmp_path / "sub", launcher="submitit-local")
    finally:
        torch.set_num_threads(threads)
    assert two["jobs"]["trained"] == sub["jobs"]["trained"] == 2
    for other in (two, sub):
        assert other["tables"] == one["tables"]
        assert other["findings"] == one["findings"]


def test_runs_lists_checks_and_removes_only_unreferenced_runs(tmp_path, capsys):
    tiny("table3a", tmp_path)
    store = RunStore(tmp_path / "store")
    (run,) = [r for r in store.runs() if r.method == "erm"]
    orphan = tmp_path / "store" / ("0" * 20)
    shutil.copytree(run.folder, orphan)  # a run no output folder references
    stamp = json.loads((orphan / "job.json").read_text())
    (orphan / "job.json").write_text(json.dumps({**stamp, "key": orphan.name}))
    assert main(["runs", "list", "--store", str(store.root)]) == 0
    assert "3 run(s)" in capsys.readouterr().out
    assert main(["runs", "check", "--store", str(store.root)]) == 0
    assert main(["runs", "gc", "--store", str(store.root)]) == 0
    assert "would remove" in capsys.readouterr().out and orphan.is_dir()  # a dry run first
    assert main(["runs", "gc", "--store", str(store.root), "--yes"]) == 0
    assert not orphan.exists() and len(store.runs()) == 2
    (run.folder / "predictions.npz").unlink()
    assert main(["runs", "check", "--store", str(store.root)]) == 1
    assert "predictions.npz is missing" in capsys.readouterr().out


def test_seeds_rule_reads_the_spread_of_the_paper_claims_only():
    from synaug.experiments.catalog import seeds_rule
    from synaug.experiments.power import seeds_needed

    def test(family, std, delta=1.0, needed=None):
        return {"family": family, "std": std, "delta": delta, "metric": "accuracy", "rival": "ce",
                "seeds_needed": needed if needed is not None else seeds_needed(std, delta, 0.05)}
    pilot = {"findings": [{"claim": "a", "test": {"tests": [test("paper", 0.3)]}},
                          {"claim": "b", "test": {"tests": [test("paper", 0.8)]}},
                          {"claim": "c", "test": {"tests": [test("exploratory", 50.0)]}}]}
    rule = seeds_rule(pilot, cap=10)
    assert rule["seeds"] == max(3, seeds_needed(0.8, 1.0, 0.05)) and len(rule["needed"]) == 2  # exploratory ignored
    noisy = {"findings": [{"claim": "d", "test": {"tests": [test("paper", 30.0, needed=None)]}}]}
    noisy["findings"][0]["test"]["tests"][0]["seeds_needed"] = None  # more than the cap would be needed
    assert seeds_rule(noisy, cap=7)["seeds"] == 7


def test_seeds_auto_runs_a_pilot_then_the_seeds_the_rule_asks_for(tmp_path):
    r = tiny("table3a", tmp_path, seeds="auto:4")
    rule = r["seeds_rule"]
    assert rule["pilot"] == [0, 1, 2] and 3 <= rule["seeds"] <= 4
    assert r["config"]["seeds"] == list(range(rule["seeds"]))
    assert r["jobs"]["stored"] >= 4  # the pilot's 2 rows x 3 seeds... reused, not trained again
    with pytest.raises(Exception, match="auto:CAP with CAP from 3 to 100"):
        tiny("table3a", tmp_path, seeds="auto:x")


@pytest.mark.parametrize("argv,message", [
    (["--launcher", "multi-gpu"], "no CUDA GPU is visible here"),
    (["--workers", "0"], "--workers"),
    (["--seeds", "auto:1"], "auto:CAP with CAP from 3 to 100"),
])
def test_launcher_and_seed_mistakes_are_refused_before_any_work(tmp_path, capsys, argv, message):
    if "multi-gpu" in argv and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    try:
        code = main(["experiment", "table3a", "--out", str(tmp_path / "out"), *argv])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_slurm_parameters_go_to_submitit_under_its_own_names(tmp_path):
    pytest.importorskip("submitit")
    from synaug.engine.launchers import LaunchSettings, Task, submitit_executor
    from synaug.errors import ConfigError
    task = [Task(None, str(tmp_path / "store"), str(tmp_path / "shared"))]
    given = LaunchSettings("submitit-local", slurm=(("timeout_min", 7), ("slurm_partition", "gpu")))
    executor = submitit_executor(given, task, "local")  # a slurm_ parameter is slurm's: ignored by the local one
    assert executor._executor.parameters["timeout_min"] == 7
    with pytest.raises(ConfigError, match="--slurm: submitit refused .*'gpus' need to be prefixed"):
        submitit_executor(LaunchSettings("submitit-local", slurm=(("gpus", 1),)), task, "local")


def test_dry_run_counts_a_stage2_step_at_its_own_cost():
    from synaug.engine.sweep import STAGE2_STEP_COST, stage1_steps
    train = {"steps": 100, "stage2_steps": 30, "batch_size": 64, "stage2_batch_size": 128}
    assert stage1_steps("ce", train) == 100  # no stage 2: its stage2_steps are never run
    assert stage1_steps("synaug", train) == pytest.approx(100 + 30 * STAGE2_STEP_COST * 2)
    assert stage1_steps("no-such-method", train) == 100


@pytest.mark.parametrize("config,keys", [
    ({"seeds": [0, 1]}, ["67a010a789ee32c6a54e", "5235a34bcb67f6b30cda", "7c32234d226163d36a3c",
                         "c380d6ad2f0d4311541e", "002d6acd94f0f5a5c40d", "499d308371d718beda81"]),
    ({"task": "fairness", "seeds": [0]}, ["df26db4f992906a7537d", "488fe9339ad938a1c7c0", "4696926c51a3267c31a8",
                                          "c16dc82f08618c3a51ed", "71b0e117c104de71b54e"]),
])
def test_a_run_is_an_experiment_whose_rows_are_its_methods_and_keeps_its_job_keys(tmp_path, config, keys):
    """`synaug run` lists its jobs as a table whose rows are the config's methods; each job's key is the
    one `run` gave it before it became an experiment (pinned: stored runs stay valid)."""
    from synaug.engine.workspace import Workspace
    from synaug.experiments.catalog import ExperimentContext
    from synaug.experiments.config import resolve_config
    from synaug.experiments.tables.spec import row_jobs, run_spec
    cfg = resolve_config({**config, "out": str(tmp_path / "run")})
    spec = run_spec(cfg)
    assert [r.label for r in spec.rows] == [r.method for r in spec.rows] == list(cfg.methods) and spec.claims == ()
    jobs = row_jobs(ExperimentContext(cfg, Workspace(shared=tmp_path / "shared", progress=False)), spec)
    assert [j.key() for j in jobs] == keys
    assert [(j.name, j.seed) for j in jobs] == [(m, s) for m in cfg.methods for s in cfg.seeds]
    assert not (tmp_path / "run").exists()
