"""Run folders and jobs: a folder records the job that made it (RUN/job.json, its stamp) and says
when it is finished (RUN/done, written after metrics.json), as DomainBed's sweeps do. A sweep reuses
a finished folder of the same job, resumes an unfinished one, and replaces another job's run; `synaug
train` refuses a folder that holds something unless told to resume or overwrite."""

from __future__ import annotations

import json
from pathlib import Path

from synaug.errors import RunFolderError
from synaug.fileio import atomic_write_text, write_json
from synaug.training import distributed
from synaug.training.distributed import Dist
from synaug.training.rundir import check_run_dir as check_folder, clear_run_dir

STAMP = "job.json"
DONE = "done"
POLICIES = ("reuse", "fresh", "resume", "overwrite")


def read_stamp(run_dir: Path) -> dict | None:
    path = Path(run_dir) / STAMP
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # a damaged stamp is another run's: replaced (reuse) or refused (resume)


def check_run_dir(run_dir: Path, policy: str) -> None:
    """Before any work: refuse what the policy cannot take (no write)."""
    if policy not in POLICIES:
        raise ValueError(f"run-folder policy {policy!r}: one of {POLICIES}")
    check_folder(Path(run_dir), resume=policy == "resume", overwrite=policy in ("overwrite", "reuse"))


def claim_run_dir(run_dir: Path, stamp: dict, policy: str, d: Dist) -> str:
    """"reused" (the folder holds this job, finished), "resume" (this job, unfinished; or
    `--resume`), or "fresh" (an empty folder, or one cleared of another run; its decoded image cache,
    content-addressed, and its tuning candidates, jobs of their own, are kept). Every rank reads the folder before rank 0 changes it, so all ranks
    decide alike. `check_run_dir` has vouched for the folder before any work."""
    run_dir = Path(run_dir)
    held = read_stamp(run_dir)
    finished = (run_dir / DONE).is_file() and (run_dir / "metrics.json").is_file()
    if policy == "reuse":
        state = "reused" if held == stamp and finished else "resume" if held == stamp else "replace"
    elif policy == "resume":
        if held is not None and held != stamp:
            raise RunFolderError(f"--resume refused: {run_dir} holds a different run ({stamp_diff(held, stamp)}); "
                                 "use the same options, --overwrite, or a new --out")
        state = "resume"
    else:
        state = "replace" if policy == "overwrite" else "fresh"
    distributed.barrier(d)
    if d.is_main and state != "reused":
        if state == "replace":
            clear_run_dir(run_dir, keep=("cache", "tune"))
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / DONE).unlink(missing_ok=True)
        write_json(run_dir / STAMP, stamp, sort_keys=True)
    distributed.barrier(d)
    return "fresh" if state == "replace" else state


def finish_run(run_dir: Path) -> None:
    """Mark the run finished (after its metrics are written)."""
    atomic_write_text(Path(run_dir) / DONE, "done\n")


def stamp_diff(held: dict, stamp: dict, prefix: str = "") -> str:
    """Where two stamps differ, key by key (nested keys dotted), with the folder's and this job's values."""
    parts = []
    for k in sorted(set(held) | set(stamp)):
        a, b = held.get(k), stamp.get(k)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            parts.append(stamp_diff(a, b, f"{prefix}{k}."))
        else:
            parts.append(f"{prefix}{k}: folder has {str(a)[:60]}, this command {str(b)[:60]}")
    return "; ".join(parts)
