"""The paper's tables and figures as named experiments (`synaug experiment --list / NAME`).

An `Experiment` is data plus one function: `run(ctx) -> ExperimentResult`. The function asks the
`ExperimentContext` for what it needs (the dataset's splits, synthetic images for a plan, a trained
and evaluated method) so that every experiment goes through the one orchestration path of
`synaug.workflow`, and synthetic images made for one plan are generated once and shared by every
experiment that uses the same plan (a folder keyed by dataset, plan and generator under
`ctx.shared`). The result (tables of mean and std over seeds, curves, PNG figures, one finding per
paper claim) is written by `write_result` as results.json, the PNGs, and an HTML section.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from synaug.data import DATASETS, load_dataset
from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.errors import ConfigError
from synaug.experiments.experiment_report import write_result
from synaug.experiments.runner import resolve_config
from synaug.fileio import write_json
from synaug.registry import Registry
from synaug.train.config import TrainConfig
from synaug.train.methods import get_method
from synaug.train.rundir import prepare_run_dir
from synaug.validate import load_yaml
from synaug.workflow import decode_to_cache, train_and_evaluate, training_side, uniformize


@dataclass
class Table:
    """Rows of numbers: each row maps a column to {"mean", "std", "seeds": [...]} (or a plain value),
    and optionally "paper" -> the paper's number for that row/column where the paper has one."""

    title: str
    columns: list[str]
    rows: dict[str, dict] = field(default_factory=dict)
    paper: dict[str, dict] = field(default_factory=dict)
    note: str = ""
    labels: list[str] = field(default_factory=list)   # column titles (default: the column keys)
    fmt: list[str] = field(default_factory=list)      # number format per column (default "{:.2f}")
    paper_source: str = ""                            # where the paper numbers come from (table, setting)


@dataclass
class Finding:
    """One claim of the paper and what happened here: "reproduced", "not reproduced" or "not runnable
    here" (with the reason), and the numbers that decide it, with the rule used."""

    claim: str
    status: str
    evidence: str


@dataclass
class ExperimentResult:
    tables: list[Table] = field(default_factory=list)
    curves: dict = field(default_factory=dict)        # name -> {"x": [...], series: {"mean": [...], "std": [...]}}
    figures: list[tuple[str, str]] = field(default_factory=list)  # (PNG file name inside ctx.out, caption)
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # rows or parts not run here, each with why


