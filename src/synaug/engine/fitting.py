"""Generators fitted on the dataset's own images (`ddpm`): the pool they learn from, and the fit a job
needs, made once in the shared folder and read by every job, command and experiment that names the
same data, pool and settings.

    generate: {generator: ddpm, fit: {pool: train, steps: 2000}}

fits (or reuses, or resumes after a crash) SHARED/<dataset>-<generator>-<digest>/ and draws the plan
with `model` set to it. The pool is the long-tailed training split itself (DiffuLT's setting), the
real images the long tail left out (`DatasetSplits.unused`), or the embedded datasets' fixed pretrain
split (`DatasetSplits.pretrain`: the offline stand-in for a model pretrained on images the task never
sees); never the test split, which the fit checks by content before it writes anything, and for the
pretrain pool never an image of any train, unused, validation or test split either. The pretrain
pool is the same for every seed, imbalance and subset, so its fit is keyed by the dataset and the pool's
content alone: one fit per dataset and settings, reused by every seed of every experiment.
`synaug fit-generator` fits the same way into a folder the user names.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from synaug.data.datasets import data_revision
from synaug.data.imageset import IN_MEMORY_MAX_SIDE, DatasetSplits, ImageSet
from synaug.engine.caching import decode_to_cache
from synaug.engine.fit_quality import SampleSettings, write_quality
from synaug.engine.specs import DataSpec, GeneratorSpec, as_dict, fit_settings
from synaug.errors import ConfigError, DatasetError
from synaug.generators.base import fitting, make_generator
from synaug.generators.ddpm_folder import image_hashes, pool_digest
from synaug.training.config import TrainConfig
from synaug.training import distributed
from synaug.training.distributed import Dist


POOL_MISSING = {
    "unused": "this dataset has no unused real images (only long tails drawn from a larger set, such as mnist-lt or "
              "fashion-lt, have them); fit on pool train",
    "pretrain": "this dataset has no pretrain split (the embedded datasets mnist-lt, fashion-lt, mnist-fair and "
                "fashion-spurious have one); fit on pool train",
}


def pool_images(splits: DatasetSplits, pool: str, use_groups: bool = True) -> ImageSet:
    """The real images a generator learns from: the training split, the unused pool or the pretrain split,
    with its groups (a cell-conditional model) unless `use_groups` is False or the data has none."""
    images = {"train": splits.train, "unused": splits.unused, "pretrain": splits.pretrain}[pool]
    if images is None or len(images) == 0:
        raise ConfigError(f"fit pool {pool!r}: {POOL_MISSING[pool]}")
    return images if use_groups and images.has_groups else images.without_groups()


def task_splits(splits: DatasetSplits) -> dict[str, ImageSet]:
    """The splits a task draws from (what a long tail keeps or leaves out, validation, test), by name."""
    named = {"training": splits.train, "unused": splits.unused, "validation": splits.val, "test": splits.test}
    return {name: ds for name, ds in named.items() if ds is not None and len(ds)}


def check_pretrain_pool(splits: DatasetSplits) -> None:
    """Refuse a pretrain split that shares an image (by content: the sha256 of its bytes) with any split the
    task draws from, so a generator fitted on it has never seen an image a long tail or a test split holds."""
    pool = splits.pretrain
    own = image_hashes(np.asarray(pool.images[np.arange(len(pool))]))
    for name, ds in task_splits(splits).items():
        if ds.image_shape != pool.image_shape:
            continue  # different shapes cannot share bytes
        shared = np.isin(own, image_hashes(np.asarray(ds.images[np.arange(len(ds))])))
        if shared.any():
            raise DatasetError(
                f"the pretrain pool shares {int(shared.sum())} image(s) with the {name} split (by content, e.g. "
                f"pretrain row {int(np.flatnonzero(shared)[0])}): a generator fitted on it would have seen images "
                "the task trains or is tested on. Fit on images no long tail, validation or test split can draw")


# Seconds per fit step at a side: the default FitSettings (the `fast` denoiser, batch 128), 3 channels,
# 8 classes, 2 torch threads, measured 2026-12-07 on 2 CPU cores, run alone and not niced (only niced
# neighbours ran: load average 5.2-6.9), by `benchmarks/ddpm_fit_step.py --sides 32 64 --steps 30`:
# three runs at 32 px (0.41, 0.31, 0.39 s: the median kept), two at 64 px (1.20, 1.37: the mean kept), and
# one of `--sides 96 128 --steps 10` (3.43, 8.14 s). Above 64 px the cost grows faster than the pixel
# count. Between measured sides the time is interpolated in the pixel count; beyond them it scales with
# the pixel count. docs/ddpm.md gives the table.
SECONDS_PER_STEP = {32: 0.39, 64: 1.29, 96: 3.43, 128: 8.14}
MAX_FIT_SIDE = IN_MEMORY_MAX_SIDE  # the fit holds its pool in memory, as uint8


def step_seconds(side: int) -> float:
    """Seconds per fit step (batch 128) at `side` px on 2 CPU cores, from SECONDS_PER_STEP."""
    measured = sorted(SECONDS_PER_STEP.items())
    (smallest, t_small), (largest, t_large) = measured[0], measured[-1]
    if side <= smallest:
        return t_small * (side / smallest) ** 2
    if side >= largest:
        return t_large * (side / largest) ** 2
    return float(np.interp(side ** 2, [s ** 2 for s, _ in measured], [t for _, t in measured]))


def fit_cost(side: int, steps: int, batch_size: int) -> str:
    """The estimated wall time of a fit on 2 CPU cores, from the measured seconds per step."""
    hours = step_seconds(side) * (batch_size / 128) * steps / 3600
    return f"about {hours:,.1f} h" if hours >= 1 else f"about {hours * 60:.0f} min"


def fit_side(splits: DatasetSplits, image_size: int | None) -> int:
    """The side, in px, of the images a fit learns from: `image_size`, else the training images' shorter
    side (the cache's default shorter-side resize keeps it and crops the longer side to a square)."""
    height, width = splits.train.image_shape[:2]
    return int(image_size or min(height, width))


def check_fit_side(side: int, settings, image_shape: tuple | None = None) -> None:
    """Refuse, before any work, a fit above `MAX_FIT_SIDE`: the reason, the sizes it takes, the cost.
    `image_shape` (H, W, ...): the images' own size, named when they are not square."""
    if side <= MAX_FIT_SIDE:
        return
    height, width = image_shape[:2] if image_shape is not None else (side, side)
    own = f" on their shorter side ({width} x {height} px)" if height != width else ""
    raise ConfigError(
        f"the ddpm generator fits at {MAX_FIT_SIDE} px at most and these images are {side} px{own}: its pool is "
        f"held in memory and its CPU denoiser was sized for small images ({settings.steps:,} steps of "
        f"{settings.batch_size} images at {side} px would take {fit_cost(side, settings.steps, settings.batch_size)} "
        f"on 2 CPU cores; at 32 px {fit_cost(32, settings.steps, settings.batch_size)}, at 64 px "
        f"{fit_cost(64, settings.steps, settings.batch_size)}). Pass --image-size 32 (any side from 8 to "
        f"{MAX_FIT_SIDE}): the images are resized as the cache does, and `generate` says when it resizes the "
        "samples to the plan's size")


def fit_pool(splits: DatasetSplits, pool: str, use_groups: bool, image_size: int | None,
             settings, progress: bool = True) -> tuple[ImageSet, ImageSet]:
    """(pool, test split) in memory at the fit's side (`fit_side`); images on disk are decoded through the
    shared cache at that side (resized as training resizes them). Refused above MAX_FIT_SIDE."""
    side = fit_side(splits, image_size)
    check_fit_side(side, settings, None if image_size else splits.train.image_shape)
    on_disk = not isinstance(splits.train.images, np.ndarray)  # in-memory images are never resized
    splits, _ = decode_to_cache(splits, {}, TrainConfig(image_size=side if on_disk else image_size),
                                progress=progress)
    in_memory = lambda ds: ds if ds is None or isinstance(ds.images, np.ndarray) else replace(  # noqa: E731
        ds, images=np.asarray(ds.images[np.arange(len(ds))]))
    splits = replace(splits, train=in_memory(splits.train), test=in_memory(splits.test),
                     unused=in_memory(splits.unused), pretrain=in_memory(splits.pretrain))
    if pool == "pretrain":
        check_pretrain_pool(splits)
    return pool_images(splits, pool, use_groups), splits.test


def fitter(name: str):
    """The function that fits backend `name` (declared by the backend as "module:function")."""
    module, function = fitting(name)[1].split(":")
    return getattr(importlib.import_module(module), function)


def fit_into(name: str, images: ImageSet, out: Path, settings, test: ImageSet | None, pool: str,
             progress: bool = True, quality: SampleSettings | None = None) -> dict:
    """Fit backend `name` on `images` into `out` (resumed if a fit with the same settings and pool
    stopped there; a finished one is reused; another fit there is refused), then check its samples
    where the backend can (`check_samples`: a fresh fit is checked again): result["sample_check"];
    with `quality` (ddpm), its quality record (`synaug.engine.fit_quality`): result["quality"]."""
    result = fitter(name)(images, Path(out), settings, test=test, pool_name=pool, progress=progress)
    check = getattr(make_generator(name, {"real": images}, model=str(out)), "check_samples", None)
    if check is not None:
        result["sample_check"] = check(again=result["steps_run"] > 0)
    if quality is not None and name == "ddpm" and test is not None:
        result["quality"] = write_quality(Path(out), images, test, quality)
    return result


def fit_key(data: DataSpec, generator: GeneratorSpec, images: ImageSet, use_groups: bool) -> str:
    """A digest of what decides a fitted model: the data, the pool's content, the settings. For the pretrain
    pool the data is only the dataset's name and revision: its imbalance, subset seed, cap and holdout
    change no image of the pool (whose content is in the digest anyway), so every seed shares one fit."""
    pool, settings = fit_settings(generator.name, as_dict(generator.fit))
    data_key = (dict(dataset=data.name, revision=data_revision(data.dataset)) if pool == "pretrain"
                else data.to_dict())
    key = dict(data=data_key, generator=generator.name, pool=pool, grouped=use_groups and images.has_groups,
               images=pool_digest(images), settings=settings.recorded())
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


def fit_folder(generator: GeneratorSpec, data: DataSpec, splits: DatasetSplits, shared: Path,
               use_groups: bool = True) -> Path:
    """SHARED/<dataset>-<generator>-<fit_key>/: where `fitted_generator` fits (or finds) the model."""
    pool, _ = fit_settings(generator.name, as_dict(generator.fit))
    images = pool_images(splits, pool, use_groups)
    return Path(shared) / f"{data.name}-{generator.name}-{fit_key(data, generator, images, use_groups)}"


def fitted_generator(generator: GeneratorSpec, data: DataSpec, splits: DatasetSplits, shared: Path,
                     use_groups: bool = True, *, dist: Dist = Dist(), progress: bool = True,
                     log=print) -> GeneratorSpec:
    """`generator` drawing from its fitted model: fitted (rank 0; the others wait) into the shared
    folder unless there already. A generator without `fit` is returned as it is."""
    if not generator.fit:
        return generator
    pool, settings = fit_settings(generator.name, as_dict(generator.fit))
    images = pool_images(splits, pool, use_groups)
    if pool == "pretrain":
        check_pretrain_pool(splits)
    out = fit_folder(generator, data, splits, shared, use_groups)
    if dist.is_main:
        log(f"{generator.name} generator: fitting on the {pool} pool ({len(images)} real images, "
            f"{settings.steps} steps) in {out}")
        result = fit_into(generator.name, images, out, settings, splits.test, pool, progress)
        loss = result["final_loss"]
        log(f"{generator.name} generator: {result['steps_run']} steps run now"
            + (f", final loss {loss:.4f}" if loss is not None else ""))
    distributed.barrier(dist)  # the model is on disk before any rank draws from it
    return generator.with_options(model=str(out))
