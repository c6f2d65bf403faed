"""Embedded stand-ins for the paper's group datasets (real digits and garments, synthetic groups).

They are clearly stand-ins, not UTKFace or Waterbirds: the images are real, the group attribute
is applied to them here, so its effect on a classifier is known and controllable.

- mnist-fair (UTKFace-like fairness): MNIST 5k, binary label digit 0-4 vs 5-9, sensitive
  attribute = one of 4 colour tints applied to the grayscale digit. Training cells are skewed so
  that groups are imbalanced and unevenly split across the two classes (as race x gender in
  UTKFace); validation and test are balanced over the 8 cells.
- fashion-spurious (Waterbirds-like): footwear (sandal, sneaker, ankle boot) vs bag from
  Fashion-MNIST, pasted on real scikit-image textures (grass vs brick). In training the
  background agrees with the class for 95 % of each class's images; in validation and test 50 %.
  group = 2 * y + place, as Waterbirds.
"""

from __future__ import annotations

import numpy as np

from synaug.data.datasets import register_dataset
from synaug.data.embedded import load_fashion, load_mnist5k
from synaug.data.groups import apply_tint, background_patches, composite
from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.errors import DatasetError

FAIR_CLASSES = ["digit 0-4", "digit 5-9"]
FAIR_GROUPS = ["red", "green", "blue", "yellow"]
# training images per cell [class][group]: group sizes 1100 / 800 / 180 / 200, split unevenly
FAIR_TRAIN_CELLS = [[900, 300, 120, 40], [200, 500, 60, 160]]
FAIR_VAL_PER_CELL, FAIR_TEST_PER_CELL = 25, 100

SPURIOUS_CLASSES = ["footwear", "bag"]
SPURIOUS_PLACES = ["grass", "brick"]
FOOTWEAR, BAG = (5, 7, 9), (8,)  # Fashion-MNIST labels: sandal, sneaker, ankle boot; bag
# per (class, place) cell: train 95 % agreement per class; val / test 50 %
SPURIOUS_TRAIN_CELLS = [[1900, 100], [30, 570]]
SPURIOUS_VAL_PER_CELL, SPURIOUS_TEST_PER_CELL = 100, 250


def _take_cells(rng, pools: list[np.ndarray], cells: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw cells[c][g] indices without replacement from pools[c]; returns (indices, labels, groups)
    and removes what it took from the pools."""
    idx, labels, groups = [], [], []
    for c, row in enumerate(cells):
        need = sum(row)
        if need > len(pools[c]):
            raise DatasetError(f"class {c} has {len(pools[c])} images left, {need} needed")
        take, pools[c] = pools[c][:need], pools[c][need:]
        start = 0
        for g, n in enumerate(row):
            idx.append(take[start:start + n])
            labels.append(np.full(n, c))
            groups.append(np.full(n, g))
            start += n
    return np.concatenate(idx), np.concatenate(labels), np.concatenate(groups)


def _shuffled_pools(labels_of_class: list[np.ndarray], rng) -> list[np.ndarray]:
    return [rng.permutation(ix) for ix in labels_of_class]


@register_dataset("mnist-fair")
def mnist_fair(split_seed: int = 0) -> DatasetSplits:
    images, digits = load_mnist5k()
    rng = np.random.default_rng([split_seed, 5])
    binary = (digits >= 5).astype(np.int64)
    pools = _shuffled_pools([np.where(binary == c)[0] for c in range(2)], rng)
    balanced = lambda n: [[n] * len(FAIR_GROUPS)] * 2  # noqa: E731

    def build(cells, name):
        idx, y, g = _take_cells(rng, pools, cells)
        tinted = np.stack([apply_tint(images[i], FAIR_GROUPS[k]) for i, k in zip(idx, g)])
        return ImageSet(tinted, y, FAIR_CLASSES, groups=g, group_names=FAIR_GROUPS, name=name)

    test = build(balanced(FAIR_TEST_PER_CELL), "mnist-fair")
    val = build(balanced(FAIR_VAL_PER_CELL), "mnist-fair")
    train = build(FAIR_TRAIN_CELLS, "mnist-fair")
    return DatasetSplits(train=train, val=val, test=test, info=dict(
        dataset="mnist-fair", stand_in_for="UTKFace (class = gender, group = race)", split_seed=split_seed,
        train_cells=FAIR_TRAIN_CELLS, label="digit >= 5", groups="colour tint"))


@register_dataset("fashion-spurious")
def fashion_spurious(split_seed: int = 0) -> DatasetSplits:
    rng = np.random.default_rng([split_seed, 6])

    def pools_of(ds):
        return _shuffled_pools([np.where(np.isin(ds.labels, FOOTWEAR))[0], np.where(np.isin(ds.labels, BAG))[0]], rng)

    def build(source: ImageSet, pools, cells, name):
        idx, y, place = _take_cells(rng, pools, cells)
        backgrounds = np.empty((len(idx), 28, 28), dtype=np.float32)
        for p, texture_name in enumerate(SPURIOUS_PLACES):
            m = place == p
            backgrounds[m] = background_patches(texture_name, int(m.sum()), 28, rng)
        return ImageSet(composite(source.images[idx], backgrounds), y, SPURIOUS_CLASSES, groups=place,
                        group_names=SPURIOUS_PLACES, name=name)

    fashion_train, fashion_test = load_fashion(True), load_fashion(False)
    train_pools = pools_of(fashion_train)
    train = build(fashion_train, train_pools, SPURIOUS_TRAIN_CELLS, "fashion-spurious")
    val = build(fashion_train, train_pools, [[SPURIOUS_VAL_PER_CELL] * 2] * 2, "fashion-spurious")
    test = build(fashion_test, pools_of(fashion_test), [[SPURIOUS_TEST_PER_CELL] * 2] * 2, "fashion-spurious")
    return DatasetSplits(train=train, val=val, test=test, info=dict(
        dataset="fashion-spurious", stand_in_for="Waterbirds (class = bird type, group = 2*y + place)",
        split_seed=split_seed, train_cells=SPURIOUS_TRAIN_CELLS, agreement_train=0.95, agreement_test=0.5))
