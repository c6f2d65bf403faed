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

from synaug.audit.recipe import audited_synthetic, check_weighting, recipe_dirs, with_own_audit
from synaug.data import DATASETS, load_dataset
from synaug.errors import ConfigError, check_keys, unknown
from synaug.eval.metrics import imbalance_factor
from synaug.experiments.aggregate import format_table, summarize
from synaug.experiments.report import write_report
from synaug.experiments.tasks import TASKS, Task
from synaug.fileio import atomic_write_text, write_json
from synaug.generators import GENERATORS
from synaug.train import distributed
from synaug.train.config import TrainConfig
from synaug.train.methods import get_method
from synaug.train.models import MODELS, is_model_name
from synaug.workflow import decode_to_cache, synthetic_folder_name, train_and_evaluate, training_side, uniformize

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
    "options": {},            # a named experiment's own settings (levels, fractions): each checks its keys
    "audit": False,           # audit the uniform synthetic set (report section) even if no method trains on
                              # the audited subset (synaug-audit always does); `synaug demo` turns it on
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
    task = TASKS[cfg["task"]]
    cfg["dataset"] = cfg["dataset"] or task.dataset
    cfg["methods"] = list(cfg["methods"] or task.methods)
    cfg["out"] = cfg["out"] or default_out(cfg["task"], cfg["dataset"])
    train = TrainConfig.from_dict(cfg["train"])  # fail early on unknown training options
    check_weighting(train, [get_method(m) for m in cfg["methods"]])
    _check_names(cfg)
    _check_seeds_and_thresholds(cfg)
    return cfg


