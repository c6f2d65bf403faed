"""The Python API: one function per `synaug` subcommand, taking the same options (keyword names are
the CLI's flags with '_'), returning what the command prints. The CLI only parses, calls these and
formats; every one of them goes through the engine (`synaug.engine`).

    import synaug
    synaug.plan("mnist-lt", "plan.csv")                       # -> (items, plan meta)
    synaug.generate("plan.csv", "synthetic/")                 # -> GenerationReport
    metrics = synaug.train("mnist-lt", "synaug", "runs/r0", synthetic="synthetic/", steps=600)
    metrics = synaug.evaluate("runs/r0")
    record = synaug.export("runs/r0")                          # the model for plain torchvision
    results = synaug.run({"task": "longtail", "seeds": [0, 1, 2]})   # several methods and seeds
    results = synaug.experiment("table2", seeds=[0, 1, 2])   # a table of the paper (synaug experiment)
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import MISSING, fields
from pathlib import Path

from synaug.engine.specs import DataSpec, GeneratorSpec, PlanSpec, Thresholds
from synaug.training.config import TrainConfig


def _dist():
    from synaug.runtime import dist_of
    from synaug.training import distributed
    return distributed.join_process_group(dist_of())  # joins the process group under torchrun; alone otherwise


def plan(dataset: str, out: str | Path = "plan.csv", *, imbalance: float = 100, strategy="uniform", seed: int = 0,
         template: str | None = None, modifiers: str | None = None, generator: str = "render",
         generator_options: dict | None = None, use_groups: bool = True, aliases: dict | None = None,
         dataset_options: dict | None = None, image_size: int | None = None, render_words: dict | None = None):
    """`synaug plan`: plan.csv (+ plan.json) for `dataset`'s training split; returns (plan items, plan meta).
    `image_size`: the side generated images are saved at (default: the dataset reader's); `aliases` change
    what prompts (and the renderer) call a class, `render_words` only what the offline renderer looks up."""
    from synaug.engine.planning import fit_plan
    from synaug.engine.specs import check_int
    from synaug.engine.workspace import Workspace
    from synaug.plans import recorded_imbalance, write_plan
    from synaug.validate import MAX_SIDE, check_out_file, check_plan_out
    data = DataSpec(dataset, imbalance, dataset_options)
    check_int("image_size", image_size, 1, MAX_SIDE, optional=True)
    check_plan_out(check_out_file(out), data, plan_inputs(strategy, modifiers))
    splits = Workspace(shared=Path(out).parent).splits(data)
    fitted = fit_plan(splits.train, PlanSpec(strategy, seed, template, modifiers, aliases, use_groups, render_words),
                      GeneratorSpec(generator, generator_options), dataset, splits.unused, image_size)
    meta = {**fitted.meta, "dataset_info": splits.info,
            "imbalance": recorded_imbalance(data.imbalance, splits.info, splits.train.class_counts()),
            "dataset_options": dict(data.options)}
    write_plan(fitted.items, out, meta)
    return fitted.items, meta


def plan_inputs(strategy, modifiers: str | None) -> tuple:
    """The files a plan reads besides its dataset: the modifier bank, an audit strategy's folder."""
    inputs = [(modifiers, "the modifier bank")] if modifiers and Path(modifiers).is_file() else []
    if isinstance(strategy, str) and strategy.strip().lower().startswith("audit-"):
        from synaug.audit.budget import parse
        inputs.append((parse(strategy)[2], "the audit"))
    return tuple(inputs)


def generate(plan: str | Path, out: str | Path, generator: str = "render", *, options: dict | None = None,
             batch_size: int = 64, shard: tuple[int, int] | None = None, workers: int = 1,
             skip_undrawable: bool = False, progress: bool = True):
    """`synaug generate`: the images of a plan file into `out` (resumable); under torchrun each rank
    draws its shard. Returns the GenerationReport."""
    from synaug.engine.synthetic import generate_plan_file, plan_dataset_loader
    from synaug.plans import read_plan
    from synaug.validate import check_out_dir
    spec = GeneratorSpec(generator, options, batch_size, workers, skip_undrawable)
    check_out_dir(out)
    if shard is None:  # torchrun / accelerate launch: each process draws its shard (no process group needed)
        from synaug.runtime import dist_of
        shard = (dist_of().rank, dist_of().world)
    _, meta = read_plan(plan)
    return generate_plan_file(Path(plan), Path(out), spec, plan_dataset_loader(meta), shard=shard, progress=progress)


def cache(dataset: str, *, image_size: int, cache_dir: str | Path | None = None, imbalance: float = 100,
          synthetic: str | Path | None = None, workers: int = 2, resize: str = "shorter-side",
          progress: bool = True) -> dict:
    """`synaug cache`: decode an on-disk dataset (and a synthetic folder) once into the image cache
    (`cache_dir`, default the one every command shares: $SYNAUG_CACHE_DIR, else ~/.cache/synaug);
    returns {split: ImageSet} of what was cached (empty for a dataset held in memory)."""
    from synaug.engine.caching import decode_to_cache
    from synaug.engine.data import load_splits
    from synaug.engine.synthetic import read_synthetic
    cfg = TrainConfig(image_size=image_size, cache_dir=None if cache_dir is None else str(cache_dir),
                      cache_workers=workers, resize=resize)
    splits = load_splits(DataSpec(dataset, imbalance))
    syn = read_synthetic(Path(synthetic), splits.train, image_size) if synthetic else None
    cached, sets = decode_to_cache(splits, {"synthetic": syn}, cfg, progress=progress)
    if cached is splits:
        return {}
    return {k: v for k, v in (("train", cached.train), ("val", cached.val), ("test", cached.test),
                              ("synthetic", sets["synthetic"])) if v is not None}


def with_train_options(fn):
    """`fn`'s signature with its **train_options spelled out as the TrainConfig keys and their defaults,
    so `inspect.signature` and `help()` list steps, lr, warmup... (the function still takes them as **kw)."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    taken = {p.name for p in params}
    keys = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=f.type,
                              default=f.default if f.default is not MISSING else f.default_factory())
            for f in fields(TrainConfig) if f.name not in taken]
    fn.__signature__ = sig.replace(parameters=params + keys)
    return fn


@with_train_options
def train(dataset: str, method: str, out: str | Path, *, synthetic: str | Path | None = None, imbalance: float = 100,
          many: int = 100, few: int = 20, resume: bool = False, overwrite: bool = False, progress: bool = True,
          dataset_options: dict | None = None, **train_options) -> dict:
    """`synaug train`: one method into the run folder `out` (new or empty; or `resume` / `overwrite`);
    `train_options` are TrainConfig fields (steps, lr, model, seed...). Returns the test metrics."""
    from synaug.engine.execute import run_job
    from synaug.engine.job import Job
    from synaug.engine.rundirs import check_run_dir
    from synaug.engine.workspace import Workspace
    from synaug.validate import check_out_dir
    policy = "resume" if resume else "overwrite" if overwrite else "fresh"
    check_out_dir(out)
    job = Job(name=Path(out).name, method=method, data=DataSpec(dataset, imbalance, dataset_options),
              train=TrainConfig.from_dict(train_options), synthetic_folder=None if synthetic is None else str(synthetic),
              thresholds=Thresholds(many, few))
    check_run_dir(Path(out), policy)  # before any data is loaded
    ws = Workspace(shared=Path(out), progress=progress, dist=_dist())
    return run_job(job, Path(out), ws, policy)


def evaluate(run: str | Path, dataset: str | None = None, *, imbalance: float | None = None, many: int | None = None,
             few: int | None = None, device: str = "auto") -> dict:
    """`synaug evaluate`: a run folder's final checkpoint on its dataset's test split, with the run's
    thresholds unless given (RUN/metrics.json is rewritten only with the run's own)."""
    from synaug.engine.evaluation import evaluate_run
    return evaluate_run(Path(run), dataset, imbalance, many=many, few=few, device=device)[0]


def export(run: str | Path, out: str | Path | None = None, *, device: str = "cpu") -> dict:
    """`synaug export RUN`: the run's final model as a plain torchvision / timm state dict (OUT/model.pth)
    and OUT/preprocess.json (resize mode, sizes, mean, std, class names in order, the architecture and
    the lines that load it); OUT defaults to RUN/export. Returns the preprocess record."""
    from synaug.engine.export import export_run
    return export_run(Path(run), out, device=device)


def run(config: dict | None = None, path: str | Path | None = None, *, progress: bool = True) -> dict | None:
    """`synaug run`: every method and seed of an experiment config (a dict of overrides and/or a YAML
    file), run as an experiment whose rows are the config's methods: results.json (the experiments' schema,
    with the run's data, synthetic sets, setup and audit), results.txt, report.html and one run folder per
    method and seed under the config's `out`. Returns the results dict."""
    from synaug.experiments.config import resolve_config
    from synaug.experiments.runner import run_experiment
    return run_experiment(resolve_config(config, path), progress=progress, dist=_dist())


DEMO_GENERATORS = {
    "render": {"generator": "render"},  # the offline renderer (fonts and emoji)
    # the pretrained stand-in: ddpm fitted once on the dataset's fixed pretrain split, reused by every seed
    "ddpm": {"generator": "ddpm", "fit": {"pool": "pretrain"}},
}


def demo(task: str = "longtail", *, dataset: str | None = None, imbalance: float = 100, seeds=(0,), methods=None,
         steps: int | None = None, out: str | Path | None = None, audit: bool = True, train: dict | None = None,
         generator: str = "render", progress: bool = True):
    """`synaug demo`: SYNAuG against a task's baselines on embedded data (runs/demo-TASK-DATASET); `train`
    holds further TrainConfig keys (lr, warmup, flip...). `generator`: render (the offline renderer) or
    ddpm (the pretrained stand-in: fitted on the dataset's pretrain split into OUT/synthetic once, reused)."""
    from synaug.errors import ConfigError, unknown
    from synaug.experiments.config import default_out
    from synaug.experiments.tasks import TASKS
    if generator not in DEMO_GENERATORS:
        raise ConfigError(unknown("demo generator", generator, DEMO_GENERATORS))
    dataset = dataset or TASKS[task].dataset
    overrides = {"task": task, "dataset": dataset, "imbalance": imbalance, "seeds": list(seeds), "audit": audit,
                 "out": str(out or default_out(task, dataset, demo=True)),
                 "generate": copy.deepcopy(DEMO_GENERATORS[generator]),
                 "methods": list(methods) if methods else None, "train": train_overrides(steps, train)}
    return run(overrides, progress=progress)


def experiment(name: str, *, dataset: str | None = None, imbalance: float | None = None, seeds=None,
               steps: int | None = None, out: str | Path | None = None, config: str | Path | None = None,
               overrides: dict | None = None, shared: str | Path | None = None, progress: bool = True,
               tiny: bool = False, train: dict | None = None, store: str | Path | None = None,
               launcher: str = "local", workers: int = 1, slurm: dict | None = None,
               dry_run: bool = False, collect_only: bool = False) -> dict | None:
    """`synaug experiment NAME`: one of the paper's tables or figures (`synaug experiment --list`), or
    `all` of them, on the embedded data or on yours with `dataset` / a `config` YAML (dataset, plan,
    generate, train); `overrides` is any further config dict. `seeds="auto"` (or "auto:CAP") runs a pilot of
    3 seeds, then as many as the power rule asks for (`catalog.seeds_rule`, at most CAP, default 10). Jobs run through the run store `store`
    (default runs/store, or OUT/store) with `launcher` (local with `workers` processes, multi-gpu,
    slurm with submitit parameters `slurm`). Writes results.json, PNGs and report.html under `out`
    (default runs/experiments/NAME; for `all`, one folder per experiment under `out`) and returns the
    results dict ({name: results} for `all`); `dry_run` returns what would train instead, and
    `collect_only` makes the tables from the stored runs alone (rows without runs are skipped)."""
    from synaug.engine.launchers import LaunchSettings
    from synaug.experiments.library import dry_run as count_jobs, named_or_auto, run_all
    auto = isinstance(seeds, str) and seeds.startswith("auto")
    given = {"dataset": dataset, "imbalance": imbalance, "out": None if out is None else str(out),
             "seeds": seeds if auto or seeds is None else [int(s) for s in ([seeds] if isinstance(seeds, int) else seeds)],
             "train": train_overrides(steps, train)}
    given = {**given, **(overrides or {})}
    launch = LaunchSettings(launcher, workers, slurm=tuple(sorted((slurm or {}).items())))
    paths = {"shared": None if shared is None else Path(shared), "store": None if store is None else Path(store)}
    if name == "all" or dry_run:
        return (count_jobs if dry_run else run_all)(name, given, config, progress=progress, tiny=tiny, launch=launch,
                                                    dist=_dist(), collect_only=collect_only, **paths)
    return named_or_auto(name, given, config, progress=progress, tiny=tiny, dist=_dist(), launch=launch,
                         collect_only=collect_only, **paths)


def train_overrides(steps: int | None, train: dict | None) -> dict | None:
    """A config's `train:` layer from a command's --steps and further training keys (None: nothing given)."""
    layer = {**({"steps": steps} if steps else {}), **(train or {})}
    return layer or None


def audit(dataset: str, synthetic: str | Path, out: str | Path, *, imbalance: float = 100, use_groups: bool = True,
          resize: str = "shorter-side", progress: bool = True, **audit_options) -> dict:
    """`synaug audit`: per cell, will the synthetic images help? (AuditConfig fields as options; on-disk
    images are decoded at `image_size` with `resize`, into the shared cache)."""
    from synaug.audit.core import AuditConfig, audit_dataset, read_synthetic
    from synaug.engine.caching import decode_to_cache
    from synaug.engine.data import load_splits
    from synaug.validate import check_new_folder
    cfg = AuditConfig(**audit_options)
    check_new_folder(out, "--out")
    splits = load_splits(DataSpec(dataset, imbalance))
    syn, names = read_synthetic(synthetic, splits.train, cfg.image_size)
    splits, sets = decode_to_cache(splits, {"s": syn}, TrainConfig(image_size=cfg.image_size, resize=resize))
    return audit_dataset(splits, sets["s"], Path(out), cfg, dataset=dataset, synthetic_dir=str(synthetic),
                         syn_names=names, use_groups=use_groups, progress=progress)


def filter(synthetic: str | Path, *, audit: str | Path | None = None, clip: str | Path | None = None,
           keep_mislabelled: bool = False, min_own_prob: float | None = None, max_ratio: float | None = None,
           threshold: float | None = None, clip_text: str = "prompt", device: str = "auto", batch_size: int = 64,
           dry_run: bool = False):
    """`synaug filter`: drop synthetic images an audit (`audit`) or a CLIP model (`clip`) scores as not
    what they claim to be; returns the FilterReport."""
    from synaug.audit.filters import filter_by
    return filter_by(Path(synthetic), audit=audit, clip=clip, label_check=not keep_mislabelled,
                     min_own_prob=min_own_prob, max_ratio=max_ratio, threshold=threshold, clip_text=clip_text,
                     device=device, batch_size=batch_size, dry_run=dry_run)


def fit_generator(dataset: str, out: str | Path, *, pool: str = "train", imbalance: float = 100,
                  dataset_options: dict | None = None, generator: str = "ddpm", use_groups: bool = True,
                  image_size: int | None = None, progress: bool = True, quality_samples: int = 100,
                  quality_steps: int = 300, **settings) -> dict:
    """`synaug fit-generator`: train backend `generator` (ddpm) on the dataset's `pool` (train: the
    training split; unused: the real images the long tail left out; pretrain: the embedded datasets' fixed
    pretrain split, refused if it shares an image with any train, unused, validation or test split) into
    `out`, never on an image of the test split (checked by content before anything is written). Run again
    to resume a killed fit; a finished one is reused. `image_size`: the side it fits at (images resized as the cache does; at
    most 64 px, a larger side is refused before any work with the cost it would have). `settings`: the
    backend's fit settings (`FitSettings`). `quality_samples` images per cell (0: none) are drawn and
    measured (`synaug.engine.fit_quality`: CAS with a classifier of `quality_steps` steps, Fréchet
    distance, copy rate, recall; OUT/quality.json and OUT/quality.png). Returns {"out", "steps", "steps_run",
    "final_loss", "sample_check"} (`synaug.generators.ddpm_check`) and "quality" when measured."""
    from synaug.audit.quality import QualityConfig
    from synaug.engine.fitting import fit_into, fit_pool
    from synaug.engine.fit_quality import SampleSettings
    from synaug.engine.specs import check_int, fit_settings
    from synaug.engine.workspace import Workspace
    from synaug.validate import check_out_dir
    pool, fit = fit_settings(generator, {**settings, "pool": pool})
    check_int("quality_samples", quality_samples, 0)
    check_int("quality_steps", quality_steps, 1)
    quality = SampleSettings(per_cell=quality_samples, device=fit.device,
                             measure=QualityConfig(steps=quality_steps, device=fit.device)) if quality_samples else None
    check_out_dir(out)  # a non-empty folder that is not this fit is refused by the fit itself
    splits = Workspace(shared=Path(out)).splits(DataSpec(dataset, imbalance, dataset_options))
    images, test = fit_pool(splits, pool, use_groups, image_size, fit, progress)
    return fit_into(generator, images, Path(out), fit, test, pool, progress, quality)


def fit_lora(dataset: str, model: str | Path, out: str | Path, *, imbalance: float = 100, classes=None,
             device: str = "auto", on_class=None, **settings) -> list[dict]:
    """`synaug fit-lora`: one LoRA adapter of a Stable Diffusion UNet per class (LoraSettings as options)."""
    from synaug.engine.workspace import Workspace
    from synaug.errors import ConfigError
    from synaug.generators.lora import LoraSettings, fit_lora as fit
    if not Path(model).is_dir():
        raise ConfigError(f"--generator-model {model}: no such folder (a local diffusers Stable Diffusion model)")
    train = Workspace(shared=Path(out)).splits(DataSpec(dataset, imbalance)).train
    unknown = [c for c in classes or [] if c not in train.class_names]
    if unknown:
        raise ConfigError(f"--classes: {unknown} not classes of {dataset} (classes: {train.class_names})")
    return fit(train, str(model), Path(out), classes=classes, settings=LoraSettings(**settings), device=device,
               on_class=on_class)
