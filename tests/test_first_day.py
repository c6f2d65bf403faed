"""A practitioner's first day at paper scale (issue 20): schedules that fit the run, every training key
documented, one decoded cache found by every command, the resize recipe, the audit's verdict before
training, chance flags, the model exported for plain torchvision, the renderer's vocabulary."""

import inspect
import io
import json
import pydoc
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import synaug
from synaug.cli import main
from synaug.engine.records import read_predictions
from synaug.errors import ConfigError, TrainingError

ROOT = Path(__file__).resolve().parents[1]
COUNTS = {"cat": 6, "rocket": 3, "brick wall": 2}  # > 64 px photos: read from disk, decoded into the cache


def photo_folder(root: Path, counts=COUNTS, test_per: int = 3, seed: int = 0) -> Path:
    """ROOT/{train,test}/<class>/*.jpg: 72 x 96 colour images (not square), one colour per class."""
    rng = np.random.default_rng(seed)
    for split, per in (("train", counts), ("test", dict.fromkeys(counts, test_per))):
        for c, (name, n) in enumerate(per.items()):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (72, 96, 3)).astype(np.uint8)
                img[:, :, c] += 150
                Image.fromarray(img).save(root / split / name / f"{i}.jpg", quality=95)
    return root


@pytest.fixture
def photos(tmp_path):
    return photo_folder(tmp_path / "photos")


def user_synthetic(photos: Path, out: Path, side: int = 80) -> Path:
    """The user's own `synaug plan` + `synaug generate` folder (brick wall drawn as the 'brick' emoji)."""
    assert main(["plan", "--dataset", f"imagefolder:{photos}", "--image-size", str(side), "--render-word",
                 "brick wall=brick", "--out", str(out / "plan.csv")]) == 0
    assert main(["generate", "--plan", str(out / "plan.csv"), "--out", str(out / "synthetic")]) == 0
    return out / "synthetic"


TINY = ["--steps", "2", "--stage2-steps", "1", "--batch-size", "4", "--stage2-batch-size", "4", "--device", "cpu"]


# ----------------------------------------------------------------------------- schedules
def test_warmup_is_a_fraction_of_the_steps_and_a_short_run_reaches_its_lr():
    from synaug.training.config import TrainConfig
    from synaug.training.pipeline import stage1_phase
    assert TrainConfig().warmup == 0.05 and TrainConfig(steps=800).warmup_steps == 40
    short = TrainConfig(steps=30, lr=0.05)
    phase = stage1_phase(short)
    assert phase.warmup_steps == 2 and max(phase.lr_at(s) for s in range(30)) == pytest.approx(0.05)
    with pytest.raises(ConfigError, match="warmup"):
        TrainConfig(warmup=1.0)
    with pytest.raises(ConfigError, match="warmup_steps 40 of 30 steps .* never reach"):
        TrainConfig.from_dict({"warmup_steps": 40, "steps": 30})
    with pytest.raises(ConfigError, match="warmup: 0.0125"):
        TrainConfig.from_dict({"warmup_steps": 425, "steps": 34000})
    old = TrainConfig.from_record({"warmup_steps": 40, "steps": 800})  # a run folder written before
    assert old.warmup == 0.05 and old.resize == "squash"


def test_a_diverging_stage_stops_naming_the_setting():
    from synaug.training.loop import LoopState, Phase
    state = LoopState(Phase("stage2", 100, 8, 0.01, hint="Lower stage2_lr (--stage2-lr, now 0.01)."), None, None,
                      None, True, torch.device("cpu"))
    for step, loss in ((0, 2.0), (20, 1.5), (40, 9.0)):  # 6x its lowest: noise, not divergence
        state.check_divergence(step, loss, num_classes=8)
    with pytest.raises(TrainingError, match=r"stage2 step 60: the loss grew from 1\.5 \(step 20\) to 15\.1.*"
                                            r"diverged.*--stage2-lr"):
        state.check_divergence(60, 15.1, num_classes=8)
    quiet = LoopState(Phase("stage1", 100, 8, 0.1), None, None, None, True, torch.device("cpu"))
    for step, loss in ((0, 0.01), (20, 0.5)):  # 50x, but below ln(8): a loss near 0 wandering is not divergence
        quiet.check_divergence(step, loss, num_classes=8)


