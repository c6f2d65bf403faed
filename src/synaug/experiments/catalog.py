"""The paper's tables and figures as named experiments (`synaug experiment --list / NAME`).

An `Experiment` is data plus two functions, as DomainBed's sweep and collect_results: `jobs(ctx)`
lists the training runs it needs (each a `Job`), and `collect(ctx, results)` turns their metrics into
tables, curves, figures and one finding per paper claim (`ExperimentResult`). The jobs run through
the run store (`synaug.engine.sweep`): a job any experiment already trained is not trained again,
and every run is re-scored from its record, so a metric added later fills every stored run.
Synthetic images of equal plans meet in one folder of `ctx.ws.shared`. `run_named` runs both and
writes results.json, the PNGs and report.html (`experiment_report.write_result`); under torchrun
every rank runs the jobs and rank 0 alone collects and writes. `dry_run` lists what would train.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from synaug.data import DATASETS
from synaug.data.imageset import DatasetSplits
from synaug.engine.job import Job
from synaug.engine.launchers import LaunchSettings, check_launcher
from synaug.engine.specs import DataSpec
from synaug.engine.store import RunStore
from synaug.engine.sweep import NotStored, estimate, run_sweep
from synaug.engine.workspace import Workspace
from synaug.eval.metrics import SHOT_GROUPS, split_summary
from synaug.errors import ConfigError, GenerationError
from synaug.experiments.config import RunConfig, check_layer, merge, build, resolve_config
from synaug.experiments.experiment_report import write_result
from synaug.experiments.folders import in_default_root, shared_dir, store_dir
from synaug.experiments.tasks import TASKS
from synaug.experiments.uncertainty import RowRuns, row_runs
from synaug.registry import Registry
from synaug.runtime import Dist
from synaug.validate import check_results_folder, load_yaml


@dataclass
class Finding:
    """One claim of the paper and what happened here: its verdict, the numbers that decide it and the
    rule, and (for claims between two rows) the paired difference over seeds with its interval and p."""

    claim: str
    status: str
    evidence: str
    test: dict = field(default_factory=dict)


@dataclass
class ExperimentResult:
    tables: list = field(default_factory=list)        # synaug.experiments.table.Table
    curves: dict = field(default_factory=dict)        # name -> {"x": [...], key: {"mean": [...], "std": [...]}}
    figures: list[tuple[str, str]] = field(default_factory=list)  # (PNG file name inside ctx.out, caption)
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # rows or parts not run here, each with why
    rows: dict = field(default_factory=dict)          # a table's row label -> its runs (`spec.row_details`)
    chance: dict | None = None                        # the test set's chance level (`synaug.eval.chance`)
    at_chance: list[str] = field(default_factory=list)  # rows whose mean accuracy is at or near chance
    sections: dict = field(default_factory=dict)      # a run's own report sections: data, synthetic, setup, audit


class Results(dict):
    """{job: metrics} of an experiment's finished jobs, and why the jobs that could not run did not."""

    def __init__(self):
        super().__init__()
        self.failed: dict[str, str] = {}
        self.counts: dict[str, int] = {}   # jobs listed, distinct, found in the store, trained now

    def runs(self, name: str) -> list[tuple[int, dict]]:
        """(seed, metrics) of the jobs named `name`, in seed order."""
        return sorted(((j.seed, m) for j, m in self.items() if j.name == name), key=lambda p: p[0])

    def row(self, ws: Workspace, name: str) -> RowRuns:
        """The runs of the jobs named `name` with the scoring of their test sets (`uncertainty`)."""
        return row_runs(ws, [(j, m) for j, m in self.items() if j.name == name])


