"""The CLIP-score filter on a tiny random CLIP: scores equal the model's own features computed
independently, the rules drop exactly the expected files, drops are recorded, re-runs change nothing."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("transformers")

from synaug.audit.clip_score import clip_filter_folder  # noqa: E402
from synaug.data.readers import read_metadata_csv  # noqa: E402
from synaug.errors import ConfigError  # noqa: E402
from synaug.generators.base import Generated  # noqa: E402
from synaug.generators.runner import run_generation  # noqa: E402
from synaug.plans import PlanItem  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from tiny_sd import build_tiny_clip  # noqa: E402

CLASSES = ["cat", "dog", "ankle_boot"]


class Noise:
    """Random RGB images (from the seed), 20x24: the processor resizes and crops them."""

    name = "noise"

    def cannot_draw(self, item):
        return None

    def describe(self):
        return {"name": "noise"}

    def generate(self, items):
        return [Generated(Image.fromarray(np.random.default_rng(it.seed).integers(0, 256, (20, 24, 3), np.uint8)))
                for it in items]


def _items(n=6):
    return [PlanItem(file_name=f"{c}/{c}_{i}.png", cell=str(k), label=k, class_name=c, group=None, group_name="",
                     index=i, modifier="", prompt=f"a photo of a {'small' if i % 2 else 'large'} {c}",
                     seed=100 * k + i) for k, c in enumerate(CLASSES) for i in range(n)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture
def folder(tmp_path):
    run_generation(_items(), Noise(), tmp_path / "syn", progress=False)
    return tmp_path / "syn"


def independent_scores(clip, folder):
    """(own-prompt scores, per-class scores, own class index) with CLIPModel's get_*_features."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model, proc = CLIPModel.from_pretrained(clip).eval(), CLIPProcessor.from_pretrained(clip)
    items = _items()

    def feats(out):
        f = out if torch.is_tensor(out) else out.pooler_output
        return f / f.norm(dim=-1, keepdim=True)

    with torch.no_grad():
        images = [Image.open(folder / it.file_name).convert("RGB") for it in items]
        img = feats(model.get_image_features(**proc(images=images, return_tensors="pt")))
        own_txt = feats(model.get_text_features(**proc(text=[it.prompt for it in items], padding=True,
                                                        return_tensors="pt")))
        cls_txt = feats(model.get_text_features(**proc(text=["a photo of a cat", "a photo of a dog",
                                                             "a photo of an ankle boot"], padding=True,
                                                       return_tensors="pt")))
    own = np.maximum(100 * (img * own_txt).sum(-1).numpy(), 0)
    per_class = np.maximum(100 * (img @ cls_txt.T).numpy(), 0)
    return own, per_class, np.array([it.label for it in items])


def _dropped(folder):
    with open(folder / ".synaug" / "dropped.csv") as f:
        return {r["file_name"]: r["reason"] for r in csv.DictReader(f)}


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_scores_equal_the_models_features(clip, folder):
    own, per_class, _ = independent_scores(clip, folder)
    clip_filter_folder(folder, clip, label_check=False, batch_size=4, dry_run=False)
    with open(folder / ".synaug" / "clip-scores.csv") as f:
        table = {r["file_name"]: r for r in csv.DictReader(f)}
    for k, it in enumerate(_items()):
        r = table[it.file_name]
        assert float(r["score"]) == pytest.approx(own[k], abs=2e-4)
        assert float(r["own_class_score"]) == pytest.approx(per_class[k, it.label], abs=2e-4)
        assert float(r["best_class_score"]) == pytest.approx(per_class[k].max(), abs=2e-4)
    assert len({round(float(r["score"]), 3) for r in table.values()}) > 5  # the images really differ


def test_threshold_drops_exactly_the_images_below_it(clip, folder):
    own, _, _ = independent_scores(clip, folder)
    s = np.sort(own)
    threshold = float((s[6] + s[7]) / 2)  # between two scores: 7 images below
    assert s[7] - s[6] > 1e-3
    report = clip_filter_folder(folder, clip, threshold=threshold, label_check=False)
    expected = {it.file_name for k, it in enumerate(_items()) if own[k] < threshold}
    assert {f for f, _ in report.dropped} == expected and len(expected) == 7 and report.kept == 11
    dropped = _dropped(folder)
    assert set(dropped) == expected and all(r.startswith("clip filter: CLIP score") for r in dropped.values())
    assert all((folder / f).is_file() for f in expected)  # nothing deleted
    assert len(read_metadata_csv(folder, synthetic=True)) == 11
    settings = json.loads((folder / ".synaug" / "filter-clip.json").read_text())
    assert settings["threshold"] == threshold and settings["dropped_by_filter"] == 7 and settings["kept"] == 11


def test_zero_shot_rule_and_a_stable_rerun(clip, folder):
    _, per_class, labels = independent_scores(clip, folder)
    report = clip_filter_folder(folder, clip)
    mislabelled = per_class.max(1) > per_class[np.arange(len(labels)), labels]
    expected = {it.file_name for k, it in enumerate(_items()) if mislabelled[k]}
    assert 0 < len(expected) < len(labels)
    assert {f for f, _ in report.dropped} == expected
    assert all("zero-shot" in r for r in _dropped(folder).values())
    snap = _snapshot(folder)
    again = clip_filter_folder(folder, clip)
    assert again.dropped == [] and again.already_dropped == len(expected)
    assert _snapshot(folder) == snap
    report = run_generation(_items(), Noise(), folder, progress=False)  # the plan again: drops kept
    assert report.generated == 0 and _snapshot(folder) == snap


def test_class_text_dry_run_and_bad_inputs(clip, folder, tmp_path):
    _, per_class, labels = independent_scores(clip, folder)
    own_class = per_class[np.arange(len(labels)), labels]
    threshold = float(np.median(own_class[own_class > 0]))
    snap = _snapshot(folder)
    dry = clip_filter_folder(folder, clip, threshold=threshold, label_check=False, text="class", dry_run=True)
    assert {f for f, _ in dry.dropped} == {it.file_name for k, it in enumerate(_items()) if own_class[k] < threshold}
    assert _snapshot(folder) == snap
    with pytest.raises(ConfigError, match="not a local CLIP model folder"):
        clip_filter_folder(folder, tmp_path / "nope")
    with pytest.raises(ConfigError, match="0-100"):
        clip_filter_folder(folder, clip, threshold=120)


def test_filter_cli_with_clip(clip, folder, tmp_path, capsys):
    from synaug.cli import main

    assert main(["filter", "--synthetic", str(folder), "--clip", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith("error: --clip")
    assert main(["filter", "--synthetic", str(folder), "--clip", str(clip), "--max-ratio", "2"]) == 2
    assert "apply to --audit" in capsys.readouterr().err
    assert main(["filter", "--synthetic", str(folder), "--audit", str(tmp_path), "--threshold", "3"]) == 2
    assert "--threshold applies" in capsys.readouterr().err
    assert main(["filter", "--synthetic", str(folder), "--clip", str(clip), "--threshold", "0"]) == 0
    out = capsys.readouterr().out
    n = len(_dropped(folder)) if (folder / ".synaug" / "dropped.csv").is_file() else 0
    assert f"dropped {n} image(s), kept {18 - n}" in out


def test_missing_transformers_says_what_to_install(monkeypatch, folder, tmp_path):
    from synaug.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'synaug\[diffusion\]'"):
        clip_filter_folder(folder, tmp_path)
