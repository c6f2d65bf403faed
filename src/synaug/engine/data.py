"""The real images of a data spec: the dataset loaded at its imbalance and subset seed, its group
attribute dropped when the spec says so, at most `per_class` training images per class (seeded)."""

from __future__ import annotations

from dataclasses import replace

from synaug.data import load_dataset
from synaug.data.imageset import DatasetSplits
from synaug.engine.specs import DataSpec
from synaug.plan import first_per_cell


def load_splits(data: DataSpec) -> DatasetSplits:
    splits = load_dataset(data.dataset, imbalance=data.imbalance, lt_seed=data.subset_seed, **dict(data.options))
    if not data.groups:
        drop = lambda ds: None if ds is None else ds.without_groups()  # noqa: E731
        splits = replace(splits, train=drop(splits.train), test=drop(splits.test), val=drop(splits.val),
                         unused=drop(splits.unused))
    if data.per_class:
        n_of = {c: min(data.per_class, int(n)) for c, n in enumerate(splits.train.class_counts())}
        splits = replace(splits, train=splits.train.subset(first_per_cell(splits.train.labels, n_of, 0)))
    return splits
