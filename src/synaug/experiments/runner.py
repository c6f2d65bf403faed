"""plan -> generate -> train -> fine-tune -> evaluate for several methods and seeds, from one config.

Used by `synaug run --config FILE` and `synaug demo`. Synthetic images are generated once per
experiment (the plan's seed is part of the config) and shared by every method and training seed:
one folder for plans over cells (class, or class x group) and, for methods that must not use the
group attribute, one for plans over classes. Metrics are those of the LAST training step: no step is
selected on the test set (DFR tunes its C on the validation split, as published).
"""

from __future__ import annotations

import copy
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import yaml

from synaug.data import load_dataset
from synaug.data.imageset import ImageSet
from synaug.data.readers import read_metadata_csv
from synaug.errors import ConfigError, check_keys, unknown
from synaug.experiments.aggregate import format_table, summarize
from synaug.experiments.tasks import task_for
from synaug.generators import make_generator, run_generation
from synaug.plan import write_plan
from synaug.train.config import TrainConfig
from synaug.train.methods import get_method
from synaug.fileio import write_json
from synaug.train import distributed
from synaug.workflow import (decode_to_cache, format_cell_table, generator_options_for, not_uniform_warning,
                             plan_for, train_and_evaluate, training_side)

BASE_CONFIG = {
    "task": "longtail",
    "dataset": None,          # default: the task's embedded dataset
    "imbalance": 100,
    "methods": None,          # default: the task's methods
    "seeds": [0],
    "plan": {"strategy": "uniform", "seed": 0, "template": None, "modifiers": None, "aliases": None},
    "generate": {"generator": "render", "batch_size": 256, "workers": 1, "skip_undrawable": True, "options": {}},
    "train": {"steps": 600},
    "thresholds": {"many": 100, "few": 20},
    "out": None,
}


def resolve_config(overrides: dict | None = None, path: str | Path | None = None) -> dict:
    """BASE_CONFIG, updated by a YAML file, updated by explicit overrides (nested dicts merge);
    then the task's defaults fill what is still unset."""
    cfg = copy.deepcopy(BASE_CONFIG)
    layers = []
    if path:
        layers.append(yaml.safe_load(Path(path).read_text()) or {})
    if overrides:
        layers.append(overrides)
    for layer in layers:
        _check_config_keys(layer, path)
        for k, v in layer.items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k] = {**cfg[k], **v}
            elif v is not None:
                cfg[k] = v
    task = task_for(cfg["task"])
    cfg["dataset"] = cfg["dataset"] or task.dataset
    cfg["methods"] = list(cfg["methods"] or task.methods)
    cfg["out"] = cfg["out"] or f"runs/{cfg['task']}-{cfg['dataset'].partition(':')[0]}"
    TrainConfig.from_dict(cfg["train"])  # fail early on unknown training options
    for m in cfg["methods"]:
        get_method(m)
    _check_names(cfg)
    return cfg


def _check_config_keys(layer, path) -> None:
    """Every key of a config layer (top level and the nested blocks) must be one synaug knows."""
    where = str(path) if path else "config"
    check_keys(layer, BASE_CONFIG, where)
    for block in ("plan", "generate", "thresholds"):
        if layer.get(block) is not None:
            check_keys(layer[block], BASE_CONFIG[block], f"{where} ({block})")
    if layer.get("train") is not None:
        check_keys(layer["train"], [f.name for f in fields(TrainConfig)], f"{where} (train)")
    if isinstance(layer.get("methods"), str):  # "ce, synaug" as a list
        layer["methods"] = [m.strip() for m in layer["methods"].split(",") if m.strip()]
    if isinstance(layer.get("seeds"), int):
        layer["seeds"] = [layer["seeds"]]
    if layer.get("methods") is not None and not isinstance(layer["methods"], list):
        raise ConfigError(f"{where}: methods: expected a list of method names, got {layer['methods']!r}")


def _check_names(cfg: dict) -> None:
    """Unknown dataset, model and generator names fail here, before any work, with a suggestion."""
    from synaug.data import DATASETS
    from synaug.generators.base import GENERATORS
    from synaug.train.models import MODELS, is_model_name

    name = str(cfg["dataset"]).partition(":")[0]
    if name not in DATASETS:
        raise ConfigError(unknown("dataset", name, DATASETS) + " (path-based ones take NAME:PATH)")
    model = cfg["train"].get("model")
    if model is not None and not is_model_name(model):
        raise ConfigError(unknown("model", model, MODELS) + " (or any torchvision classifier, or timm:<name>)")
    if cfg["generate"]["generator"] not in {*GENERATORS, "diffusion"}:
        raise ConfigError(unknown("generator", cfg["generate"]["generator"], {*GENERATORS, "diffusion"}))


