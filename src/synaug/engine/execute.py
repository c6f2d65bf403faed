"""`run_job`: THE code that trains and evaluates. Everything a job says happens here, in this order:
the data (loaded once per workspace), the synthetic set (planned and generated once, or the user's
folder), the plan's cuts of the real images, the synthetic policy (audit -> filter -> budget for
`synaug-audit`), the job's subset, the decoded cache for large images, stage 1 and stage 2
(`synaug.training.pipeline`), the evaluation, and the files: rank 0 alone writes, every rank returns
the same metrics. A run folder whose stamp equals the job's is reused when done and resumed when not.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.engine.caching import decode_to_cache, training_side
from synaug.engine.inference import logits_of, metrics_from_logits
from synaug.engine.job import Job
from synaug.engine.records import write_predictions
from synaug.engine.rundirs import check_run_dir, claim_run_dir, finish_run
from synaug.engine.store import read_run
from synaug.engine.tuning import tuned
from synaug.engine.workspace import Workspace, subset_of
from synaug.fileio import write_json
from synaug.training import distributed
from synaug.training.config import TrainConfig
from synaug.training.pipeline import check_before_training, train_method


def training_data(job: Job, ws: Workspace) -> tuple[DatasetSplits, ImageSet | None, ImageSet, dict]:
    """(splits after the plan's cuts, the synthetic set the job reads, the job's real training images
    before cuts, facts for the run's record), on-disk images decoded into the cache. Nothing is
    written into the run folder yet."""
    splits = ws.splits(job.data)
    cfg = job.train
    splits, _ = decode_to_cache(splits, {}, cfg, ws.cache_dir, ws.progress)
    original, synthetic, facts = splits.train, None, {}
    if job.uses_plan_images:
        syn = ws.synthetic(job, splits, training_side(splits, cfg))
        _, sets = decode_to_cache(splits, {"s": syn.images}, cfg, ws.cache_dir, ws.progress)
        synthetic = sets["s"]
        splits = replace(splits, train=splits.train.subset(syn.kept))  # the plan's cuts (U-beta)
        facts.update(synthetic_folder=str(syn.folder), synthetic_set=replace(syn, images=synthetic))
    return splits, synthetic, original, facts


def synthetic_policy(job: Job, ws: Workspace, splits: DatasetSplits, synthetic: ImageSet | None,
                     facts: dict) -> tuple[ImageSet | None, TrainConfig]:
    """The method's synthetic policy (`synaug-audit`: audit -> filter -> budget of the set, made once
    beside it) and the training config that goes with it (weighting by the recipe's own audit)."""
    cfg = job.train
    if synthetic is None or job.method_entry.synthetic_policy != "audited":
        return synthetic, cfg
    syn = facts["synthetic_set"]
    synthetic, _ = ws.audited(syn, splits, job.data.dataset)
    facts["audit"] = str(ws.audit_dir(syn))
    if cfg.synthetic_weighting == "audit" and not cfg.audit:
        cfg = replace(cfg, audit=facts["audit"])
    return synthetic, cfg


def apply_subset(job: Job, splits: DatasetSplits, synthetic: ImageSet | None) -> tuple[DatasetSplits, ImageSet | None]:
    """The job's subset: the first n real images of each class (seeded), and the first n synthetic
    ones mixed INTO the training split (the replacement test trains plain CE on such mixtures)."""
    s = job.subset
    train = splits.train
    if s.real:
        train = train.subset(subset_of(s.real, train.labels, s.seed))
    if s.synthetic:
        train = train.concat(synthetic.subset(subset_of(s.synthetic, synthetic.labels, s.seed + 1)))
    return replace(splits, train=train), synthetic if job.method_entry.synthetic else None


def image_counts(train: ImageSet, synthetic: ImageSet | None) -> dict:
    """Per class, the real and synthetic images a run trained on (after the plan's cuts, the audit
    policy and the subset): what its record says it trained on, checked against plan.json in tests."""
    k = train.num_classes
    real = train.labels[~train.synthetic]
    mixed = train.labels[train.synthetic]  # synthetic images mixed into the split (the replacement test)
    added = np.concatenate([mixed, synthetic.labels]) if synthetic is not None else mixed
    return {"real": np.bincount(real, minlength=k).tolist(), "synthetic": np.bincount(added, minlength=k).tolist()}


def evaluate_and_record(job: Job, trained, splits: DatasetSplits, original: ImageSet, run_dir: Path) -> dict:
    """The run's record: the test (and validation) logits in RUN/predictions.npz, and the test metrics
    under the job's thresholds (Many / Medium / Few of the ORIGINAL long tail, before a plan's cuts)."""
    counts = original.class_counts()
    test_logits = logits_of(trained, splits.test)
    recorded = {"test": (splits.test, test_logits)}
    if splits.val is not None:
        recorded["val"] = (splits.val, logits_of(trained, splits.val))
    write_predictions(run_dir, original, recorded)
    many, few = job.thresholds.effective(counts)
    metrics = metrics_from_logits(test_logits, splits.test, counts, many, few, train_cells=original.cells())
    metrics["thresholds"] = job.thresholds.to_dict()
    return metrics


def run_job(job: Job, run_dir: Path, ws: Workspace, policy: str = "reuse", place=None) -> dict:
    """Execute `job` into `run_dir` (see the module docstring); returns its test metrics, with the
    per-image test predictions under "predictions" (for the test-image bootstrap; metrics.json keeps
    them in RUN/predictions.npz, the run's record). `policy` for a folder that holds something:
    "reuse" (a sweep: reuse it done, resume it unfinished, replace another run), "fresh" (refuse),
    "resume" (`synaug train --resume`), "overwrite". `place(job)` gives the folder of each of a tuned
    method's candidate jobs (a run store's); by default RUN/tune/<candidate>."""
    run_dir, d = Path(run_dir), ws.dist
    check_run_dir(run_dir, policy)  # refusals first: nothing is read or written before them
    raw = ws.splits(job.data)  # what fails on the inputs alone fails here: before generating, caching, claiming
    check_before_training(job.method_entry, raw, job.train, training_side(raw, job.train))
    key = job.key()
    job, tuning = tuned(job, run_dir, lambda j, folder: run_job(j, place(j) if place else folder, ws, place=place),
                        d.is_main)
    splits, synthetic, original, facts = training_data(job, ws)
    stamp = {**job.stamp(), "key": key, "train_set": splits.train.digest(),
             "synthetic": None if synthetic is None else synthetic.digest()}
    state = claim_run_dir(run_dir, stamp, policy, d)
    if state != "reused":
        t = time.time()
        synthetic, cfg = synthetic_policy(job, ws, splits, synthetic, facts)
        splits, synthetic = apply_subset(job, splits, synthetic)
        trained = train_method(job.method_entry, splits, cfg, run_dir, synthetic=synthetic,
                               resume=state == "resume", progress=ws.progress, dist=d)
        if d.is_main:
            metrics = evaluate_and_record(job, trained, splits, original, run_dir)
            metrics.update(train_seconds=time.time() - t, training_images=image_counts(splits.train, synthetic),
                           **({"tuning": tuning} if tuning else {}),
                           **{k: v for k, v in facts.items() if isinstance(v, str)})
            write_json(run_dir / "metrics.json", {k: v for k, v in metrics.items() if k != "predictions"})
            finish_run(run_dir)
            distributed.barrier(d)  # metrics.json is on disk before any rank reads it
            return metrics
        distributed.barrier(d)
    return read_run(run_dir)
