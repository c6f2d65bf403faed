"""A new user's first hour (issue 13): their own imagefolder, aliases, progress in pipes, config
typos, the report of their data, and the synthetic folder loaded back with Hugging Face `datasets`."""

import io
import json

import numpy as np
import pytest
import yaml
from PIL import Image

from synaug.cli import main
from synaug.errors import ConfigError, SynaugError
from synaug.experiments.config import resolve_config
from synaug.progress import Progress
from synaug.prompts import articles
from synaug.experiments.report import head_to_tail

# shuffled, human-written class folder names; IF = 12 / 2 = 6
COUNTS = {"T-shirt_top": 2, "Ankle boot": 12, "Pullover": 5}


@pytest.fixture
def user_folder(tmp_path):
    root = tmp_path / "clothes"
    rng = np.random.default_rng(0)
    for split, counts in (("train", COUNTS), ("test", dict.fromkeys(COUNTS, 3))):
        for name, n in counts.items():
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), "L").save(
                    root / split / name / f"{i}.png")
    return root


def test_progress_prints_lines_when_not_a_terminal():
    out = io.StringIO()  # not a tty: no bar, plain lines
    bar = Progress(range(5), total=5, desc="stage1", unit="step", images_per_unit=32, file=out, every=3600)
    for step in bar:
        bar.set_postfix(loss="0.500")
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("stage1: step 1/5 (20%)") and "img/s" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith("stage1: step 5/5 (100%)  loss 0.500")
    assert len(lines) == 2  # first and last; the rest every `every` seconds


def test_articles_follow_the_next_word():
    assert articles("a photo of a Ankle boot") == "a photo of an Ankle boot"
    assert articles("a photo of a italic digit 8") == "a photo of an italic digit 8"
    assert articles("a photo of a uniform, a one-piece, a 8") == "a photo of a uniform, a one-piece, an 8"
    assert articles("a photo of a T-shirt") == "a photo of a T-shirt"


def test_aliases_underscores_and_a_loud_non_uniform_plan(user_folder, tmp_path, capsys):
    data = f"imagefolder:{user_folder}"
    assert main(["plan", "--dataset", data, "--out", str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr().out
    assert "cannot draw 'T-shirt_top'" not in out  # '_' read like '/': T-shirt/top's emoji
    assert "--render-word 'Pullover=WORD'" in out and "--alias" in out  # the message says how to add one
    assert "WARNING: the plan is NOT uniform" in out and "Pullover (5 of 12)" in out
    meta = json.loads((tmp_path / "p.json").read_text())
    assert meta["uniform"] is False and meta["below_target"] == [{"cell": "Pullover", "final": 5, "target": 12}]

    assert main(["plan", "--dataset", data, "--alias", "Pullover=coat", "--out", str(tmp_path / "q.csv")]) == 0
    assert "WARNING" not in capsys.readouterr().out
    meta = json.loads((tmp_path / "q.json").read_text())
    assert meta["uniform"] is True and meta["aliases"] == {"Pullover": "coat"}
    prompts = {}  # the first prompt of each class: modifier "a"
    for row in (tmp_path / "q.csv").read_text().splitlines()[1:]:
        prompts.setdefault(row.split(",")[3], row.split(",")[8])
    assert prompts["Pullover"] == "a photo of a coat" and prompts["T-shirt_top"] == "a photo of a T-shirt top"

    assert main(["plan", "--dataset", data, "--alias", "Pulover=coat", "--out", str(tmp_path / "r.csv")]) == 2
    assert "did you mean 'Pullover'?" in capsys.readouterr().err


def test_synthetic_folder_loads_in_hugging_face_datasets(user_folder, tmp_path):
    datasets = pytest.importorskip("datasets")
    plan, syn = tmp_path / "p.csv", tmp_path / "syn"
    assert main(["plan", "--dataset", f"imagefolder:{user_folder}", "--alias", "Pullover=coat",
                 "--out", str(plan)]) == 0
    assert main(["generate", "--plan", str(plan), "--out", str(syn)]) == 0
    names = sorted(COUNTS)
    loaded = datasets.load_dataset(str(syn), split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.features["label"].names == names
    assert loaded.features["group"].dtype == "string" and loaded.features["cell"].dtype == "string"
    assert len(loaded) == 3 * 12 - sum(COUNTS.values())
    assert [names[y] for y in loaded["label"]] == loaded["class_name"]
    real = datasets.load_dataset("imagefolder", data_dir=str(user_folder / "train"), split="train",
                                 cache_dir=str(tmp_path / "hf"))
    both = datasets.concatenate_datasets([real, loaded])
    assert len(both) == 3 * 12 and both.features["label"].names == names


def test_run_on_a_users_folder_reports_its_real_imbalance_and_progress(user_folder, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "dataset": f"imagefolder:{user_folder}", "methods": ["synaug"], "out": str(tmp_path / "run"),
        "plan": {"aliases": {"Pullover": "coat"}},
        "train": {"steps": 3, "stage2_steps": 2, "batch_size": 8, "stage2_batch_size": 8, "device": "cpu"}}))
    assert main(["run", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "stage1: step 3/3 (100%)" in captured.err  # progress lines in a pipe
    assert "generate [render]" in captured.err
    assert "runs:" in captured.out and "report:" in captured.out
    page = (tmp_path / "run" / "report.html").read_text()
    assert "measured imbalance factor 6.0" in page and "imbalance factor 100" not in page
    assert "n = 1" in page and "± 0.00" not in page and "classe:" not in page
    assert head_to_tail([2, 12, 5]) == [1, 2, 0]  # charts: largest training count first
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["data"]["imbalance_factor"] == 6.0
    assert (tmp_path / "run" / "grid-classes.png").is_file()


@pytest.mark.parametrize("text,message", [
    ("method: [ce]\n", "unknown key 'method'; did you mean 'methods'?"),
    ("train: {step: 10}\n", "(train): unknown key 'step'; did you mean 'steps'?"),
    ("plan: {stratgy: uniform}\n", "(plan): unknown key 'stratgy'; did you mean 'strategy'?"),
    ("thresholds: {few: 3, mny: 9}\n", "did you mean 'many'?"),
    ("methods: [synaugg]\n", "unknown method 'synaugg'; did you mean 'synaug'?"),
    ("dataset: fashion-lr\n", "unknown dataset 'fashion-lr'; did you mean 'fashion-lt'?"),
    ("train: {model: resnet23}\n", "unknown model 'resnet23'; did you mean 'resnet32'?"),
])
def test_config_typos_are_errors_with_a_suggestion(text, message, tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(SynaugError) as info:
        resolve_config(None, path)
    assert message in str(info.value)
    assert main(["run", "--config", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_train_config_typo_is_an_error_not_a_traceback(tmp_path, capsys):
    (tmp_path / "t.yaml").write_text("train:\n  lr: 0.1\n  modle: small-cnn\n")
    assert main(["train", "--dataset", "mnist-lt", "--method", "ce", "--config", str(tmp_path / "t.yaml"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "unknown key 'modle'; did you mean 'model'?" in capsys.readouterr().err


def test_run_experiment_api_refuses_typos_too():
    with pytest.raises(ConfigError, match="did you mean 'seeds'"):
        resolve_config({"seed": [0]})
