"""The real images of a data spec: the dataset loaded at its imbalance and subset seed, its group
attribute dropped when the spec says so, at most `per_class` training images per class (seeded), and
with `holdout` a validation split as the evaluation split (the test split is then not used)."""

from __future__ import annotations

from dataclasses import replace

from synaug.data import load_dataset
from synaug.data.imageset import DatasetSplits
from synaug.data.splits import carve_validation
from synaug.engine.specs import DataSpec
from synaug.plans import first_per_cell


def load_splits(data: DataSpec) -> DatasetSplits:
    splits = load_dataset(data.dataset, imbalance=data.imbalance, lt_seed=data.subset_seed, **dict(data.options))
    if not data.groups:
        drop = lambda ds: None if ds is None else ds.without_groups()  # noqa: E731
        splits = replace(splits, train=drop(splits.train), test=drop(splits.test), val=drop(splits.val),
                         unused=drop(splits.unused), pretrain=drop(splits.pretrain))
    if data.per_class:
        n_of = {c: min(data.per_class, int(n)) for c, n in enumerate(splits.train.class_counts())}
        splits = replace(splits, train=splits.train.subset(first_per_cell(splits.train.labels, n_of, 0)))
    return with_holdout(splits, data) if data.holdout else splits


def with_holdout(splits: DatasetSplits, data: DataSpec) -> DatasetSplits:
    """The splits evaluated on validation data: the dataset's own validation split, else `holdout` of
    every training cell carved off (seeded by the subset seed). The test split is dropped, so nothing
    chosen on these splits ever sees it."""
    if splits.val is not None:
        return replace(splits, test=splits.val, val=None)
    train_idx, val_idx = carve_validation(splits.train.cells(), data.holdout, data.subset_seed)
    return replace(splits, train=splits.train.subset(train_idx), test=splits.train.subset(val_idx))
