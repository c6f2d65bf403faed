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

Both have a fixed `pretrain` part (`DatasetSplits.pretrain`, drawn with `PRETRAIN_SEED`, the same for every
seed), balanced over the class x group cells with the same attribute applied, so a cell-conditional
generator fitted on it can draw the minority cells; the train / val / test cells of every seed are drawn
from the rest of the source (mnist-fair: MNIST 5k minus 150 images per cell; fashion-spurious: the
fashion-lt task part of the official training images, its pretrain cells from the fashion-lt pretrain part).
`fair_rows` and `spurious_rows` give the source rows of every split, so the partition can be checked.
"""

from __future__ import annotations

import numpy as np

from synaug.data.datasets import register_dataset
from synaug.data.embedded import PRETRAIN_SEED, REVISION, fashion_train_partition, load_fashion, load_mnist5k
from synaug.data.groups import apply_tint, background_patches, composite
from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.errors import DatasetError

FAIR_CLASSES = ["digit 0-4", "digit 5-9"]
FAIR_GROUPS = ["red", "green", "blue", "yellow"]
# training images per cell [class][group]: group sizes 1100 / 800 / 180 / 200, split unevenly
FAIR_TRAIN_CELLS = [[900, 300, 120, 40], [200, 500, 60, 160]]
FAIR_VAL_PER_CELL, FAIR_TEST_PER_CELL = 25, 100
FAIR_PRETRAIN_PER_CELL = 150  # 600 per class: with the 1,860 images class 0 needs, 2,460 of its 2,500

SPURIOUS_CLASSES = ["footwear", "bag"]
SPURIOUS_PLACES = ["grass", "brick"]
FOOTWEAR, BAG = (5, 7, 9), (8,)  # Fashion-MNIST labels: sandal, sneaker, ankle boot; bag
# per (class, place) cell: train 95 % agreement per class; val / test 50 %
SPURIOUS_TRAIN_CELLS = [[1900, 100], [30, 570]]
SPURIOUS_VAL_PER_CELL, SPURIOUS_TEST_PER_CELL = 100, 250
SPURIOUS_PRETRAIN_PER_CELL = 500  # the fashion-lt pretrain part has 1,000 bags: 500 per place


def _take_cells(pools: list[np.ndarray], cells: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _balanced(per_cell: int, groups: int) -> list[list[int]]:
    return [[per_cell] * groups] * 2


def fair_rows(digits: np.ndarray, split_seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{split: (MNIST 5k rows, class, group)} of mnist-fair: the fixed pretrain cells first (PRETRAIN_SEED),
    then test, val and train from what is left, shuffled by `split_seed`."""
    binary = (digits >= 5).astype(np.int64)
    pools = _shuffled_pools([np.where(binary == c)[0] for c in range(2)], np.random.default_rng([PRETRAIN_SEED, 5]))
    rows = {"pretrain": _take_cells(pools, _balanced(FAIR_PRETRAIN_PER_CELL, len(FAIR_GROUPS)))}
    pools = _shuffled_pools(pools, np.random.default_rng([split_seed, 5]))
    for name, cells in (("test", _balanced(FAIR_TEST_PER_CELL, len(FAIR_GROUPS))),
                        ("val", _balanced(FAIR_VAL_PER_CELL, len(FAIR_GROUPS))), ("train", FAIR_TRAIN_CELLS)):
        rows[name] = _take_cells(pools, cells)
    return rows


@register_dataset("mnist-fair", revision=REVISION)
def mnist_fair(split_seed: int = 0) -> DatasetSplits:
    images, digits = load_mnist5k()

    def build(idx, y, g):
        tinted = np.stack([apply_tint(images[i], FAIR_GROUPS[k]) for i, k in zip(idx, g)])
        return ImageSet(tinted, y, FAIR_CLASSES, groups=g, group_names=FAIR_GROUPS, name="mnist-fair")

    sets = {name: build(*rows) for name, rows in fair_rows(digits, split_seed).items()}
    return DatasetSplits(train=sets["train"], val=sets["val"], test=sets["test"], pretrain=sets["pretrain"], info=dict(
        dataset="mnist-fair", stand_in_for="UTKFace (class = gender, group = race)", split_seed=split_seed,
        train_cells=FAIR_TRAIN_CELLS, label="digit >= 5", groups="colour tint",
        pretrain_per_cell=FAIR_PRETRAIN_PER_CELL, revision=REVISION))


def _spurious_pools(labels: np.ndarray, rng) -> list[np.ndarray]:
    return _shuffled_pools([np.where(np.isin(labels, FOOTWEAR))[0], np.where(np.isin(labels, BAG))[0]], rng)


def spurious_rows(task_labels: np.ndarray, pretrain_labels: np.ndarray, test_labels: np.ndarray,
                  split_seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{split: (rows of its source, class, place)} of fashion-spurious: pretrain cells from the fashion-lt
    pretrain part (fixed), train and val from the task part and test from the official test set (by `split_seed`)."""
    rng = np.random.default_rng([split_seed, 6])
    rows = {"pretrain": _take_cells(_spurious_pools(pretrain_labels, np.random.default_rng([PRETRAIN_SEED, 6])),
                                    _balanced(SPURIOUS_PRETRAIN_PER_CELL, len(SPURIOUS_PLACES)))}
    train_pools = _spurious_pools(task_labels, rng)
    rows["train"] = _take_cells(train_pools, SPURIOUS_TRAIN_CELLS)
    rows["val"] = _take_cells(train_pools, _balanced(SPURIOUS_VAL_PER_CELL, len(SPURIOUS_PLACES)))
    rows["test"] = _take_cells(_spurious_pools(test_labels, rng),
                               _balanced(SPURIOUS_TEST_PER_CELL, len(SPURIOUS_PLACES)))
    return rows


def _composited(source: ImageSet, idx, y, place, rng) -> ImageSet:
    backgrounds = np.empty((len(idx), 28, 28), dtype=np.float32)
    for p, texture_name in enumerate(SPURIOUS_PLACES):
        m = place == p
        backgrounds[m] = background_patches(texture_name, int(m.sum()), 28, rng)
    return ImageSet(composite(source.images[idx], backgrounds), y, SPURIOUS_CLASSES, groups=place,
                    group_names=SPURIOUS_PLACES, name="fashion-spurious")


@register_dataset("fashion-spurious", revision=REVISION)
def fashion_spurious(split_seed: int = 0) -> DatasetSplits:
    task, pretrain_source = fashion_train_partition()
    test_source = load_fashion(False)
    rows = spurious_rows(task.labels, pretrain_source.labels, test_source.labels, split_seed)
    sources = {"pretrain": pretrain_source, "train": task, "val": task, "test": test_source}
    backgrounds = {"pretrain": np.random.default_rng([PRETRAIN_SEED, 6, 1])}
    split_rng = np.random.default_rng([split_seed, 6, 1])
    sets = {name: _composited(sources[name], *rows[name], backgrounds.get(name, split_rng))
            for name in ("pretrain", "train", "val", "test")}
    return DatasetSplits(train=sets["train"], val=sets["val"], test=sets["test"], pretrain=sets["pretrain"], info=dict(
        dataset="fashion-spurious", stand_in_for="Waterbirds (class = bird type, group = 2*y + place)",
        split_seed=split_seed, train_cells=SPURIOUS_TRAIN_CELLS, agreement_train=0.95, agreement_test=0.5,
        pretrain_per_cell=SPURIOUS_PRETRAIN_PER_CELL, revision=REVISION))
