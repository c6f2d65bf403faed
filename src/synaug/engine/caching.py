"""Large images are decoded once into the memory-mapped cache (`synaug.data.cache`) at the training
side before a job trains; small ones stay in memory. A small set beside a cached one is viewed as a
cache too, so the two concatenate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from synaug.data.cache import cached_imageset
from synaug.data.imageset import CachedImages, DatasetSplits, LazyImages
from synaug.train.config import TrainConfig


def training_side(splits: DatasetSplits, cfg: TrainConfig) -> int:
    """The side, in px, images are trained at: `cfg.image_size`, else the real training images'."""
    return int(cfg.image_size or splits.train.image_shape[0])


def decode_to_cache(splits: DatasetSplits, synthetic: dict, cfg: TrainConfig, name: str, cache_dir: Path,
                    progress: bool = True) -> tuple[DatasetSplits, dict]:
    """Every split (and synthetic set) read from disk as `LazyImages`, decoded once into the image
    cache at the training side (in `cfg.cache_dir`, else `cache_dir`); in-memory sets pass through. `synthetic` maps any key to an ImageSet
    (or None) and comes back with the same keys."""
    on_disk = isinstance(splits.train.images, (LazyImages, CachedImages))
    if not on_disk:
        return splits, synthetic
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else Path(cache_dir)  # the run's own choice wins
    size = training_side(splits, cfg)
    base = name.replace(":", "-").replace("/", "_")[-40:]

    def cache(ds, part):
        if ds is None:
            return None
        ds = cached_imageset(ds, size, cache_dir, f"{base}-{part}", cfg.cache_workers, progress)
        return replace(ds, images=CachedImages.of(ds.images)) if isinstance(ds.images, np.ndarray) else ds

    splits = replace(splits, train=cache(splits.train, "train"), test=cache(splits.test, "test"),
                     val=cache(splits.val, "val"))
    return splits, {k: cache(v, f"synthetic-{k}") for k, v in synthetic.items()}
