"""Class distribution fitting on the tiny SD pipeline, on CPU: per-class LoRA adapters fitted,
saved, reloaded and used to draw their class; seeded runs equal; metadata names the adapter."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from synaug.data.imageset import ImageSet  # noqa: E402
from synaug.errors import ConfigError, GenerationError, MissingDependencyError  # noqa: E402
from synaug.generators.diffusion import DiffusionGenerator  # noqa: E402
from synaug.generators.lora import WEIGHTS, LoraSettings, adapter_dir, fit_lora  # noqa: E402
from synaug.generators.runner import run_generation  # noqa: E402
from synaug.plans import build_plan  # noqa: E402
from synaug.prompts import load_bank  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

SETTINGS = LoraSettings(rank=4, steps=30, lr=1e-2, seed=3)
CLASSES = ["cat", "ankle_boot"]


def real_images():
    """Class 0: a bright top half; class 1: a bright right half (3 noisy images each)."""
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 40, (6, 16, 16, 3), dtype=np.uint8)
    imgs[:3, :8] = 230
    imgs[3:, :, 8:] = 200
    return ImageSet(imgs, np.array([0, 0, 0, 1, 1, 1]), CLASSES)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, tiny_sd):
    root = tmp_path_factory.mktemp("lora")
    model = tiny_sd  # tests/conftest.py: built once per session
    infos = fit_lora(real_images(), str(model), root / "lora", settings=SETTINGS, device="cpu")
    return model, root / "lora", infos


def _items():
    return build_plan({0: 2, 1: 2}, CLASSES, load_bank(None), seed=4)


def _gen(model, **kw):
    return DiffusionGenerator(model=str(model), steps=2, gen_size=16, device="cpu", **kw)


def _pixels(generated):
    return [np.asarray(g.image, dtype=float) for g in generated]


def test_fit_lowers_the_loss_and_records_the_settings(fitted):
    model, root, infos = fitted
    assert [i["class_name"] for i in infos] == CLASSES
    for info in infos:
        folder = adapter_dir(root, info["class_name"])
        assert (folder / WEIGHTS).is_file()
        saved = json.loads((folder / "lora.json").read_text())
        assert saved == info
        assert saved["base_model"] == str(model) and saved["rank"] == 4 and saved["steps"] == 30
        assert saved["lr"] == 1e-2 and saved["seed"] == 3 and saved["real_images"] == 3
        assert saved["prompt"] in ("a photo of a cat", "a photo of an ankle boot")
        assert saved["loss_after"] < saved["loss_before"]  # on the same fixed noise draws
    assert adapter_dir(root, "ankle_boot").name == "ankle_boot"


def test_adapter_reloads_and_changes_the_unet(fitted):
    import torch
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import load_file

    model, root, _ = fitted
    weights = load_file(adapter_dir(root, "cat") / WEIGHTS)
    targets = {k.split(".lora")[0].rsplit(".", 1)[-1] for k in weights}
    assert targets >= {"to_q", "to_k", "to_v", "0"} and all(k.startswith("unet.") for k in weights)
    assert any(v.abs().max() > 0 for k, v in weights.items() if "lora.up" in k)  # trained, not the zero init
    pipe = StableDiffusionPipeline.from_pretrained(model, local_files_only=True)
    torch.manual_seed(0)
    x, t, text = torch.randn(1, 4, 8, 8), torch.tensor([500]), torch.randn(1, 5, 8)
    with torch.no_grad():
        base = pipe.unet(x, t, text).sample
        pipe.load_lora_weights(str(adapter_dir(root, "cat")), weight_name=WEIGHTS)
        tuned = pipe.unet(x, t, text).sample
    assert (tuned - base).abs().max() > 1e-4


def test_fitting_is_deterministic_and_resumes(fitted, tmp_path):
    model, root, infos = fitted
    again = fit_lora(real_images(), str(model), tmp_path / "lora", classes=["cat"], settings=SETTINGS, device="cpu")
    assert (adapter_dir(tmp_path / "lora", "cat") / WEIGHTS).read_bytes() == (adapter_dir(root, "cat") / WEIGHTS).read_bytes()
    assert again[0]["loss_after"] == infos[0]["loss_after"]
    mtime = (adapter_dir(root, "cat") / WEIGHTS).stat().st_mtime_ns
    assert fit_lora(real_images(), str(model), root, settings=SETTINGS) == infos  # already fitted: kept
    assert (adapter_dir(root, "cat") / WEIGHTS).stat().st_mtime_ns == mtime
    with pytest.raises(ConfigError, match="other settings"):
        fit_lora(real_images(), str(model), root, settings=LoraSettings(steps=5))
    with pytest.raises(ConfigError, match="unknown class"):
        fit_lora(real_images(), str(model), tmp_path / "x", classes=["cow"])


def test_generation_with_adapters_differs_from_base_and_is_reproducible(fitted, tmp_path):
    model, root, _ = fitted
    items = _items()
    tuned = _gen(model, lora=str(root)).generate(items)
    base = _gen(model).generate(items)
    again = _gen(model, lora=str(root)).generate(list(reversed(items)))[::-1]  # other class order: same images
    for a, b, c in zip(_pixels(tuned), _pixels(base), _pixels(again)):
        assert np.abs(a - b).max() > 1.0 and np.abs(a - c).max() <= 1.0
    run_generation(items, _gen(model, lora=str(root)), tmp_path / "out", batch_size=4, progress=False)
    with open(tmp_path / "out" / "metadata.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["class_name"]: r["lora"] for r in rows} == {c: str(adapter_dir(root, c)) for c in CLASSES}
    saved = np.asarray(Image.open(tmp_path / "out" / items[0].file_name).convert("RGB"), dtype=float)
    assert np.abs(saved - _pixels(tuned)[0]).max() <= 1.0


def test_a_class_without_an_adapter_is_undrawable(fitted, tmp_path):
    model, root, _ = fitted
    only_cat = tmp_path / "only-cat"
    only_cat.mkdir()
    (only_cat / "cat").symlink_to(adapter_dir(root, "cat"))
    with pytest.raises(GenerationError, match="no LoRA adapter for class 'ankle_boot'"):
        run_generation(_items(), _gen(model, lora=str(only_cat)), tmp_path / "o", progress=False)
    report = run_generation(_items(), _gen(model, lora=str(only_cat)), tmp_path / "o2", skip_undrawable=True,
                            progress=False)
    assert report.generated == 2 and len(report.skipped) == 2


def test_fit_lora_cli(fitted, tmp_path, capsys):
    from synaug.cli import main

    model, _, _ = fitted
    for k, name in enumerate(CLASSES):
        for split in ("train", "test"):
            (tmp_path / "data" / split / name).mkdir(parents=True)
            for i in range(2):
                img = np.full((16, 16, 3), 60 + 120 * k + i, np.uint8)
                Image.fromarray(img).save(tmp_path / "data" / split / name / f"{i}.png")
    args = ["fit-lora", "--dataset", f"imagefolder:{tmp_path / 'data'}", "--generator-model", str(model),
            "--out", str(tmp_path / "lora"), "--classes", "ankle_boot", "--lora-steps", "2"]
    assert main(args) == 0
    assert "1 adapter(s)" in capsys.readouterr().out
    info = json.loads((tmp_path / "lora" / "ankle_boot" / "lora.json").read_text())
    assert info["real_images"] == 2 and info["steps"] == 2 and not (tmp_path / "lora" / "cat").exists()
    assert main(args[:3] + ["--generator-model", str(tmp_path / "nope")] + args[5:]) == 2
    assert capsys.readouterr().err.startswith("error: --generator-model")
    assert main(args[:3] + ["--model", str(model)] + args[5:]) == 2  # the old name says the new one
    assert "--model is now --generator-model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(args[:-2] + ["--lora-steps", "0"])
    assert exc.value.code == 2


def test_fit_lora_refuses_a_folder_of_other_files(tmp_path):
    """--out may be new, empty or one fit-lora wrote: a folder holding anything else is refused before
    any model is loaded, and nothing in it changes."""
    root = tmp_path / "mine"
    (root / "cat").mkdir(parents=True)
    (root / "notes.txt").write_text("keep me")
    (root / "cat" / "photo.png").write_bytes(b"not an adapter")
    with pytest.raises(ConfigError, match=r"holds cat, notes.txt, which are not LoRA adapters"):
        fit_lora(real_images(), str(tmp_path / "no-model"), root, settings=SETTINGS, device="cpu")
    assert (root / "notes.txt").read_text() == "keep me" and (root / "cat" / "photo.png").read_bytes() == b"not an adapter"
    assert sorted(p.name for p in root.rglob("*")) == ["cat", "notes.txt", "photo.png"]


def test_missing_peft_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "peft", None)  # import peft -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'synaug\[diffusion\]'"):
        fit_lora(real_images(), str(tmp_path), tmp_path / "lora")
