"""Between fit and generate: the sample check of a fitted ddpm model (synaug.generators.ddpm_check),
the model's size and training set named when they differ from the plan's, and `fit-generator
--image-size` (a photo folder fits at <= 64 px, a larger side is refused before any work)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from synaug.cli import main  # noqa: E402
from synaug.data.datasets import load_dataset  # noqa: E402
from synaug.engine import fitting  # noqa: E402
from synaug.engine.fitting import fit_cost, step_seconds  # noqa: E402
from synaug.generators.ddpm_check import floor  # noqa: E402
from synaug.generators.ddpm_settings import FitSettings  # noqa: E402

CLI_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"  # synaug.cli.run_command's logging format
ONE_STEP = ["--steps", "1", "--batch-size", "8", "--fit-option", "arch_options={channels: [8, 16], emb_dim: 32}",
            "--quiet", "--quality-samples", "0"]  # the sample check is under test here; quality in test_pretrain
COLOURS = {"brick": (200, 40, 30), "grass": (30, 180, 40), "sky": (40, 90, 220)}


def photo_folder(root, side, width=None):
    """root/{train,test}/<class>/*.png: flat colour photos with a little noise, 6 + 2 per class, `side` px
    high and `width` (default `side`) px wide."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 2)):
        for name, rgb in COLOURS.items():
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(np.array(rgb) + rng.normal(0, 12, (side, width or side, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def test_a_one_step_fit_makes_generate_warn_loudly(tmp_path, caplog):
    data, gen = f"imagefolder:{photo_folder(tmp_path / 'photos', 8)}", tmp_path / "GEN"
    assert main(["fit-generator", "--dataset", data, "--out", str(gen), *ONE_STEP]) == 0
    check = json.loads((gen / "sample_check.json").read_text())
    assert check["floor"] == pytest.approx(floor(3)) == pytest.approx(2 / 3)
    assert len(check["failing"]) >= 2 and (gen / "samples.png").is_file()  # static fails (at most 1 class passes)
    with Image.open(gen / "samples.png") as grid:
        assert grid.size == (8 * 8, 3 * 8)  # a row of 8 samples per class
    assert main(["plan", "--dataset", data, "--strategy", "U-8", "--out", str(tmp_path / "p.csv"), "--generator",
                 "ddpm", "--generator-model", str(gen)]) == 0
    (gen / "sample_check.json").unlink()  # a model without a check: generate runs it first
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["generate", "--plan", str(tmp_path / "p.csv"), "--out", str(tmp_path / "syn"), "--generator",
                     "ddpm", "--generator-model", str(gen), "--sampling-steps", "2"]) == 0
    warned = [r.getMessage() for r in caplog.records if "does not recognise" in r.getMessage()]
    assert len(warned) == 1 and (gen / "sample_check.json").is_file()
    failing = json.loads((gen / "sample_check.json").read_text())["failing"]
    assert all(name in warned[0] for name in failing) and "steps=1" in warned[0] and "batch_size=8" in warned[0]
    assert str(gen / "samples.png") in warned[0]
    shown = [logging.Formatter(CLI_LOG_FORMAT).format(r) for r in caplog.records if "does not recognise" in r.getMessage()]
    assert shown[0].startswith(f"WARNING synaug.generators.ddpm: the ddpm model in {gen} draws ")
    assert shown[0].count("WARNING") == 1  # one prefix, the logger's (it was printed twice)
    caplog.clear()  # a later generate repeats the warning once, not once per batch of images (the walk saw 18)
    with caplog.at_level(logging.WARNING):
        assert main(["generate", "--plan", str(tmp_path / "p.csv"), "--out", str(tmp_path / "syn2"), "--generator",
                     "ddpm", "--generator-model", str(gen), "--sampling-steps", "2", "--batch-size", "2"]) == 0
    assert sum("does not recognise" in r.getMessage() for r in caplog.records) == 1


def test_a_photo_folder_fits_at_image_size_or_is_refused_before_work(tmp_path, capsys, caplog):
    data = f"imagefolder:{photo_folder(tmp_path / 'photos', 96)}"
    assert main(["fit-generator", "--dataset", data, "--out", str(tmp_path / "big"), *ONE_STEP]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the ddpm generator fits at 64 px at most and these images are 96 px")
    assert "Pass --image-size 32 (any side from 8 to 64)" in err and fit_cost(96, 1, 8) in err
    assert not (tmp_path / "big").exists()
    gen = tmp_path / "GEN"
    assert main(["fit-generator", "--dataset", data, "--image-size", "8", "--out", str(gen), *ONE_STEP]) == 0
    assert json.loads((gen / "generator.json").read_text())["image_shape"] == [8, 8, 3]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["plan", "--dataset", data, "--image-size", "16", "--strategy", "U-8", "--out", str(tmp_path / "p.csv"),
                     "--generator", "ddpm", "--generator-model", str(gen)]) == 0
    assert any("was fitted at 8 x 8 px; its images are resized to 16 x 16 px" in r.getMessage()
               for r in caplog.records)


def test_a_non_square_folder_is_named_by_the_shorter_side_it_fits_at(tmp_path, capsys):
    portrait = f"imagefolder:{photo_folder(tmp_path / 'portrait', 128, width=96)}"  # 96 wide, 128 high
    assert main(["fit-generator", "--dataset", portrait, "--out", str(tmp_path / "big"), *ONE_STEP]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the ddpm generator fits at 64 px at most and these images are 96 px on their "
                          "shorter side (96 x 128 px): ")
    assert f"images at 96 px would take {fit_cost(96, 1, 8)}" in err and not (tmp_path / "big").exists()
    # a tall folder on disk (80 > 64 px high) fits at its 40 px width: the pool the fit learns from
    # (the CLI fit itself is test_a_photo_folder_fits_at_image_size_or_is_refused_before_work's)
    splits = load_dataset(f"imagefolder:{photo_folder(tmp_path / 'tall', 80, width=40)}")
    assert fitting.fit_side(splits, None) == 40 and fitting.fit_side(splits, 24) == 24
    pool, test = fitting.fit_pool(splits, "train", False, None, FitSettings(), progress=False)
    assert pool.images.shape[1:] == (40, 40, 3) and test.images.shape[1:] == (40, 40, 3) and len(pool) == 18


def test_the_fit_cost_follows_the_measured_seconds_per_step(monkeypatch):
    measured = dict(fitting.SECONDS_PER_STEP)
    # the table holds the quiet numbers: a default 32 px fit near docs/first-day.md's 0.36 s per step
    assert 0.3 <= measured[32] <= 0.45 and measured[32] < measured[64] < measured[96] < measured[128]
    assert fit_cost(32, 4000, 128) == f"about {measured[32] * 4000 / 60:.0f} min"
    monkeypatch.setattr(fitting, "SECONDS_PER_STEP", {32: 1.0, 64: 2.5, 128: 10.0})
    assert step_seconds(32) == 1.0 and step_seconds(64) == 2.5 and step_seconds(128) == 10.0
    assert step_seconds(16) == pytest.approx(0.25) and step_seconds(256) == pytest.approx(40.0)  # x pixel count
    assert step_seconds(48) == pytest.approx(1.0 + 1.5 * (48 ** 2 - 32 ** 2) / (64 ** 2 - 32 ** 2))
    assert step_seconds(96) == pytest.approx(2.5 + 7.5 * (96 ** 2 - 64 ** 2) / (128 ** 2 - 64 ** 2))
    assert fit_cost(64, 4000, 128) == "about 2.8 h" and fit_cost(32, 300, 64) == "about 2 min"
