"""The `heldout` generator and the unused pool it draws from, checked against independent facts:
the pool partitions the dataset's images with train and test (by content), every image the
generator writes is byte-equal to the pool row it names, and no row serves twice."""

import csv
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synaug.data import load_dataset
from synaug.data.embedded import FASHION_CLASSES, load_fashion, load_mnist5k
from synaug.data.imageset import ImageSet
from synaug.errors import ConfigError, GenerationError
from synaug.generators import make_generator, run_generation
from synaug.engine.planning import generator_context

from helpers import plan_for, tiny_splits

TAIL = {7: 30, 8: 30, 9: 30}  # final counts of the three rarest digits (mnist-lt IF=100 keeps 11, 6 and 4)


def hashes(images: np.ndarray, labels: np.ndarray) -> Counter:
    return Counter(hashlib.sha256(img.tobytes() + bytes([int(y)])).hexdigest() for img, y in zip(images, labels))


def test_mnist_lt_pool_is_the_rest_of_the_data_disjoint_from_train_and_test():
    splits = load_dataset("mnist-lt", imbalance=100)
    images, labels = load_mnist5k()
    parts = [splits.train, splits.test, splits.unused, splits.pretrain]
    # as multisets of (pixels, label): train + test + unused + pretrain is exactly the 5000 images, once each
    assert sum((hashes(p.images, p.labels) for p in parts), Counter()) == hashes(images, labels)
    assert np.array_equal(splits.unused.class_counts(), 250 - splits.train.class_counts())


def test_fashion_lt_pool_is_the_official_training_set_minus_the_long_tail_and_the_pretrain_split():
    splits = load_dataset("fashion-lt", imbalance=10, n_max=200)
    full = load_fashion(True)
    assert hashes(splits.train.images, splits.train.labels) + hashes(splits.unused.images, splits.unused.labels) \
        + hashes(splits.pretrain.images, splits.pretrain.labels) == hashes(full.images, full.labels)
    assert np.array_equal(splits.unused.class_counts(), 5000 - splits.train.class_counts())
    assert splits.unused.class_names == FASHION_CLASSES


def generate(splits, out, strategy=TAIL, **run_options):
    items, _ = plan_for(splits.train, dataset="mnist-lt", generator="heldout", strategy=strategy,
                        unused=splits.unused)
    context = generator_context(splits.train, False, unused=splits.unused)
    gen = make_generator("heldout", context, **run_options.pop("options", {}))
    report = run_generation(items, gen, out, progress=False, **run_options)
    return items, report


