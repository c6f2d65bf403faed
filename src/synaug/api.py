"""The Python API: one function per `synaug` subcommand, taking the same options, returning what
the command prints. Each is the same `synaug.workflow` call the CLI makes.

    import synaug
    synaug.plan("mnist-lt", "plan.csv")                       # -> (items, plan meta)
    synaug.generate("plan.csv", "synthetic/")                 # -> GenerationReport
    metrics = synaug.train("mnist-lt", "synaug", "runs/r0", synthetic="synthetic/", steps=600)
    metrics = synaug.evaluate("runs/r0")
    results = synaug.run({"task": "longtail", "seeds": [0, 1, 2]})   # several methods and seeds
    results = synaug.experiment("table2", seeds=[0, 1, 2])   # a table of the paper (synaug experiment)
"""

from __future__ import annotations

from pathlib import Path

from synaug.experiments.library import run_named
from synaug.experiments.runner import resolve_config, run_experiment
from synaug.generators.runner import GenerationReport
from synaug.validate import parse_strategy
from synaug.workflow import evaluate_run, generate_from_plan, plan_dataset, train_config, train_run


def plan(dataset: str, out: str | Path = "plan.csv", *, imbalance: float = 100, strategy="uniform",
         seed: int = 0, template: str | None = None, modifiers: str | None = None, generator: str = "render",
         use_groups: bool = True, aliases: dict | None = None, dataset_options: dict | None = None):
    """`synaug plan`: plan.csv (+ plan.json) for `dataset`; returns (plan items, plan metadata)."""
    strategy = parse_strategy(strategy) if isinstance(strategy, str) else strategy
    return plan_dataset(dataset, Path(out), imbalance=imbalance, dataset_options=dataset_options,
                        strategy=strategy, seed=seed, template=template, modifiers=modifiers,
                        generator=generator, use_groups=use_groups, aliases=aliases)


def generate(plan_path: str | Path, out: str | Path, generator: str = "render", *,
             generator_options: dict | None = None, **run_options) -> GenerationReport:
    """`synaug generate`: the images of a plan into `out` (resumable); `run_options`: batch_size,
    shard, workers, skip_undrawable, progress."""
    return generate_from_plan(Path(plan_path), Path(out), generator, generator_options=generator_options,
                              **run_options)


def train(dataset: str, method: str, out: str | Path, *, synthetic: str | Path | None = None,
          imbalance: float = 100, many: int = 100, few: int = 20, resume: bool = False,
          overwrite: bool = False, progress: bool = True, **train_options) -> dict | None:
    """`synaug train`: one method into the run folder `out`; `train_options` are TrainConfig fields
    (steps, lr, model, seed...). Returns the test metrics (None on ranks > 0 under torchrun)."""
    return train_run(dataset, method, Path(out), train_config(train_options), synthetic=synthetic,
                     imbalance=imbalance, many=many, few=few, resume=resume, overwrite=overwrite,
                     progress=progress)


def evaluate(run: str | Path, dataset: str | None = None, *, imbalance: float | None = None, many: int = 100,
             few: int = 20, device: str = "auto") -> dict:
    """`synaug evaluate`: a run folder's final checkpoint on its dataset's test split."""
    return evaluate_run(Path(run), dataset, imbalance, many=many, few=few, device=device)


def run(config: dict | None = None, path: str | Path | None = None, progress: bool = True) -> dict | None:
    """`synaug run` / `synaug demo`: every method and seed of an experiment config (a dict of
    overrides and/or a YAML file), through plan, generate, train and evaluate; results.json,
    report.html and one run folder per method and seed under the config's `out`."""
    return run_experiment(resolve_config(config, path), progress=progress)


def experiment(name: str, *, dataset: str | None = None, imbalance: float | None = None, seeds=None,
               steps: int | None = None, out: str | Path | None = None, config: str | Path | None = None,
               overrides: dict | None = None, shared: str | Path | None = None, progress: bool = True,
               tiny: bool = False) -> dict:
    """`synaug experiment NAME`: one of the paper's tables or figures (`synaug experiment --list`) on
    the embedded data, or on yours with `dataset` / a `config` YAML (dataset, plan, generate, train);
    `overrides` is any further runner-config dict. Writes results.json, PNGs and report.html under
    `out` (default runs/experiments/NAME; generated images in `shared`, default runs/experiments/shared
    or OUT/shared) and returns the results dict."""
    given = {"dataset": dataset, "imbalance": imbalance, "out": None if out is None else str(out),
             "seeds": None if seeds is None else [int(s) for s in ([seeds] if isinstance(seeds, int) else seeds)],
             "train": {"steps": steps} if steps else None}
    return run_named(name, {**given, **(overrides or {})}, config, progress=progress, tiny=tiny,
                     shared=None if shared is None else Path(shared))