def _check_seeds_and_thresholds(cfg: dict) -> None:
    """Distinct non-negative integer seeds (a repeated one would count one run twice in mean ± std),
    and Few <= Many thresholds (else a class is both)."""
    seeds = cfg["seeds"]
    if (not isinstance(seeds, list) or not seeds or len(set(map(str, seeds))) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ConfigError(f"seeds: give distinct integers >= 0, e.g. [0, 1, 2]; got {seeds!r}")
    th = cfg["thresholds"]
    if not all(isinstance(th[k], int) and not isinstance(th[k], bool) and th[k] >= 0 for k in ("many", "few")) \
            or th["few"] > th["many"]:
        raise ConfigError(f"thresholds: few and many are image counts with few <= many; got {th!r}")


def default_out(task: str, dataset: str, demo: bool = False) -> str:
    """The one default output folder of an experiment: runs/[demo-]TASK-DATASET (the dataset's name,
    without its path)."""
    return f"runs/{'demo-' if demo else ''}{task}-{dataset.partition(':')[0]}"


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
    name = str(cfg["dataset"]).partition(":")[0]
    if name not in DATASETS:
        raise ConfigError(unknown("dataset", name, DATASETS) + " (path-based ones take NAME:PATH)")
    model = cfg["train"].get("model")
    if model is not None and not is_model_name(model):
        raise ConfigError(unknown("model", model, MODELS) + " (or any torchvision classifier, or timm:<name>)")
    if cfg["generate"]["generator"] not in GENERATORS:
        raise ConfigError(unknown("generator", cfg["generate"]["generator"], GENERATORS))


def run_experiment(cfg: dict, progress: bool = True, log=print) -> dict | None:
    """Every method and seed of `cfg`; under torchrun every rank trains and rank 0 alone evaluates,
    writes and returns the results (other ranks return None)."""
    d = distributed.current()
    log = log if d.is_main else (lambda *a, **k: None)
    out = Path(cfg["out"])
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    t0 = time.time()
    task = TASKS[cfg["task"]]
    splits = load_dataset(cfg["dataset"], imbalance=cfg["imbalance"])
    train = splits.train
    log(f"{cfg['dataset']}: {len(train)} train images, {'cells' if train.has_groups else 'classes'} "
        f"{list(train.cell_counts().values())}, "
        f"{len(splits.test)} test" + (f", {len(splits.val)} val" if splits.val is not None else ""))

    methods = [get_method(m) for m in cfg["methods"]]
    train_cfg = TrainConfig.from_dict(cfg["train"])
    synthetic, plans = {}, {}
    for use_groups in sorted({m.use_groups for m in methods if m.synthetic}, reverse=True):
        synthetic[use_groups], plans[use_groups] = uniformize(
            splits, cfg["dataset"], out, use_groups, training_side(splits, train_cfg), plan_options=cfg["plan"],
            generate_options=cfg["generate"], progress=progress, log=log)
    splits, synthetic = decode_to_cache(splits, synthetic, train_cfg, cfg["dataset"], out, progress and d.is_main)
    audited = audit_synthetic(cfg, methods, splits, synthetic, log)
    results = results_header(cfg, task, splits, synthetic, plans)
    results.update({"audit": {str(k): s for k, (_, s) in audited.items()}} if audited else {})
    for method in methods:
        syn = audited[method.use_groups][0] if method.synthetic_policy == "audited" else synthetic.get(method.use_groups)
        results["methods"][method.name] = run_method(cfg, task, method, splits, syn, progress, log)
    if not d.is_main:
        return None
    results["seconds"] = time.time() - t0
    table = format_table({m: r["summary"] for m, r in results["methods"].items()}, task.keys, task.labels, task.fmt)
    results["table"] = table
    write_json(out / "results.json", results)
    atomic_write_text(out / "results.txt", table + "\n")
    write_report(results, splits, synthetic, out / "report.html")
    return results


def audit_synthetic(cfg: dict, methods, splits, synthetic: dict, log) -> dict:
    """{use_groups: (audited ImageSet, summary)} for the methods that train on audited synthetic data
    (`synaug.audit.recipe`: audit -> filter -> budget of the shared uniform set; OUT/audit[-classes])."""
    out, done = Path(cfg["out"]), {}
    wanted = {m.use_groups for m in methods if m.synthetic_policy == "audited"}
    if cfg.get("audit") and distributed.current().world == 1:  # for the report: every set the methods train on
        wanted |= {m.use_groups for m in methods if m.synthetic}
    for use_groups in sorted(wanted, reverse=True):
        name = synthetic_folder_name(splits.train, use_groups)
        audit_dir, audited_dir = recipe_dirs(out, name)
        done[use_groups] = audited_synthetic(splits, out / name, synthetic[use_groups], audit_dir, audited_dir,
                                             use_groups=use_groups, dataset=cfg["dataset"])
        s = done[use_groups][1]
        log(f"audit ({audit_dir}, {s['audit_seconds']:.0f}s): {s['synthetic_used']} of {s['synthetic_uniform']} "
            f"synthetic images kept ({s['dropped_by_filter']} dropped by the filter, the rest by the budget)")
    return done


def results_header(cfg: dict, task: Task, splits, synthetic: dict, plans: dict) -> dict:
    """What results.json says about the data and the synthetic images, before any method's numbers."""
    train = splits.train
    return {"config": cfg, "task": task.name, "data": splits.info, "class_names": train.class_names,
            "imbalance_factor": imbalance_factor(train.class_counts()),  # measured: max / min class count
            "group_names": train.group_names,
            "train_cells": train.cell_space.named(train.cell_counts()),
            "synthetic_cells": {str(k): v.cell_space.named(v.cell_counts()) for k, v in synthetic.items()},
            "undrawable": {str(k): p["undrawable"] for k, p in plans.items()},
            "selection": "last training step (no test-set selection)", "methods": {}}


def run_method(cfg: dict, task: Task, method, splits, synthetic, progress: bool, log) -> dict:
    """Every seed of one method through `train_and_evaluate`, and their summary."""
    th, per_seed = cfg["thresholds"], {}
    for seed in cfg["seeds"]:
        tcfg = TrainConfig.from_dict({**cfg["train"], "seed": int(seed)})
        run_dir = Path(cfg["out"]) / "runs" / method.name / f"seed{seed}"
        if method.synthetic_policy == "audited":  # weighting by audit: its own audit unless one is named
            tcfg = with_own_audit(tcfg, recipe_dirs(Path(cfg["out"]), synthetic_folder_name(
                splits.train, method.use_groups))[0])
        metrics = train_and_evaluate(method, splits, tcfg, run_dir, synthetic=synthetic,
                                     many=th["many"], few=th["few"], progress=progress)
        if metrics is None:  # not rank 0
            continue
        metrics.pop("predictions")
        per_seed[str(seed)] = metrics
        shown = "  ".join(f"{lab} {_fmt(f, metrics.get(k))}" for k, lab, f in zip(task.keys, task.labels, task.fmt))
        log(f"  {method.name:<17} seed {seed}: {shown}  ({metrics['train_seconds']:.0f}s)")
    result = {"description": method.description, "seeds": per_seed, "summary": summarize(per_seed, task.keys),
              "per_class_mean": _mean_of(per_seed, "per_class")}
    if splits.train.has_groups:
        result["per_cell_mean"] = _mean_dict(per_seed, "per_cell")
    return result


def _fmt(f, v):
    return "-" if v is None else f.format(v)


def _mean_of(per_seed: dict, key: str) -> list:
    arr = np.array([[np.nan if a is None else a for a in r[key]] for r in per_seed.values()], dtype=float)
    return np.nanmean(arr, 0).tolist()


def _mean_dict(per_seed: dict, key: str) -> dict:
    names = list(next(iter(per_seed.values()))[key])
    return {n: float(np.mean([r[key][n] for r in per_seed.values()])) for n in names}
