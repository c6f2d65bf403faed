import csv
import json
from pathlib import Path

import pytest

from synaug.cli import main
from synaug.experiments.config import resolve_config
from synaug.experiments.experiment_report import format_result_text
from synaug.experiments.runner import run_experiment


def test_plan_cli_prints_table_and_writes_rows(tmp_path, capsys):
    assert main(["plan", "--dataset", "mnist-lt", "--imbalance", "100", "--out", str(tmp_path / "plan.csv")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-2].split() == ["total", "615", "0", "1885", "2500"]
    rows = list(csv.DictReader((tmp_path / "plan.csv").read_text().splitlines()))
    assert len(rows) == 1885 and rows[0]["prompt"].startswith("a photo of a ")
    meta = json.loads((tmp_path / "plan.json").read_text())
    assert meta["image_shape"] == [28, 28, 1] and meta["undrawable"] == {}


def test_plan_cli_reports_undrawable_fashion_class(tmp_path, capsys):
    assert main(["plan", "--dataset", "fashion-lt", "--out", str(tmp_path / "p.csv")]) == 0
    assert "cannot draw 'Pullover'" in capsys.readouterr().out
    assert main(["generate", "--plan", str(tmp_path / "p.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "--skip-undrawable" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["plan", "--dataset", "imagenet-21k"], "unknown dataset 'imagenet-21k'"),
    (["plan", "--strategy", "most"], "unknown strategy 'most'"),
    (["plan", "--strategy", '{"3": 1}'], "below its current count"),
    (["generate", "--plan", "/nonexistent/plan.csv", "--out", "x"], "no plan at"),
    (["generate", "--plan", "p.csv", "--out", "x", "--shard", "3/2"], "bad shard"),
    (["demo", "--methods", "magic"], "unknown method 'magic'"),
    (["train", "--dataset", "mnist-lt", "--method", "ce", "--model", "nope", "--steps", "1", "--out", "r"], "unknown model 'nope'"),
    (["plan", "--dataset", "csv:/no/such.csv"], "no metadata file"),
])
def test_bad_input_is_a_clear_error_with_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.csv").write_text("file_name\n")
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_short_end_to_end_run(tmp_path):
    # audit: false: the audit changes no number (test_demo_report_shows_the_audit_and_the_audit_changes_no_number)
    cfg = resolve_config({"out": str(tmp_path / "demo"), "train": {"steps": 40, "stage2_steps": 40}, "audit": False})
    results = run_experiment(cfg, progress=False, log=lambda *a: None)
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert set(saved["rows"]) == set(saved["tables"][0]["rows"]) == {"ce", "ce-rs", "synaug"}
    train_cells = saved["data"]["train_cells"]
    assert list(train_cells.values()) == [250, 149, 89, 53, 32, 19, 11, 6, 4, 2]
    synthetic = saved["synthetic"]["True"]["cells"]
    assert [train_cells[c] + synthetic[c] for c in train_cells] == [250] * 10
    few = {m: r["seeds"]["0"]["few"] for m, r in saved["rows"].items()}
    many = {m: r["seeds"]["0"]["many"] for m, r in saved["rows"].items()}
    # what the methods are for, at seed 0 after 40 steps: CE ignores the tail, re-sampling and SYNAuG
    # lift it at the head's expense (n_max 250 since issue 30's pretrain split: Many is digits 0 and 1,
    # Few the five classes with 19 images or fewer)
    assert few["ce"] < 5.0 and few["synaug"] > few["ce"] + 20 and few["ce-rs"] > few["ce"] + 30
    assert many["ce"] > many["ce-rs"] + 15 and many["ce"] >= many["synaug"]
    # the numbers themselves (CPU, this seed): a change of draws, loss or schedule moves them (issue 20: the
    # warm-up became 5 % of the steps, 2 of these 40, where it used to be 40, the whole run)
    # (issue 30: the split changed, mnist-lt's n_max 400 -> 250; measured again)
    assert few == pytest.approx({"ce": 0.0, "ce-rs": 46.2, "synaug": 28.0}, abs=1.0)
    assert {m: r["seeds"]["0"]["accuracy"] for m, r in saved["rows"].items()} == pytest.approx(
        {"ce": 30.2, "ce-rs": 48.3, "synaug": 44.7}, abs=1.0)
    for m, r in saved["rows"].items():
        acc = r["seeds"]["0"]["accuracy"]
        assert saved["tables"][0]["rows"][m]["accuracy"]["mean"] == acc
        run = tmp_path / "demo" / "runs" / m / "seed0"
        assert json.loads((run / "metrics.json").read_text())["accuracy"] == acc
    assert (tmp_path / "demo" / "runs" / "synaug" / "seed0" / "stage2.pt").is_file()
    assert not (tmp_path / "demo" / "runs" / "ce" / "seed0" / "stage2.pt").exists()
    page = (tmp_path / "demo" / "report.html").read_text()
    # the table's bars, counts real vs synthetic, the real | synthetic grid, per-class accuracy
    assert page.count("data:image/png;base64,") == 4 and "last training step" in page
    text = (tmp_path / "demo" / "results.txt").read_text()
    assert text == format_result_text(results) + "\n" and "All" in text and "synaug" in text


@pytest.mark.slow
def test_train_then_evaluate_cli(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-lt", "--method", "ce", "--steps", "20", "--out", str(run)]) == 0
    first = json.loads((run / "metrics.json").read_text())
    assert main(["evaluate", "--dataset", "mnist-lt", "--run", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text()) == first  # training's record is never rewritten
    assert json.loads((run / "evaluation.json").read_text())["accuracy"] == first["accuracy"]
    assert main(["train", "--dataset", "mnist-lt", "--method", "synaug", "--out", str(run)]) == 2
    assert "--synthetic" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("task,keys", [("fairness", ("dp", "eo", "ed")), ("spurious", ("worst_group", "mean_weighted"))])
def test_short_group_task_runs(task, keys, tmp_path):
    from synaug.experiments.tasks import TASKS

    methods = {"fairness": ["erm", "synaug-classes"], "spurious": ["group-dro", "synaug-dfr"]}[task]
    cfg = resolve_config({"task": task, "methods": methods, "out": str(tmp_path / task), "audit": False,  # tested apart
                          "train": {"steps": 20, "stage2_steps": 10, "dfr_refits": 2}})
    results = run_experiment(cfg, progress=False, log=lambda *a: None)
    assert cfg.data.dataset == TASKS[task].dataset
    for m in methods:
        metrics = results["rows"][m]["seeds"]["0"]
        assert all(metrics[k] is not None for k in keys)
        assert len(metrics["per_cell"]) == (8 if task == "fairness" else 4)
    page = (tmp_path / task / "report.html").read_text()
    assert "Embedded stand-in" in page and "per class x group cell" in page
    if task == "fairness":  # the class-only variant plans over classes in its own folder
        assert list(results["synthetic"]) == ["False"]  # erm uses none, synaug-classes plans over classes
        folder = Path(results["synthetic"]["False"]["folder"])
        assert (folder / "metadata.csv").is_file() and folder.parent.parent == tmp_path / task / "synthetic"
        with open(folder / "metadata.csv", newline="") as f:
            assert all(r["group"] == "" and r["drawn_group"] for r in csv.DictReader(f))  # classes only
    else:
        assert (tmp_path / task / "runs" / "synaug-dfr" / "seed0" / "dfr.json").is_file()


@pytest.mark.slow
def test_run_from_one_yaml_config(tmp_path, capsys):
    import torch

    config = tmp_path / "exp.yaml"
    config.write_text("task: longtail\ndataset: mnist-lt\nimbalance: 50\nmethods: [ce, synaug-retrain]\n"
                      "seeds: [0, 1]\ntrain: {steps: 15, stage2_steps: 5}\nplan: {strategy: U-100}\naudit: false\n"
                      f"out: {tmp_path / 'exp'}\n")
    assert main(["run", "--config", str(config)]) == 0
    results = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert results["config"]["imbalance"] == 50 and sorted(results["rows"]["ce"]["seeds"]) == ["0", "1"]
    accs = [results["rows"]["ce"]["seeds"][s]["accuracy"] for s in ("0", "1")]
    assert results["tables"][0]["rows"]["ce"]["accuracy"]["mean"] == pytest.approx(sum(accs) / 2)
    ckpt = torch.load(tmp_path / "exp" / "runs" / "ce" / "seed1" / "stage1.pt", weights_only=True)
    assert ckpt["step"] == 15 and ckpt["config"]["seed"] == 1 and ckpt["method"] == "ce"
    assert "synaug-retrain" in capsys.readouterr().out


@pytest.mark.slow
def test_step_by_step_cli_on_groups(tmp_path, capsys):
    """plan -> generate -> train on a grouped dataset: cells planned, groups carried to training."""
    plan = tmp_path / "plan.csv"
    assert main(["plan", "--dataset", "fashion-spurious", "--strategy", "LT+5", "--out", str(plan)]) == 0
    assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "syn")]) == 0
    rows = list(csv.DictReader((tmp_path / "syn" / "metadata.csv").read_text().splitlines()))
    assert len(rows) == 20 and {r["group_name"] for r in rows} == {"grass", "brick"}
    capsys.readouterr()
    assert main(["train", "--dataset", "fashion-spurious", "--synthetic", str(tmp_path / "syn"), "--method", "rs",
                 "--steps", "5", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "Worst group" in out and "DP" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["mean_weighted"] is not None and len(metrics["per_cell"]) == 4


@pytest.mark.slow
def test_cifar10_lt_rgb_pipeline_with_resnet32(tmp_path):
    """CIFAR python pickles -> LDAM long tail -> RGB 32x32 emoji uniformization -> ResNet-32 with flips."""
    import numpy as np

    from helpers import write_cifar10

    rng = np.random.default_rng(0)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    batches = [(rng.integers(0, 255, (40, 3072), dtype=np.uint8), np.repeat(np.arange(10), 4).tolist())
               for _ in range(5)]
    write_cifar10(tmp_path, batches, (rng.integers(0, 255, (30, 3072), dtype=np.uint8),
                                      np.repeat(np.arange(10), 3).tolist()), names)
    cfg = resolve_config({"dataset": f"cifar10-lt:{tmp_path}", "imbalance": 10, "methods": ["synaug"],
                          "generate": {"skip_undrawable": False},
                          "train": {"model": "resnet32", "steps": 4, "batch_size": 16, "flip": True,
                                    "crop_padding": 4, "stage2_steps": 2},
                          "out": str(tmp_path / "out")})
    results = run_experiment(cfg, progress=False, log=lambda *a: None)
    counts = [int(20 * 0.1 ** (c / 9)) for c in range(10)]  # n_max = 200 / 10 images, IF 10
    assert list(results["data"]["train_cells"].values()) == counts
    assert list(results["synthetic"]["True"]["cells"].values()) == [20 - n for n in counts]
    from PIL import Image
    first = sorted((Path(results["synthetic"]["True"]["folder"]) / "truck").glob("*.png"))[0]
    assert Image.open(first).mode == "RGB" and Image.open(first).size == (32, 32)


@pytest.mark.slow
def test_demo_report_shows_the_audit_and_the_audit_changes_no_number(tmp_path):
    """`synaug demo` audits the uniform synthetic set for its report; the methods' metrics are those of
    a run without the audit (the audit reads training data only and draws from its own generators)."""
    base = {"methods": ["ce", "synaug"], "train": {"steps": 6, "stage2_steps": 4, "batch_size": 32}}
    with_audit = run_experiment(resolve_config({**base, "audit": True, "out": str(tmp_path / "a")}), progress=False)
    without = run_experiment(resolve_config({**base, "audit": False, "out": str(tmp_path / "b")}), progress=False)
    assert "Audit of the synthetic images" in (tmp_path / "a" / "report.html").read_text()
    assert "Audit of the synthetic images" not in (tmp_path / "b" / "report.html").read_text()
    assert with_audit["audit"]["True"]["cells"] and "audit" not in without
    for m in base["methods"]:
        assert with_audit["rows"][m]["seeds"]["0"]["per_class"] == without["rows"][m]["seeds"]["0"]["per_class"]
