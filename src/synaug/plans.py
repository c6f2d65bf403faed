"""How many synthetic images each cell needs, and exactly which ones (prompt, modifier, seed).

`plan_counts(counts, strategy)` follows imbalanced-learn's `sampling_strategy` for over-sampling
("auto" == "not majority", "all", "minority", "not minority", dict of FINAL counts, callable) and
adds the paper's strategies (workshop paper, Fig. 3):
- "uniform": fill every cell up to the largest cell;
- "U-<beta>": fill every cell up to beta; cells above beta get nothing here and `real_cuts`
  reports how many real images the U-beta setting removes from them;
- "LT+<alpha>": add alpha images to every cell.

`build_plan` expands the counts into one `PlanItem` per image; `write_plan` / `read_plan` keep
it as CSV so it can be inspected before any GPU time is spent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import numbers
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from synaug.audit.budget import audit_counts
from synaug.cells import Cell, cell_order, cell_tag
from synaug.errors import PlanError
from synaug.fileio import atomic_open, write_json
from synaug.prompts import PromptBank, unique_slugs
from synaug.seeds import hashed_seed
from synaug.validate import check_relative_name, read_text

Counts = Mapping[Cell, int]


# ----------------------------------------------------------------------------- strategies
def _majority(counts: Counts) -> Cell:
    return max(counts, key=counts.get)  # first maximum, as imbalanced-learn


def _minority(counts: Counts) -> Cell:
    return min(counts, key=counts.get)


def _fill_to_max(counts: Counts, which: Callable[[Counts], set]) -> dict:
    top = max(counts.values())
    chosen = which(counts)
    return {c: (top - n if c in chosen else 0) for c, n in counts.items()}


NAMED_STRATEGIES: dict[str, Callable[[Counts], dict]] = {
    "not majority": lambda c: _fill_to_max(c, lambda k: set(k) - {_majority(k)}),
    "auto": lambda c: _fill_to_max(c, lambda k: set(k) - {_majority(k)}),
    "all": lambda c: _fill_to_max(c, set),
    "uniform": lambda c: _fill_to_max(c, set),
    "minority": lambda c: _fill_to_max(c, lambda k: {_minority(k)}),
    "not minority": lambda c: _fill_to_max(c, lambda k: set(k) - {_minority(k)}),
}
_U_BETA = re.compile(r"^U-(\d+)$", re.IGNORECASE)
_LT_ALPHA = re.compile(r"^LT\+(\d+)$", re.IGNORECASE)
STRATEGY_HELP = ("auto, not majority, all, uniform, minority, not minority, U-<beta>, LT+<alpha>, "
                 "a dict {cell: final count}, a callable(counts) -> dict, "
                 "audit-proportional:PATH or audit-threshold:PATH:T (a `synaug audit` folder)")


def plan_counts(counts: Counts, strategy="uniform") -> dict:
    """{cell: number of synthetic images to add} for `strategy` (see module docstring)."""
    counts = {c: int(n) for c, n in counts.items()}
    if not counts:
        raise PlanError("no cells to plan over (empty dataset?)")
    if any(n < 0 for n in counts.values()):
        raise PlanError("cell counts must be non-negative")
    if callable(strategy):
        return _from_targets(counts, strategy(dict(counts)))
    if isinstance(strategy, Mapping):
        return _from_targets(counts, strategy)
    if not isinstance(strategy, str):
        raise PlanError(f"bad strategy {strategy!r}; use {STRATEGY_HELP}")
    key = strategy.strip()
    if key.lower() in NAMED_STRATEGIES:
        return NAMED_STRATEGIES[key.lower()](counts)
    if m := _U_BETA.match(key):
        beta = u_beta(m)
        return {c: max(beta - n, 0) for c, n in counts.items()}
    if m := _LT_ALPHA.match(key):
        alpha = int(m.group(1))
        return {c: alpha for c in counts}
    if key.lower().startswith("audit-"):  # issue 10: fills set from `synaug audit` (synaug.audit.budget)
        return audit_counts(counts, key)
    raise PlanError(f"unknown strategy {strategy!r}; use {STRATEGY_HELP}")


def u_beta(match: re.Match) -> int:
    """beta of a U-beta strategy: the final count of every cell, so at least 1 (U-0 would remove every
    real image and add none)."""
    beta = int(match.group(1))
    if beta < 1:
        raise PlanError(f"strategy {match.group(0)!r}: beta is the final number of images of every cell and must be "
                        "at least 1 (U-0 would remove every real image and add none)")
    return beta


def _from_targets(counts: Counts, targets: Mapping) -> dict:
    """Final counts -> numbers to add; as imbalanced-learn, a target below the count is an error."""
    if not isinstance(targets, Mapping):
        raise PlanError(f"a strategy must give {{cell: final count}}, got {targets!r}")
    bad = {c: t for c, t in targets.items() if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0}
    if bad:
        raise PlanError(f"final counts must be integers >= 0, got {bad}")
    unknown = [c for c in targets if c not in counts]
    if unknown:
        raise PlanError(f"strategy names cell(s) {unknown} that are not in the data")
    out = {c: 0 for c in counts}
    for c, target in targets.items():
        if int(target) < counts[c]:
            raise PlanError(f"target {target} for cell {c!r} is below its current count {counts[c]}: "
                            "over-sampling cannot remove images")
        out[c] = int(target) - counts[c]
    return out


def real_cuts(counts: Counts, strategy) -> dict:
    """Real images a U-beta setting removes per cell (zeros for every other strategy)."""
    if isinstance(strategy, str) and (m := _U_BETA.match(strategy.strip())):
        beta = u_beta(m)
        return {c: max(int(n) - beta, 0) for c, n in counts.items()}
    return {c: 0 for c in counts}


KEPT_RULE = ("per cell, the first n of the cell's real images in an order shuffled by "
             "numpy.random.default_rng([seed, 2024]) (one permutation per cell, cells in id order)")


def per_cell_order(ids: np.ndarray, seed: int) -> dict[int, np.ndarray]:
    """Every cell's sample indices in a seeded random order: taking the first n gives nested,
    seeded subsets (the 25 % subset is part of the 50 % one)."""
    rng = np.random.default_rng([seed, 2024])
    ids = np.asarray(ids)
    return {int(c): rng.permutation(np.flatnonzero(ids == c)) for c in np.unique(ids)}


def first_per_cell(ids: np.ndarray, n_of: Mapping[int, int], seed: int) -> np.ndarray:
    """Sorted indices: the first n_of[c] of cell c's seeded order (`KEPT_RULE`); cells `n_of` does
    not name keep every sample."""
    order = per_cell_order(ids, seed)
    picked = [o[:int(n_of[c])] if c in n_of else o for c, o in order.items()]
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(0, np.int64)


def kept_digest(indices: np.ndarray) -> str:
    """A short digest of the kept indices, recorded in plan.json so a run can check it kept the same."""
    return hashlib.sha256(np.asarray(indices, np.int64).tobytes()).hexdigest()[:16]


# ----------------------------------------------------------------------------- plan items
@dataclass(frozen=True)
class PlanItem:
    """One image to generate. `cell` is "c" or "c:g" (class index, group index)."""

    file_name: str
    cell: str
    label: int
    class_name: str
    group: int | None
    group_name: str
    index: int
    modifier: str
    prompt: str
    seed: int


PLAN_COLUMNS = [f.name for f in fields(PlanItem)]


def image_seed(base_seed: int, cell: Cell, index: int) -> int:
    """A stable per-image seed: hash of (base seed, cell, index), independent of plan order."""
    return hashed_seed(base_seed, cell_tag(cell), index)


def build_plan(to_add: Mapping[Cell, int], class_names: Sequence[str], bank: PromptBank,
               seed: int = 0, group_names: Sequence[str] | None = None) -> list[PlanItem]:
    """Expand {cell: n} into items; modifiers cycle through the class's bank so each is used evenly."""
    items = []
    cslugs = unique_slugs(class_names)
    gslugs = unique_slugs(group_names or [])
    for cell in sorted(to_add, key=cell_order):
        label, group = (cell if isinstance(cell, tuple) else (cell, None))
        cname = class_names[label]
        gname = group_names[group] if group is not None else ""
        stem = cslugs[label] if group is None else f"{cslugs[label]}_{gslugs[group]}"
        for i in range(int(to_add[cell])):
            modifier = bank.modifier(cname, i)
            items.append(PlanItem(
                file_name=f"{cslugs[label]}/{stem}_{i:06d}.png", cell=cell_tag(cell), label=int(label),
                class_name=cname, group=None if group is None else int(group), group_name=gname,
                index=i, modifier=modifier, prompt=bank.prompt(cname, modifier, gname),
                seed=image_seed(seed, cell, i)))
    return items


