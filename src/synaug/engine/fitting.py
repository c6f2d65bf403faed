"""Generators fitted on the dataset's own images (`ddpm`): the pool they learn from, and the fit a job
needs, made once in the shared folder and read by every job, command and experiment that names the
same data, pool and settings.

    generate: {generator: ddpm, fit: {pool: train, steps: 2000}}

fits (or reuses, or resumes after a crash) SHARED/<dataset>-<generator>-<digest>/ and draws the plan
with `model` set to it. The pool is the long-tailed training split itself (DiffuLT's setting) or the
real images the long tail left out (`DatasetSplits.unused`: a stand-in for a model that has seen the
classes elsewhere); never the test split, which the fit checks by content before it writes anything.
`synaug fit-generator` fits the same way into a folder the user names.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.engine.specs import DataSpec, GeneratorSpec, as_dict, fit_settings
from synaug.errors import ConfigError
from synaug.generators.base import fitting
from synaug.generators.ddpm_folder import pool_digest
from synaug.train import distributed
from synaug.train.distributed import Dist


def pool_images(splits: DatasetSplits, pool: str, use_groups: bool = True) -> ImageSet:
    """The real images a generator learns from: the training split or the unused pool, with its groups
    (a cell-conditional model) unless `use_groups` is False or the data has none."""
    images = splits.train if pool == "train" else splits.unused
    if images is None or len(images) == 0:
        raise ConfigError(f"fit pool {pool!r}: this dataset has no unused real images (only long tails drawn from "
                          "a larger set, such as mnist-lt or fashion-lt, have them); fit on pool train")
    return images if use_groups and images.has_groups else images.without_groups()


def fitter(name: str):
    """The function that fits backend `name` (declared by the backend as "module:function")."""
    module, function = fitting(name)[1].split(":")
    return getattr(importlib.import_module(module), function)


def fit_into(name: str, images: ImageSet, out: Path, settings, test: ImageSet | None, pool: str,
             progress: bool = True) -> dict:
    """Fit backend `name` on `images` into `out` (resumed if a fit with the same settings and pool
    stopped there; a finished one is reused; another fit there is refused)."""
    return fitter(name)(images, Path(out), settings, test=test, pool_name=pool, progress=progress)


def fit_key(data: DataSpec, generator: GeneratorSpec, images: ImageSet, use_groups: bool) -> str:
    """A digest of what decides a fitted model: the data, the pool's content, the settings."""
    pool, settings = fit_settings(generator.name, as_dict(generator.fit))
    key = dict(data=data.to_dict(), generator=generator.name, pool=pool, grouped=use_groups and images.has_groups,
               images=pool_digest(images), settings=settings.recorded())
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


def fitted_generator(generator: GeneratorSpec, data: DataSpec, splits: DatasetSplits, shared: Path,
                     use_groups: bool = True, *, dist: Dist = Dist(), progress: bool = True,
                     log=print) -> GeneratorSpec:
    """`generator` drawing from its fitted model: fitted (rank 0; the others wait) into the shared
    folder unless there already. A generator without `fit` is returned as it is."""
    if not generator.fit:
        return generator
    pool, settings = fit_settings(generator.name, as_dict(generator.fit))
    images = pool_images(splits, pool, use_groups)
    out = Path(shared) / f"{data.name}-{generator.name}-{fit_key(data, generator, images, use_groups)}"
    if dist.is_main:
        log(f"{generator.name} generator: fitting on the {pool} pool ({len(images)} real images, "
            f"{settings.steps} steps) in {out}")
        result = fit_into(generator.name, images, out, settings, splits.test, pool, progress)
        loss = result["final_loss"]
        log(f"{generator.name} generator: {result['steps_run']} steps run now"
            + (f", final loss {loss:.4f}" if loss is not None else ""))
    distributed.barrier(dist)  # the model is on disk before any rank draws from it
    return generator.with_options(model=str(out))