@dataclass
class ExperimentContext:
    """What an experiment runs with. `config` is a resolved `synaug.experiments.runner` config
    (dataset, imbalance, seeds, plan, generate, train, thresholds); `out` the experiment's folder;
    `shared` the folder of generated images shared between experiments."""

    config: dict
    out: Path
    shared: Path
    progress: bool = True
    log: Callable = print
    _splits: dict = field(default_factory=dict, repr=False)

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.config["seeds"]]

    def shared_folder(self, dataset: str, plan_key: dict) -> Path:
        """The folder, under `shared`, of the images of one plan of one dataset: named by the dataset
        and a hash of everything that decides the images (plan counts or strategy, plan seed,
        generator and its options, image side), so equal plans meet in the same folder."""
        digest = hashlib.sha256(json.dumps(plan_key, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return self.shared / f"{dataset.partition(':')[0]}-{digest}"

    def splits(self, dataset: str | None = None, imbalance: float | None = None) -> DatasetSplits:
        """The splits of `dataset` (default: the config's) at `imbalance` (default: the config's),
        loaded once per experiment."""
        key = (dataset or self.config["dataset"], self.config["imbalance"] if imbalance is None else imbalance)
        if key not in self._splits:
            self._splits[key] = load_dataset(key[0], imbalance=key[1])
        return self._splits[key]

    def synthetic(self, splits: DatasetSplits, dataset: str | None = None, strategy="uniform",
                  use_groups: bool = True, generator: str | None = None,
                  generator_options: dict | None = None, plan_options: dict | None = None) -> ImageSet:
        """Synthetic images for the plan `strategy` (a strategy name or {cell: final count}) of
        `splits.train`, generated once into the shared folder of that plan and read back at the
        training side; generator and its options default to the config's `generate` block, the
        other plan settings (seed, template, modifiers) to its `plan` block updated by `plan_options`."""
        dataset = dataset or self.config["dataset"]
        gen = {**self.config["generate"]}
        if generator:
            gen["generator"] = generator
        if generator_options is not None:
            gen["options"] = generator_options
        plan = {**self.config["plan"], **(plan_options or {}), "strategy": strategy}
        side = training_side(splits, TrainConfig.from_dict(self.config["train"]))
        key = dict(dataset=dataset, imbalance=self.config["imbalance"], train=len(splits.train), plan=plan,
                   generator=gen["generator"], options=gen.get("options") or {}, side=side, groups=use_groups)
        folder = self.shared_folder(dataset, key)
        folder.mkdir(parents=True, exist_ok=True)
        images, _ = uniformize(splits, dataset, folder, use_groups, side, plan_options=plan, generate_options=gen,
                               progress=self.progress, log=lambda *a, **k: None)
        return images

    def train_eval(self, method: str, splits: DatasetSplits, name: str, seed: int,
                   synthetic: ImageSet | None = None, train: dict | None = None) -> dict:
        """`method` trained (stage 1 + its stage 2) with the config's training options updated by
        `train` and the run's `seed`, evaluated on `splits.test`; the run folder is
        out/runs/NAME/seedS. A finished run there is reused when it was made with the same method,
        data, training options and synthetic images (experiment.json); one made otherwise is
        replaced, so a re-run with other --steps never reports stale numbers."""
        run_dir = self.out / "runs" / name / f"seed{seed}"
        cfg = TrainConfig.from_dict({**self.config["train"], **(train or {}), "seed": int(seed)})
        stamp = {"method": method, "data": splits.info, "train": cfg.to_dict(),
                 "train_set": fingerprint(splits.train), "synthetic": fingerprint(synthetic),
                 "thresholds": self.config["thresholds"]}
        stamp = json.loads(json.dumps(stamp, default=str))
        done, stamp_file = run_dir / "metrics.json", run_dir / "experiment.json"
        if done.is_file() and stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
            return json.loads(done.read_text())
        prepare_run_dir(run_dir, overwrite=True)  # another run's (or a killed run's) files: start afresh
        splits, sets = decode_to_cache(splits, {"synthetic": synthetic}, cfg, self.config["dataset"], self.shared,
                                       self.progress)
        th = self.config["thresholds"]
        metrics = train_and_evaluate(get_method(method), splits, cfg, run_dir, synthetic=sets["synthetic"],
                                     many=th["many"], few=th["few"], progress=self.progress)
        metrics.pop("predictions", None)
        write_json(stamp_file, stamp)
        return metrics


def fingerprint(ds: ImageSet | None, sample: int = 256) -> str | None:
    """A digest of a training set's contents, so a finished run is reused only for the same data: its
    size, labels, groups, synthetic flags and image bytes (all of an in-memory set; `sample` evenly
    spaced images of one read from disk or a cache, whose decoding would cost more than the check)."""
    if ds is None:
        return None
    h = hashlib.sha256(repr((len(ds), ds.image_shape, list(ds.class_names))).encode())
    for part in (ds.labels, ds.groups, ds.synthetic):
        if part is not None:
            h.update(np.ascontiguousarray(part).tobytes())
    if isinstance(ds.images, np.ndarray):
        h.update(np.ascontiguousarray(ds.images).tobytes())
    elif len(ds):
        h.update(np.ascontiguousarray(ds.images[np.unique(np.linspace(0, len(ds) - 1, sample).astype(int))]).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Experiment:
    name: str             # table1 ... fig5, uniformization
    title: str
    paper: str            # which table or figure of which paper, and what it shows
    dataset: str          # the embedded dataset it runs on by default
    run: Callable[[ExperimentContext], ExperimentResult]
    defaults: dict = field(default_factory=dict)   # config defaults (e.g. train steps, methods)
    tiny: dict = field(default_factory=dict)       # overrides that make it run in seconds (tests)
    task: str = "longtail"  # the task (synaug.experiments.tasks) whose metrics and defaults it uses


EXPERIMENTS = Registry("experiment")


def register_experiment(experiment: Experiment) -> Experiment:
    return EXPERIMENTS.add(experiment.name, experiment)


def experiment_config(experiment: Experiment, overrides: dict | None = None, config_path=None,
                      tiny: bool = False) -> dict:
    """The resolved runner config of `experiment`: synaug's base config, then the experiment's task,
    dataset, seeds 0, 1, 2 (a table reports mean ± std) and defaults, then with `tiny` the overrides
    that make it run in seconds (tests), then the user's YAML file, then explicit overrides
    (--dataset, --seeds, --steps, --out): what the user states always wins. Nested blocks (train, plan, generate) merge.
    The task is the experiment's: its table columns are that task's metrics."""
    own_data = experiment.dataset.partition(":")[0] in DATASETS  # not so for a toy that draws its own points
    layers = [{"task": experiment.task, "dataset": experiment.dataset if own_data else None, "seeds": [0, 1, 2],
               "out": f"runs/experiments/{experiment.name}"}, experiment.defaults, experiment.tiny if tiny else {}]
    if config_path:
        resolve_config(None, config_path)  # a bad key or name in the file: an error that names the file
        layers.append(load_yaml(config_path, "--config"))
    layers.append(overrides or {})
    merged: dict = {}
    for layer in layers:
        for k, v in layer.items():
            if v is None:
                continue
            merged[k] = {**merged.get(k, {}), **v} if isinstance(v, dict) else copy.deepcopy(v)
    if merged["task"] != experiment.task:
        raise ConfigError(f"experiment {experiment.name} is a {experiment.task} experiment; its config says "
                          f"task: {merged['task']} (leave task out of an experiment's config)")
    merged.pop("methods", None)  # an experiment's rows are its own
    return resolve_config(merged)


DEFAULT_ROOT = Path("runs/experiments")


def in_default_root(out: Path) -> bool:
    """Whether `out` is a folder of the default experiments root (runs/experiments/NAME)."""
    return Path(out).resolve().parent == DEFAULT_ROOT.resolve()


def shared_dir(out: Path, shared: Path | None = None) -> Path:
    """Generated images shared between experiments: `shared` when given; runs/experiments/shared for
    the default runs/experiments/NAME; else OUT/shared, so that nothing is written outside a folder
    the user named."""
    if shared:
        return Path(shared)
    return DEFAULT_ROOT.resolve() / "shared" if in_default_root(out) else Path(out).resolve() / "shared"


def run_named(name: str, overrides: dict | None = None, config_path=None, progress: bool = True,
              log: Callable = print, tiny: bool = False, shared: Path | None = None) -> dict:
    """`synaug experiment NAME`: the experiment's config resolved, its run, and its results written
    (results.json, the PNGs, report.html) into the config's `out`. Returns the results dict."""
    experiment = EXPERIMENTS[name]
    cfg = experiment_config(experiment, overrides, config_path, tiny)
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    ctx = ExperimentContext(cfg, out, shared_dir(out, shared), progress=progress, log=log)
    t0 = time.time()
    log(f"{name}: {experiment.title} on {cfg['dataset']}, seeds {ctx.seeds} -> {out}")
    result = experiment.run(ctx)
    return write_result(experiment, cfg, out, result, time.time() - t0, index=in_default_root(out))
