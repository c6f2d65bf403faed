"""The SMOTE generator against an independent check: every image lies on a segment between a real
image of its cell and one of that image's k nearest neighbours in the cell."""

import numpy as np
from sklearn.neighbors import NearestNeighbors

from synaug.data.imageset import ImageSet
from synaug.generators.smote import SmoteGenerator
from synaug.plans import PlanItem


def item(label, index, seed):
    return PlanItem(f"{label}/{index}.png", str(label), label, str(label), None, "", index, "", "", seed)


def real_set():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 6, 6, 1), dtype=np.uint8)
    return ImageSet(images, np.repeat([0, 1], [30, 10]), ["a", "b"])


def test_each_smote_image_interpolates_a_real_image_and_a_same_class_neighbour():
    real = real_set()
    gen = SmoteGenerator(real=real, k_neighbors=3)
    minority = real.images[real.labels == 1].reshape(10, -1).astype(float)
    nn = NearestNeighbors(n_neighbors=4).fit(minority)
    _, neigh = nn.kneighbors(minority)  # column 0 is the image itself
    for seed in range(12):
        new = np.asarray(gen.generate([item(1, seed, seed)])[0].image, dtype=float).reshape(-1)
        found = False
        for i in range(10):
            for j in neigh[i, 1:]:
                d = minority[j] - minority[i]
                lam = float(d @ (new - minority[i]) / (d @ d))
                if 0 <= lam <= 1 and np.abs(minority[i] + lam * d - new).max() <= 1.0:  # rounding to uint8
                    found = True
        assert found, seed


def test_an_image_depends_on_its_seed_only():
    gen = SmoteGenerator(real=real_set())
    a = [np.asarray(g.image) for g in gen.generate([item(1, 0, 7), item(1, 1, 8)])]
    b = [np.asarray(g.image) for g in gen.generate([item(1, 1, 8)])]
    assert np.array_equal(a[1], b[0]) and not np.array_equal(a[0], a[1])
    assert gen.cannot_draw(item(1, 0, 0)) is None
    one = ImageSet(real_set().images[:31], np.repeat([0, 1], [30, 1]), ["a", "b"])
    assert "at least 2" in SmoteGenerator(real=one).cannot_draw(item(1, 0, 0))


def test_a_run_uniformizes_with_smote_images(tmp_path):
    from synaug.experiments.config import resolve_config
    from synaug.experiments.runner import run_experiment

    cfg = resolve_config({"dataset": "mnist-lt", "methods": ["uniformize"], "out": str(tmp_path / "run"),
                          "plan": {"strategy": {7: 30, 8: 30, 9: 30}}, "generate": {"generator": "smote"},
                          "train": {"steps": 2, "stage2_steps": 1}})
    results = run_experiment(cfg, progress=False, log=lambda *a: None)
    real, synthetic = results["data"]["train_cells"], results["synthetic"]["True"]["cells"]
    assert [real[c] + synthetic[c] for c in real][-3:] == [30] * 3 and synthetic["0"] == 0