@pytest.mark.parametrize("settings,phase,hint", [
    ({"lr": 20.0, "steps": 60}, "stage1", r"Lower lr \(--lr, now 20\) or lengthen the warm-up \(--warmup"),
    ({"stage2_lr": 200.0, "stage2_steps": 60}, "stage2", r"Lower stage2_lr \(--stage2-lr, now 200\)")])
def test_training_that_diverges_is_stopped(settings, phase, hint, tmp_path):
    from helpers import tiny_cfg, tiny_splits
    from synaug.training.methods import get_method
    from synaug.training.pipeline import train_method
    splits, syn = tiny_splits()
    with pytest.raises(TrainingError, match=rf"^{phase} step \d+: the loss grew .* diverged and was stopped\. {hint}"):
        train_method(get_method("synaug"), splits, tiny_cfg(**settings), tmp_path / "r", synthetic=syn, progress=False)


def test_progress_lines_show_the_current_lr_and_the_step_of_the_loss(monkeypatch, capsys, tmp_path):
    from helpers import tiny_cfg, tiny_splits
    from synaug.training.methods import get_method
    from synaug.training.pipeline import train_method
    monkeypatch.setenv("SYNAUG_PROGRESS_SECONDS", "0")
    splits, _ = tiny_splits()
    train_method(get_method("ce"), splits, tiny_cfg(steps=6, warmup=0.5, stage2_steps=0), tmp_path / "r")
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("stage1: step")]
    lrs = [ln.split("  lr ")[1].split()[0] for ln in lines]
    assert len(set(lrs)) >= 4  # the lr changes every step, not every 20
    assert "loss" in lines[-1] and "(step 5)" in lines[-1] and "(step 0)" in lines[1]


# ----------------------------------------------------------------------------- training keys
def test_every_training_key_is_documented_from_the_dataclass():
    from dataclasses import fields

    from synaug.training.config import TrainConfig
    from synaug.training.options_doc import field_comments, options_table, table_in
    meaning, _ = field_comments()
    assert all(meaning.get(f.name) for f in fields(TrainConfig)), "every field needs a comment"
    doc = (ROOT / "docs" / "training-options.md").read_text()
    assert table_in(doc) == options_table(), "run `python -m synaug.training.options_doc docs/training-options.md`"
    assert "docs/training-options.md" in (ROOT / "README.md").read_text()


def test_flip_defaults_to_the_augmentation():
    from synaug.training.config import TrainConfig
    assert TrainConfig(augment="random-resized-crop").flips is True
    assert TrainConfig().flips is False and TrainConfig(augment="none").flips is False  # digits: never mirrored
    assert TrainConfig(augment="random-resized-crop", flip=False).flips is False
    resolved = TrainConfig(augment="random-resized-crop", steps=100).resolved("fit")
    assert resolved["flip"] is True and resolved["warmup_steps"] == 5 and resolved["rrc_scale"] == [0.08, 1.0]


