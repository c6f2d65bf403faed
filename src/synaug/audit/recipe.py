"""The audited recipe behind the `synaug-audit` method: audit -> filter -> budget, on the uniform
synthetic set every method shares, without generating anything new.

1. audit the uniform set against the real TRAINING data (`audit_dataset`: its validation part is
   carved from the training images; the test split is not even passed in) -> AUDIT/audit.json...;
2. filter (`filter_folder`, its defaults) a mirror of the synthetic folder, SYN-AUDITED/metadata.csv,
   whose rows point at the shared images (`../synthetic/...`): the drops are recorded there as
   `synaug filter` records them, and the shared folder that the other methods read is left as is;
3. budget: each cell keeps the FIRST k images that passed the filter, in plan order, with
   k = `audit-proportional`: round(transfer score x the cell's uniform fill) (the plan strategy of
   `synaug.audit.budget`, so k <= the uniform fill and no new image is needed).

Why proportional on transfer (fixed before any run, nothing tuned on test): transfer is the audit's
direct estimate of "synthetic images of this cell are recognised as it on real images"; the few
cells have 2-4 validation images, so the score is coarse, and a threshold would switch a whole
cell off or on over one validation image, while the proportional budget moves by a fraction.
The filter runs first so that a cell keeps min(k, images that passed) - the filter removes bad
images, the budget limits how much a poorly transferring cell can pull the model.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass, field, replace as dc_replace
from pathlib import Path

import numpy as np

from synaug.audit.budget import audit_counts
from synaug.audit.core import AUDIT_VERSION, AuditConfig, audit_dataset
from synaug.audit.filter import filter_folder
from synaug.constraints import MAX_RATIO
from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.data.readers import read_csv_rows
from synaug.data.splits import carve_validation
from synaug.errors import ConfigError, SynaugError
from synaug.fileio import atomic_write_text, write_json
from synaug.generators.runner import METADATA
from synaug.runtime import Dist

RECORD = "recipe.json"


@dataclass
class RecipeConfig:
    audit: AuditConfig = field(default_factory=AuditConfig)
    budget: str = "audit-proportional"   # an audit plan strategy without its path: audit-threshold:0.3, ...
    label_check: bool = True             # filter: drop images a real-data probe assigns to another cell
    max_ratio: float | None = MAX_RATIO  # filter: drop images this far off the real manifold
    min_own_prob: float | None = None    # filter: own-cell probability floor


def folder_names(folder: Path, synthetic: ImageSet) -> list[str]:
    """The file name of every row of `synthetic`, read from `folder`'s metadata.csv (rows the reader
    could not read are skipped, as the reader skipped them)."""
    rows, _ = read_csv_rows(Path(folder) / METADATA)
    skipped = {str(p) for p, _ in synthetic.skipped}
    names = [r["file_name"] for r in rows if str(Path(folder) / r["file_name"]) not in skipped]
    if len(names) != len(synthetic):
        raise SynaugError(f"{folder}: {len(synthetic)} synthetic images but {len(names)} readable rows in "
                          f"{METADATA}; re-read the folder")
    return names


def mirror_folder(source: Path, mirror: Path, names: list[str]) -> list[str]:
    """MIRROR/metadata.csv: the rows of SOURCE's metadata.csv named in `names`, their file names made
    relative to MIRROR. Rewritten from SOURCE every time, so a re-run filters the same rows again and
    ends with the same bytes. Returns the mirror's file names, in `names`' order."""
    mirror.mkdir(parents=True, exist_ok=True)
    rel = Path(os.path.relpath(Path(source).resolve(), Path(mirror).resolve()))
    rows, columns = read_csv_rows(Path(source) / METADATA)
    by_name = {r["file_name"]: r for r in rows}
    out = [{**by_name[n], "file_name": (rel / n).as_posix()} for n in names]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(out)
    atomic_write_text(mirror / METADATA, buf.getvalue())
    return [r["file_name"] for r in out]


def strategy(cfg: RecipeConfig, audit_dir: Path) -> str:
    """'audit-threshold:0.3' + DIR -> 'audit-threshold:DIR:0.3' (the plan strategy's syntax)."""
    kind, _, rest = cfg.budget.partition(":")
    return f"{kind}:{audit_dir}" + (f":{rest}" if rest else "")


def take_first(cells: np.ndarray, passed: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Indices (in row = plan order) of the first budget[c] rows of every cell c that passed."""
    taken = np.zeros(len(budget), np.int64)
    keep = []
    for i, (c, ok) in enumerate(zip(cells, passed)):
        if ok and taken[c] < budget[c]:
            taken[c] += 1
            keep.append(i)
    return np.asarray(keep, np.int64)


def audited_synthetic(splits: DatasetSplits, synthetic_folder: Path, synthetic: ImageSet, audit_dir: Path,
                      audited_dir: Path, cfg: RecipeConfig | None = None, *, use_groups: bool = True,
                      dataset: str = "", progress: bool = False, dist: Dist = Dist()) -> tuple[ImageSet, dict]:
    """The audited subset of `synthetic` (read from `synthetic_folder`) and the recipe's summary
    (also AUDIT/recipe.json). Writes AUDIT/ (the audit) and AUDITED/metadata.csv (the filtered mirror).
    `dist` is this process's place in a torchrun job, read by the caller's entry point."""
    if dist.world > 1:
        raise ConfigError("the audited recipe (synaug-audit) does not run under torchrun yet: run it on one "
                          "process, or audit, plan and filter first (docs/audit.md) and train synaug")
    cfg = cfg or RecipeConfig()
    audit_dir, audited_dir = Path(audit_dir), Path(audited_dir)
    names = folder_names(Path(synthetic_folder), synthetic)
    stamp = recipe_stamp(splits.train, synthetic, names, cfg, use_groups, dataset, synthetic_folder)
    held = held_record(audit_dir, audited_dir, stamp)
    if held is not None:  # the same data, set and settings were audited before: its result, not another audit
        index = {n: i for i, n in enumerate(names)}
        summary = {k: v for k, v in held.items() if k not in ("files", "stamp")}
        return synthetic.subset(np.array([index[n] for n in held["files"]], np.int64)), {**summary, "reused": True}
    (audit_dir / RECORD).unlink(missing_ok=True)  # a crash below leaves no record of a half-rewritten folder
    mirrored = mirror_folder(Path(synthetic_folder), audited_dir, names)
    train_only = DatasetSplits(train=splits.train, test=splits.train.subset([]), info=splits.info)  # no test
    result = audit_dataset(train_only, synthetic, audit_dir, cfg.audit, dataset=dataset,
                           synthetic_dir=str(synthetic_folder), syn_names=mirrored, use_groups=use_groups,
                           progress=progress)
    report = filter_folder(audited_dir, audit_dir, label_check=cfg.label_check, min_own_prob=cfg.min_own_prob,
                           max_ratio=cfg.max_ratio)
    passed_names = {r["file_name"] for r in read_csv_rows(audited_dir / METADATA)[0]}
    grouped = result["cell_kind"] == "class x group"
    real = splits.train if grouped else splits.train.without_groups()
    syn = synthetic if grouped else synthetic.without_groups()
    counts = real.cell_counts()
    budget_by_key = audit_counts(counts, strategy(cfg, audit_dir))
    budget = np.array([budget_by_key[k] for k in real.cell_space.keys()], np.int64)
    passed = np.array([n in passed_names for n in mirrored], bool)
    keep = take_first(syn.cells(), passed, budget)
    summary = summarize(result, syn, passed, budget, keep, cfg, report.dropped)
    summary.update(audit=str(audit_dir), folder=str(audited_dir),
                   validation_index=carve_validation(real.cells(), cfg.audit.val_fraction, cfg.audit.seed)[1].tolist())
    write_json(audit_dir / RECORD, {**summary, "files": [names[i] for i in keep], "stamp": stamp})
    return synthetic.subset(keep), summary


def recipe_stamp(real: ImageSet, synthetic: ImageSet, names: list[str], cfg: RecipeConfig, use_groups: bool,
                 dataset: str, synthetic_folder) -> str:
    """What an audited recipe's result depends on: the real training images, the synthetic set and its
    file names, the settings. recipe.json records it; an equal stamp reuses that result."""
    h = hashlib.sha256(json.dumps([AUDIT_VERSION, real.digest(), synthetic.digest(), names, asdict(cfg), use_groups,
                                   dataset, str(Path(synthetic_folder).resolve())], default=str).encode())
    return h.hexdigest()


def held_record(audit_dir: Path, audited_dir: Path, stamp: str) -> dict | None:
    """AUDIT/recipe.json when it was written for `stamp` and its filtered mirror is in place."""
    try:
        held = json.loads((audit_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None
    complete = (audited_dir / METADATA).is_file() and (audit_dir / "audit.json").is_file()
    return held if isinstance(held, dict) and held.get("stamp") == stamp and complete else None


def summarize(result: dict, syn: ImageSet, passed: np.ndarray, budget: np.ndarray, keep: np.ndarray,
              cfg: RecipeConfig, dropped: list) -> dict:
    """Per cell: real, uniform synthetic, passed the filter, budget, used; and the scores."""
    cells, n = syn.cells(), len(budget)
    uniform = np.bincount(cells, minlength=n)
    ok = np.bincount(cells[passed], minlength=n)
    used = np.bincount(cells[keep], minlength=n)
    rows = [dict(name=r["name"], key=r["key"], real=r["real"], real_val=r["real_val"], score=r["score"],
                 fidelity=r["fidelity"], gap=r["gap"], synthetic=r["synthetic"], verdict=r["verdict"],
                 uniform=int(uniform[c]), passed_filter=int(ok[c]), budget=int(budget[c]), used=int(used[c]))
            for c, r in enumerate(result["cells"])]
    return dict(budget=cfg.budget, score="transfer (recall of a synthetic-only probe on real validation images)",
                filter=dict(label_check=cfg.label_check, max_ratio=cfg.max_ratio, min_own_prob=cfg.min_own_prob),
                cells=rows, synthetic_uniform=int(len(syn)), synthetic_used=int(len(keep)),
                dropped_by_filter=int(len(syn) - passed.sum()), audit_seconds=result["timing"]["total_s"],
                split=result["split"])


def recipe_dirs(out: Path, synthetic_name: str) -> tuple[Path, Path]:
    """(audit folder, filtered mirror folder) of the synthetic folder OUT/NAME, beside it."""
    suffix = synthetic_name[len("synthetic"):]  # "" or "-classes"
    return Path(out) / f"audit{suffix}", Path(out) / f"synthetic-audited{suffix}"


def with_own_audit(train_cfg, audit_dir: Path):
    """`synthetic_weighting: audit` without an `audit:` folder: the recipe's own audit."""
    if train_cfg.synthetic_weighting == "audit" and not train_cfg.audit:
        return dc_replace(train_cfg, audit=str(audit_dir))
    return train_cfg


def check_weighting(train_cfg, methods) -> None:
    """`synthetic_weighting: audit` with no `audit:` folder only works for methods that make their own
    audit (synaug-audit): fail before any training, not after the first methods have run."""
    if train_cfg.synthetic_weighting != "audit" or train_cfg.audit:
        return
    lacking = [m.name for m in methods if m.synthetic and m.synthetic_policy != "audited"]
    if lacking:
        raise ConfigError(f"train: synthetic_weighting: audit needs `audit: DIR` (a `synaug audit` folder) for "
                          f"{', '.join(lacking)}; only synaug-audit makes its own")
