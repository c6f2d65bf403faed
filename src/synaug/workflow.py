"""High-level steps shared by the CLI, `synaug run` and the demos: plan a dataset, generate,
decode large images into the cache, train and evaluate one method."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from pathlib import Path

from synaug.data import load_dataset
from synaug.data.cache import cached_imageset
from synaug.data.imageset import CachedImages, DatasetSplits, ImageSet, LazyImages
from synaug.fileio import write_json
from synaug.train import distributed
from synaug.train.config import TrainConfig
from synaug.train.methods import Method
from synaug.train.pipeline import evaluate_model, train_method
from synaug.errors import PlanError, did_you_mean
from synaug.generators import make_generator, run_generation
from synaug.generators.runner import check_drawable
from synaug.plan import build_plan, cell_table, plan_counts, read_plan, real_cuts, write_plan
from synaug.prompts import bank_for_dataset, load_bank


def plan_for(train: ImageSet, *, strategy="uniform", seed: int = 0, template: str | None = None,
             modifiers: str | None = None, dataset: str = "", generator: str = "render",
             use_groups: bool = True, aliases: dict | None = None):
    """Plan items for `train` plus plan metadata (settings, per-cell table, undrawable cells).
    `aliases` ({class name: words}, added to the bank's) name a class in prompts and for the renderer."""
    counts = train.cell_counts() if use_groups else {c: int(n) for c, n in enumerate(train.class_counts())}
    grouped = use_groups and train.has_groups
    to_add = plan_counts(counts, strategy)
    cuts = real_cuts(counts, strategy)
    bank = load_bank(modifiers or bank_for_dataset(dataset), template)
    bank.aliases.update({str(k): str(v) for k, v in (aliases or {}).items()})
    for name in bank.aliases:
        if name not in train.class_names:
            raise PlanError(f"alias for {name!r}, which is not a class of this dataset"
                            f"{did_you_mean(name, train.class_names)} (classes: {train.class_names})")
    items = build_plan(to_add, train.class_names, bank, seed=seed,
                       group_names=train.group_names if grouped else None)

    names = dict(zip(counts, train.cell_names() if grouped else train.class_names))
    H, W, C = train.image_shape
    gen_options = generator_options_for(train, generator, grouped, aliases=bank.aliases)
    gen = make_generator(generator, **gen_options)
    undrawable = check_drawable(items, gen)
    cells = cell_table(counts, to_add, cuts, names.__getitem__)
    # cells the generator cannot draw keep their real images only: say which and how many
    below = [dict(cell=r["name"], final=r["real"] - r["cut"], target=r["final"])
             for r in cells if r["name"] in undrawable and r["add"] > 0]
    finals = [r["real"] - r["cut"] if r["name"] in undrawable else r["final"] for r in cells]
    meta = dict(dataset=dataset, strategy=str(strategy), seed=seed, template=bank.template,
                modifiers=modifiers or bank_for_dataset(dataset) or "generic",
                image_shape=[H, W, C], class_names=train.class_names,
                group_names=train.group_names if grouped else None, generator=generator,
                generator_options={k: v for k, v in gen_options.items() if k in ("unspecified_groups", "aliases")},
                cells=cells, undrawable=undrawable, images=len(items),
                uniform=len(set(finals)) == 1, below_target=below)
    if bank.aliases:
        meta["aliases"] = dict(bank.aliases)
    return items, meta


def not_uniform_warning(meta: dict) -> str | None:
    """The loud line for a plan whose cells do not all end at the same count, or None."""
    below = meta.get("below_target") or []
    if not below:
        return None
    cells = ", ".join(f"{b['cell']} ({b['final']} of {b['target']})" for b in below)
    return (f"WARNING: the plan is NOT {'uniform' if meta.get('strategy') == 'uniform' else 'as asked'}: "
            f"{len(below)} cell(s) stay below the target because generator '{meta.get('generator')}' cannot "
            f"draw them (final count of target): {cells}")


def generator_options_for(train: ImageSet, generator: str, grouped: bool, aliases: dict | None = None) -> dict:
    """Options that make a generator's output fit the dataset: size and channels for `render`,
    and, for a class-only plan of grouped data, the groups it may draw when a prompt names none;
    the class aliases for `render` (a text-to-image model reads them in the prompt)."""
    H, W, C = train.image_shape
    options = {}
    if generator == "render":
        options.update(size=(H, W), channels=C)
        if train.has_groups and not grouped:
            options["unspecified_groups"] = list(train.group_names)
        if aliases:
            options["aliases"] = dict(aliases)
    if generator == "smote":  # interpolates the real images of each cell (or class)
        options["real"] = train if grouped or not train.has_groups else train.without_groups()
    return options


def plan_dataset(dataset: str, out: Path, imbalance: float = 100, dataset_options: dict | None = None, **options):
    splits = load_dataset(dataset, imbalance=imbalance, **(dataset_options or {}))
    items, meta = plan_for(splits.train, dataset=dataset, **options)
    meta["dataset_info"] = splits.info
    write_plan(items, out, meta)
    return items, meta


def generate_from_plan(plan_path: Path, out_dir: Path, generator: str = "render", *,
                       generator_options: dict | None = None, **run_options):
    items, meta = read_plan(plan_path)
    planned = meta.get("generator_options", {}) if meta.get("generator") == generator else {}
    options = {**planned, **(generator_options or {})}
    if meta.get("image_shape"):  # save at the target dataset's size and channels
        H, W, C = meta["image_shape"]
        if generator == "render":
            options.setdefault("size", (H, W))
            options.setdefault("channels", C)
        elif generator == "diffusion":
            options.setdefault("save_size", H)
            options.setdefault("save_channels", C)
    gen = make_generator(generator, **options)
    run_options.setdefault("class_names", meta.get("class_names"))
    return run_generation(items, gen, out_dir, **run_options)


def format_cell_table(rows: list[dict]) -> str:
    name_w = max(len("cell"), *(len(r["name"]) for r in rows))
    lines = [f"{'cell':<{name_w}}  {'real':>7} {'cut':>6} {'add':>7} {'final':>7}"]
    for r in rows:
        lines.append(f"{r['name']:<{name_w}}  {r['real']:>7} {r['cut']:>6} {r['add']:>7} {r['final']:>7}")
    tot = {k: sum(r[k] for r in rows) for k in ("real", "cut", "add", "final")}
    lines.append(f"{'total':<{name_w}}  {tot['real']:>7} {tot['cut']:>6} {tot['add']:>7} {tot['final']:>7}")
    return "\n".join(lines)


def training_side(splits: DatasetSplits, cfg: TrainConfig) -> int:
    """The side, in px, images are trained at: `cfg.image_size`, else the real training images'."""
    return int(cfg.image_size or splits.train.image_shape[0])


def decode_to_cache(splits: DatasetSplits, synthetic: dict, cfg: TrainConfig, name: str, default_dir: Path,
                    progress: bool = True) -> tuple[DatasetSplits, dict]:
    """Every split (and synthetic set) read from disk as `LazyImages`, decoded once into the image
    cache at the training side; in-memory sets pass through (a small synthetic set beside a cached
    real one is viewed as a cache, so the two concatenate). `synthetic` maps any key to an ImageSet
    (or None) and comes back with the same keys."""
    if not isinstance(splits.train.images, LazyImages):
        return splits, synthetic
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else Path(default_dir) / "cache"
    size = training_side(splits, cfg)
    base = name.replace(":", "-").replace("/", "_")[-40:]
    cache = lambda ds, part: None if ds is None else _as_cached(cached_imageset(  # noqa: E731
        ds, size, cache_dir, f"{base}-{part}", cfg.cache_workers, progress))
    splits = replace(splits, train=cache(splits.train, "train"), test=cache(splits.test, "test"),
                     val=cache(splits.val, "val"))
    return splits, {k: cache(v, f"synthetic-{k}") for k, v in synthetic.items()}


def _as_cached(ds: ImageSet) -> ImageSet:
    if isinstance(ds.images, np.ndarray):
        ds.images = CachedImages.of(ds.images)
    return ds


def train_and_evaluate(method: Method, splits: DatasetSplits, cfg: TrainConfig, run_dir: Path, *,
                       synthetic: ImageSet | None = None, many: int = 100, few: int = 20,
                       resume: bool = False, progress: bool = True) -> dict | None:
    """Stage 1 + stage 2 of `method`, then test metrics written to RUN/metrics.json. Under torchrun
    every rank trains and rank 0 alone evaluates and writes (other ranks return None)."""
    t = time.time()
    trained = train_method(method, splits, cfg, Path(run_dir), synthetic=synthetic, resume=resume, progress=progress)
    if not distributed.current().is_main:
        return None
    metrics = evaluate_model(trained, splits.test, splits.train.class_counts(), many, few,
                             train_cells=splits.train.cells())
    metrics["train_seconds"] = time.time() - t
    write_json(Path(run_dir) / "metrics.json", metrics)
    return metrics
