"""From a row's finished runs to its numbers with their uncertainty: per metric a `Stat` (mean,
sample std and 95 % t-interval over seeds, and the test-sampling interval of the mean from a bootstrap
over test images), and the runs' predictions with the scoring of their test set, which the claims'
paired tests need."""

from __future__ import annotations

from dataclasses import dataclass, field

from synaug.engine.job import Job
from synaug.engine.workspace import Workspace
from synaug.eval.bootstrap import N_RESAMPLES, resampled_interval
from synaug.eval.scoring import Scoring
from synaug.experiments.stats import Stat


@dataclass
class RowRuns:
    """One row's runs: per seed its metrics (with "predictions") and the scoring of its test set."""

    metrics: dict[int, dict] = field(default_factory=dict)
    scoring: dict[int, Scoring] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return sorted(self.metrics)

    def values(self, key: str) -> dict[int, float | None]:
        return {s: self.metrics[s].get(key) for s in self.seeds}

    def groups(self, seeds=None) -> list:
        """[(Scoring, [seed, ...])]: the seeds grouped by the test set they were scored on."""
        out: dict[int, tuple] = {}
        for s in seeds if seeds is not None else self.seeds:
            sc = self.scoring[s]
            out.setdefault(id(sc), (sc, []))[1].append(s)
        return list(out.values())


def scoring_for(ws: Workspace, job: Job) -> Scoring:
    """The scoring of a job's test split: its data's test set, its training class counts (before any
    plan cuts: Many / Medium / Few are the original long tail's) and its thresholds."""
    splits = ws.splits(job.data)
    counts = splits.train.class_counts()
    return Scoring.of(splits.test, counts, splits.train.cells(), *job.thresholds.effective(counts))


def row_runs(ws: Workspace, runs: list[tuple[Job, dict]]) -> RowRuns:
    """A row from its (job, metrics) pairs; jobs on the same data share one scoring object."""
    row, by_data = RowRuns(), {}
    for job, metrics in runs:
        key = (job.data, job.thresholds)
        if key not in by_data:
            by_data[key] = scoring_for(ws, job)
        row.metrics[job.seed], row.scoring[job.seed] = metrics, by_data[key]
    return row


def row_stats(row: RowRuns, keys, resamples: int = N_RESAMPLES) -> dict[str, Stat]:
    """{key: Stat} over the row's seeds, each with the test-sampling interval of its mean (from
    `resamples` bootstrap resamples of the test images; none with 0)."""
    keys = list(keys)
    stats = {k: Stat.of(list(row.values(k).values()), row.seeds) for k in keys}
    have = [s for s in row.seeds if "predictions" in row.metrics[s]]
    if have and resamples:
        groups = [(sc, [row.metrics[s]["predictions"] for s in seeds]) for sc, seeds in row.groups(have)]
        for k, ci in resampled_interval(groups, keys, n_resamples=resamples).items():
            stats[k].test_ci95 = ci
    return stats