@dataclass
class ExperimentContext:
    """What an experiment builds its jobs and collects with: the resolved config, its workspace
    (datasets loaded once, synthetic sets generated once) and its output folder."""

    config: RunConfig
    ws: Workspace
    log: Callable = print
    store: RunStore | None = None                 # where runs live (None: OUT/store)
    launch: LaunchSettings = field(default_factory=LaunchSettings)
    dry: bool = False                             # a --dry-run lists jobs: nothing may be written
    collect_only: bool = False                    # tables from stored runs only: a missing job is a skipped row

    def __post_init__(self):
        if self.store is None:
            self.store = RunStore(self.config.out / "store")

    @property
    def seeds(self) -> list[int]:
        return list(self.config.seeds)

    @property
    def out(self) -> Path:
        return self.config.out

    def data(self, **changes) -> DataSpec:
        """The config's data with `changes` (e.g. imbalance=1 for a balanced pool)."""
        return replace(self.config.data, **changes)

    def splits(self, data: DataSpec | None = None) -> DatasetSplits:
        return self.ws.splits(data or self.config.data)


@dataclass(frozen=True)
class Experiment:
    name: str             # table1 ... fig5, uniformization
    title: str
    paper: str            # which table or figure of which paper, and what it shows
    dataset: str          # the embedded dataset it runs on by default
    jobs: Callable[[ExperimentContext], list[Job]]
    collect: Callable[[ExperimentContext, Results], ExperimentResult]
    defaults: dict = field(default_factory=dict)   # config defaults (e.g. train steps)
    tiny: dict = field(default_factory=dict)       # overrides that make it run in seconds (tests)
    task: str = "longtail"  # the task (synaug.experiments.tasks) whose metrics and defaults it uses
    partial: bool = False   # its collect shows what ran when some jobs did not (a table: those rows are skipped)

    @property
    def draws_own_data(self) -> bool:
        """A toy that draws its own points (fig5): its `dataset` then says what they are, not a registered name."""
        return self.dataset.partition(":")[0] not in DATASETS


EXPERIMENTS = Registry("experiment")
# every tiny run: generators fitted on the data (ddpm) train a few steps of a small network
TINY_FIT = {"steps": 6, "batch_size": 16, "arch_options": {"channels": [8, 16], "emb_dim": 32}, "warmup_steps": 2,
            "log_every": 2}


def register_experiment(experiment: Experiment) -> Experiment:
    return EXPERIMENTS.add(experiment.name, experiment)


def experiment_config(experiment: Experiment, overrides: dict | None = None, config_path=None,
                      tiny: bool = False) -> RunConfig:
    """The experiment's config: synaug's base config, then the experiment's task, dataset, seeds 0, 1, 2
    and defaults, then with `tiny` the overrides that make it run in seconds (tests), then the user's
    YAML file, then explicit overrides (--dataset, --seeds, --steps, --out): what the user states wins.
    The task is the experiment's: its tables' columns are that task's metrics; its rows are its own."""
    dataset = None if experiment.draws_own_data else experiment.dataset
    layers = [{"task": experiment.task, "dataset": dataset, "seeds": [0, 1, 2],
               "out": f"runs/experiments/{experiment.name}"}, copy.deepcopy(experiment.defaults),
              copy.deepcopy({"fit": TINY_FIT, **experiment.tiny}) if tiny else {}]
    if config_path:
        resolve_config(None, config_path)  # a bad key or name in the file: an error that names the file
        layers.append(check_layer(load_yaml(config_path, "--config"), str(config_path)))
    layers.append(check_layer(dict(overrides or {}), "config"))
    if experiment.draws_own_data:
        check_own_data(experiment, layers[3:])
    merged = merge(layers)
    if merged["task"] != experiment.task:
        raise ConfigError(f"experiment {experiment.name} is a {experiment.task} experiment; its config says "
                          f"task: {merged['task']} (leave task out of an experiment's config)")
    merged["methods"] = None  # an experiment's rows are its own
    return build(merged)


DATA_KEYS = ("dataset", "imbalance", "dataset_options", "plan", "generate", "train", "thresholds")


