"""Choices made on validation data, never on the test set: a method that declares `tune` (e.g. Weight
Balancing's weight decay, the re-trained last layer's learning rate) has each candidate trained as
its own job on the training split minus a validation split carved from it (20 % of every cell,
seeded; the dataset's own validation split where it has one), scored on that split by the method's
`select` metric; the run then trains with the best candidate on the whole training split. The
candidates' run folders live in RUN/tune/ and are reused like any job's."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

from synaug.engine.job import Job
from synaug.fileio import write_json

VALIDATION_FRACTION = 0.2
RECORD = "tuning.json"


def candidates(tune: tuple) -> list[dict]:
    """Every combination of the tuned fields' candidate values, in declaration order."""
    names = [name for name, _ in tune]
    return [dict(zip(names, values)) for values in itertools.product(*(values for _, values in tune))]


def label(changes: dict) -> str:
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changes.items())


def candidate_jobs(job: Job) -> list[tuple[dict, Job]]:
    """(changes, candidate job) for every candidate of the job's method (none for a method that tunes
    nothing, or a job already tuned): trained on the training split minus its validation carve."""
    method = job.method_entry
    if not method.tune or job.tuned:
        return []
    data = replace(job.data, holdout=VALIDATION_FRACTION)
    return [(changes, replace(job, name=f"{job.name}/tune/{label(changes)}", data=data,
                              train=job.train.replace(**changes), tuned=True))
            for changes in candidates(method.tune)]


def tuned(job: Job, run_dir: Path, execute, is_main: bool = True) -> tuple[Job, dict]:
    """(the job with its method's tuned training options set, the record of the choice); a job whose
    method tunes nothing, or one already tuned, is returned as it is. `execute(job, folder)` runs a
    candidate job (the engine's run_job, reusing finished candidates)."""
    method = job.method_entry
    if not method.tune or job.tuned:
        return job, {}
    scores = {}
    for changes, candidate in candidate_jobs(job):
        metrics = execute(candidate, Path(run_dir) / "tune" / label(changes))
        scores[label(changes)] = (changes, metrics.get(method.select))
    ranked = [(score, i) for i, (_, score) in enumerate(scores.values()) if score is not None]
    first_best = max(ranked, key=lambda p: (p[0], -p[1]))[1] if ranked else 0  # ties: the first candidate
    best = list(scores.values())[first_best][0] if ranked else candidates(method.tune)[0]
    record = {"select": method.select, "validation": f"{VALIDATION_FRACTION:.0%} of every training cell carved "
              "off (seeded by the subset seed), or the dataset's own validation split", "chosen": best,
              "candidates": {k: score for k, (_, score) in scores.items()}}
    if is_main:
        (Path(run_dir) / "tune").mkdir(parents=True, exist_ok=True)  # candidates may live elsewhere (a run store)
        write_json(Path(run_dir) / "tune" / RECORD, record)
    return replace(job, train=job.train.replace(**best), tuned=True), record