def run_experiment(cfg: dict, progress: bool = True, log=print) -> dict | None:
    """Every method and seed of `cfg`; under torchrun every rank trains and rank 0 alone evaluates,
    writes and returns the results (other ranks return None)."""
    d = distributed.current()
    log = log if d.is_main else (lambda *a, **k: None)
    out = Path(cfg["out"])
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    t0 = time.time()
    task = task_for(cfg["task"])
    splits = load_dataset(cfg["dataset"], imbalance=cfg["imbalance"])
    train = splits.train
    log(f"{cfg['dataset']}: {len(train)} train images, {'cells' if train.has_groups else 'classes'} "
        f"{list(train.cell_counts().values())}, "
        f"{len(splits.test)} test" + (f", {len(splits.val)} val" if splits.val is not None else ""))

    methods = [get_method(m) for m in cfg["methods"]]
    train_cfg = TrainConfig.from_dict(cfg["train"])
    synthetic, plans = {}, {}
    for use_groups in sorted({m.use_groups for m in methods if m.synthetic}, reverse=True):
        synthetic[use_groups], plans[use_groups] = _uniformize(cfg, splits, out, use_groups, progress, log,
                                                               side=training_side(splits, train_cfg))
    splits, synthetic = decode_to_cache(splits, synthetic, train_cfg, cfg["dataset"], out, progress and d.is_main)
    train = splits.train

    th = cfg["thresholds"]
    from synaug.report import imbalance_factor
    results = {"config": cfg, "task": task.name, "data": splits.info, "class_names": train.class_names,
               "imbalance_factor": imbalance_factor(train.class_counts()),  # measured: max / min class count
               "group_names": train.group_names,
               "train_cells": dict(zip(train.cell_names(), train.cell_counts().values())),
               "synthetic_cells": {str(k): _synthetic_cells(train, v) for k, v in synthetic.items()},
               "undrawable": {str(k): p["undrawable"] for k, p in plans.items()},
               "selection": "last training step (no test-set selection)", "methods": {}}
    for method in methods:
        per_seed = {}
        for seed in cfg["seeds"]:
            tcfg = TrainConfig.from_dict({**cfg["train"], "seed": int(seed)})
            run_dir = out / "runs" / method.name / f"seed{seed}"
            metrics = train_and_evaluate(method, splits, tcfg, run_dir, synthetic=synthetic.get(method.use_groups),
                                         many=th["many"], few=th["few"], progress=progress)
            if metrics is None:  # not rank 0
                continue
            metrics.pop("predictions")
            per_seed[str(seed)] = metrics
            shown = "  ".join(f"{lab} {_fmt(f, metrics.get(k))}" for k, lab, f in zip(task.keys, task.labels, task.fmt))
            log(f"  {method.name:<17} seed {seed}: {shown}  ({metrics['train_seconds']:.0f}s)")
        results["methods"][method.name] = {"description": method.description, "seeds": per_seed,
                                           "summary": summarize(per_seed, task.keys)}
        results["methods"][method.name]["per_class_mean"] = _mean_of(per_seed, "per_class")
        if train.has_groups:
            results["methods"][method.name]["per_cell_mean"] = _mean_dict(per_seed, "per_cell")
    if not d.is_main:
        return None
    results["seconds"] = time.time() - t0
    table = format_table({m: r["summary"] for m, r in results["methods"].items()}, task.keys, task.labels, task.fmt)
    results["table"] = table
    write_json(out / "results.json", results)
    (out / "results.txt").write_text(table + "\n")
    from synaug.report import write_report
    write_report(results, splits, synthetic, out / "report.html")
    return results


def _fmt(f, v):
    return "-" if v is None else f.format(v)


def _synthetic_cells(train, syn) -> dict:
    """Synthetic images per cell (per class for a class-only plan), named as the real cells."""
    if syn.has_groups:
        return dict(zip(train.cell_names(), syn.cell_counts().values()))
    return dict(zip(train.class_names, syn.class_counts().tolist()))


def _mean_of(per_seed: dict, key: str) -> list:
    arr = np.array([[np.nan if a is None else a for a in r[key]] for r in per_seed.values()], dtype=float)
    return np.nanmean(arr, 0).tolist()


def _mean_dict(per_seed: dict, key: str) -> dict:
    names = list(next(iter(per_seed.values()))[key])
    return {n: float(np.mean([r[key][n] for r in per_seed.values()])) for n in names}


def _uniformize(cfg, splits, out: Path, use_groups: bool, progress: bool, log, side: int):
    """Plan and generate the synthetic images (once; a re-run reuses them), then read them back at
    the training side. Under torchrun each rank generates its shard of the plan."""
    d = distributed.current()
    p, g = cfg["plan"], cfg["generate"]
    grouped = use_groups and splits.train.has_groups
    name = "synthetic" if grouped or not splits.train.has_groups else "synthetic-classes"
    items, meta = plan_for(splits.train, dataset=cfg["dataset"], generator=g["generator"], use_groups=use_groups, **p)
    if d.is_main:
        write_plan(items, out / f"plan-{name}.csv", meta)
    log(f"plan over {'class x group cells' if grouped else 'classes'}:")
    log(format_cell_table(meta["cells"]))
    for cell, reason in meta["undrawable"].items():
        log(f"NOTE: generator cannot draw {cell!r}: {reason}")
    if warning := not_uniform_warning(meta):
        log(warning)
    options = {**generator_options_for(splits.train, g["generator"], grouped, aliases=meta.get("aliases")),
               **(g.get("options") or {})}
    gen = make_generator(g["generator"], **options)
    report = run_generation(items, gen, out / name, batch_size=g["batch_size"], workers=g["workers"],
                            skip_undrawable=g["skip_undrawable"], progress=progress and d.is_main,
                            shard=(d.rank, d.world), class_names=splits.train.class_names)
    distributed.barrier(d)  # every shard is written (and metadata.csv with it) before anyone reads
    log(f"{name}: {report.generated} generated, {report.already_done} reused, {len(report.skipped)} skipped, "
        f"{len(report.dropped)} dropped")
    train = splits.train
    if not items:  # already uniform: nothing to add
        C = train.image_shape[2]
        return ImageSet(np.zeros((0, side, side, C), np.uint8), np.zeros(0, np.int64), list(train.class_names),
                        groups=np.zeros(0, np.int64) if grouped else None,
                        group_names=train.group_names if grouped else None, synthetic=np.ones(0, bool)), meta
    syn = read_metadata_csv(out / name, class_names=train.class_names,
                            group_names=train.group_names if grouped else None,
                            size=(side, side), channels=train.image_shape[2], synthetic=True)
    return syn, meta