def test_common_training_settings_are_flags(monkeypatch, tmp_path):
    import synaug.api
    seen = {}
    monkeypatch.setattr(synaug.api, "train", lambda *a, **kw: seen.update(kw) or {"accuracy": 50.0})
    flags = ["--no-flip", "--warmup", "0.1", "--normalize", "imagenet", "--lr", "0.2", "--weight-decay", "0.001",
             "--stage2-batch-size", "16", "--stage2-lr", "0.03", "--resize", "squash"]
    assert main(["train", "--dataset", "mnist-lt", "--out", str(tmp_path / "r"), *flags]) == 0
    assert {k: seen[k] for k in ("flip", "warmup", "normalize", "lr", "weight_decay", "stage2_batch_size",
                                 "stage2_lr", "resize")} == {
        "flip": False, "warmup": 0.1, "normalize": "imagenet", "lr": 0.2, "weight_decay": 0.001,
        "stage2_batch_size": 16, "stage2_lr": 0.03, "resize": "squash"}
    with pytest.raises(SystemExit) as refused:  # argparse: a warm-up as long as the run
        main(["train", "--dataset", "mnist-lt", "--out", str(tmp_path / "s"), "--warmup", "1"])
    assert refused.value.code == 2
    runs = []
    monkeypatch.setattr(synaug.api, "run", lambda overrides, path=None, **kw: runs.append(overrides))
    assert main(["demo", "--flip", "--lr", "0.1", "--no-audit"]) == 0
    assert runs[-1]["train"] == {"flip": True, "lr": 0.1} and runs[-1]["audit"] is False


# ----------------------------------------------------------------------------- one cache
@pytest.mark.slow
def test_each_image_is_decoded_once_across_cache_train_run_and_experiment(photos, tmp_path, monkeypatch):
    import synaug.data.cache as cache
    decoded: dict[str, int] = {}
    original = cache.decode_resized

    def counting(path, *args, **kwargs):
        key = str(Path(path).resolve())
        decoded[key] = decoded.get(key, 0) + 1
        return original(path, *args, **kwargs)

    monkeypatch.setattr(cache, "decode_resized", counting)
    monkeypatch.setenv("SYNAUG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    syn = user_synthetic(photos, tmp_path / "mine")
    # one spelling per command: relative, absolute, with ./ -- the cache key is what decides the pixels
    assert main(["cache", "--dataset", "imagefolder:photos", "--synthetic", "mine/synthetic", "--image-size", "80",
                 "--workers", "1"]) == 0
    assert main(["train", "--dataset", f"imagefolder:{photos}", "--synthetic", str(syn), "--method", "synaug",
                 "--image-size", "80", "--out", str(tmp_path / "train"), *TINY]) == 0
    tiny = {"steps": 2, "stage2_steps": 1, "batch_size": 4, "stage2_batch_size": 4, "image_size": 80, "device": "cpu"}
    config = {"dataset": "imagefolder:./photos", "methods": ["ce", "synaug"], "audit": False, "out": "run",
              "generate": {"folder": "./mine/synthetic"}, "train": tiny}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", "--config", "run.yaml"]) == 0
    before = dict(decoded)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump({"dataset": "imagefolder:photos", "train": tiny,
                                                      "plan": {"render_words": {"brick wall": "brick"}}}))
    assert main(["experiment", "table1", "--seeds", "0", "--config", "exp.yaml", "--out", "exp", "--quiet"]) == 0
    real = [str(p.resolve()) for p in sorted(photos.rglob("*.jpg"))]
    mine = [str(p.resolve()) for p in sorted(syn.rglob("*.png"))]
    assert set(real + mine) <= set(before) and all(before[p] == 1 for p in real + mine)
    assert all(n == 1 for n in decoded.values()), {p: n for p, n in decoded.items() if n > 1}
    assert set(decoded) - set(before)  # the experiment drew its own plans' images: each decoded once too
    folders = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len([f for f in folders if f.startswith("photos-train-80px-shorter-side")]) == 1, folders


def test_resize_modes_are_torchvisions_and_the_paper_configs_follow_their_recipes(tmp_path):
    from torchvision.transforms import v2

    from synaug.data.cache import decode_resized, square_image
    img = torch.randint(0, 256, (3, 60, 90), dtype=torch.uint8)
    assert torch.equal(square_image(img, 40, "shorter-side"), v2.CenterCrop(40)(v2.Resize(40)(img)))
    assert torch.equal(square_image(img, 40, "squash"), v2.Resize((40, 40))(img))
    Image.fromarray(img.permute(1, 2, 0).numpy()).save(tmp_path / "wide.png")
    assert not np.array_equal(decode_resized(tmp_path / "wide.png", 40, 3, "shorter-side"),
                              decode_resized(tmp_path / "wide.png", 40, 3, "squash"))
    recipe = {name: yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())["train"]["resize"]
              for name in ("imagenet100-lt-resnet50", "waterbirds-resnet50", "utkface-resnet18", "utkface-resnet50")}
    assert recipe == {"imagenet100-lt-resnet50": "shorter-side", "waterbirds-resnet50": "squash",
                      "utkface-resnet18": "squash", "utkface-resnet50": "squash"}