def read_rows(folder):
    with open(folder / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_each_image_is_the_pool_image_it_names_and_none_serves_twice(tmp_path):
    splits = load_dataset("mnist-lt", imbalance=100)
    items, report = generate(splits, tmp_path / "h")
    rows = read_rows(tmp_path / "h")
    need = {c: 30 - int(splits.train.class_counts()[c]) for c in TAIL}
    assert report.generated == len(items) == len(rows) == sum(need.values())
    assert Counter(int(r["label"]) for r in rows) == Counter(it.label for it in items) == need
    sources = [int(r["source_index"]) for r in rows]
    assert len(set(sources)) == len(sources)
    for r, src in zip(rows, sources):
        pixels = np.asarray(Image.open(tmp_path / "h" / r["file_name"]))
        assert np.array_equal(pixels, splits.unused.images[src][:, :, 0])
        assert splits.unused.labels[src] == int(r["label"])


def test_reruns_shards_and_resume_give_the_same_images(tmp_path):
    splits = load_dataset("mnist-lt", imbalance=100)
    generate(splits, tmp_path / "a")
    generate(splits, tmp_path / "b", batch_size=7, shard=(0, 2))
    generate(splits, tmp_path / "b", batch_size=5, shard=(1, 2))
    rows = read_rows(tmp_path / "b")
    for r in rows[::9]:  # a resumed run redraws what is missing
        (tmp_path / "b" / r["file_name"]).unlink()
    _, report = generate(splits, tmp_path / "b")
    assert report.generated == len(rows[::9]) and report.already_done == len(rows) - len(rows[::9])
    assert read_rows(tmp_path / "a") == read_rows(tmp_path / "b")
    for r in rows:
        assert (tmp_path / "a" / r["file_name"]).read_bytes() == (tmp_path / "b" / r["file_name"]).read_bytes()
    _, other = generate(splits, tmp_path / "c", options={"seed": 1})  # another seed: another subset
    assert {r["source_index"] for r in read_rows(tmp_path / "c")} != {r["source_index"] for r in rows}


def small_pool_case():
    splits, _ = tiny_splits((12, 6, 2))
    pool = splits.test.subset(np.flatnonzero(splits.test.labels != 2)[:15])  # 10 of class a, 5 of b, 0 of c
    return splits.train, pool


def test_a_short_pool_is_an_error_or_a_recorded_skip_saying_which_cell_and_how_many(tmp_path):
    train, pool = small_pool_case()
    items, meta = plan_for(train, generator="heldout", use_groups=False, unused=pool, strategy={0: 12, 1: 12})
    assert meta["undrawable"] == {}
    context = generator_context(train, False, unused=pool)
    with pytest.raises(GenerationError, match=r"held-out pool of 'b' has 5 real images.*when_short: skip"):
        run_generation(items, make_generator("heldout", context), tmp_path / "x", progress=False)
    # the same folder resumes with when_short: skip (the images do not change, only what is recorded)
    report = run_generation(items, make_generator("heldout", context, when_short="skip"), tmp_path / "x",
                            progress=False)
    assert len(report.dropped) == 6 - 5 and "pool of 'b' has 5" in report.dropped[0][1]
    rows = read_rows(tmp_path / "x")
    assert Counter(r["class_name"] for r in rows) == {"b": 5}  # class a needs none (it has 12)
    with open(tmp_path / "x" / ".synaug" / "dropped.csv") as f:
        assert len(list(csv.DictReader(f))) == 1
    items, meta = plan_for(train, generator="heldout", use_groups=False, unused=pool, strategy={2: 5})
    assert "no real image" in meta["undrawable"]["c"]


def test_datasets_without_a_pool_and_bad_options_are_clear_errors():
    train, pool = small_pool_case()
    with pytest.raises(GenerationError, match="keeps none"):
        plan_for(train, generator="heldout", unused=None)
    with pytest.raises(GenerationError, match="keeps none"):
        make_generator("heldout")  # a plan of a dataset that keeps no unused pool
    with pytest.raises(ConfigError, match="when_short"):
        make_generator("heldout", {"unused": pool}, when_short="maybe")
    assert load_dataset("mnist-fair").unused is None


def test_a_run_uniformizes_with_held_out_real_images(tmp_path):
    from synaug.experiments.config import resolve_config
    from synaug.experiments.runner import run_experiment

    cfg = resolve_config({"dataset": "mnist-lt", "methods": ["uniformize"], "out": str(tmp_path / "run"),
                          "plan": {"strategy": TAIL}, "generate": {"generator": "heldout"},
                          "train": {"steps": 2, "stage2_steps": 1}})
    results = run_experiment(cfg, progress=False, log=lambda *a: None)
    real, synthetic = results["data"]["train_cells"], results["synthetic"]["True"]["cells"]
    assert [real[c] + synthetic[c] for c in real][-3:] == [30] * 3 and synthetic["0"] == 0
    unused = load_dataset("mnist-lt", imbalance=100).unused
    folder = Path(results["synthetic"]["True"]["folder"])
    for r in read_rows(folder):
        pixels = np.asarray(Image.open(folder / r["file_name"]))
        assert np.array_equal(pixels, unused.images[int(r["source_index"])][:, :, 0])
