"""Synthetic sets as jobs use them: a fitted plan generated once into its own folder and read back,
or a `synaug generate` folder the user made (with the plan record `generate` leaves in it).

A planned set lives in `SHARED/<dataset>-<digest>/`: plan.csv and plan.json (the fitted plan), and
images/ (the generation folder: <class>/*.png, metadata.csv, the dataset card, and .synaug/plan.json,
so that `synaug train --synthetic .../images` applies the same plan). The digest covers everything
that decides the images, so equal plans of any command or experiment meet in one folder.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.data.readers import read_metadata_csv
from synaug.engine.data import load_splits
from synaug.engine.planning import (FittedPlan, fit_plan, format_cell_table, generator_context, kept_from_meta,
                                    plan_notes, planned_cells, saved_shape)
from synaug.engine.specs import DataSpec, GeneratorSpec, PlanSpec, as_dict
from synaug.errors import PlanError
from synaug.fileio import write_json
from synaug.generators.base import Lazy, make_generator
from synaug.generators.runner import STATE_DIR, run_generation
from synaug.plans import read_plan, write_plan
from synaug.training import distributed
from synaug.training.distributed import Dist

logger = logging.getLogger(__name__)
PLAN_RECORD = "plan.json"  # beside the images in FOLDER/.synaug/: the fitted plan's settings and cuts


@dataclass
class SyntheticSet:
    images: ImageSet         # the set's images at the training side (cells: the plan's)
    folder: Path             # the generation folder (metadata.csv)
    meta: dict               # the fitted plan's settings (plan.json); {} for a folder without a plan record
    kept: np.ndarray         # indices of the real training images the plan keeps (all, unless U-beta cuts)
    use_groups: bool = True


def plan_key(data: DataSpec, train: ImageSet, plan: PlanSpec, generator: GeneratorSpec, side: int) -> str:
    """A digest of everything that decides a plan's images: the data (spec and labels), the plan and
    the generator with its options (not its runner settings, which change no image)."""
    key = dict(data=data.to_dict(), labels=hashlib.sha256(np.ascontiguousarray(train.labels).tobytes()).hexdigest(),
               groups=None if train.groups is None else hashlib.sha256(train.groups.tobytes()).hexdigest(),
               shape=list(saved_shape(train, side)), plan=plan.to_dict(),
               generator=[generator.name, as_dict(generator.options)])
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


def planned_folder(splits: DatasetSplits, data: DataSpec, plan: PlanSpec, generator: GeneratorSpec, shared: Path,
                   side: int) -> Path:
    """SHARED/<dataset>-<plan_key>/: the folder of a plan's synthetic set (its images in images/)."""
    return Path(shared) / f"{data.name}-{plan_key(data, splits.train, plan, generator, side)}"


def planned_set(splits: DatasetSplits, data: DataSpec, plan: PlanSpec, generator: GeneratorSpec, shared: Path,
                side: int, *, dist: Dist = Dist(), progress: bool = True, log=print) -> SyntheticSet:
    """Plan, generate (once: a re-run reuses the images; each torchrun rank draws its shard) and read
    back the synthetic set of `plan` for `splits.train`, in SHARED/<dataset>-<digest>/."""
    folder = planned_folder(splits, data, plan, generator, shared, side)
    fitted = fit_plan(splits.train, plan, generator, data.dataset, splits.unused, side)
    if dist.is_main:
        write_plan(fitted.items, folder / "plan.csv", fitted.meta)
    log(f"plan over {'class x group cells' if fitted.meta['group_names'] else 'classes'} ({folder}):")
    log(format_cell_table(fitted.meta["cells"]))
    for line in plan_notes(fitted.meta):
        log(line)
    images = folder / "images"
    report = generate(fitted, splits, plan, generator, images, dist=dist, progress=progress)
    log(f"synthetic: {report.generated} generated, {report.already_done} reused, {len(report.skipped)} skipped, "
        f"{len(report.dropped)} dropped")
    return SyntheticSet(read_synthetic(images, splits.train, side, plan.use_groups), images, fitted.meta,
                        fitted.kept, plan.use_groups)


def generate(fitted: FittedPlan, splits: DatasetSplits, plan: PlanSpec, generator: GeneratorSpec, folder: Path, *,
             dist: Dist = Dist(), progress: bool = True):
    """Draw the fitted plan into `folder` (every rank its shard; metadata.csv once all are done)."""
    context = generator_context(splits.train, plan.use_groups, fitted.meta.get("aliases"), splits.unused,
                                fitted.meta["image_shape"][0], fitted.meta.get("render_words"))
    backend = make_generator(generator.name, context, **as_dict(generator.options))
    report = run_generation(fitted.items, backend, folder, batch_size=generator.batch_size, workers=generator.workers,
                            skip_undrawable=generator.skip_undrawable, progress=progress and dist.is_main,
                            shard=(dist.rank, dist.world), class_names=splits.train.class_names)
    if dist.is_main:
        write_json(folder / STATE_DIR / PLAN_RECORD, fitted.meta, sort_keys=True)
    distributed.barrier(dist)  # every shard is written (and metadata.csv with it) before anyone reads
    return report