# ----------------------------------------------------------------------------- chance (the audit verdict: test_audit_verdict.py)
def test_chance_level_flags_runs_and_rows():
    from synaug.eval.chance import chance_level, near_chance
    from synaug.eval.specs import format_metrics
    from synaug.experiments.tables.spec import chance_flags
    level = chance_level(8, 480)
    assert level["chance"] == 12.5 and level["near"] == pytest.approx(12.5 + 2 * 100 * (0.125 * 0.875 / 480) ** 0.5)
    assert near_chance(13.75, level) and not near_chance(40.0, level)
    lines = format_metrics({"accuracy": 13.75, "chance": level, "at_chance": True})
    assert lines[-1].startswith("WARNING: this run is at chance: accuracy 13.75 %")
    seeds = lambda *accs: {str(s): {"accuracy": a, "chance": level, "at_chance": near_chance(a, level)}  # noqa: E731
                                     for s, a in enumerate(accs)}
    methods = {"ce": {"seeds": seeds(50.0, 52.0)}, "ce-rs": {"seeds": seeds(13.75, 14.0)}}
    chance, flagged = chance_flags(methods)
    assert chance == level and flagged == ["ce-rs"] and methods["ce-rs"]["seeds_at_chance"] == [0, 1]


@pytest.mark.slow
def test_run_audits_first_records_its_data_and_reuses_the_users_folder(photos, tmp_path, capsys):
    syn = user_synthetic(photos, tmp_path / "mine", side=72)
    capsys.readouterr()
    config = {"dataset": f"imagefolder:{photos}", "methods": ["ce", "synaug"], "out": str(tmp_path / "run"),
              "generate": {"folder": str(syn)},
              "train": {"steps": 2, "stage2_steps": 1, "batch_size": 4, "stage2_batch_size": 4, "device": "cpu",
                        "model": "small-cnn", "image_size": 72}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(tmp_path / "run.yaml")]) == 0
    out, err = capsys.readouterr()
    assert out.index("audit verdict per cell") < out.index("  ce ")  # the fidelity check comes first
    assert "generate [render]" not in err  # the user's folder is used, not drawn again
    recorded = (tmp_path / "run" / "config.yaml").read_text()
    assert recorded.startswith("# imbalance: null") and "measured imbalance factor, largest / smallest class: 3.0" \
        in recorded and yaml.safe_load(recorded)["imbalance"] is None
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["config"]["measured_imbalance"] == 3.0 and results["chance"]["classes"] == 3
    job = json.loads((tmp_path / "run" / "runs" / "synaug" / "seed0" / "job.json").read_text())
    assert job["synthetic_folder"] == str(syn) and job["plan"] is None
    page = (tmp_path / "run" / "report.html").read_text()
    for text in ("Training setup", "model <b>small-cnn from scratch", "images 72 px (shorter-side)", "2 steps of 4",
                 "generator render", "Chance: 33.33 %", "verdict", "brick_wall/"):
        assert text in page, text
    run = tmp_path / "run" / "runs" / "synaug" / "seed0"
    resolved = yaml.safe_load((run / "config.yaml").read_text())["resolved"]
    assert resolved["resize"] == "shorter-side" and resolved["flip"] is False
    assert json.loads((run / "preprocess.json").read_text())["resize"] == "shorter-side"
    assert main(["run", "--config", str(tmp_path / "run.yaml"), "--no-audit", "--out", str(tmp_path / "again")]) == 0
    assert "audit verdict" not in capsys.readouterr().out


