"""A generator fitted on the data (issue 22) as commands and experiments use it: `synaug fit-generator`
(pools, refusals, resume), configs that say `generate: {generator: ddpm, fit: {pool: ...}}` (fitted
once per data and settings in the shared folder, a model per seed where seeds vary the data), and
Fig. 4 sweeping the ddpm's sampling steps end to end. The fit and the sampler themselves are tested
in test_ddpm.py."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("diffusers")

from synaug.cli import main  # noqa: E402
from synaug.engine.data import load_splits  # noqa: E402
from synaug.engine.specs import DataSpec, GeneratorSpec, fit_settings  # noqa: E402
from synaug.errors import ConfigError  # noqa: E402
from synaug.experiments.catalog import TINY_FIT, run_named  # noqa: E402
from synaug.experiments.config import BASE_CONFIG  # noqa: E402
from synaug.generators.ddpm_settings import FitSettings  # noqa: E402
from synaug.experiments.library import listing  # noqa: E402,F401  (registers the experiments)

TINY_FLAGS = ["--steps", "4", "--batch-size", "16", "--fit-option", "arch_options={channels: [8, 16], emb_dim: 32}",
              "--fit-option", "log_every=2", "--quiet", "--quality-samples", "0"]  # quality: test_pretrain


def test_fit_generator_cli_fits_resumes_and_refuses(tmp_path, capsys):
    gen = tmp_path / "GEN"
    assert main(["fit-generator", "--dataset", "mnist-lt", "--imbalance", "10", "--pool", "unused", "--out", str(gen),
                 *TINY_FLAGS]) == 0
    info = json.loads((gen / "generator.json").read_text())
    assert info["pool"]["name"] == "unused" and info["training"]["steps"] == 4
    # the unused pool: what the long tail left out of each digit's pool (the two add up to the same pool size)
    splits = load_splits(DataSpec("mnist-lt", 10))
    unused, kept = (np.bincount(s.labels, minlength=10) for s in (splits.unused, splits.train))
    assert info["pool"]["cell_counts"] == unused.tolist() and len(set(unused + kept)) == 1 and kept[0] > kept[9]
    log = (gen / "log.jsonl").read_text()
    assert main(["fit-generator", "--dataset", "mnist-lt", "--imbalance", "10", "--pool", "unused", "--out", str(gen),
                 *TINY_FLAGS]) == 0  # finished: reused, nothing rerun
    assert (gen / "log.jsonl").read_text() == log and "(0 run now" in capsys.readouterr().out
    # another pool into the same folder, a dataset without an unused pool, a folder that is not a fit
    assert main(["fit-generator", "--dataset", "mnist-lt", "--imbalance", "10", "--pool", "train", "--out", str(gen),
                 *TINY_FLAGS]) == 2
    assert "holds a ddpm generator fit with other" in capsys.readouterr().err
    assert main(["fit-generator", "--dataset", "mnist-fair", "--pool", "unused", "--out", str(tmp_path / "G2"),
                 *TINY_FLAGS]) == 2
    assert "has no unused real images" in capsys.readouterr().err and not (tmp_path / "G2").exists()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.png").write_bytes(b"not mine to overwrite")
    assert main(["fit-generator", "--dataset", "mnist-lt", "--out", str(tmp_path / "photos"), *TINY_FLAGS]) == 2
    assert "is not empty and holds no ddpm generator fit" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["cat.png"]
    assert main(["fit-generator", "--dataset", "mnist-lt", "--out", str(tmp_path / "G3"), "--fit-option", "lr_max=1"]) == 2
    assert "ddpm fit: unknown key 'lr_max' (known: arch, arch_options, batch_size" in capsys.readouterr().err


def test_a_fit_is_only_for_generators_fitted_on_the_data():
    with pytest.raises(ConfigError, match="generator 'render' is not fitted on the data"):
        GeneratorSpec("render", fit={"pool": "train"})
    with pytest.raises(ConfigError, match="pool"):
        GeneratorSpec("ddpm", fit={"pool": "test"})
    with pytest.raises(ConfigError, match="ddpm fit: unknown key 'epochs'"):
        GeneratorSpec("ddpm", fit={"pool": "train", "epochs": 3})


def test_fig4_with_ddpm_sweeps_sampling_steps_from_one_fit_per_seed(tmp_path):
    """Each seed draws its own long tail, so each fits its own model (the same for every quality
    level); every level's images record the steps that drew them."""
    out = tmp_path / "fig4"
    result = run_named("fig4", {"out": str(out), "seeds": [0, 1], "generate": {"generator": "ddpm",
                                                                                 "fit": {"pool": "train"}},
                                "options": {"levels": [1, 50], "baselines": ["ce"]}}, tiny=True, progress=False,
                       log=lambda *a, **k: None)
    table = result["tables"][0]
    labels = [row["label"] for row in table["rows"]] if isinstance(table["rows"], list) else list(table["rows"])
    assert {"synaug (steps 1)", "synaug (steps 50)", "ce"} <= set(labels)
    shared = out / "shared"
    models = sorted(p for p in shared.iterdir() if "-ddpm-" in p.name)
    assert len(models) == 2  # seeds 0 and 1: two long tails, two fits
    for model in models:
        info = json.loads((model / "generator.json").read_text())
        assert info["pool"]["name"] == "train" and info["training"]["steps"] == TINY_FIT["steps"]
    steps_seen = {}
    for meta in shared.glob("*/images/metadata.csv"):
        with open(meta) as f:
            rows = list(csv.DictReader(f))
        if rows and rows[0]["generator"] == "ddpm":
            steps_seen.setdefault(rows[0]["model"], set()).update(int(r["steps"]) for r in rows)
    assert sorted(steps_seen) == [str(m) for m in models]
    assert all(s == {1, 50} for s in steps_seen.values())


def test_the_default_fit_is_the_experiments_fit():
    """`synaug fit-generator`'s defaults (FitSettings) and the experiments' `fit:` block give the same
    settings, so a model a user fits with the defaults is the one every experiment fits (docs/ddpm.md:
    2000 steps, settled by CAS per CPU-minute)."""
    _, settings = fit_settings("ddpm", {"pool": "pretrain", **BASE_CONFIG["fit"]})
    assert settings.recorded() == FitSettings().recorded() and FitSettings().steps == 2000