def check_own_data(experiment: Experiment, user_layers: list[dict]) -> None:
    """An experiment that draws its own data (fig5's 2-D Gaussians) takes no dataset, plan or training
    options: one given would be printed and recorded, but not used."""
    given = sorted({k for layer in user_layers for k, v in layer.items() if k in DATA_KEYS and v not in (None, {})})
    if given:
        raise ConfigError(f"experiment {experiment.name} draws its own data ({experiment.dataset}) and trains no "
                          f"network: {', '.join(given)} would be ignored; leave them out")


def run_jobs(ctx: ExperimentContext, jobs: list[Job]) -> Results:
    """Every job through the run store (`synaug.engine.sweep`: stored ones re-scored, the rest trained
    by the context's launcher). A job whose row-specific generator cannot run (e.g. the held-out pool
    of a dataset that keeps none) is recorded as failed; any other failure is raised."""
    sweep = run_sweep(jobs, ctx.store, ctx.ws, ctx.launch, log=ctx.log, collect_only=ctx.collect_only)
    results = Results()
    results.counts = sweep.counts
    for job in jobs:
        exc = sweep.failed.get(job.key())
        if exc is None:
            results[job] = sweep.metrics[job]
        elif isinstance(exc, NotStored):
            missing = sum(j.name == job.name and j.key() in sweep.failed for j in jobs)
            results.failed.setdefault(job.name, f"not in the run store: {missing} of its runs were never trained")
        elif isinstance(exc, GenerationError) and job.generator is not None \
                and job.generator.name != ctx.config.generator.name:
            results.failed[job.name] = f"generator {job.generator.name!r} could not run: {exc}"
        else:
            raise exc
    return results


def experiment_context(name: str, overrides: dict | None = None, config_path=None, progress: bool = True,
                       log: Callable = print, tiny: bool = False, shared: Path | None = None,
                       store: Path | None = None, launch: LaunchSettings = LaunchSettings(),
                       dist: Dist = Dist()) -> ExperimentContext:
    """The resolved config, workspace and run store of experiment `name` (nothing written)."""
    cfg = experiment_config(EXPERIMENTS[name], overrides, config_path, tiny)
    ws = Workspace(shared=shared_dir(cfg.out, shared), progress=progress, log=log, dist=dist)
    return ExperimentContext(cfg, ws, log if dist.is_main else (lambda *a, **k: None),
                             RunStore(store_dir(cfg.out, store)), launch)


AUTO_PILOT = (0, 1, 2)


def seeds_rule(pilot: dict, cap: int) -> dict:
    """`--seeds auto`'s rule from a pilot's results: the most seeds any of the paper's claims needs to
    detect its margin delta with 80 % power at its Holm level (`synaug.experiments.power.seeds_needed`,
    from the spread of the pilot's paired differences only, never from their mean), capped at `cap`."""
    needs = {}
    for f in pilot["findings"]:
        for t in (f.get("test") or {}).get("tests", []):
            if t.get("family", "paper") != "paper" or t.get("std") is None or not t.get("delta"):
                continue
            n = t.get("seeds_needed")
            needs[f"{f['claim']} ({t['metric']} vs {t['rival'] or '-'})"] = cap if n is None else min(int(n), cap)
    seeds = max([len(AUTO_PILOT), *needs.values()])
    return {"rule": f"pilot of {len(AUTO_PILOT)} seeds; then the most seeds any paper claim needs to detect its delta "
                    f"with 80 % power at its Holm level, from the pilot's spread only (statsmodels TTestPower), "
                    f"capped at {cap}", "pilot": list(AUTO_PILOT), "cap": cap, "needed": needs, "seeds": seeds}


def run_auto(name: str, overrides: dict, config_path=None, cap: int = 10, **kwargs) -> dict | None:
    """`--seeds auto`: the pilot, then the experiment over as many seeds as `seeds_rule` asks for (the
    pilot's runs are reused from the store), with the rule recorded in results.json."""
    pilot = run_named(name, {**overrides, "seeds": list(AUTO_PILOT)}, config_path, **kwargs)
    if pilot is None:
        return None
    rule = seeds_rule(pilot, cap)
    return run_named(name, {**overrides, "seeds": list(range(rule["seeds"]))}, config_path, seeds_rule=rule, **kwargs)


