"""The config of `synaug run`, `synaug demo` and `synaug experiment`: BASE_CONFIG, updated by a YAML
file, updated by explicit overrides (nested blocks merge), then checked once, into specs: the data,
the plan, the generator, the training config, the thresholds (each spec checks its own fields). A
`RunConfig` makes the jobs of a sweep (`job`), so every command builds jobs the same way."""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields, replace
from pathlib import Path

from synaug.engine.job import Job
from synaug.engine.specs import DataSpec, GeneratorSpec, PlanSpec, Subset, Thresholds, check_int, frozen_items
from synaug.errors import ConfigError, check_keys, unknown
from synaug.experiments.tasks import TASKS
from synaug.methods import TrainConfig, get_method
from synaug.validate import load_yaml

BASE_CONFIG = {
    "task": "longtail",
    "dataset": None,          # default: the task's embedded dataset
    "dataset_options": {},    # the dataset's own options (e.g. group_column for csv:FILE)
    "imbalance": 100,
    "methods": None,          # default: the task's methods
    "seeds": [0],
    "plan": {"strategy": "uniform", "seed": 0, "template": None, "modifiers": None, "aliases": None,
             "render_words": None},
    "generate": {"generator": "render", "batch_size": 256, "workers": 1, "skip_undrawable": True, "options": {},
                 "folder": None,  # folder: a `synaug generate` folder to train on instead of planning anew
                 "fit": {}},  # {pool: train | unused | pretrain}: a generator fitted on the data first (ddpm)
    "fit": {"steps": 2000},   # the settings of every generator fitted on the data (generate.fit, table rows)
    "train": {"steps": 600},
    "thresholds": {"many": 100, "few": 20, "scale_to": None},  # scale_to: scale both by n_max / scale_to
    "options": {},            # a named experiment's own settings (levels, fractions): each checks its keys
    "audit": True,            # audit the synthetic set before training (a verdict per cell, in the log and the
                              # report), even if no method trains on the audited subset; false (--no-audit) skips it
    "bootstrap": 1000,        # resamples of the test images for the test-sampling intervals (0: none)
    "vary": ["training", "synthetic", "subset"],  # what a run's seed varies: the training seed, the plan's seed
                              # (which synthetic images), the real images synaug draws (long tail, splits)
    "out": None,
}
BLOCKS = ("plan", "generate", "thresholds", "dataset_options", "options", "fit")


# Many / Medium / Few on the embedded long tails: LDAM-DRW's 100 / 20 images were set for CIFAR100-LT, whose largest
# class has 500; scaled by the data's largest class / 500 (mnist-lt: 250, so > 50 / 10-50 / < 10), the classes split
# in CIFAR100-LT's shares. Every experiment that reports Many / Medium / Few on a long tail uses this one split (the
# tables, fig4, uniformization), so the same classes carry the same name in every section. At IF 10 no class is Few,
# as in CIFAR100-LT (its smallest class has 50 images): the paper reports Many / Medium / Few at IF 100 only.
LONG_TAIL_SPLIT = {"scale_to": 500}


