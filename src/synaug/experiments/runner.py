"""`synaug run --config FILE` and `synaug demo`: a task's jobs (every method x seed of the config)
and their collector (one table of the task's metrics over seeds, results.json, report.html).

Synthetic images are generated once per plan and shared by every method and seed that uses the
plan (OUT/synthetic/<dataset>-<digest>/: one folder for plans over cells, one for methods that must
not use the group attribute). Metrics are those of the LAST training step: no step is selected on the
test set (DFR tunes its C on the validation split, as published). A re-run reuses finished runs.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import yaml

from synaug.engine.caching import decode_to_cache, training_side
from synaug.engine.execute import run_job
from synaug.engine.job import Job
from synaug.engine.workspace import Workspace
from synaug.eval.metrics import imbalance_factor, split_summary, split_text
from synaug.eval.specs import metric
from synaug.experiments.config import RunConfig
from synaug.experiments.report import write_report
from synaug.experiments.table import Table, table_text
from synaug.experiments.tasks import TASKS
from synaug.experiments.uncertainty import row_runs, row_stats
from synaug.fileio import atomic_write_text, write_json
from synaug.train.distributed import Dist
from synaug.train.methods import get_method


def workspace(cfg: RunConfig, progress: bool, log, dist: Dist) -> Workspace:
    """A run's workspace: synthetic sets in OUT/synthetic, caches in OUT/cache."""
    return Workspace(shared=cfg.out / "synthetic", cache_dir=cfg.out / "cache", progress=progress, log=log, dist=dist)


def jobs_of(cfg: RunConfig) -> list[Job]:
    """Every method x seed of the config, methods in order."""
    return [cfg.job(m, s) for m in cfg.methods for s in cfg.seeds]


def run_experiment(cfg: RunConfig, progress: bool = True, log=print, dist: Dist = Dist()) -> dict | None:
    """Every job of `cfg`; under torchrun every rank trains and rank 0 alone writes and returns the
    results (other ranks return None)."""
    ws = workspace(cfg, progress, log, dist)
    if dist.is_main:
        cfg.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cfg.out / "config.yaml", yaml.safe_dump(cfg.raw, sort_keys=False))
    t0 = time.time()
    splits = ws.splits(cfg.data)
    train = splits.train
    ws.quiet(f"{cfg.data.dataset}: {len(train)} train images, {'cells' if train.has_groups else 'classes'} "
             f"{list(train.cell_counts().values())}, {len(splits.test)} test"
             + (f", {len(splits.val)} val" if splits.val is not None else ""))
    task = TASKS[cfg.task]
    done = {}
    for job in jobs_of(cfg):
        done[job] = run_job(job, cfg.run_dir(job), ws)
        shown = "  ".join(f"{metric(k).label} {metric(k).format(done[job].get(k))}" for k in task.metrics)
        ws.quiet(f"  {job.method:<17} seed {job.seed}: {shown}  ({done[job]['train_seconds']:.0f}s)")
    synthetic = synthetic_sets(cfg, ws, splits)
    audits = audit_sets(cfg, ws, splits, synthetic) if dist.world == 1 else {}
    if not dist.is_main:
        return None
    results = collect(cfg, ws, splits, synthetic, done)
    results.update({"audit": {k: s for k, (_, s) in audits.items()}} if audits else {})
    results["seconds"] = time.time() - t0
    write_json(cfg.out / "results.json", results)
    atomic_write_text(cfg.out / "results.txt", results["table"] + "\n")
    # the report shows images at the training side: the caches the jobs built (in memory for small images)
    shown, images = decode_to_cache(splits, {k: s.images for k, s in synthetic.items()}, cfg.train, cfg.data.dataset,
                                    ws.cache_folder, progress=False)
    write_report(results, shown, images, cfg.out / "report.html")
    return results


def synthetic_sets(cfg: RunConfig, ws: Workspace, splits) -> dict:
    """{"True"/"False" (over cells / classes): the synthetic set} of the methods that use one."""
    side = training_side(splits, cfg.train)
    out = {}
    for m in cfg.methods:
        if get_method(m).synthetic:
            job = cfg.job(m, cfg.seeds[0])
            out.setdefault(str(get_method(m).use_groups), ws.synthetic(job, splits, side))
    return out


def audit_sets(cfg: RunConfig, ws: Workspace, splits, synthetic: dict) -> dict:
    """The audit of every synthetic set a method trains on, for the report (`audit: true`), and the
    sets audited for synaug-audit (done by its jobs already: the same audit, made once)."""
    wanted = {str(get_method(m).use_groups) for m in cfg.methods if get_method(m).synthetic_policy == "audited"}
    if cfg.audit:
        wanted |= set(synthetic)
    return {k: ws.audited(synthetic[k], replace(splits, train=splits.train.subset(synthetic[k].kept)), cfg.data.dataset)
            for k in sorted(wanted, reverse=True)}


def collect(cfg: RunConfig, ws: Workspace, splits, synthetic: dict, done: dict[Job, dict]) -> dict:
    """results.json of a run: the data, the synthetic sets, one table of the task's metrics (Stats over
    seeds with their test-sampling intervals) and, per method, its per-seed metrics (without the
    per-image predictions, which stay in each run's metrics.json) and mean per-class / per-cell accuracy."""
    task, train = TASKS[cfg.task], splits.train
    table = Table(f"{cfg.task}: {cfg.data.dataset}", list(task.metrics))
    methods = {}
    for name in cfg.methods:
        jobs = [(j, m) for j, m in done.items() if j.method == name]
        table.rows[name] = row_stats(row_runs(ws, jobs), task.metrics, cfg.bootstrap)
        runs = {str(j.seed): {k: v for k, v in m.items() if k != "predictions"} for j, m in jobs}
        methods[name] = {"description": get_method(name).description, "seeds": runs,
                         "summary": {k: v.to_dict() for k, v in table.rows[name].items()},
                         "per_class_mean": mean_of(runs, "per_class")}
        if train.has_groups:
            methods[name]["per_cell_mean"] = mean_dict(runs, "per_cell")
    tables = [table.to_dict()]
    many, few = cfg.thresholds.effective(train.class_counts())
    return {"config": cfg.raw, "task": cfg.task, "data": splits.info, "class_names": train.class_names,
            "thresholds": split_summary(train.class_counts(), train.class_names, many, few),
            "imbalance_factor": imbalance_factor(train.class_counts()),  # measured: max / min class count
            "group_names": train.group_names, "train_cells": train.cell_space.named(train.cell_counts()),
            "synthetic_cells": {k: s.images.cell_space.named(s.images.cell_counts()) for k, s in synthetic.items()},
            "synthetic_folders": {k: str(s.folder) for k, s in synthetic.items()},
            "undrawable": {k: s.meta.get("undrawable", {}) for k, s in synthetic.items()},
            "selection": "last training step (no test-set selection)", "tables": tables, "methods": methods,
            "table": table_text(tables[0]) + ("\n" + split_text(split_summary(train.class_counts(), train.class_names,
                                                                            many, few)) if cfg.task == "longtail" else "")}


def mean_of(per_seed: dict, key: str) -> list:
    arr = np.array([[np.nan if a is None else a for a in r[key]] for r in per_seed.values()], dtype=float)
    return np.nanmean(arr, 0).tolist()


def mean_dict(per_seed: dict, key: str) -> dict:
    names = list(next(iter(per_seed.values()))[key])
    return {n: float(np.mean([r[key][n] for r in per_seed.values()])) for n in names}
