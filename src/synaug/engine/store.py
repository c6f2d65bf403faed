"""The run store: every job's run folder named by its key, the hash of its whole specification
(DomainBed's sweep). STORE/<key>/ holds the job's identity (job.json), its record (metrics.json and
predictions.npz, `synaug.engine.records`), the done marker and, while useful, its checkpoints and log.
Every command and experiment looks a job up here before training, so a job that five tables list is
trained once, and runs of other settings live side by side.

Who uses which run: each command that collected from the store leaves a reference,
STORE/refs/<digest of its output folder>.json = {"owner": OUT, "keys": [...]}; `synaug runs gc`
removes the runs no reference names (after a dry run)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from synaug.engine.job import Job
from synaug.engine.records import PREDICTIONS, predictions_of, read_predictions, rescore
from synaug.engine.rundirs import DONE, STAMP, read_stamp
from synaug.engine.specs import Thresholds
from synaug.errors import RunFolderError
from synaug.fileio import write_json

REFS = "refs"
RECORD_FILES = (STAMP, "metrics.json", PREDICTIONS, DONE)  # what results/ keeps of a run (no checkpoint)


@dataclass(frozen=True)
class StoredRun:
    key: str
    folder: Path
    stamp: dict | None
    done: bool

    @property
    def method(self) -> str:
        return (self.stamp or {}).get("method", "?")

    @property
    def seed(self):
        return ((self.stamp or {}).get("train") or {}).get("seed")


@dataclass(frozen=True)
class RunStore:
    root: Path

    def folder(self, job: Job) -> Path:
        return Path(self.root) / job.key()

    def is_stored(self, job: Job) -> bool:
        """Whether the job's run is finished here: its done marker, metrics and an identity of its key."""
        folder = self.folder(job)
        if not ((folder / DONE).is_file() and (folder / "metrics.json").is_file()):
            return False
        stamp = read_stamp(folder)
        return stamp is not None and stamp.get("key") == job.key()

    def load(self, job: Job) -> dict:
        """A stored job's metrics re-scored from its record with the job's thresholds (`read_run`)."""
        return read_run(self.folder(job), job.thresholds)

    def runs(self) -> list[StoredRun]:
        """Every run folder of the store, in key order."""
        root = Path(self.root)
        if not root.is_dir():
            return []
        return [StoredRun(p.name, p, read_stamp(p), (p / DONE).is_file())
                for p in sorted(root.iterdir()) if p.is_dir() and p.name != REFS and (p / STAMP).is_file()]

    def check(self) -> list[tuple[str, str]]:
        """(key, what is wrong) for every run that is unfinished, whose identity does not name its
        folder, or whose metrics or record cannot be read (re-running the command that listed the job
        trains it again)."""
        bad = []
        for run in self.runs():
            if run.stamp is None or run.stamp.get("key") != run.key:
                bad.append((run.key, f"{STAMP} is unreadable or names another key"))
            elif not run.done:
                bad.append((run.key, "unfinished (no done marker): the next command that lists it resumes it"))
            elif readable_metrics(run.folder) is None:
                bad.append((run.key, "metrics.json is unreadable"))
            elif (record := read_predictions(run.folder)) is None or "test_pred" not in record:
                bad.append((run.key, f"{PREDICTIONS} is missing or unreadable: its tables keep the numbers "
                                     "metrics.json froze at training time"))
        return bad

    def reference(self, owner: Path, jobs: list[Job]) -> Path:
        """Record that `owner` (an output folder) uses these jobs' runs."""
        owner = Path(owner).resolve()
        path = Path(self.root) / REFS / f"{hashlib.sha256(str(owner).encode()).hexdigest()[:16]}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {"owner": str(owner), "keys": sorted({j.key() for j in jobs}),
                          "names": {j.key(): f"{j.name} seed {j.seed}" for j in jobs}}, sort_keys=True)
        return path

    def references(self) -> dict[str, list[str]]:
        """{run key: [owner folders that reference it]} over the refs whose owner still exists."""
        out: dict[str, list[str]] = {}
        for path in sorted((Path(self.root) / REFS).glob("*.json")):
            try:
                ref = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if not Path(ref.get("owner", "")).is_dir():
                continue  # its output folder was deleted: it holds no run any more
            for key in ref.get("keys", []):
                out.setdefault(key, []).append(ref["owner"])
        return out

    def unreferenced(self) -> list[StoredRun]:
        refs = self.references()
        return [r for r in self.runs() if r.key not in refs]

    def link(self, runs_dir: Path, jobs: list[Job]) -> list[str]:
        """OUT/runs/NAME/seedS -> the job's store folder (relative symbolic links), so a command's output
        folder shows its runs by name; returns the names not linked because a real folder (an older
        synaug's run) stands there."""
        skipped = []
        for job in jobs:
            link = Path(runs_dir) / job.name / f"seed{job.seed}"
            target = self.folder(job).resolve()
            if link.is_symlink():
                if link.resolve() == target:
                    continue
                link.unlink()
            elif link.exists():
                skipped.append(str(link))
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(target, link.parent.resolve()), target_is_directory=True)
        return skipped

    def remove(self, run: StoredRun) -> None:
        """Delete one run folder of the store (only a folder directly inside it, never through a link)."""
        folder = Path(run.folder)
        if folder.is_symlink() or folder.parent.resolve() != Path(self.root).resolve():
            raise RunFolderError(f"{folder} is not a run folder of the store {self.root}: not removed")
        shutil.rmtree(folder)


def readable_metrics(folder: Path) -> dict | None:
    try:
        data = json.loads((Path(folder) / "metrics.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def read_run(folder: Path, thresholds: Thresholds | None = None) -> dict:
    """A finished run read back from its folder: metrics.json with its test predictions (from its
    record; older runs kept them in metrics.json itself). Without `thresholds`: the numbers as training
    wrote them, predictions as a list (what `run_job` returns); with them: re-scored from the record with
    today's metric code and those thresholds (`records.rescore`; a run without a record keeps its stored
    numbers, marked `rescored: false`)."""
    folder = Path(folder)
    stored = readable_metrics(folder)
    if stored is None:
        raise RunFolderError(f"{folder / 'metrics.json'} is missing or unreadable; remove {folder} to train the "
                             "job again")
    record = read_predictions(folder)
    if thresholds is None:
        return stored if record is None else {**stored, "predictions": predictions_of(record).tolist()}
    counts = record["train_counts"] if record is not None else stored.get("train_counts")
    many, few = thresholds.effective(counts) if counts is not None else (thresholds.many, thresholds.few)
    return rescore(stored, record, many, few)
