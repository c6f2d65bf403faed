"""Issue 30: the fixed pretrain split of the embedded datasets, the generator fitted on it (once per
dataset and settings), and the quality of a fitted generator (CAS, Fréchet distance)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from synaug.cli import main
from synaug.data import load_dataset
from synaug.data.embedded import FASHION_PRETRAIN_PER_CLASS, REVISION, fashion_train_partition, load_fashion, \
    load_mnist5k
from synaug.data.embedded_groups import (FAIR_PRETRAIN_PER_CELL, SPURIOUS_PRETRAIN_PER_CELL, fair_rows,
                                         spurious_rows)
from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.engine.fitting import check_pretrain_pool, fit_key, pool_images
from synaug.engine.job import Job
from synaug.engine.specs import DataSpec, GeneratorSpec
from synaug.errors import DatasetError
from synaug.generators.ddpm_folder import image_hashes

SEEDS = (0, 1, 2, 3)


def digests(images) -> set:
    return set(image_hashes(np.asarray(images)).tolist())


@pytest.mark.parametrize("name,per_class", [("mnist-lt", 150), ("fashion-lt", FASHION_PRETRAIN_PER_CLASS)])
def test_long_tail_pretrain_split_is_fixed_and_disjoint_from_every_split_of_every_seed(name, per_class):
    first = None
    for seed in SEEDS[: 4 if name == "mnist-lt" else 2]:
        for imbalance in (10, 100):
            splits = load_dataset(name, imbalance=imbalance, lt_seed=seed)
            assert splits.pretrain.class_counts().tolist() == [per_class] * 10
            pre = digests(splits.pretrain.images)
            first = first or pre
            assert pre == first  # the same images whatever the seed or the imbalance
            for part in (splits.train, splits.unused, splits.test):
                assert not pre & digests(part.images)


def test_fashion_lt_refuses_an_n_max_that_would_need_the_pretrain_images():
    assert load_dataset("fashion-lt", imbalance=100, n_max=5000).train.class_counts()[0] == 5000
    with pytest.raises(DatasetError, match=r"n_max must be in 1..5000, got 5001 \(of the 6,000 training images per "
                                           r"class, 1,000 are the pretrain split"):
        load_dataset("fashion-lt", imbalance=100, n_max=5001)


def test_mnist_fair_pretrain_cells_come_from_source_images_no_split_of_any_seed_draws():
    images, digits = load_mnist5k()
    pretrain = None
    for seed in SEEDS:
        rows = fair_rows(digits, seed)
        pre = digests(images[rows["pretrain"][0]])
        pretrain = pretrain or pre
        assert pre == pretrain and len(pre) == 8 * FAIR_PRETRAIN_PER_CELL
        for split in ("train", "val", "test"):
            assert not pre & digests(images[rows[split][0]])
    splits = load_dataset("mnist-fair")
    assert set(splits.pretrain.cell_counts().values()) == {FAIR_PRETRAIN_PER_CELL}  # minority cells drawable
    assert splits.pretrain.images.shape[1:] == splits.train.images.shape[1:] == (28, 28, 3)


def test_fashion_spurious_pretrain_cells_come_from_the_fashion_pretrain_part():
    task, pretrain_source = fashion_train_partition()
    test_source = load_fashion(False)
    assert not digests(task.images) & digests(pretrain_source.images)
    for seed in SEEDS[:2]:
        rows = spurious_rows(task.labels, pretrain_source.labels, test_source.labels, seed)
        pre = digests(pretrain_source.images[rows["pretrain"][0]])
        for split, source in (("train", task), ("val", task), ("test", test_source)):
            assert not pre & digests(source.images[rows[split][0]])
    splits = load_dataset("fashion-spurious", lt_seed=1)
    assert set(splits.pretrain.cell_counts().values()) == {SPURIOUS_PRETRAIN_PER_CELL}
    assert np.array_equal(splits.pretrain.images, load_dataset("fashion-spurious", lt_seed=0).pretrain.images)


def test_a_job_on_an_embedded_dataset_records_its_data_revision():
    job = Job("r", "ce", DataSpec("mnist-lt"))
    assert job.stamp()["data_revision"] == REVISION == "2026-12-pretrain"
    user = Job("r", "ce", DataSpec("imagefolder:/data/photos"))
    assert "data_revision" not in user.stamp()  # user data: its files' digests decide
    # a run stored before the revision (its stamp had none) has another key: it is never reused
    old = {k: v for k, v in job.stamp().items() if k != "data_revision"}
    assert hashlib.sha256(json.dumps(old, sort_keys=True, default=str).encode()).hexdigest()[:20] != job.key()


def test_the_pretrain_fit_key_ignores_what_does_not_change_the_pool():
    gen = GeneratorSpec("ddpm", fit={"pool": "pretrain", "steps": 5})
    keys = set()
    for seed, imbalance in ((0, 100), (1, 100), (2, 10)):
        data = DataSpec("mnist-lt", imbalance, subset_seed=seed)
        splits = load_dataset("mnist-lt", imbalance=imbalance, lt_seed=seed)
        keys.add(fit_key(data, gen, pool_images(splits, "pretrain"), True))
    assert len(keys) == 1
    train = GeneratorSpec("ddpm", fit={"pool": "train", "steps": 5})
    assert len({fit_key(DataSpec("mnist-lt", subset_seed=s), train,
                        pool_images(load_dataset("mnist-lt", lt_seed=s), "train"), True) for s in (0, 1)}) == 2


def test_a_pretrain_pool_that_shares_an_image_with_a_split_is_refused():
    splits = load_dataset("mnist-lt", imbalance=10)
    check_pretrain_pool(splits)  # the real partition passes
    leaky = DatasetSplits(train=splits.train, test=splits.test, unused=splits.unused,
                          pretrain=splits.pretrain.concat(splits.test.subset([3, 7])))
    with pytest.raises(DatasetError, match=r"the pretrain pool shares 2 image\(s\) with the test split"):
        check_pretrain_pool(leaky)
    leaky = DatasetSplits(train=splits.train, test=splits.test, unused=splits.unused,
                          pretrain=splits.pretrain.concat(splits.train.subset([0])))
    with pytest.raises(DatasetError, match=r"shares 1 image\(s\) with the training split"):
        check_pretrain_pool(leaky)
    with pytest.raises(Exception, match="has no pretrain split"):
        pool_images(DatasetSplits(train=splits.train, test=splits.test), "pretrain")


TINY_FLAGS = ["--steps", "4", "--batch-size", "16", "--fit-option", "arch_options={channels: [8, 16], emb_dim: 32}",
              "--fit-option", "log_every=2", "--fit-option", "warmup_steps=1", "--quiet", "--quality-samples", "0"]


@pytest.mark.slow
def test_fit_generator_on_the_pretrain_pool_reuses_a_finished_fit_and_refuses_a_leaky_split(tmp_path, capsys,
                                                                                             monkeypatch):
    pytest.importorskip("diffusers")
    gen = tmp_path / "GEN"
    argv = ["fit-generator", "--dataset", "mnist-lt", "--pool", "pretrain", "--out", str(gen), *TINY_FLAGS]
    assert main(argv) == 0
    info = json.loads((gen / "generator.json").read_text())
    assert info["pool"]["name"] == "pretrain" and info["pool"]["cell_counts"] == [150] * 10
    log = (gen / "log.jsonl").read_text()
    assert "(4 run now" in capsys.readouterr().out
    assert main(argv) == 0  # the second identical call: reused, no step run
    assert "(0 run now" in capsys.readouterr().out and (gen / "log.jsonl").read_text() == log
    # measured (tiny): quality.json beside the model, printed, reused by the next call for the same checkpoint
    measured = argv[:-2] + ["--quality-samples", "3", "--quality-steps", "2"]
    assert main(measured) == 0
    out = capsys.readouterr().out
    record = json.loads((gen / "quality.json").read_text())
    assert record["images"] == 30 and set(record["cas"]) == {"accuracy", "balanced_accuracy", "per_class"}
    assert record["sampling"]["per_cell"] == 3 and (gen / "quality.png").is_file()
    assert f"CAS {record['cas']['accuracy']:.1f} % vs {record['real_score']['accuracy']:.1f} %" in out
    assert main(measured) == 0 and json.loads((gen / "quality.json").read_text()) == record
    # a partition whose pretrain part overlaps the task part (what long tails and test splits draw from)
    import synaug.data.embedded as embedded
    monkeypatch.setattr(embedded, "pretrain_partition",
                        lambda labels, per_class: (np.arange(len(labels)), np.arange(0, len(labels), 4)))
    assert main(["fit-generator", "--dataset", "mnist-lt", "--pool", "pretrain", "--out", str(tmp_path / "G2"),
                 *TINY_FLAGS]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the pretrain pool shares") and not (tmp_path / "G2").exists()
    assert main(["fit-generator", "--dataset", "mnist-lt", "--pool", "train", "--out", str(tmp_path / "G3"),
                 *TINY_FLAGS]) == 0  # the train pool is checked against the test split only, as before


@pytest.mark.slow
def test_a_config_fits_the_pretrain_generator_once_for_every_seed(tmp_path):
    pytest.importorskip("diffusers")
    from synaug.engine.fitting import fitted_generator
    from synaug.experiments.catalog import TINY_FIT
    gen = GeneratorSpec("ddpm", fit={"pool": "pretrain", **TINY_FIT})
    logs = []
    models = set()
    for seed in (0, 1):
        data = DataSpec("mnist-fair", subset_seed=seed)
        splits = load_dataset("mnist-fair", lt_seed=seed)
        fitted = fitted_generator(gen, data, splits, tmp_path, progress=False, log=logs.append)
        models.add(dict(fitted.options)["model"])
    assert len(models) == 1 and len(list(tmp_path.iterdir())) == 1
    runs = [line for line in logs if "steps run now" in line]
    assert runs[0].startswith(f"ddpm generator: {TINY_FIT['steps']} steps run now")
    assert runs[1].startswith("ddpm generator: 0 steps run now")  # the second seed reused the fit
    info = json.loads((tmp_path / next(iter(models)) / "generator.json").read_text())
    assert info["group_names"] == ["red", "green", "blue", "yellow"]  # class x group cells


# ----------------------------------------------------------------------------- quality (CAS, Fréchet distance)
def test_frechet_distance_is_zero_for_a_set_with_itself_and_grows_with_noise():
    from scipy import linalg
    from synaug.audit.quality import frechet_distance
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-6)
    distances = [frechet_distance(x, x + rng.normal(scale=s, size=x.shape)) for s in (0.1, 0.5, 1.0, 2.0)]
    assert distances == sorted(distances) and distances[0] > 0
    # against the formula written out with numpy for two Gaussians' sample moments
    y = rng.normal(loc=1.0, size=(300, 6))
    ca, cb = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    want = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(x, y) == pytest.approx(want, rel=1e-9)


@pytest.mark.slow
def test_cas_of_real_images_matches_the_real_score_and_noise_lowers_it():
    from synaug.audit.quality import QualityConfig, image_quality
    splits = load_dataset("mnist-lt", imbalance=1)  # 250 per digit: the task's long-tail pool, untouched
    real = splits.pretrain  # what a generator would be fitted on
    stand_in = splits.train.subset(np.concatenate([np.flatnonzero(splits.train.labels == c)[:60] for c in range(10)]))
    cfg = QualityConfig(steps=120, feature_steps=60, batch_size=32, device="cpu")
    q = image_quality(stand_in, real, splits.test, cfg)  # "synthetic" images that are real ones
    assert q["images"] == q["real_images"] == 600
    assert abs(q["cas"]["accuracy"] - q["real_score"]["accuracy"]) < 8  # within noise of two draws
    assert q["real_score"]["accuracy"] > 70 and q["cas_ratio"] > 0.9
    assert q["copy_rate"] == 0.0 and min(q["recall"].values()) > 0.5
    rng = np.random.default_rng(0)
    noisy = ImageSet(np.clip(stand_in.images + rng.normal(0, 90, stand_in.images.shape), 0, 255).astype(np.uint8),
                     stand_in.labels, stand_in.class_names)
    qn = image_quality(noisy, real, splits.test, cfg)
    assert qn["frechet_distance"] > 2 * q["frechet_distance"] and qn["cas"]["accuracy"] < q["cas"]["accuracy"]


@pytest.mark.slow
def test_fig4_sweeps_the_pretrained_ddpm_steps_from_one_fit_for_every_seed(tmp_path):
    pytest.importorskip("diffusers")
    from synaug.experiments.catalog import run_named
    from synaug.experiments.library import listing  # noqa: F401  (registers the experiments)
    out = tmp_path / "fig4"
    result = run_named("fig4", {"out": str(out), "seeds": [0, 1]}, tiny=True, progress=False, log=lambda *a, **k: None)
    accuracy, quality = result["tables"][:2]
    assert {"synaug (steps 1)", "synaug (steps 50)", "ce"} <= set(accuracy["rows"])
    assert set(quality["rows"]) == {"synaug (steps 1)", "synaug (steps 50)"}
    assert quality["columns"] == ["CAS", "real-trained", "CAS / real", "FD", "FD real", "copy rate"]
    for row in quality["rows"].values():
        assert 0 <= row["CAS"] <= 100 and 0 <= row["real-trained"] <= 100 and row["FD"] >= 0
    assert "pretrain split" in quality["title"]
    models = [p for p in (out / "shared").iterdir() if "-ddpm-" in p.name]
    assert len(models) == 1  # seeds 0 and 1 draw from the one generator fitted on the pretrain split
    assert json.loads((models[0] / "generator.json").read_text())["pool"]["name"] == "pretrain"
    assert result["findings"] and all(f["claim"] for f in result["findings"])


def test_demo_with_ddpm_draws_from_the_pretrained_stand_in(monkeypatch, tmp_path, capsys):
    import synaug.api as api
    from synaug.engine.specs import as_dict
    from synaug.experiments.config import resolve_config
    seen = []
    monkeypatch.setattr(api, "run", lambda overrides, progress=True: seen.append(overrides))
    api.demo(generator="ddpm", out=tmp_path / "d")
    cfg = resolve_config(seen[0])
    assert cfg.generator.name == "ddpm" and as_dict(cfg.generator.fit)["pool"] == "pretrain"
    api.demo(out=tmp_path / "d")
    assert resolve_config(seen[1]).generator.name == "render" and not resolve_config(seen[1]).generator.fit
    with pytest.raises(SystemExit) as exc:  # argparse's own refusal: usage + error, exit 2
        main(["demo", "--generator", "smote"])
    assert exc.value.code == 2 and "invalid choice: 'smote'" in capsys.readouterr().err
