"""The one orchestration path: dataset -> plan -> generate -> cache -> train -> evaluate -> write.
`synaug plan/generate/train/evaluate`, `synaug run`, `synaug demo` and the experiments all call
these functions (the CLI only parses and prints); `synaug.api` exposes them as the Python API."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from pathlib import Path

from synaug.audit.recipe import audited_synthetic, with_own_audit
from synaug.data import load_dataset
from synaug.data.cache import cached_imageset
from synaug.data.imageset import CachedImages, DatasetSplits, ImageSet, LazyImages
from synaug.data.readers import read_metadata_csv
from synaug.errors import ConfigError, PlanError, SynaugError, did_you_mean
from synaug.eval.evaluate import evaluate_model
from synaug.fileio import write_json
from synaug.generators import make_generator, run_generation
from synaug.generators.runner import GenerationReport, check_drawable
from synaug.plan import build_plan, cell_table, plan_counts, read_plan, real_cuts, write_plan
from synaug.prompts import bank_for_dataset, load_bank
from synaug.train import distributed
from synaug.train.config import TrainConfig
from synaug.train.methods import Method, get_method
from synaug.train.pipeline import load_trained, train_method
from synaug.train.rundir import dataset_of_run, prepare_run_dir
from synaug.validate import check_train_config, load_yaml


def plan_for(train: ImageSet, *, strategy="uniform", seed: int = 0, template: str | None = None,
             modifiers: str | None = None, dataset: str = "", generator: str = "render",
             use_groups: bool = True, aliases: dict | None = None, unused: ImageSet | None = None):
    """Plan items for `train` plus plan metadata (settings, per-cell table, undrawable cells).
    `aliases` ({class name: words}, added to the bank's) name a class in prompts and for the renderer;
    `unused` (the dataset's left-out real images) is what the `heldout` generator draws from."""
    grouped = use_groups and train.has_groups
    planned = train if grouped else train.without_groups()  # the cells planned over
    counts, space = planned.cell_counts(), planned.cell_space
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

    H, W, C = train.image_shape
    gen_options = generator_options_for(train, generator, grouped, aliases=bank.aliases, unused=unused)
    gen = make_generator(generator, **gen_options)
    undrawable = check_drawable(items, gen)
    cells = cell_table(counts, to_add, cuts, space.name)
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


def plan_notes(meta: dict) -> list[str]:
    """What a plan leaves out, one line each: cells the generator cannot draw, and the loud warning
    when the plan is not uniform because of them (printed the same by `plan`, `run` and `demo`)."""
    notes = [f"WARNING: generator '{meta.get('generator')}' cannot draw {cell!r}: {reason}"
             for cell, reason in meta["undrawable"].items()]
    warning = not_uniform_warning(meta)
    return notes + ([warning] if warning else [])


def not_uniform_warning(meta: dict) -> str | None:
    """The loud line for a plan whose cells do not all end at the same count, or None."""
    below = meta.get("below_target") or []
    if not below:
        return None
    cells = ", ".join(f"{b['cell']} ({b['final']} of {b['target']})" for b in below)
    return (f"WARNING: the plan is NOT {'uniform' if meta.get('strategy') == 'uniform' else 'as asked'}: "
            f"{len(below)} cell(s) stay below the target because generator '{meta.get('generator')}' cannot "
            f"draw them (final count of target): {cells}")


def generator_options_for(train: ImageSet, generator: str, grouped: bool, aliases: dict | None = None,
                          unused: ImageSet | None = None) -> dict:
    """Options that make a generator's output fit the dataset: size and channels for `render`,
    and, for a class-only plan of grouped data, the groups it may draw when a prompt names none;
    the class aliases for `render` (a text-to-image model reads them in the prompt); the real
    images for `smote` (the training set) and `heldout` (`unused`: those the training set left out)."""
    H, W, C = train.image_shape
    options = {}
    if generator == "heldout":
        if unused is None:
            raise ConfigError(f"generator 'heldout' draws real images the training set does not use, and dataset "
                              f"{train.name!r} keeps none (mnist-lt and fashion-lt do; a user folder or csv "
                              "has only its own splits)")
        options["pool"] = unused if grouped or not unused.has_groups else unused.without_groups()
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
    """`synaug plan`: plan.csv + plan.json for `dataset`'s training split; returns (items, meta)."""
    splits = load_dataset(dataset, imbalance=imbalance, **(dataset_options or {}))
    items, meta = plan_for(splits.train, dataset=dataset, unused=splits.unused, **options)
    meta["dataset_info"] = splits.info
    write_plan(items, out, meta)
    return items, meta


def generate_from_plan(plan_path: Path, out_dir: Path, generator: str = "render", *,
                       generator_options: dict | None = None, **run_options) -> GenerationReport:
    """`synaug generate`: the images of a plan, saved at the planned dataset's size and channels."""
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
    return replace(ds, images=CachedImages.of(ds.images)) if isinstance(ds.images, np.ndarray) else ds


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


def read_synthetic(folder: Path, train: ImageSet, side: int, grouped: bool = True) -> ImageSet:
    """A `synaug generate` folder read against the real training set's classes (and groups), at the
    training side."""
    return read_metadata_csv(folder, class_names=train.class_names,
                             group_names=train.group_names if grouped else None, size=(side, side),
                             channels=train.image_shape[2], synthetic=True)


def empty_synthetic(train: ImageSet, side: int, grouped: bool) -> ImageSet:
    """No synthetic image (an already uniform plan), shaped to concatenate with `train`."""
    return ImageSet(np.zeros((0, side, side, train.image_shape[2]), np.uint8), np.zeros(0, np.int64),
                    list(train.class_names), groups=np.zeros(0, np.int64) if grouped else None,
                    group_names=train.group_names if grouped else None, synthetic=np.ones(0, bool))


def synthetic_folder_name(train: ImageSet, use_groups: bool) -> str:
    """The folder, in an experiment's output, of the uniform synthetic set over cells or over classes."""
    return "synthetic" if use_groups or not train.has_groups else "synthetic-classes"


def uniformize(splits: DatasetSplits, dataset: str, out: Path, use_groups: bool, side: int, *,
               plan_options: dict, generate_options: dict, progress: bool = True, log=print):
    """Plan (plan-NAME.csv) and generate (out/NAME, once: a re-run reuses the images) the synthetic
    images that make `splits.train` uniform over its cells (classes if not `use_groups`), then read
    them back at the training side. Under torchrun each rank generates its shard of the plan.
    Returns (synthetic ImageSet, plan meta)."""
    d = distributed.current()
    g = generate_options
    grouped = use_groups and splits.train.has_groups
    name = synthetic_folder_name(splits.train, use_groups)
    items, meta = plan_for(splits.train, dataset=dataset, generator=g["generator"], use_groups=use_groups,
                           unused=splits.unused, **plan_options)
    if d.is_main:
        write_plan(items, out / f"plan-{name}.csv", meta)
    log(f"plan over {'class x group cells' if grouped else 'classes'}:")
    log(format_cell_table(meta["cells"]))
    for line in plan_notes(meta):
        log(line)
    options = {**generator_options_for(splits.train, g["generator"], grouped, aliases=meta.get("aliases"),
                                       unused=splits.unused),
               **(g.get("options") or {})}
    report = run_generation(items, make_generator(g["generator"], **options), out / name,
                            batch_size=g["batch_size"], workers=g["workers"], skip_undrawable=g["skip_undrawable"],
                            progress=progress and d.is_main, shard=(d.rank, d.world),
                            class_names=splits.train.class_names)
    distributed.barrier(d)  # every shard is written (and metadata.csv with it) before anyone reads
    log(f"{name}: {report.generated} generated, {report.already_done} reused, {len(report.skipped)} skipped, "
        f"{len(report.dropped)} dropped")
    if not items:  # already uniform: nothing to add
        return empty_synthetic(splits.train, side, grouped), meta
    return read_synthetic(out / name, splits.train, side, grouped), meta


def train_config(options: dict | None = None, **overrides) -> TrainConfig:
    """A checked TrainConfig from a `train:` block (or flat options) and explicit overrides."""
    try:
        cfg = TrainConfig.from_dict({**(options or {}), **overrides})
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    check_train_config(cfg)
    return cfg


def train_run(dataset: str, method: str, out: Path, cfg: TrainConfig, *, synthetic: Path | None = None,
              imbalance: float = 100, many: int = 100, few: int = 20, resume: bool = False,
              overwrite: bool = False, progress: bool = True) -> dict | None:
    """`synaug train`: one method on `dataset` (+ a `synaug generate` folder) into the run folder
    `out`; returns the test metrics (None on ranks > 0 under torchrun)."""
    m = get_method(method)
    splits = load_dataset(dataset, imbalance=imbalance)
    syn = None
    if synthetic:
        syn = read_synthetic(Path(synthetic), splits.train, training_side(splits, cfg))
    elif m.synthetic:
        raise SynaugError(f"method {m.name!r} trains on synthetic images: pass --synthetic DIR "
                          "(made by `synaug plan` + `synaug generate`)")
    d = distributed.current()
    if d.is_main:
        prepare_run_dir(Path(out), resume=resume, overwrite=overwrite)
    distributed.barrier(d)
    splits, sets = decode_to_cache(splits, {"train": syn}, cfg, dataset, Path(out), progress)
    if m.synthetic_policy == "audited":  # audit -> filter -> budget into OUT/audit, OUT/synthetic-audited
        sets["train"], _ = audited_synthetic(splits, Path(synthetic), sets["train"], Path(out) / "audit",
                                             Path(out) / "synthetic-audited", dataset=dataset, progress=progress)
        cfg = with_own_audit(cfg, Path(out) / "audit")
    return train_and_evaluate(m, splits, cfg, Path(out), synthetic=sets["train"], many=many, few=few,
                              resume=resume, progress=progress)


def evaluate_run(run: Path, dataset: str | None = None, imbalance: float | None = None, *, many: int = 100,
                 few: int = 20, device: str = "auto") -> dict:
    """`synaug evaluate`: a run folder's final checkpoint on its dataset's test split; the metrics are
    written to RUN/metrics.json and returned."""
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise SynaugError(f"{run} is not a run directory (no config.yaml); train one with `synaug train`")
    run_config = load_yaml(run / "config.yaml", "run config")
    if not isinstance(run_config.get("train"), dict):
        raise SynaugError(f"{run / 'config.yaml'} has no 'train' block: not written by `synaug train`")
    cfg = TrainConfig.from_dict(run_config["train"])
    dataset, imbalance = dataset_of_run(run, dataset, imbalance)
    splits, _ = decode_to_cache(load_dataset(dataset, imbalance=imbalance), {}, cfg, dataset, run)
    trained = load_trained(run, splits.train.num_classes, splits.train.image_shape[2], training_side(splits, cfg),
                           device=device)
    metrics = evaluate_model(trained, splits.test, splits.train.class_counts(), many, few,
                             train_cells=splits.train.cells())
    write_json(run / "metrics.json", metrics)
    return metrics