def run_named(name: str, overrides: dict | None = None, config_path=None, progress: bool = True,
              log: Callable = print, tiny: bool = False, shared: Path | None = None, dist: Dist = Dist(),
              store: Path | None = None, launch: LaunchSettings = LaunchSettings(),
              collect_only: bool = False, seeds_rule: dict | None = None) -> dict | None:
    """`synaug experiment NAME`: its jobs, their collection, and results.json, the PNGs and
    report.html in the config's `out`. Returns the results dict (None on ranks > 0 under torchrun, and
    with `collect_only` for an analysis whose runs are not all stored)."""
    experiment = EXPERIMENTS[name]
    check_launcher(launch)
    ctx = replace(experiment_context(name, overrides, config_path, progress, log, tiny, shared, store, launch, dist),
                  collect_only=collect_only)
    cfg = ctx.config
    check_results_folder(cfg.out, "the output folder")
    listed = experiment.jobs(replace(ctx, dry=True))  # its options and jobs, then every job it will train:
    if not collect_only:                                # all refused before any folder is made
        ctx.ws.check(listed, ctx.store.is_stored)
    if dist.is_main:  # first: marks the folder as synaug's, so that a re-run after a crash is accepted
        (cfg.out / "runs").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data = cfg.data.dataset if experiment.dataset.partition(":")[0] in DATASETS else experiment.dataset
    ctx.log(f"{name}: {experiment.title} on {data}, seeds {ctx.seeds} -> {cfg.out}")
    jobs = experiment.jobs(ctx)
    results = run_jobs(ctx, jobs)
    if not dist.is_main:
        return None
    if results.failed and collect_only and not experiment.partial:
        ctx.log(f"{name}: not collected: {len(results.failed)} of its runs are not in the run store {ctx.store.root}")
        return None
    return finish(experiment, ctx, jobs, results, t0, seeds_rule=seeds_rule)


def finish(experiment: Experiment, ctx: ExperimentContext, jobs: list[Job], results: Results, t0: float,
           config: dict | None = None, seeds_rule: dict | None = None) -> dict:
    """The collector's end, for experiments and for `synaug run` / `demo` alike: the output folder's
    reference and links into the run store, the experiment's collect, and its results.json, PNGs and
    report.html (`experiment_report.write_result`); `config` is the config to record (default: the raw one)."""
    cfg = ctx.config
    cfg.out.mkdir(parents=True, exist_ok=True)
    ctx.store.reference(cfg.out, jobs)
    ctx.store.link(cfg.out / "runs", [j for j in jobs if j in results])
    result = experiment.collect(ctx, results)
    runs = [{"name": j.name, "seed": j.seed, "key": j.key()} for j in jobs]
    trained = sum(m.get("train_seconds") or 0.0 for m in results.values())
    return write_result(experiment, config or cfg.raw, cfg.out, result, time.time() - t0,
                        index=in_default_root(cfg.out),
                        thresholds=thresholds_of(ctx) if reports_shot_groups(experiment, result) else None,
                        jobs={**results.counts, "store": str(ctx.store.root), "runs": runs, "train_seconds": trained},
                        seeds_rule=seeds_rule)


def each_named(name: str, overrides: dict, config_path, shared: Path | None,
               store: Path | None) -> list[tuple[str, dict, object, dict]]:
    """(experiment, its overrides, its config file, its folders) for NAME, or for every experiment with
    NAME `all`: then `out` is the root of one folder per experiment, the images and the run store are
    shared among them (ROOT/shared, ROOT/store; the default root's runs/experiments/shared and
    runs/store), and an experiment that draws its own data (fig5) takes none of the data and training
    settings, which are the others'."""
    if name != "all":
        return [(name, overrides, config_path, {"shared": shared, "store": store})]
    root = overrides.get("out")
    out = []
    for n in sorted(EXPERIMENTS):
        own_data = EXPERIMENTS[n].draws_own_data
        given = {k: v for k, v in overrides.items() if not (own_data and k in DATA_KEYS)}
        out.append((n, {**given, "out": None if root is None else str(Path(root) / n)}, None if own_data else config_path,
                    {"shared": shared or (None if root is None else Path(root) / "shared"),
                     "store": store or (None if root is None else Path(root) / "store")}))
    return out


