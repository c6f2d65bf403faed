"""`synaug run --config FILE` and `synaug demo`: an experiment whose rows are the config's methods
(`tables.spec.run_spec`), collected by the experiments' collector (`catalog.finish`: one results.json
schema, one report writer, one text table), with a run's own sections: the data, the synthetic sets
(counts real vs synthetic, the real | synthetic grids), their audit, and the training setup.

Synthetic images are generated once per plan and shared by every method and seed that uses the
plan (OUT/synthetic/<dataset>-<digest>/: one folder for plans over cells, one for methods that must
not use the group attribute), and audited before any training. Metrics are those of the LAST training
step: no step is selected on the test set (DFR tunes its C on the validation split, as published).
Jobs go through the run store (`synaug.engine.sweep`, the experiments' path): a job any command already
trained is reused and every run is re-scored from its record; OUT/runs/METHOD/seedS links to its store
folder.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import yaml

from synaug.audit.verdict import format_verdicts
from synaug.engine.caching import decode_to_cache, training_side
from synaug.engine.launchers import LaunchSettings, check_launcher
from synaug.engine.store import RunStore
from synaug.engine.workspace import Workspace
from synaug.eval.metrics import imbalance_factor
from synaug.experiments.catalog import Experiment, ExperimentContext, ExperimentResult, Results, finish, run_jobs
from synaug.experiments.config import RunConfig
from synaug.experiments.folders import store_dir
from synaug.experiments.report import save_grid_png
from synaug.experiments.tables.spec import TableSpec, collect_table, row_jobs, run_spec
from synaug.fileio import atomic_write_text
from synaug.methods import get_method
from synaug.runtime import Dist
from synaug.validate import check_results_folder


def workspace(cfg: RunConfig, progress: bool, log, dist: Dist) -> Workspace:
    """A run's workspace: synthetic sets in OUT/synthetic, caches in the shared cache folder."""
    return Workspace(shared=cfg.out / "synthetic", progress=progress, log=log, dist=dist)


def run_experiment(cfg: RunConfig, progress: bool = True, log=print, dist: Dist = Dist(), store: Path | None = None,
                   launch: LaunchSettings = LaunchSettings()) -> dict | None:
    """Every job of `cfg`, after the synthetic sets are made and (`audit: true`) audited; under
    torchrun every rank trains and rank 0 alone writes and returns the results (other ranks None).
    Runs live in the run store (`store`, default: `catalog.store_dir` of OUT)."""
    check_results_folder(cfg.out, "the output folder")
    check_launcher(launch)
    ws = workspace(cfg, progress, log, dist)
    ctx = ExperimentContext(cfg, ws, ws.quiet if dist.is_main else (lambda *a, **k: None),
                            RunStore(store_dir(cfg.out, store)), launch)
    t0 = time.time()
    splits = ws.splits(cfg.data)
    spec = run_spec(cfg)
    jobs = row_jobs(replace(ctx, dry=True), spec)
    ws.check(jobs, ctx.store.is_stored)  # every job it will train (device, model, data): before any folder
    recorded = recorded_config(cfg, splits)
    if dist.is_main:
        (cfg.out / "runs").mkdir(parents=True, exist_ok=True)  # first: marks the folder as synaug's
        atomic_write_text(cfg.out / "config.yaml", config_yaml(recorded))
    train = splits.train
    ws.quiet(f"{cfg.data.dataset}: {len(train)} train images, {'cells' if train.has_groups else 'classes'} "
             f"{list(train.cell_counts().values())}, {len(splits.test)} test"
             + (f", {len(splits.val)} val" if splits.val is not None else ""))
    synthetic = synthetic_sets(cfg, ws, splits)  # planned and drawn before any training
    # the audit and the report see the images at the training side: the caches the jobs train from
    shown, images = decode_to_cache(splits, {k: s.images for k, s in synthetic.items()}, cfg.train, ws.cache_dir,
                                    progress=progress)
    audits = audit_sets(cfg, ws, shown, synthetic, images) if dist.world == 1 else {}
    for _, summary in audits.values():
        ws.quiet(format_verdicts(summary["cells"]))
    sections = {"audit": {k: s for k, (_, s) in audits.items()}} if audits else {}
    experiment = Experiment("run", spec.title, "", cfg.data.dataset, jobs=lambda c: row_jobs(c, spec),
                            collect=lambda c, r: collect_run(c, spec, r, shown, synthetic, images, sections),
                            task=cfg.task)
    jobs = experiment.jobs(ctx)
    results = run_jobs(ctx, jobs)
    if not dist.is_main:
        return None
    return finish(experiment, ctx, jobs, results, t0, config=recorded)