def test_a_users_folder_and_plan_settings_together_are_refused(photos, tmp_path):
    from synaug.experiments.config import resolve_config
    syn = user_synthetic(photos, tmp_path / "mine")
    with pytest.raises(ConfigError, match="drawn from its own plan"):
        resolve_config({"dataset": f"imagefolder:{photos}", "generate": {"folder": str(syn)},
                        "plan": {"strategy": "U-10"}})


# ----------------------------------------------------------------------------- export
@pytest.mark.slow
def test_an_exported_model_gives_synaugs_predictions_in_plain_torchvision(photos, tmp_path, monkeypatch):
    import torchvision
    from torchvision.transforms.v2 import functional as F
    assert main(["train", "--dataset", f"imagefolder:{photos}", "--method", "ce", "--model", "resnet18",
                 "--image-size", "80", "--crop-size", "72", "--augment", "random-resized-crop",
                 "--out", str(tmp_path / "r"), *TINY]) == 0
    record = synaug.export(tmp_path / "r", tmp_path / "export")
    state = torch.load(tmp_path / "export" / "model.pth", weights_only=True)
    assert "conv1.weight" in state and "fc.weight" in state and not any(k.startswith("features.") for k in state)
    pre = json.loads((tmp_path / "export" / "preprocess.json").read_text())
    assert pre == json.loads(json.dumps(record)) and pre["class_names"] == sorted(COUNTS)
    assert (pre["resize"], pre["image_size"], pre["crop_size"]) == ("shorter-side", 80, 72)
    monkeypatch.chdir(tmp_path / "export")
    scope = {"torch": torch, "torchvision": torchvision}
    exec("\n".join(pre["load"]), scope)  # the lines the record (and the CLI) give
    model = scope["model"]
    paths = [p for c in pre["class_names"] for p in sorted((photos / "test" / c).iterdir())]

    def load(path):  # the five lines of the README's "Using the model without synaug"
        img = torchvision.io.decode_image(str(path), mode=torchvision.io.ImageReadMode.RGB)
        img = F.center_crop(F.resize(img, pre["image_size"], antialias=True), [pre["image_size"]] * 2)
        img = F.center_crop(img, [pre["crop_size"]] * 2)
        return F.normalize(F.to_dtype(img, torch.float32, scale=True), pre["mean"], pre["std"])

    with torch.no_grad():
        pred = model(torch.stack([load(p) for p in paths])).argmax(1).tolist()
    assert pred == read_predictions(tmp_path / "r")["test_pred"].tolist()  # the run's record


