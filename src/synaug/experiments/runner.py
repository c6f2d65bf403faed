"""plan -> generate -> train -> fine-tune -> evaluate for several methods and seeds, from one config.

Used by `synaug run --config FILE` and `synaug demo`. Synthetic images are generated once per
experiment (the plan's seed is part of the config) and shared by every method and training seed.
Metrics are those of the LAST training step: no epoch or step is selected on the test set.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import yaml

from synaug.data import load_dataset
from synaug.data.readers import read_metadata_csv
from synaug.experiments.aggregate import format_table, summarize
from synaug.generators import make_generator, run_generation
from synaug.plan import write_plan
from synaug.train.config import TrainConfig
from synaug.train.methods import get_method
from synaug.train.pipeline import _write_json, evaluate_model, train_method
from synaug.workflow import format_cell_table, plan_for

LT_KEYS = ["accuracy", "many", "medium", "few", "balanced_accuracy", "gmean"]
LT_LABELS = ["All", "Many", "Medium", "Few", "Balanced", "G-mean"]

DEFAULT_CONFIG = {
    "task": "longtail",
    "dataset": "mnist-lt",
    "imbalance": 100,
    "methods": ["ce", "ce-rs", "synaug"],
    "seeds": [0],
    "plan": {"strategy": "uniform", "seed": 0, "template": None, "modifiers": None},
    "generate": {"generator": "render", "batch_size": 256, "workers": 1, "skip_undrawable": True},
    "train": {"steps": 600},
    "thresholds": {"many": 100, "few": 20},
    "out": "runs/demo",
}


def resolve_config(overrides: dict | None = None, path: str | Path | None = None) -> dict:
    """DEFAULT_CONFIG, updated by a YAML file, updated by explicit overrides (nested dicts merge)."""
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    layers = []
    if path:
        layers.append(yaml.safe_load(Path(path).read_text()) or {})
    if overrides:
        layers.append(overrides)
    for layer in layers:
        for k, v in layer.items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k] = {**cfg[k], **v}
            elif v is not None:
                cfg[k] = v
    TrainConfig.from_dict(cfg["train"])  # fail early on unknown training options
    for m in cfg["methods"]:
        get_method(m)
    return cfg


def run_experiment(cfg: dict, progress: bool = True, log=print) -> dict:
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    t0 = time.time()
    splits = load_dataset(cfg["dataset"], imbalance=cfg["imbalance"])
    train = splits.train
    log(f"{cfg['dataset']}: {len(train)} train images {train.class_counts().tolist()}, {len(splits.test)} test")

    methods = [get_method(m) for m in cfg["methods"]]
    synthetic, plan_meta, skipped = None, None, []
    if any(m.synthetic for m in methods):
        synthetic, plan_meta, skipped = _uniformize(cfg, splits, out, progress, log)

    thresholds = cfg["thresholds"]
    counts = train.class_counts()
    results = {"config": cfg, "data": splits.info, "class_names": train.class_names,
               "train_counts": counts.tolist(),
               "synthetic_counts": (np.bincount(synthetic.labels, minlength=train.num_classes).tolist()
                                    if synthetic is not None else None),
               "undrawable": plan_meta["undrawable"] if plan_meta else {},
               "skipped_images": len(skipped), "selection": "last training step (no test-set selection)",
               "methods": {}}
    for method in methods:
        per_seed = {}
        for seed in cfg["seeds"]:
            tcfg = TrainConfig.from_dict({**cfg["train"], "seed": int(seed)})
            run_dir = out / "runs" / method.name / f"seed{seed}"
            t = time.time()
            trained = train_method(method, splits, tcfg, run_dir, synthetic=synthetic, progress=progress)
            metrics = evaluate_model(trained, splits.test, counts, thresholds["many"], thresholds["few"])
            metrics["train_seconds"] = time.time() - t
            _write_json(run_dir / "metrics.json", metrics)
            metrics.pop("predictions")
            per_seed[str(seed)] = metrics
            log(f"  {method.name:<16} seed {seed}: All {metrics['accuracy']:.2f}  Many {metrics['many']:.2f}  "
                f"Medium {metrics['medium']:.2f}  Few {metrics['few']:.2f}  ({metrics['train_seconds']:.0f}s)")
        results["methods"][method.name] = {
            "description": method.description, "seeds": per_seed,
            "summary": summarize(per_seed, LT_KEYS)}
        results["methods"][method.name]["per_class_mean"] = np.nanmean(
            np.array([[np.nan if a is None else a for a in r["per_class"]] for r in per_seed.values()]), 0).tolist()
    results["seconds"] = time.time() - t0
    _write_json(out / "results.json", results)
    table = format_table({m: r["summary"] for m, r in results["methods"].items()}, LT_KEYS, LT_LABELS)
    results["table"] = table
    (out / "results.txt").write_text(table + "\n")
    from synaug.report import write_longtail_report
    write_longtail_report(results, splits, synthetic, out / "report.html")
    return results


def _uniformize(cfg, splits, out: Path, progress: bool, log):
    p, g = cfg["plan"], cfg["generate"]
    items, meta = plan_for(splits.train, dataset=cfg["dataset"], generator=g["generator"], **p)
    write_plan(items, out / "plan.csv", meta)
    log(format_cell_table(meta["cells"]))
    for cell, reason in meta["undrawable"].items():
        log(f"NOTE: generator cannot draw {cell!r}: {reason}")
    H, W, C = splits.train.image_shape
    gen = make_generator(g["generator"], **({"size": (H, W), "channels": C} if g["generator"] == "render" else {}))
    report = run_generation(items, gen, out / "synthetic", batch_size=g["batch_size"], workers=g["workers"],
                            skip_undrawable=g["skip_undrawable"], progress=progress)
    log(f"synthetic: {report.generated} generated, {report.already_done} reused, {len(report.skipped)} skipped")
    synthetic = read_metadata_csv(out / "synthetic", class_names=splits.train.class_names,
                                  size=(H, W), channels=C, synthetic=True)
    return synthetic, meta, report.skipped