def run_all(name: str, overrides: dict, config_path=None, progress: bool = True, log: Callable = print,
            tiny: bool = False, dist: Dist = Dist(), launch: LaunchSettings = LaunchSettings(),
            shared: Path | None = None, store: Path | None = None, collect_only: bool = False) -> dict | None:
    """`synaug experiment all`: every experiment in name order over one run store ({name: results})."""
    out = {}
    for n, given, config, folders in each_named(name, overrides, config_path, shared, store):
        out[n] = named_or_auto(n, given, config, progress=progress, log=log, tiny=tiny, dist=dist, launch=launch,
                               collect_only=collect_only, **folders)
    return out if dist.is_main else None


def named_or_auto(name: str, overrides: dict, config_path=None, **kwargs) -> dict | None:
    """`run_named`, or `run_auto` when the seeds are "auto" / "auto:CAP"."""
    seeds = overrides.get("seeds")
    if isinstance(seeds, str) and seeds.partition(":")[0] == "auto":
        cap = seeds.partition(":")[2]
        if cap and (not cap.isdigit() or not 3 <= int(cap) <= 100):
            raise ConfigError(f"seeds {seeds!r}: auto, or auto:CAP with CAP from 3 to 100 (the most seeds to run)")
        return run_auto(name, {k: v for k, v in overrides.items() if k != "seeds"}, config_path,
                        int(cap) if cap else 10, **kwargs)
    return run_named(name, overrides, config_path, **kwargs)


def dry_run(name: str, overrides: dict, config_path=None, progress: bool = True, log: Callable = print,
            tiny: bool = False, dist: Dist = Dist(), launch: LaunchSettings = LaunchSettings(),
            shared: Path | None = None, store: Path | None = None, collect_only: bool = False) -> dict:
    """What `synaug experiment NAME` (or `all`) would train: the distinct jobs over the experiments (a
    job two experiments list counts once), how many the run store holds, and the estimated training
    time of the rest with the launcher's workers. Nothing is trained."""
    jobs, stores, ws, first = [], set(), None, None
    named = each_named(name, overrides, config_path, shared, store)
    for n, given, config, folders in named:
        ctx = replace(experiment_context(n, given, config, False, lambda *a, **k: None, tiny, **folders), dry=True)
        ws, first = ws or ctx.ws, first or ctx.store
        stores.add(str(ctx.store.root))
        jobs += EXPERIMENTS[n].jobs(ctx)
    if len(stores) > 1:
        raise ConfigError(f"these experiments would use different run stores ({sorted(stores)}); give --store DIR to "
                          "count them together")
    workers = launch.workers if launch.name == "local" else 1
    return {"experiments": [n for n, *_ in named], "store": str(first.root),
            **estimate(jobs, first, ws, workers)}


def reports_shot_groups(experiment: Experiment, result: ExperimentResult) -> bool:
    """Whether the results have Many / Medium / Few columns, whose split is then stated: a long-tail task's
    experiment on balanced data (fig2, fig3) or on no dataset at all (fig5's 2-D toy) has none to state."""
    return TASKS[experiment.task].shot_groups and any(
        set(SHOT_GROUPS) & set(table.columns) for table in result.tables)


def thresholds_of(ctx: ExperimentContext) -> dict | None:
    """The Many / Medium / Few split of the experiment's data (seed 0's), as its results state it."""
    if ctx.config.data.name not in DATASETS:
        return None
    train = ctx.splits().train
    counts = train.class_counts()
    return split_summary(counts, train.class_names, *ctx.config.thresholds.effective(counts))
