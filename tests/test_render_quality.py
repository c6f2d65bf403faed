"""The render generator's quality knob `degrade`: 0 leaves today's images byte for byte, more of it
lowers the similarity (scikit-image's SSIM) to the full-quality image, and a bad value is an error."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from synaug.cli import main
from synaug.errors import ConfigError
from synaug.generators import make_generator
from synaug.plans import PlanItem


def item(cls, label, seed, modifier="", group=None, group_name="", index=0):
    return PlanItem(f"x/{seed}.png", str(label), label, cls, group, group_name, index, modifier, "p", seed)


# SHA-256 (first 16 hex digits) of the pixels the renderer drew before `degrade` existed (commit
# 8f45d82), on this project's fonts and emoji packages: glyphs, emoji, tints and textures
BEFORE = [(dict(), item("7", 7, 11, "bold"), "443865d067379def"),
          (dict(), item("Trouser", 1, 12, "striped"), "e6c7d0aa500a5b5e"),
          (dict(image_shape=(28, 28, 3)), item("digit 0-4", 0, 13, "", 0, "red"), "5a4361e4b1e11c35"),
          (dict(), item("Sandal", 5, 14, "", 1, "grass"), "952b89b7d6b8eaac"),
          (dict(image_shape=(32, 32, 3)), item("bag", 1, 15, "", 1, "brick"), "95c699b4a68d91f7")]


@pytest.mark.parametrize("options,it,digest", BEFORE)
def test_degrade_zero_draws_the_images_of_before_byte_for_byte(options, it, digest):
    default = make_generator("render", options).generate([it])[0].image
    zero = make_generator("render", options, degrade=0).generate([it])[0].image
    assert default.tobytes() == zero.tobytes()
    assert hashlib.sha256(zero.tobytes()).hexdigest()[:16] == digest
    assert "degrade" not in make_generator("render", options, degrade=0.0).describe()  # old fingerprints hold


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


@pytest.mark.parametrize("cls,label,channels", [("3", 3, 1), ("Dress", 3, 1), ("digit 5-9", 1, 3)])
def test_more_degrade_means_lower_similarity_to_the_full_quality_image(cls, label, channels):
    levels = (0.0, 0.25, 0.5, 1.0)
    gens = {d: make_generator("render", {"image_shape": (28, 28, channels)}, degrade=d) for d in levels}
    ssim = {d: [] for d in levels}
    for seed in range(8):
        it = item(cls, label, 100 + seed, group=None)
        clean = pixels(gens[0.0].generate([it])[0].image)
        for d in levels:
            img = pixels(gens[d].generate([it])[0].image)
            ssim[d].append(structural_similarity(clean, img, data_range=255,
                                                 channel_axis=2 if channels == 3 else None))
    mean = [float(np.mean(ssim[d])) for d in levels]
    assert mean[0] == 1.0
    assert all(a > b + 0.05 for a, b in zip(mean, mean[1:])), mean  # strictly, clearly falling
    assert mean[-1] < 0.4, mean
    # per image too, not only on average: 0 > 0.5 > 1
    assert all(a > b > c for a, b, c in zip(ssim[0.0], ssim[0.5], ssim[1.0]))


def test_degraded_images_depend_on_the_seed_only():
    gen = make_generator("render", degrade=0.7)
    a = [pixels(g.image) for g in gen.generate([item("4", 4, 1), item("4", 4, 2)])]
    b = pixels(make_generator("render", degrade=0.7).generate([item("4", 4, 2)])[0].image)
    assert np.array_equal(a[1], b) and not np.array_equal(a[0], a[1])
    assert make_generator("render", degrade=0.7).describe()["degrade"] == 0.7


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", True, None])
def test_a_degrade_outside_0_1_is_a_config_error(bad):
    with pytest.raises(ConfigError, match=r"^render option degrade: must be a number from 0 to 1, got "):
        make_generator("render", degrade=bad)


def test_the_cli_passes_generator_options(tmp_path, capsys):
    plan = tmp_path / "plan.csv"
    assert main(["plan", "--dataset", "mnist-lt", "--strategy", '{"9": 6}', "--out", str(plan)]) == 0
    assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "g"), "--generator-option", "degrade=0.5"]) == 0
    fingerprint = (tmp_path / "g" / ".synaug" / "plan-fingerprint.json").read_text()
    assert '"degrade": 0.5' in fingerprint
    capsys.readouterr()
    for option, message in (("degrade=2", "render option degrade: must be a number from 0 to 1, got 2"),
                            ("degrad=0.5", "no option"),
                            ("degrade", "KEY=VALUE")):
        assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "b"), "--generator-option", option]) == 2
        assert message in capsys.readouterr().err


def test_a_run_config_passes_degrade_to_the_renderer(tmp_path):
    from synaug.experiments.config import resolve_config
    from synaug.experiments.runner import run_experiment

    cfg = resolve_config({"dataset": "mnist-lt", "methods": ["uniformize"], "out": str(tmp_path / "run"),
                          "plan": {"strategy": {9: 8}}, "generate": {"options": {"degrade": 0.5}},
                          "train": {"steps": 2, "stage2_steps": 1}})
    results = run_experiment(cfg, progress=False, log=lambda *a: None)
    folder = Path(results["synthetic"]["True"]["folder"])
    assert folder.parent.parent == tmp_path / "run" / "synthetic"  # OUT/synthetic/<dataset>-<plan digest>/images
    fingerprint = (folder / ".synaug" / "plan-fingerprint.json").read_text()
    assert '"degrade": 0.5' in fingerprint
