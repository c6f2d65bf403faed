"""A sweep: the jobs a command lists -> the run store -> their metrics, re-scored from the records.
Jobs are de-duplicated by key (a job listed by two rows, or by five tables, trains once), looked up in
the store, and only the missing ones are launched (`synaug.engine.launchers`). `estimate` answers
`--dry-run`: how many distinct jobs, how many already stored, the time the rest would take at the
training throughput measured on this machine, and what they need made first (synthetic sets, generator
fits), counted but not timed."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from synaug.engine.caching import training_side
from synaug.engine.execute import run_job, synthetic_policy, training_data
from synaug.engine.job import Job
from synaug.engine.launchers import LaunchSettings, Task, launch
from synaug.engine.specs import as_dict, fit_settings
from synaug.engine.store import RunStore, readable_metrics
from synaug.engine.tuning import candidate_jobs
from synaug.engine.workspace import Workspace
from synaug.errors import SynaugError
from synaug.training.methods import get_method
from synaug.training.models import build_model
from synaug.training.pipeline import check_before_training


def distinct(jobs: list[Job]) -> list[Job]:
    """The jobs once each, by key, in the order first listed."""
    return list({j.key(): j for j in reversed(jobs)}.values())[::-1]


@dataclass
class Sweep:
    metrics: dict = field(default_factory=dict)   # {job: metrics re-scored from its record}
    failed: dict = field(default_factory=dict)    # {job key: exception}
    counts: dict = field(default_factory=dict)    # listed, distinct, stored, trained


def prepare(job: Job, ws: Workspace) -> None:
    """Make what a job reads before any worker starts: its synthetic set (planned, drawn, its generator
    fitted), its decoded caches and the audit of its policy, and the same for its tuning candidates."""
    for j in [job, *(c for _, c in candidate_jobs(job))]:
        raw = ws.splits(j.data)
        check_before_training(j.method_entry, raw, j.train, training_side(raw, j.train))
        splits, synthetic, _, facts = training_data(j, ws)
        synthetic_policy(j, ws, splits, synthetic, facts)


class NotStored(Exception):
    """A job a collect-only sweep found no run for (it trains nothing)."""


def run_sweep(jobs: list[Job], store: RunStore, ws: Workspace, settings: LaunchSettings = LaunchSettings(),
              log=print, collect_only: bool = False) -> Sweep:
    """Every job's metrics: stored runs re-scored, the others trained first (by the launcher); with
    `collect_only` nothing is trained and the missing jobs are reported as failed with `NotStored`."""
    unique = distinct(jobs)
    pending = [j for j in unique if not store.is_stored(j)]
    counts = {"listed": len(jobs), "distinct": len(unique), "stored": len(unique) - len(pending)}
    ws.quiet(f"{counts['distinct']} distinct job(s) ({counts['listed']} listed): {counts['stored']} in the run store "
             f"{store.root}, {len(pending)} {'not stored (collect only: not trained)' if collect_only else 'to train'}")
    if collect_only:
        missing = {j.key(): NotStored(f"no run in the store {store.root} (collect only)") for j in pending}
        return Sweep({j: store.load(j) for j in jobs if j.key() not in missing}, missing, {**counts, "trained": 0})
    in_process = settings.name == "local" and settings.workers <= 1 or ws.dist.world > 1
    if not in_process:
        for job in pending:  # workers only read: every shared folder is made here first
            prepare(job, ws)
    tasks = [Task(j, str(store.root), str(ws.shared), None if ws.cache_dir is None else str(ws.cache_dir),
                  threads_per_worker(settings)) for j in pending]
    failed = launch(settings if not in_process else LaunchSettings(), tasks,
                    lambda j: run_job(j, store.folder(j), ws, place=store.folder), log=ws.quiet,
                    progress=ws.progress and ws.dist.is_main)
    sweep = Sweep(failed=failed, counts={**counts, "trained": sum(store.is_stored(j) for j in pending)})
    for job in jobs:
        if job.key() not in failed:
            sweep.metrics[job] = store.load(job)
    return sweep


def threads_per_worker(settings: LaunchSettings) -> int:
    """Torch threads for each worker: this process's, shared out among the local workers."""
    import torch
    return max(1, torch.get_num_threads() // max(1, settings.workers if settings.name == "local" else 1))


# ----------------------------------------------------------------------------- --dry-run
# A stage-2 step trains the last layer on frozen features: it costs a forward pass, and a training step's
# forward and backward cost about three forwards (the backward about two: Kaplan et al. 2020, 6N vs 2N FLOPs
# per example), so a stage-2 step costs a third of a stage-1 step per image, at stage 2's own batch size.
STAGE2_STEP_COST = 1 / 3


def stage1_steps(method: str, train: dict) -> float:
    """A run's training cost in stage-1 steps: its stage-1 steps, plus its stage-2 steps (for a method
    with a stage 2 only) each at `STAGE2_STEP_COST` of a stage-1 step scaled by the ratio of the batch
    sizes. `train` is the run's training options (a stamp's "train")."""
    try:
        has_stage2 = get_method(method).stage2 is not None
    except SynaugError:  # a stored run of a method this synaug no longer has: counted without a stage 2
        has_stage2 = False
    batch, batch2 = train.get("batch_size") or 1, train.get("stage2_batch_size") or train.get("batch_size") or 1
    stage2 = int(train.get("stage2_steps") or 0) * STAGE2_STEP_COST * batch2 / batch if has_stage2 else 0.0
    return int(train.get("steps") or 0) + stage2


def measured_seconds_per_step(store: RunStore, job: Job) -> float | None:
    """The median training seconds per stage-1 step of the store's finished runs on the same data and
    model (their stage-2 steps counted at their own cost, `stage1_steps`): this machine's measured
    throughput."""
    rates = []
    for run in store.runs():
        s = run.stamp or {}
        if not run.done or (s.get("data") or {}).get("dataset") != job.data.dataset:
            continue
        train = s.get("train") or {}
        if train.get("model") != job.train.model or train.get("batch_size") != job.train.batch_size:
            continue
        seconds = (readable_metrics(run.folder) or {}).get("train_seconds")
        steps = stage1_steps(s.get("method", ""), train)
        if isinstance(seconds, (int, float)) and seconds > 0 and steps:
            rates.append(seconds / steps)
    return statistics.median(rates) if rates else None


def calibrated_seconds_per_step(job: Job, ws: Workspace, steps: int = 5) -> float:
    """Seconds per stage-1 step of the job's model at its batch size on this machine, timed on random
    images of the data's shape (2 warm-up steps, then `steps` timed)."""
    import torch
    train = ws.splits(job.data).train
    side = training_side(ws.splits(job.data), job.train)
    model = build_model(job.train.model, in_channels=train.image_shape[2], num_classes=train.num_classes,
                        image_size=job.train.crop_size or side)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(job.train.batch_size, train.image_shape[2], job.train.crop_size or side, job.train.crop_size or side)
    y = torch.randint(0, train.num_classes, (job.train.batch_size,))
    model.train()
    for i in range(2 + steps):
        if i == 2:
            t = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - t) / steps


