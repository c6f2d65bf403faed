"""The embedded group datasets (mnist-fair, fashion-spurious): synaug.data.embedded_groups."""

import numpy as np
import pytest

from synaug.data import load_dataset


def test_mnist_fair_cells_skewed_train_balanced_test():
    s = load_dataset("mnist-fair")
    assert s.train.cell_counts() == {(0, 0): 900, (0, 1): 300, (0, 2): 120, (0, 3): 40,
                                     (1, 0): 200, (1, 1): 500, (1, 2): 60, (1, 3): 160}
    assert set(s.test.cell_counts().values()) == {100} and set(s.val.cell_counts().values()) == {25}
    img, g = s.train.images, s.train.groups
    mean_rgb = [img[g == k].reshape(-1, 3).astype(float).mean(0) for k in range(4)]
    assert np.argmax(mean_rgb[0]) == 0 and np.argmax(mean_rgb[1]) == 1 and np.argmax(mean_rgb[2]) == 2  # r, g, b


def test_fashion_spurious_agreement_95_train_50_test():
    s = load_dataset("fashion-spurious")
    agree = lambda ds: np.mean(ds.labels == ds.groups)  # noqa: E731  (footwear-grass, bag-brick)
    assert agree(s.train) == pytest.approx(0.95, abs=0.001)
    for c in (0, 1):
        m = s.train.labels == c
        assert np.mean(s.train.groups[m] == c) == pytest.approx(0.95)
    assert agree(s.test) == 0.5 and agree(s.val) == 0.5
    assert s.test.image_shape == (28, 28, 1)
