"""Run folders carry what made them: ONE identity, `RUN/job.json` (the job's stamp and key, written
by the engine, `synaug.engine.rundirs`), so that:
- `synaug train` into a folder that already holds something is refused unless `--resume` (same
  run: the engine checks job.json) or `--overwrite`, which removes only the files a run writes
  (`RUN_WRITES`), only from a folder that is provably a synaug run (job.json, or an older synaug's
  run.json; never through a symbolic link): a user's files and inputs kept in or linked into the
  folder stay;
- a resumed run continues only the run that made its checkpoints, its unreadable checkpoints are a
  clear error, and its log keeps exactly the lines of the steps the checkpoints hold, so the
  resumed log reads as an uninterrupted one;
- `synaug evaluate --run RUN` finds its dataset without `--dataset`, and refuses a different one
  (from job.json; a run of an older synaug from its run.json, which synaug no longer writes).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from synaug.errors import RunFolderError
from synaug.fileio import atomic_write_text
from synaug.validate import dataset_spec

MANIFEST = "run.json"  # an older synaug's identity: read (evaluate, the run marker), never written
IDENTITY = "job.json"
RUN_MARKERS = ("run.json", "job.json")  # written by synaug only: a folder holding one is a synaug run
# produced by a run; removed when a run starts afresh, so nothing of an earlier run is scored
ARTEFACTS = ("stage1.pt", "stage2.pt", "stage1.pt.tmp", "stage2.pt.tmp", "log.jsonl", "metrics.json", "dfr.json",
             "normalize.json", "preprocess.json", "predictions.npz", "evaluation.json")
# every file a run writes into its folder: all that --overwrite removes (sub-folders, e.g. cache/ and
# tune/, and anything else, the user's, stay)
RUN_WRITES = (*ARTEFACTS, *RUN_MARKERS, "config.yaml", "versions.json", "done")


def read_manifest(run_dir: Path) -> dict | None:
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} is damaged ({exc}); use --overwrite or a new --out") from exc
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} is damaged (not a JSON object); use --overwrite or a new --out")
    return data


def _is_run(run_dir: Path) -> bool:
    """A synaug run's folder: its own marker, or (a tuned job, before it claims the folder) its tuning
    record or the runs of its tuning candidates in tune/ (in a run store the candidates are runs of their
    own, and tune/ holds the record alone)."""
    def own(path: Path) -> bool:
        return path.is_file() and not path.is_symlink()
    return (any(own(run_dir / f) for f in RUN_MARKERS) or own(run_dir / "tune" / "tuning.json")
            or any(map(own, run_dir.glob("tune/*/job.json"))))


def check_run_dir(run_dir: Path, resume: bool = False, overwrite: bool = False) -> None:
    """The policy for a run folder, checked before any work (nothing is written): new or empty; or
    `resume` (a run folder, checked later against its job.json); or `overwrite`, which will delete a
    synaug run (never a folder that is not one)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"--out {run_dir} is a file, not a folder")
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return
    if resume:
        if not (run_dir / IDENTITY).is_file():
            raise RunFolderError(f"{run_dir} has no {IDENTITY} (not a synaug run, or made by an older synaug): "
                                 "cannot check it is the same run; use --overwrite or a new --out")
        return
    if not overwrite:
        held = held_run(run_dir)
        what = f" (method {held[0]}, dataset {held[1]})" if held else ""
        raise RunFolderError(f"{run_dir} is not empty{what}: pass --resume to continue that run, --overwrite to "
                             "delete it and start afresh, or choose another --out")
    if run_dir.is_symlink():
        raise RunFolderError(f"--out {run_dir} is a symbolic link: --overwrite never deletes through one; give the "
                             "folder it points to, or another --out")
    if not _is_run(run_dir):
        raise RunFolderError(f"{run_dir} is not empty and is not a synaug run folder (no {' or '.join(RUN_MARKERS)}): "
                             "--overwrite deletes run folders only; choose another --out")