def estimate(jobs: list[Job], store: RunStore, ws: Workspace, workers: int = 1) -> dict:
    """--dry-run: distinct jobs, stored, to train, and the estimated training time of the rest (seconds),
    from the store's measured throughput on the same data and model, else a short calibration here."""
    unique = distinct(jobs)
    pending = [j for j in unique if not store.is_stored(j)]
    seconds, how, rates = 0.0, set(), {}
    for job in pending:
        group = (job.data.dataset, job.data.imbalance, job.train.model, job.train.batch_size, job.train.crop_size)
        if group not in rates:
            measured = measured_seconds_per_step(store, job)
            rates[group] = (measured, "measured from stored runs") if measured else (
                calibrated_seconds_per_step(job, ws), "calibrated: a few training steps timed here")
        rate, source = rates[group]
        how.add(source)
        seconds += rate * stage1_steps(job.method, job.train.to_dict()) * (1 + len(candidate_jobs(job)))
    sets, fits = to_make(pending, ws)
    return {"listed": len(jobs), "distinct": len(unique), "stored": len(unique) - len(pending),
            "to_train": len(pending), "eta_seconds": seconds / max(1, workers), "workers": workers,
            "throughput": sorted(how), "pending": [(j.name, j.seed, j.key()) for j in pending],
            "sets_to_draw": sets, "fits_to_make": fits}


def to_make(pending: list[Job], ws: Workspace) -> tuple[int, list[str]]:
    """What the pending jobs need made before they train, which the estimate does not time: the distinct
    synthetic sets not yet drawn in the shared folder, and the generator fits (ddpm) not yet started there
    ("FOLDER (GENERATOR, N steps)"). Fits live in the shared folder, not the run store: a fresh shared
    folder fits them again, and a fit can take longer than the training it feeds."""
    planned = {(j.data, j.plan, j.generator, training_side(ws.splits(j.data), j.train))
               for j in pending if j.plan is not None and j.uses_plan_images}
    sets = [(data, plan, generator) for data, plan, generator, side in planned
            if not ws.drawn(data, plan, generator, side)]
    fits = {}
    for data, plan, generator in sets:
        folder = ws.fit_to_make(data, plan, generator)
        if folder is not None:
            steps = fit_settings(generator.name, as_dict(generator.fit))[1].steps
            fits[folder.name] = f"{folder.name} ({generator.name}, {steps} steps)"
    return len(sets), sorted(fits.values())


def to_make_text(estimated: dict) -> str:
    """`estimate`'s untimed part in words."""
    return (f"{estimated.get('sets_to_draw', 0)} synthetic set(s) to draw and "
            f"{len(estimated.get('fits_to_make', []))} generator fit(s) to make, not in the estimate")


def to_make_note(estimated: dict) -> str:
    """`to_make_text` as a clause to append to a one-line summary ("" when nothing is to be made first)."""
    nothing = not (estimated.get("sets_to_draw") or estimated.get("fits_to_make"))
    return "" if nothing else f"; first {to_make_text(estimated)}"
