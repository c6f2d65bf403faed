"""Plan strategies that set each cell's fill from an audit (`synaug audit`), so the plan (plan.csv,
plan.json and its printed cell table) shows, before any image is generated, what the audit decided:

- `audit-proportional:PATH`: each cell gets round(score x its uniform fill): a cell whose synthetic
  images transfer to its real validation images 40 % of the time gets 40 % of the images it lacks;
- `audit-threshold:PATH:T`: the uniform fill where score >= T, nothing below it.

`PATH` is an audit folder or its audit.json. The score is the audit's `score` (transfer recall) by
default; `audit-proportional@fidelity:PATH` (or `@transfer`, `@precision`, `@recall`) picks another.
A cell the audit could not score (no synthetic images were audited for it) keeps its uniform fill.
The audit must be of the same training data: same cells, same real counts, else an error.
"""

from __future__ import annotations

import json
from pathlib import Path

from synaug.errors import PlanError
from synaug.cells import cell_tag as cell_key

KINDS = ("audit-proportional", "audit-threshold")
SCORES = ("score", "transfer", "fidelity", "precision", "recall")
HELP = ("audit-proportional:PATH (fill = score x uniform fill) or audit-threshold:PATH:T (uniform fill where "
        "score >= T, else none); '@fidelity' etc. after the name picks the score")


def parse(text: str) -> tuple[str, str, Path, float | None]:
    """'audit-threshold@fidelity:runs/audit:0.5' -> (kind, score name, path, threshold)."""
    head, sep, rest = text.strip().partition(":")
    kind, _, metric = head.lower().partition("@")
    metric = metric or "score"
    if kind not in KINDS or not sep or not rest:
        raise PlanError(f"bad audit strategy {text!r}; use {HELP}")
    if metric not in SCORES:
        raise PlanError(f"bad audit strategy {text!r}: unknown score {metric!r}; choose from {list(SCORES)}")
    threshold = None
    if kind == "audit-threshold":
        rest, sep, value = rest.rpartition(":")
        try:
            threshold = float(value)
        except ValueError:
            sep = ""
        if not sep or not rest or not 0 <= threshold <= 1:
            raise PlanError(f"bad audit strategy {text!r}: use audit-threshold:PATH:T with T between 0 and 1")
    return kind, metric, Path(rest), threshold


def read_audit(path: Path) -> dict:
    path = Path(path)
    file = path / "audit.json" if path.is_dir() else path
    if not file.is_file():
        raise PlanError(f"no audit at {path}; make one with `synaug audit --dataset ... --synthetic ... --out DIR`")
    try:
        audit = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(f"{file} is not an audit.json ({exc})") from exc
    if not isinstance(audit, dict) or not isinstance(audit.get("cells"), list) or not all(
            isinstance(c, dict) and "key" in c for c in audit["cells"]):
        raise PlanError(f"{file} is not an audit.json written by `synaug audit`")
    return audit


def scores_for(counts: dict, audit: dict, metric: str, where: str) -> dict:
    """{cell: score or None}, checking the audit is over the same cells and real counts."""
    rows = {c["key"]: c for c in audit["cells"]}
    keys = {cell_key(c): c for c in counts}
    if set(rows) != set(keys):
        raise PlanError(f"{where} audits cells {sorted(rows)}, the data has {sorted(keys)}: audit the same "
                        "dataset, with groups as the plan uses them (--no-groups on both or neither)")
    wrong = [f"{rows[k]['name']} ({rows[k]['real']} vs {counts[c]})" for k, c in keys.items()
             if int(rows[k]["real"]) != int(counts[c])]
    if wrong:
        raise PlanError(f"{where} was made on other training data (real images per cell, audit vs now: "
                        f"{', '.join(wrong[:5])}): re-run `synaug audit` on this dataset and imbalance")
    return {c: rows[k].get(metric) for k, c in keys.items()}


def audit_counts(counts: dict, text: str) -> dict:
    """{cell: images to add} for an audit strategy (module docstring)."""
    kind, metric, path, threshold = parse(text)
    scores = scores_for(counts, read_audit(path), metric, str(path))
    top = max(counts.values())
    out = {}
    for c, n in counts.items():
        fill, s = top - n, scores[c]
        if s is None:
            out[c] = fill
        elif kind == "audit-proportional":
            out[c] = int(round(fill * min(max(float(s), 0.0), 1.0)))
        else:
            out[c] = fill if float(s) >= threshold else 0
    return out
