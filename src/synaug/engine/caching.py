"""Large images are decoded once into the memory-mapped cache (`synaug.data.cache`) at the training
side before a job trains; small ones stay in memory. A small set beside a cached one is viewed as a
cache too, so the two concatenate.

The cache folder is the run's `cache_dir`, else the command's, else the one default every command
shares (`synaug.data.cache.default_cache_dir`); inside it a cache is found by what decides its
pixels (sources, side, channels, resize mode), never by the command or the dataset's spelling."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from synaug.data.cache import cached_imageset, default_cache_dir
from synaug.data.imageset import IN_MEMORY_MAX_SIDE, CachedImages, DatasetSplits, LazyImages
from synaug.errors import ConfigError
from synaug.training.config import TrainConfig


def training_side(splits: DatasetSplits, cfg: TrainConfig) -> int:
    """The side, in px, images are trained at: `cfg.image_size`, else the real training images'."""
    return int(cfg.image_size or splits.train.image_shape[0])


def cache_dir_for(cfg: TrainConfig, cache_dir: Path | None = None) -> Path:
    """The run's own choice (`cfg.cache_dir`), else the command's, else the shared default."""
    return Path(cfg.cache_dir or cache_dir or default_cache_dir())


def decode_to_cache(splits: DatasetSplits, synthetic: dict, cfg: TrainConfig, cache_dir: Path | None = None,
                    progress: bool = True) -> tuple[DatasetSplits, dict]:
    """Every split (and synthetic set) read from disk as `LazyImages`, decoded once into the image
    cache at the training side with `cfg.resize` (in `cache_dir_for(cfg, cache_dir)`); in-memory sets
    pass through. `synthetic` maps any key to an ImageSet (or None) and comes back with the same keys."""
    on_disk = isinstance(splits.train.images, (LazyImages, CachedImages))
    if not on_disk:
        check_in_memory_side(splits, cfg)
        return splits, synthetic
    folder, size = cache_dir_for(cfg, cache_dir), training_side(splits, cfg)

    def cache(ds):
        if ds is None:
            return None
        ds = cached_imageset(ds, size, folder, None, cfg.cache_workers, progress, cfg.resize)
        return replace(ds, images=CachedImages.of(ds.images)) if isinstance(ds.images, np.ndarray) else ds

    splits = replace(splits, train=cache(splits.train), test=cache(splits.test), val=cache(splits.val))
    return splits, {k: cache(v) for k, v in synthetic.items()}


def check_in_memory_side(splits: DatasetSplits, cfg: TrainConfig) -> None:
    """Images held in memory (<= 64 px) are trained at the size the reader gave them: an image_size
    that differs would be recorded in the run but not applied, so it is refused."""
    side = splits.train.image_shape[0]
    if cfg.image_size and cfg.image_size != side:
        name = splits.info.get("spec") or splits.info.get("dataset") or "this dataset"
        raise ConfigError(f"image_size {cfg.image_size}: {name} is held in memory at {side} px (images of at most "
                          f"{IN_MEMORY_MAX_SIDE} px are not decoded into the cache, so not resized); leave "
                          f"image_size out or set it to {side}")