def plan_context(meta: dict, load_splits=None) -> dict:
    """The generator context of a plan file (`synaug generate --plan`): its shape, names and aliases;
    the real images and the unused pool only if the backend declares them (`load_splits` loads the
    plan's dataset then)."""
    shape = meta.get("image_shape") or (28, 28, 1)
    context = {"image_shape": tuple(shape), "class_names": meta.get("class_names"),
               "group_names": meta.get("group_names"), "aliases": meta.get("aliases") or {},
               "render_words": meta.get("render_words") or {},
               "unspecified_groups": meta.get("unspecified_groups") or []}
    if load_splits is not None:
        grouped = meta.get("group_names") is not None

        @functools.cache
        def facts():
            splits = load_splits()
            return generator_context(splits.train, grouped, unused=splits.unused)

        context["real"] = Lazy(lambda: facts()["real"])
        context["unused"] = Lazy(lambda: facts()["unused"])
    return context


def plan_dataset_loader(meta: dict):
    """A function loading the dataset a plan file was made for (for backends that read real images),
    or None when the plan does not name one."""
    if not meta.get("dataset"):
        return None
    data = DataSpec(meta["dataset"], meta.get("imbalance") or 100, meta.get("dataset_options") or {})

    return functools.cache(lambda: load_splits(data))


def generate_plan_file(plan_path: Path, out: Path, generator: GeneratorSpec, load_splits=None, *,
                       shard: tuple[int, int] = (0, 1), progress: bool = True):
    """`synaug generate`: the images of a plan file into `out`, with the plan record beside them."""
    items, meta = read_plan(plan_path)
    backend = make_generator(generator.name, plan_context(meta, load_splits), **as_dict(generator.options))
    report = run_generation(items, backend, out, batch_size=generator.batch_size, shard=shard,
                            skip_undrawable=generator.skip_undrawable, workers=generator.workers,
                            progress=progress, class_names=meta.get("class_names"))
    if meta:
        write_json(Path(out) / STATE_DIR / PLAN_RECORD, meta, sort_keys=True)
    return report


def folder_set(folder: Path, splits: DatasetSplits, side: int, use_groups: bool = True) -> SyntheticSet:
    """A user's `synaug generate` folder, read against the real training set; the real images kept are
    those of its plan record (a U-beta plan's cut), checked against this training set."""
    record = Path(folder) / STATE_DIR / PLAN_RECORD
    meta = json.loads(record.read_text()) if record.is_file() else {}
    if meta:
        check_made_for(splits.train, meta, Path(folder))
    else:  # a user's own images, or a synaug folder copied without its hidden record: say what that means
        logger.warning("synthetic folder %s has no plan record (%s): every real training image is kept, none cut "
                       "as a U-beta plan would; if synaug generated it, copy its hidden %s/ folder with it",
                       folder, f"{STATE_DIR}/{PLAN_RECORD}", STATE_DIR)
    kept = kept_from_meta(splits.train, meta) if meta else np.arange(len(splits.train))
    return SyntheticSet(read_synthetic(Path(folder), splits.train, side, use_groups), Path(folder), meta, kept,
                        use_groups)


def check_made_for(train: ImageSet, meta: dict, folder: Path) -> None:
    """A generation folder whose plan was made for other data (other classes, or other real counts per
    cell: another dataset or imbalance) is refused: its counts would not fill this data's cells."""
    if meta.get("class_names") is not None and list(meta["class_names"]) != list(train.class_names):
        raise PlanError(f"synthetic folder {folder} was made for other data: planned for {meta.get('dataset')!r}, "
                        f"whose classes {list(meta['class_names'])[:10]} are not this training set's "
                        f"{list(train.class_names)[:10]}; plan and generate it for this data")
    planned = planned_cells(train, meta.get("group_names") is not None).cell_counts()
    real = [r.get("real") for r in meta.get("cells") or []]
    if real and real != list(planned.values()):
        raise PlanError(f"synthetic folder {folder} was made for other data: planned for {meta.get('dataset')!r} with "
                        f"real counts per cell {real}, not this training set's {list(planned.values())} (another "
                        "dataset, imbalance or subset?); plan and generate it for this data")


def read_synthetic(folder: Path, train: ImageSet, side: int, grouped: bool = True) -> ImageSet:
    """A generation folder read against the real training set's classes (and groups), at the
    training side; an empty plan (already uniform data) reads as an empty set of the right shape."""
    grouped = grouped and train.has_groups
    return read_metadata_csv(folder, class_names=train.class_names,
                             group_names=train.group_names if grouped else None, size=(side, side),
                             channels=train.image_shape[2], synthetic=True)