@dataclass(frozen=True)
class RunConfig:
    task: str
    data: DataSpec
    methods: tuple
    seeds: tuple
    plan: PlanSpec
    generator: GeneratorSpec
    fit: tuple                # settings of generators fitted on the data (`fitted`)
    train: TrainConfig
    thresholds: Thresholds
    options: dict
    audit: bool
    bootstrap: int
    vary: tuple
    out: Path
    raw: dict                 # the resolved config as a plain dict (config.yaml, results.json)
    synthetic_folder: str | None = None  # generate.folder: the user's synthetic images, with their own plan

    def job(self, method: str, seed: int, name: str | None = None, *, data: DataSpec | None = None,
            plan: PlanSpec | None = None, generator: GeneratorSpec | None = None, subset: Subset | None = None,
            train: dict | None = None, with_plan: bool = False) -> Job:
        """The job of `method` at `seed` under this config: the config's data, plan and generator
        (for a method that trains on synthetic images, or `with_plan`), training options updated by
        `train`; `name` is its folder under runs/ (default: the method). The seed varies what `vary`
        says (`seeded`)."""
        uses = get_method(method).synthetic or with_plan or (subset is not None and bool(subset.synthetic))
        # the user's folder stands for the config's own plan; a row with its own plan (or mixing synthetic
        # images into the training split, which needs a plan) still plans and draws
        folder = self.synthetic_folder if uses and plan is None and not with_plan and not (
            subset is not None and subset.synthetic) else None
        planned = uses and folder is None
        data, plan = self.seeded(data or self.data, plan or self.plan, seed)
        train_seed = int(seed) if "training" in self.vary else self.train.seed
        return Job(name=name or method, method=method, data=data,
                   train=self.train.replace(**{**(train or {}), "seed": train_seed}),
                   plan=plan if planned else None, generator=(generator or self.generator) if planned else None,
                   synthetic_folder=folder, subset=subset or Subset(), thresholds=self.thresholds)

    def seeded(self, data: DataSpec, plan: PlanSpec, seed: int) -> tuple[DataSpec, PlanSpec]:
        """`data` and `plan` as run seed `seed` uses them: the real images synaug draws (the long tail's
        kept images, embedded splits) and the plan's image seeds offset by the seed, where `vary` says so
        (seed 0 is the config's own)."""
        if "subset" in self.vary:
            data = replace(data, subset_seed=data.subset_seed + int(seed))
        if "synthetic" in self.vary:
            plan = replace(plan, seed=plan.seed + int(seed))
        return data, plan

    def fitted(self, generator: str, pool: str) -> GeneratorSpec:
        """Backend `generator` fitted on `pool` (train | unused | pretrain) with this config's fit settings, drawing
        with the config generator's runner settings (a table row's learned generator)."""
        g = self.generator
        return GeneratorSpec(generator, {}, g.batch_size, g.workers, g.skip_undrawable, {**dict(self.fit), "pool": pool})

    def run_dir(self, job: Job) -> Path:
        return self.out / "runs" / job.name / f"seed{job.seed}"


def merge(layers: list[dict]) -> dict:
    """BASE_CONFIG updated by each layer in turn (nested blocks merge; None leaves a value as is)."""
    cfg = copy.deepcopy(BASE_CONFIG)
    for layer in layers:
        for k, v in layer.items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k] = {**cfg[k], **v}
            elif v is not None:
                cfg[k] = copy.deepcopy(v)
    return cfg


def resolve_config(overrides: dict | None = None, path: str | Path | None = None) -> RunConfig:
    """BASE_CONFIG, a YAML file, explicit overrides; the task's defaults fill what is still unset."""
    layers = []
    if path:
        layers.append(check_layer(load_yaml(path, "--config"), str(path)))
    if overrides:
        layers.append(check_layer(dict(overrides), "config"))
    return build(merge(layers))


def check_layer(layer: dict, where: str) -> dict:
    """Every key of a config layer must be one synaug knows; lists given as text become lists."""
    check_keys(layer, BASE_CONFIG, where)
    for block in ("plan", "generate", "thresholds"):
        if layer.get(block) is not None:
            check_keys(layer[block], BASE_CONFIG[block], f"{where} ({block})")
    if layer.get("train") is not None:
        check_keys(layer["train"], [f.name for f in fields(TrainConfig)], f"{where} (train)")
    if isinstance(layer.get("methods"), str):  # "ce, synaug" as a list
        layer["methods"] = [m.strip() for m in layer["methods"].split(",") if m.strip()]
    if isinstance(layer.get("seeds"), int) and not isinstance(layer.get("seeds"), bool):
        layer["seeds"] = [layer["seeds"]]
    if layer.get("methods") is not None and not isinstance(layer["methods"], list):
        raise ConfigError(f"{where}: methods: expected a list of method names, got {layer['methods']!r}")
    return layer


VARY = ("training", "synthetic", "subset")


def check_vary(vary) -> tuple:
    """What a run's seed varies: a list of training, synthetic, subset."""
    if isinstance(vary, str):
        vary = [vary]
    if not isinstance(vary, (list, tuple)) or any(v not in VARY for v in vary):
        raise ConfigError(f"vary: a list of {', '.join(VARY)} (what a run's seed varies), got {vary!r}")
    return tuple(v for v in VARY if v in vary)


