"""The paper's three imbalance problems as tasks: which data and methods a demo runs by default
and which metrics its table shows (labels, formats and definitions: `synaug.eval.specs`).
Everything else (plan, generate, train, evaluate) is the engine's."""

from __future__ import annotations

from dataclasses import dataclass

from synaug.registry import Registry


@dataclass(frozen=True)
class Task:
    name: str
    dataset: str
    methods: tuple
    metrics: tuple       # metric keys of the table, in order (synaug.eval.specs.METRICS)
    headline: str        # the metric a reader looks at first
    shot_groups: bool    # Many / Medium / Few of a long tail apply: the thresholds and the imbalance factor are stated
    cell_metrics: bool   # the data has groups: per-cell accuracy is shown


TASKS = Registry("task")
register_task = TASKS.add

register_task("longtail", Task("longtail", "mnist-lt", ("ce", "ce-rs", "synaug"),
                               ("accuracy", "many", "medium", "few", "balanced_accuracy", "gmean"), "accuracy",
                               shot_groups=True, cell_metrics=False))
register_task("fairness", Task("fairness", "mnist-fair", ("erm", "rs", "group-dro", "synaug", "synaug-classes"),
                               ("accuracy", "dp", "eo", "ed_mean", "ed", "worst_group"), "dp",
                               shot_groups=False, cell_metrics=True))
register_task("spurious", Task("spurious", "fashion-spurious",
                               ("erm", "group-dro", "dfr", "uniformize-mixup", "synaug", "synaug-dfr", "synaug-ft-val"),
                               ("worst_group", "mean_group", "mean_weighted", "accuracy"), "worst_group",
                               shot_groups=False, cell_metrics=True))
