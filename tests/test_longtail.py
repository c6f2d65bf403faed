import numpy as np
import pytest

from synaug.data import load_dataset, longtail_counts, longtail_indices
from synaug.eval.metrics import many_medium_few

from helpers import write_cifar100


def test_mnist_lt_if100_counts():
    assert longtail_counts(400, 10, 100) == [400, 239, 143, 86, 51, 30, 18, 11, 6, 4]
    splits = load_dataset("mnist-lt", imbalance=100)
    # n_max 250: of the 500 images per digit, 150 are the pretrain split and 100 the test split
    assert splits.train.class_counts().tolist() == [250, 149, 89, 53, 32, 19, 11, 6, 4, 2]
    assert len(splits.train) == 615 and splits.info["n_max"] == 250
    assert splits.test.class_counts().tolist() == [100] * 10
    assert splits.train.images.shape[1:] == (28, 28, 1) and splits.train.images.dtype == np.uint8


def test_mnist_lt_test_and_train_disjoint_and_deterministic():
    a, b = load_dataset("mnist-lt"), load_dataset("mnist-lt")
    assert np.array_equal(a.train.images, b.train.images)
    train_rows = {img.tobytes() for img in a.train.images}
    assert not any(img.tobytes() in train_rows for img in a.test.images[:200])


@pytest.mark.parametrize("imbalance,total", [(100, 10847), (50, 12608), (10, 19573)])
def test_cifar100_lt_sizes(imbalance, total):
    assert sum(longtail_counts(500, 100, imbalance)) == total


def test_cifar100_lt_from_pickles_gives_10847(tmp_path):
    """The exact CIFAR-100 python format (bytes keys), full size, through the reader and LT rule."""
    labels = np.repeat(np.arange(100), 500)
    data = np.zeros((50000, 3072), dtype=np.uint8)
    data[:, 0] = labels  # a mark to check images follow their labels
    write_cifar100(tmp_path, (data, labels.tolist()), (data[:1000], labels[:1000].tolist()),
                   [f"c{i}" for i in range(100)])
    splits = load_dataset(f"cifar100-lt:{tmp_path}", imbalance=100)
    assert len(splits.train) == 10847
    counts = splits.train.class_counts()
    assert counts[0] == 500 and counts[-1] == 5
    assert (splits.train.images[:, 0, 0, 0] == splits.train.labels).all()
    split = many_medium_few(counts)
    assert (len(split["many"]), len(split["medium"]), len(split["few"])) == (35, 35, 30)


def test_longtail_selection_follows_ldam_rule():
    """RandomState(seed); per class in index order: shuffle the class's indices, keep the first n."""
    labels = np.repeat(np.arange(4), 50)
    idx = longtail_indices(labels, imbalance=10, seed=0)
    rng = np.random.RandomState(0)
    expected = []
    for c, n in enumerate(longtail_counts(50, 4, 10)):
        cls = np.where(labels == c)[0]
        rng.shuffle(cls)
        expected.append(cls[:n])
    assert np.array_equal(idx, np.concatenate(expected))


def test_fashion_lt_default_nmax():
    splits = load_dataset("fashion-lt", imbalance=100)
    assert splits.train.class_counts().tolist() == longtail_counts(1000, 10, 100)
    assert len(splits.test) == 10000 and splits.test.class_counts().tolist() == [1000] * 10


def test_unknown_dataset_is_a_clear_error():
    from synaug.errors import DatasetError
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*mnist-lt"):
        load_dataset("nope")