def write_plan(items: Sequence[PlanItem], path, meta: dict | None = None) -> None:
    """plan.csv (one row per image) and plan.json beside it (settings and per-cell table).
    Both written to a temp file then renamed, so a killed run never leaves half a plan."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, PLAN_COLUMNS, lineterminator="\n")
        w.writeheader()
        for it in items:
            row = asdict(it)
            row["group"] = "" if it.group is None else it.group
            w.writerow(row)
    if meta is not None:
        write_json(plan_meta_path(path), meta, sort_keys=True)


def recorded_imbalance(given: float, dataset_info: dict, class_counts) -> float | None:
    """The imbalance factor plan.json records: `given` where synaug built the long tail (the dataset's
    info then names it), else the MEASURED largest / smallest non-empty class of the training split
    (a user's folder is as long-tailed as it is, whatever --imbalance said); None without two classes."""
    if "imbalance" in dataset_info:
        return float(given)
    present = [int(n) for n in class_counts if int(n) > 0]
    return round(max(present) / min(present), 2) if len(present) >= 2 else None


def plan_meta_path(plan_path) -> Path:
    return Path(plan_path).with_suffix(".json")


def read_plan(path) -> tuple[list[PlanItem], dict]:
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"no plan at {path}; make one with `synaug plan`")
    try:
        reader = csv.DictReader(io.StringIO(read_text(path, "plan"), newline=""))
        missing = set(PLAN_COLUMNS) - set(reader.fieldnames or [])
        rows = list(reader)
    except csv.Error as exc:
        raise PlanError(f"{path} is not a readable CSV plan: {exc}") from exc
    if missing:
        raise PlanError(f"{path} is not a synaug plan: missing columns {sorted(missing)}")
    items = []
    for n, row in enumerate(rows, start=2):
        try:
            items.append(PlanItem(
                file_name=row["file_name"], cell=row["cell"], label=int(row["label"]),
                class_name=row["class_name"], group=int(row["group"]) if row["group"] else None,
                group_name=row["group_name"], index=int(row["index"]), modifier=row["modifier"],
                prompt=row["prompt"], seed=int(row["seed"])))
        except (TypeError, ValueError) as exc:
            raise PlanError(f"{path} line {n}: malformed row ({exc})") from exc
        try:
            check_relative_name(items[-1].file_name)
            if items[-1].seed < 0 or items[-1].label < 0 or items[-1].index < 0:
                raise PlanError("label, index and seed must be >= 0")
        except PlanError as exc:
            raise PlanError(f"{path} line {n}: {exc}") from None
    check_unique_names(items, path)
    meta_path = plan_meta_path(path)
    try:
        meta = json.loads(read_text(meta_path, "plan settings")) if meta_path.is_file() else {}
    except json.JSONDecodeError as exc:
        raise PlanError(f"{meta_path} is not valid JSON ({exc}); delete it or re-run `synaug plan`") from exc
    if not isinstance(meta, dict):
        raise PlanError(f"{meta_path} is not a plan settings file (expected a JSON object)")
    return items, meta


def check_unique_names(items: Sequence[PlanItem], where="plan") -> None:
    """Two items may not write the same file (case-insensitively: some file systems fold case)."""
    seen = {}
    for it in items:
        key = it.file_name.lower()
        if key in seen:
            raise PlanError(f"{where}: duplicate file_name {it.file_name!r} (and {seen[key]!r}): "
                            "two images would write one file")
        seen[key] = it.file_name


def cell_table(counts: Counts, to_add: Mapping, cuts: Mapping, label_of: Callable[[Cell], str]) -> list[dict]:
    """Rows (cell, name, real, cut, add, final) for printing and plan.json."""
    return [dict(cell=cell_tag(c), name=label_of(c), real=int(n), cut=int(cuts.get(c, 0)),
                 add=int(to_add.get(c, 0)), final=int(n) - int(cuts.get(c, 0)) + int(to_add.get(c, 0)))
            for c, n in counts.items()]