def collect_run(ctx: ExperimentContext, spec: TableSpec, results: Results, splits, synthetic: dict, images: dict,
                sections: dict) -> ExperimentResult:
    """The experiments' table collector over the run's rows, with the run's own sections: the data,
    each synthetic set (its counts, folder, undrawable cells and real | synthetic grid PNG, saved
    beside the report), the training setup and the audits."""
    result = collect_table(ctx, spec, results)
    train, out = splits.train, ctx.config.out
    sets = {}
    for key, syn in synthetic.items():
        by_cell = train.has_groups and key == "True"
        grid = f"grid-{'cells' if by_cell else 'classes'}.png"
        undrawable = syn.meta.get("undrawable", {})
        save_grid_png(train if by_cell else train.without_groups(), images[key], out / grid, undrawable=undrawable)
        sets[key] = {"by_cell": by_cell, "images": len(images[key]), "folder": str(syn.folder),
                     "cells": syn.images.cell_space.named(syn.images.cell_counts()), "undrawable": undrawable,
                     "grid": grid}
    result.sections = {"data": data_facts(splits), "synthetic": sets,
                       "setup": training_setup(ctx.config, splits, synthetic), **sections}
    return result


def data_facts(splits) -> dict:
    """What a run's report states about its data: the dataset's facts, names and counts per class and cell."""
    train = splits.train
    return {**splits.info, "class_names": list(train.class_names), "group_names": train.group_names,
            "class_counts": train.class_counts().tolist(), "train_cells": train.cell_space.named(train.cell_counts()),
            "cells": "cells" if train.has_groups else "classes", "train_images": len(train),
            "test_images": len(splits.test), "imbalance_factor": imbalance_factor(train.class_counts())}


def recorded_config(cfg: RunConfig, splits) -> dict:
    """The resolved config as config.yaml and results.json record it: `imbalance` is null for data
    whose long tail synaug did not build (a folder's own counts), with the measured factor beside it."""
    raw = dict(cfg.raw)
    if "imbalance" not in splits.info:
        raw["imbalance"] = None
        raw["measured_imbalance"] = imbalance_factor(splits.train.class_counts())
    return raw


def config_yaml(recorded: dict) -> str:
    """config.yaml: loadable again as a run config (the measured factor is a comment, not a key)."""
    raw = {k: v for k, v in recorded.items() if k != "measured_imbalance"}
    if "measured_imbalance" not in recorded:
        return yaml.safe_dump(raw, sort_keys=False)
    factor = recorded["measured_imbalance"]
    return (f"# imbalance: null -- this dataset keeps its own class counts (measured imbalance factor, largest / "
            f"smallest class: {'n/a' if factor is None else f'{factor:.1f}'}); synaug did not build its long tail\n"
            + yaml.safe_dump(raw, sort_keys=False))


def synthetic_sets(cfg: RunConfig, ws: Workspace, splits) -> dict:
    """{"True"/"False" (over cells / classes): the synthetic set} of the methods that use one."""
    side = training_side(splits, cfg.train)
    out = {}
    for m in cfg.methods:
        if get_method(m).synthetic:
            job = cfg.job(m, cfg.seeds[0])
            out.setdefault(str(get_method(m).use_groups), ws.synthetic(job, splits, side))
    return out


def audit_sets(cfg: RunConfig, ws: Workspace, splits, synthetic: dict, images: dict) -> dict:
    """The audit of every synthetic set a method trains on (`audit: true`, the default: a fidelity check
    before training, with a verdict per cell), and of the sets synaug-audit needs (its jobs then reuse
    it: one audit per set). `splits` and `images` are the cached views, at the training side."""
    wanted = {str(get_method(m).use_groups) for m in cfg.methods if get_method(m).synthetic_policy == "audited"}
    if cfg.audit:
        wanted |= set(synthetic)
    return {k: ws.audited(replace(synthetic[k], images=images[k]),
                          replace(splits, train=splits.train.subset(synthetic[k].kept)), cfg.data.dataset)
            for k in sorted(wanted, reverse=True)}


def training_setup(cfg: RunConfig, splits, synthetic: dict) -> dict:
    """What the report states about how the rows were trained (every key: each run's config.yaml)."""
    t, side = cfg.train, training_side(splits, cfg.train)
    generators = {k: s.meta.get("generator") or cfg.generator.name for k, s in synthetic.items()}
    return {"model": t.model, "pretrained": t.pretrained, "image_size": side, "crop_size": t.crop_size or side,
            "resize": t.resize if side > 64 or t.image_size else "none (held in memory)", "augment": t.augment,
            "flip": t.flips, "steps": t.steps, "batch_size": t.batch_size, "lr": t.lr, "warmup": t.warmup,
            "warmup_steps": t.warmup_steps, "schedule": t.schedule, "stage2_steps": t.stage2_steps,
            "stage2_lr": t.stage2_lr, "generator": sorted(set(generators.values())) or None,
            "synthetic_folders": {k: str(s.folder) for k, s in synthetic.items()}}
