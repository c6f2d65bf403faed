"""The one engine (issue 17): every command runs jobs through `run_job`, so what one command does to
the data another does too. Checked here: a plan's cuts reach every job that uses it (`train` from a
folder, `run` from a config), a plan made for other data is refused, an experiment applies a method's
synthetic policy, every experiment lists its jobs as data, and torchrun runs an experiment once."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synaug.cli import main
from synaug.data import load_dataset
from synaug.engine.job import Job
from synaug.experiments.catalog import EXPERIMENTS, ExperimentContext, experiment_config
from synaug.experiments.config import resolve_config
from synaug.experiments.library import run_named
from synaug.experiments.runner import run_experiment

QUICK = ["--steps", "3", "--stage2-steps", "2", "--batch-size", "16"]


def plan_cells(plan_json: Path) -> tuple[list, list]:
    """(real images kept, synthetic images added) per class, as plan.json states them."""
    cells = json.loads(plan_json.read_text())["cells"]
    return [c["real"] - c["cut"] for c in cells], [c["add"] for c in cells]


def test_train_trains_on_the_counts_plan_json_states(tmp_path):
    """U-100 on mnist-lt IF 100: the head classes are cut to 100 real images (a seeded subset), the
    tail filled to 100; `train --synthetic` reads the plan record `generate` leaves and applies both."""
    plan = tmp_path / "plan.csv"
    assert main(["plan", "--dataset", "mnist-lt", "--strategy", "U-100", "--out", str(plan)]) == 0
    real, added = plan_cells(plan.with_suffix(".json"))
    counts = load_dataset("mnist-lt").train.class_counts()
    assert real == np.minimum(counts, 100).tolist() and added == np.maximum(100 - counts, 0).tolist()
    assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "syn")]) == 0
    assert main(["train", "--dataset", "mnist-lt", "--synthetic", str(tmp_path / "syn"), "--method", "synaug",
                 "--out", str(tmp_path / "run"), *QUICK]) == 0
    trained = json.loads((tmp_path / "run" / "metrics.json").read_text())["training_images"]
    assert trained == {"real": real, "synthetic": added}
    # Many / Medium / Few stay the classes of the ORIGINAL long tail (a cut head class is still Many):
    # IF 100 from n_max 250 keeps 250 and 149 of digits 0 and 1, both cut to 100
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["split_classes"]["many"] == [0, 1]


def test_a_plan_made_for_other_data_is_refused(tmp_path, capsys):
    plan = tmp_path / "plan.csv"
    assert main(["plan", "--dataset", "mnist-lt", "--strategy", "U-100", "--out", str(plan)]) == 0
    assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "syn")]) == 0
    capsys.readouterr()
    assert main(["train", "--dataset", "mnist-lt", "--imbalance", "10", "--synthetic", str(tmp_path / "syn"),
                 "--method", "synaug", "--out", str(tmp_path / "run"), *QUICK]) == 2
    assert "made for other data" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.slow
def test_run_trains_on_the_counts_of_its_plan(tmp_path):
    cfg = resolve_config({"dataset": "mnist-lt", "methods": ["ce", "uniformize"], "plan": {"strategy": "U-100"},
                          "train": {"steps": 3, "stage2_steps": 1, "batch_size": 16}, "out": str(tmp_path / "r")})
    results = run_experiment(cfg, progress=False, log=lambda *a: None)
    real, added = plan_cells(Path(results["synthetic"]["True"]["folder"]).parent / "plan.json")
    assert results["rows"]["uniformize"]["seeds"]["0"]["training_images"] == {"real": real, "synthetic": added}
    counts = load_dataset("mnist-lt").train.class_counts().tolist()  # ce uses no plan: every real image
    assert results["rows"]["ce"]["seeds"]["0"]["training_images"] == {"real": counts, "synthetic": [0] * 10}


@pytest.mark.slow
def test_an_experiment_applies_the_methods_synthetic_policy(tmp_path, monkeypatch):
    """fig4 with `method: synaug-audit` trains each quality level on the audited subset, as `train`
    and `run` do (it used to train on every image)."""
    from synaug.audit.core import AuditConfig
    from synaug.audit.recipe import RecipeConfig
    monkeypatch.setattr("synaug.audit.recipe.RecipeConfig",
                        lambda: RecipeConfig(audit=AuditConfig(steps=8, batch_size=16, device="cpu", probe_cap=50)))
    results = run_named("fig4-render", {"out": str(tmp_path / "f"),
                                        "options": {"method": "synaug-audit", "levels": [0.0]}},
                        progress=False, log=lambda *a, **k: None, tiny=True, shared=tmp_path / "shared")
    (run,) = (tmp_path / "f" / "runs").glob("synaug-audit-*/seed0")
    metrics = json.loads((run / "metrics.json").read_text())
    record = json.loads((Path(metrics["audit"]) / "recipe.json").read_text())
    assert sum(metrics["training_images"]["synthetic"]) == record["synthetic_used"] < record["synthetic_uniform"]
    assert results["tables"][0]["rows"]


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_lists_its_jobs_as_data(name, tmp_path):
    """The registry contract: an experiment's sweep is a list of Jobs (fig3 and fig5 train no
    classifier), one run folder per distinct job, listed without training anything."""
    from synaug.engine.workspace import Workspace
    cfg = experiment_config(EXPERIMENTS[name], {"out": str(tmp_path)}, tiny=True)
    ctx = ExperimentContext(cfg, Workspace(shared=tmp_path / "shared", progress=False))
    jobs = EXPERIMENTS[name].jobs(ctx)
    assert all(isinstance(j, Job) for j in jobs) and (jobs or name in ("fig3", "fig5"))
    folders = {cfg.run_dir(j): j for j in jobs}
    assert len(folders) == len(set(jobs))  # two jobs share a folder only if they are the same job
    assert not (tmp_path / "runs").exists() and not list((tmp_path / "shared").rglob("*.png"))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_torchrun_runs_an_experiment_once(tmp_path):
    """`torchrun --nproc_per_node 2` (gloo) of `synaug experiment table3a --seeds 0 --steps 10`: both
    ranks train every job (ERM, and SYNAuG with its synthetic set and stage 2), rank 0 alone writes one
    results.json (it used to crash on ranks > 0). Table 3(a) has 2 rows: table2's 9 cost 3x the time."""
    cfg = tmp_path / "small.yaml"
    cfg.write_text("bootstrap: 100\ntrain: {stage2_steps: 2, batch_size: 32, checkpoint_every: 1000}\n")
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SYNAUG_DIST_BACKEND": "gloo", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([torchrun, "--nproc_per_node", "2", "-m", "synaug.cli", "experiment", "table3a", "--seeds",
                           "0", "--steps", "10", "--config", str(cfg), "--out", str(tmp_path / "t3a"), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "t3a" / "results.json").read_text())
    assert sorted(results["tables"][0]["rows"]) == ["erm", "synaug"] and proc.stdout.count("results: ") == 1
    assert all((tmp_path / "t3a" / "runs" / r / "seed0" / "done").is_file() for r in ("erm", "synaug"))