# ----------------------------------------------------------------------------- renderer vocabulary
def test_the_renderers_vocabulary_is_searchable_and_a_render_word_keeps_the_prompt(photos, tmp_path, capsys):
    from synaug.emoji_index import search
    from synaug.prompts import load_bank
    assert search("brick wall")[0][0] == "brick"
    data = f"imagefolder:{photos}"
    assert main(["plan", "--dataset", data, "--out", str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr().out
    assert "cannot draw 'brick wall'" in out and "Nearest drawable emoji names: 'brick'" in out
    assert main(["plan", "--suggest", "brick wall"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[0] == "brick"
    syn = user_synthetic(photos, tmp_path / "mine")
    rows = [r.split(",") for r in (syn / "metadata.csv").read_text().splitlines()[1:]]
    bricks = [r for r in rows if r[0].startswith("brick_wall/")]
    assert bricks and all("brick wall" in ",".join(r) for r in bricks)  # the prompt keeps the class name
    assert "brick_wall/" in (syn / "README.md").read_text()  # the card says folders are slugs
    bank = tmp_path / "bank.yaml"
    bank.write_text("aliases: {cat: kitten}\nrender: {brick wall: brick}\n")
    assert load_bank(bank).aliases == {"cat": "kitten"} and load_bank(bank).render_words == {"brick wall": "brick"}


# ----------------------------------------------------------------------------- smaller points
def test_the_api_shows_its_signatures_and_docs():
    params = inspect.signature(synaug.train).parameters
    assert {"dataset", "method", "steps", "lr", "warmup", "flip"} <= set(params)
    assert {"dataset", "strategy", "aliases", "render_words"} <= set(inspect.signature(synaug.plan).parameters)
    text = pydoc.render_doc(synaug.train, renderer=pydoc.plaintext)
    assert "`synaug train`: one method into the run folder" in text and "steps: 'int' = 800" in text
    assert callable(synaug.export) and "plain torchvision" in synaug.export.__doc__
    # plain functions of the API: the planner and the training package live in synaug.plans / synaug.training
    assert inspect.isfunction(synaug.train) and inspect.isfunction(synaug.plan)
    assert synaug.train.__module__ == "synaug.api" and synaug.plan.__module__ == "synaug.api"


def test_cache_prints_progress_lines_in_a_pipe(photos, tmp_path, capsys):
    assert main(["cache", "--dataset", f"imagefolder:{photos}", "--image-size", "80",
                 "--cache-dir", str(tmp_path / "c"), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "cache photos-train-80px-shorter-side: img 11/11 (100%)" in captured.err
    assert "photos-test-80px-shorter-side" in captured.out


def test_progress_can_refresh_quietly():
    from synaug.progress import Progress
    out = io.StringIO()
    bar = Progress(None, total=2, desc="s", unit="step", file=out, every=3600)
    bar.set_postfix(lr="0.1", refresh=False)
    bar.update(1)
    assert "lr 0.1" in out.getvalue()


def test_decoding_in_process_leaves_torch_its_threads(photos, tmp_path):
    """A cache built in this process (one chunk, or --workers 1) used to leave torch on one thread, so
    a `train` that decoded first trained on one core (and gave other numbers than a run that did not)."""
    from synaug.data.cache import build_cache
    before = torch.get_num_threads()
    build_cache(sorted(photos.rglob("*.jpg")), 40, 3, tmp_path / "c", workers=1, progress=False)
    assert torch.get_num_threads() == before


def test_the_walks_photo_folder_is_built_long_tailed_non_square_and_all_or_nothing(tmp_path, capsys):
    """docs/first_day_photos.py (the folder docs/first-day.md walks): the training counts follow
    round(head x (1/IF)^(k/7)), photos are 96 px on their shorter side and not square, and the folder
    synaug reads back has the measured imbalance; an existing folder and bad sizes are refused."""
    import importlib.util

    from synaug.data.datasets import load_dataset
    from synaug.eval.metrics import imbalance_factor

    spec = importlib.util.spec_from_file_location("first_day_photos", ROOT / "docs" / "first_day_photos.py")
    photos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(photos)
    root = tmp_path / "photos"
    assert photos.main([str(root), "--head", "20", "--imbalance", "10", "--test", "2"]) == 0
    counts = {d.name: len(list(d.iterdir())) for d in (root / "train").iterdir()}
    assert sorted(counts.values(), reverse=True) == [round(20 * 0.1 ** (k / 7)) for k in range(8)]
    assert all(len(list(d.iterdir())) == 2 for d in (root / "test").iterdir()) and len(counts) == 8
    sizes = {Image.open(p).size for p in root.rglob("*.jpg")}
    assert all(min(s) == 96 and max(s) == 128 for s in sizes)  # 96 x 128 or 128 x 96: photos, not squares
    assert not (tmp_path / "photos.partial").exists()
    splits = load_dataset(f"imagefolder:{root}")
    assert imbalance_factor(list(splits.train.cell_counts().values())) == pytest.approx(10.0)
    capsys.readouterr()
    assert photos.main([str(root)]) == 2 and "exists" in capsys.readouterr().err  # never over a folder
    assert photos.main([str(tmp_path / "other"), "--head", "5", "--imbalance", "20"]) == 2
    assert not (tmp_path / "other").exists()