def check_seeds(seeds) -> tuple:
    """Distinct integers >= 0 (a repeated seed would count one run twice in mean ± std)."""
    if (not isinstance(seeds, (list, tuple)) or not seeds or len(set(map(str, seeds))) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ConfigError(f"seeds: give distinct integers >= 0, e.g. [0, 1, 2]; got {seeds!r}")
    return tuple(seeds)


def build(cfg: dict) -> RunConfig:
    """The checked RunConfig of a merged config dict."""
    if cfg["task"] not in TASKS:
        raise ConfigError(unknown("task", cfg["task"], TASKS))
    task = TASKS[cfg["task"]]
    cfg["dataset"] = cfg["dataset"] or task.dataset
    cfg["methods"] = list(cfg["methods"] or task.methods)
    cfg["out"] = str(cfg["out"] or default_out(cfg["task"], cfg["dataset"]))
    for block in BLOCKS:
        if not isinstance(cfg[block], dict):
            raise ConfigError(f"config: {block}: expected a mapping, got {cfg[block]!r}")
    g = cfg["generate"]
    folder = synthetic_folder(cfg)
    clash = sorted(k for k in set(cfg["fit"]) & set(g["fit"] or {}) if cfg["fit"][k] != g["fit"][k])
    if clash:  # never the last one silently
        raise ConfigError(f"config: fit setting(s) {clash} differ between `fit:` and `generate: {{fit:}}`; give each "
                          "once")
    vary = check_vary(cfg["vary"])
    if folder is not None:  # every seed trains on the one folder: its synthetic images do not vary (recorded so)
        vary = tuple(v for v in vary if v != "synthetic")
    run = RunConfig(
        task=cfg["task"], data=DataSpec(cfg["dataset"], cfg["imbalance"], cfg["dataset_options"]),
        methods=tuple(cfg["methods"]),
        seeds=check_seeds(cfg["seeds"]),
        plan=PlanSpec(cfg["plan"]["strategy"], cfg["plan"]["seed"], cfg["plan"]["template"], cfg["plan"]["modifiers"],
                      frozen_items(cfg["plan"]["aliases"]), render_words=frozen_items(cfg["plan"]["render_words"])),
        generator=GeneratorSpec(g["generator"], g["options"] or {}, g["batch_size"], g["workers"], g["skip_undrawable"],
                                {**cfg["fit"], **g["fit"]} if g["fit"] else {}),
        fit=frozen_items(cfg["fit"]),
        train=TrainConfig.from_dict(cfg["train"]), thresholds=Thresholds(**cfg["thresholds"]),
        options=dict(cfg["options"]), audit=bool(cfg["audit"]), bootstrap=check_int("bootstrap", cfg["bootstrap"], 0),
        vary=vary, out=Path(cfg["out"]), raw=cfg, synthetic_folder=folder)
    for method in run.methods:  # e.g. audit weighting without an audit folder: before any work
        run.job(method, run.seeds[0])
    return run


def synthetic_folder(cfg: dict) -> str | None:
    """`generate: {folder: DIR}`: train on a folder the user made with `synaug plan` + `synaug generate`
    (its plan record, DIR/.synaug/plan.json, gives the plan's cuts) instead of planning and drawing the
    same images again. The config's own plan settings would not apply to it: giving both is refused."""
    folder = cfg["generate"].get("folder")
    if folder is None:
        return None
    if not (Path(folder) / "metadata.csv").is_file():
        raise ConfigError(f"generate: folder {folder}: no metadata.csv there; give a folder made by `synaug generate`")
    changed = sorted(k for k, v in cfg["plan"].items() if v != BASE_CONFIG["plan"].get(k))
    if changed:
        raise ConfigError(f"generate: folder {folder} was drawn from its own plan ({folder}/.synaug/plan.json); "
                          f"the config's plan settings {changed} would not apply to it: remove them, or remove "
                          "`folder` to plan and draw anew")
    return str(folder)


def with_out(run: RunConfig, out) -> RunConfig:
    return replace(run, out=Path(out), raw={**run.raw, "out": str(out)})


def default_out(task: str, dataset: str, demo: bool = False) -> str:
    """The one default output folder of a run: runs/[demo-]TASK-DATASET (the dataset's name, without
    its path)."""
    return f"runs/{'demo-' if demo else ''}{task}-{dataset.partition(':')[0]}"
