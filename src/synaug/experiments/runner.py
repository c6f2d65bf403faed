"""`synaug run --config FILE` and `synaug demo`: a task's jobs (every method x seed of the config)
and their collector (one table of the task's metrics over seeds, results.json, report.html).

Synthetic images are generated once per plan and shared by every method and seed that uses the
plan (OUT/synthetic/<dataset>-<digest>/: one folder for plans over cells, one for methods that must
not use the group attribute). Metrics are those of the LAST training step: no step is selected on the
test set (DFR tunes its C on the validation split, as published). Jobs go through the run store
(`synaug.engine.sweep`, the experiments' path): a job any command already trained is reused and every
run is re-scored from its record; OUT/runs/METHOD/seedS links to its store folder.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from synaug.audit.verdict import format_verdicts
from synaug.engine.caching import decode_to_cache, training_side
from synaug.engine.job import Job
from synaug.engine.launchers import LaunchSettings, check_launcher
from synaug.engine.store import RunStore
from synaug.engine.sweep import run_sweep
from synaug.engine.workspace import Workspace
from synaug.eval.chance import chance_note, near_chance
from synaug.eval.metrics import imbalance_factor, split_summary, split_text
from synaug.eval.specs import metric
from synaug.experiments.config import RunConfig
from synaug.experiments.folders import store_dir
from synaug.experiments.report import write_report
from synaug.experiments.table import Table, table_text
from synaug.experiments.tasks import TASKS
from synaug.experiments.uncertainty import row_runs, row_stats
from synaug.fileio import atomic_write_text, write_json
from synaug.train.distributed import Dist
from synaug.train.methods import get_method
from synaug.validate import check_results_folder


def workspace(cfg: RunConfig, progress: bool, log, dist: Dist) -> Workspace:
    """A run's workspace: synthetic sets in OUT/synthetic, caches in the shared cache folder."""
    return Workspace(shared=cfg.out / "synthetic", progress=progress, log=log, dist=dist)


def jobs_of(cfg: RunConfig) -> list[Job]:
    """Every method x seed of the config, methods in order."""
    return [cfg.job(m, s) for m in cfg.methods for s in cfg.seeds]


def run_experiment(cfg: RunConfig, progress: bool = True, log=print, dist: Dist = Dist(), store: Path | None = None,
                   launch: LaunchSettings = LaunchSettings()) -> dict | None:
    """Every job of `cfg`, after the synthetic sets are made and (`audit: true`) audited; under
    torchrun every rank trains and rank 0 alone writes and returns the results (other ranks None).
    Runs live in the run store (`store`, default: `catalog.store_dir` of OUT)."""
    check_results_folder(cfg.out, "the output folder")
    check_launcher(launch)
    ws = workspace(cfg, progress, log, dist)
    t0 = time.time()
    splits = ws.splits(cfg.data)
    runs = RunStore(store_dir(cfg.out, store))
    ws.check(jobs_of(cfg), runs.is_stored)  # every job it will train (device, model, data): before any folder
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
    done = train_jobs(cfg, ws, runs, launch)
    if not dist.is_main:
        return None
    results = collect(cfg, ws, splits, synthetic, done)
    results.update(config=recorded, **({"audit": {k: s for k, (_, s) in audits.items()}} if audits else {}))
    results["seconds"] = time.time() - t0
    write_json(cfg.out / "results.json", results)
    atomic_write_text(cfg.out / "results.txt", results["table"] + "\n")
    write_report(results, shown, images, cfg.out / "report.html")
    return results


def train_jobs(cfg: RunConfig, ws: Workspace, store: RunStore, launch: LaunchSettings) -> dict[Job, dict]:
    """Every job of `cfg` through the run store (trained, or found there), one line each: the task's
    metrics, flagged at chance."""
    task, jobs = TASKS[cfg.task], jobs_of(cfg)
    sweep = run_sweep(jobs, store, ws, launch, log=ws.quiet)
    for exc in sweep.failed.values():
        raise exc
    if ws.dist.is_main:
        store.reference(cfg.out, jobs)
        store.link(cfg.out / "runs", jobs)
    for job, m in sweep.metrics.items():
        shown = "  ".join(f"{metric(k).label} {metric(k).format(m.get(k))}" for k in task.metrics)
        flag = "  AT CHANCE" if m.get("at_chance") else ""
        ws.quiet(f"  {job.method:<17} seed {job.seed}: {shown}  ({m['train_seconds']:.0f}s){flag}")
    return sweep.metrics


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
        runs = {str(j.seed): {k: v for k, v in m.items() if k not in ("predictions", "rescored")} for j, m in jobs}
        methods[name] = {"description": get_method(name).description, "seeds": runs,
                         "summary": {k: v.to_dict() for k, v in table.rows[name].items()},
                         "per_class_mean": mean_of(runs, "per_class")}
        if train.has_groups:
            methods[name]["per_cell_mean"] = mean_dict(runs, "per_cell")
    tables = [table.to_dict()]
    many, few = cfg.thresholds.effective(train.class_counts())
    chance, flagged = chance_flags(methods)
    return {"config": cfg.raw, "task": cfg.task, "data": splits.info, "class_names": train.class_names,
            "thresholds": split_summary(train.class_counts(), train.class_names, many, few),
            "imbalance_factor": imbalance_factor(train.class_counts()),  # measured: max / min class count
            "group_names": train.group_names, "train_cells": train.cell_space.named(train.cell_counts()),
            "synthetic_cells": {k: s.images.cell_space.named(s.images.cell_counts()) for k, s in synthetic.items()},
            "synthetic_folders": {k: str(s.folder) for k, s in synthetic.items()},
            "undrawable": {k: s.meta.get("undrawable", {}) for k, s in synthetic.items()},
            "selection": "last training step (no test-set selection)", "tables": tables, "methods": methods,
            "chance": chance, "at_chance": flagged, "setup": training_setup(cfg, splits, synthetic),
            "table": "\n".join([table_text(tables[0])]
                               + ([split_text(split_summary(train.class_counts(), train.class_names, many, few))]
                                  if task.shot_groups else [])
                               + [chance_note(f"row {m}", methods[m]["accuracy_mean"], chance) for m in flagged])}


def chance_flags(methods: dict) -> tuple[dict | None, list[str]]:
    """(the test set's chance level, the rows at or near it): a row is flagged when its mean accuracy
    over seeds is near chance (`synaug.eval.chance`); each method records its mean and the seeds at
    chance."""
    chance = next((m["chance"] for r in methods.values() for m in r["seeds"].values() if m.get("chance")), None)
    flagged = []
    for name, row in methods.items():
        accs = [m["accuracy"] for m in row["seeds"].values() if m.get("accuracy") is not None]
        row["accuracy_mean"] = float(np.mean(accs)) if accs else None
        row["seeds_at_chance"] = [int(s) for s, m in row["seeds"].items() if m.get("at_chance")]
        row["at_chance"] = bool(chance) and near_chance(row["accuracy_mean"], chance)
        if row["at_chance"]:
            flagged.append(name)
    return chance, flagged


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




def mean_of(per_seed: dict, key: str) -> list:
    arr = np.array([[np.nan if a is None else a for a in r[key]] for r in per_seed.values()], dtype=float)
    return np.nanmean(arr, 0).tolist()


def mean_dict(per_seed: dict, key: str) -> dict:
    names = list(next(iter(per_seed.values()))[key])
    return {n: float(np.mean([r[key][n] for r in per_seed.values()])) for n in names}