def clear_run_dir(run_dir: Path, keep: tuple = ()) -> list[str]:
    """Remove the files an earlier run wrote (`RUN_WRITES`, but those named in `keep`) from a synaug
    run folder; a symbolic link among them is removed, never what it points to. Everything else, a
    user's file, an input inside the folder, a sub-folder, stays. Returns the names removed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return []
    check_run_dir(run_dir, overwrite=True)
    removed = []
    for name in RUN_WRITES:
        path = run_dir / name
        if name not in keep and (path.is_symlink() or path.is_file()):
            path.unlink()
            removed.append(name)
    return removed


def held_run(run_dir: Path) -> tuple[str, str] | None:
    """(method, dataset) of the run a folder holds, from its job.json (or an older run.json)."""
    for name in (IDENTITY, MANIFEST):
        try:
            held = json.loads((Path(run_dir) / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(held, dict):
            data = held.get("data")
            return held.get("method"), data.get("dataset") if isinstance(data, dict) else held.get("dataset")
    return None


def start_run(run_dir: Path, resume: bool) -> None:
    """Called by `train_method` before anything else is written to `run_dir` (whose identity, job.json,
    the engine has checked and written): a resumed run keeps the log lines of the steps its
    checkpoints hold; a fresh one starts from no artefact of an earlier run."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        steps = {phase: checkpoint_step(run_dir / f"{phase}.pt") for phase in ("stage1", "stage2")}
        trim_log(run_dir / "log.jsonl", steps)
        return
    for name in ARTEFACTS:
        if (run_dir / name).is_file():
            (run_dir / name).unlink()


def load_checkpoint(path: Path, device="cpu") -> dict:
    """torch.load(weights_only=True), with a clear error for a truncated or foreign file."""
    import torch
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise RunFolderError(f"checkpoint {path} is unreadable (truncated or not a synaug checkpoint: "
                             f"{first_line(exc)}); delete it to restart that stage, or use --overwrite") from exc
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise RunFolderError(f"checkpoint {path} is not a synaug checkpoint (no model/step)")
    return state


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, or its class name when it has none (an empty file's
    EOFError)."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else exc.__class__.__name__)[:limit]


def checkpoint_step(path: Path) -> int | None:
    return int(load_checkpoint(path)["step"]) if path.is_file() else None


def trim_log(log_path: Path, steps: dict) -> None:
    """Keep the log lines of the steps the checkpoints hold (a resumed phase re-runs and re-logs the
    rest) and drop a torn last line, so appending on resume gives the uninterrupted log."""
    if not log_path.is_file():
        return
    kept = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            break  # torn by the kill
        if not isinstance(row, dict):
            break
        done = steps.get(row.get("phase"), -1)
        if done is None or (done != -1 and int(row.get("step", 0)) >= done):
            continue
        kept.append(line + "\n")
    atomic_write_text(log_path, "".join(kept))


def dataset_of_run(run_dir: Path, dataset: str | None, imbalance: float | None) -> tuple[str, float]:
    """The dataset to evaluate a run on: the run's own (run.json); an explicit different one is refused."""
    held = read_manifest(run_dir)
    if held is None:
        if dataset is None:
            raise RunFolderError(f"{run_dir} has no {MANIFEST} (made by an older synaug): pass --dataset")
        return dataset, 100 if imbalance is None else imbalance
    if dataset is not None and dataset_spec(dataset) != held.get("dataset"):
        raise RunFolderError(f"{run_dir} was trained on {held.get('dataset')!r}, not {dataset!r}: evaluating it on "
                             "another dataset is refused (leave out --dataset to use the run's)")
    run_if = held.get("imbalance")
    if imbalance is not None and run_if is not None and float(imbalance) != float(run_if):
        raise RunFolderError(f"{run_dir} was trained with --imbalance {run_if}, not {imbalance}")
    return held.get("dataset"), (run_if if run_if is not None else (100 if imbalance is None else imbalance))
