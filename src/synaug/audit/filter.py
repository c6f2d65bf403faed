"""`filter_folder`: drop the synthetic images an audit scored as not what they claim to be (a real-data
classifier assigns them to another cell) or far off the real manifold (k-NN distance ratio), the way
the generation runner records safety-checker drops (`record_drops`, shared with the CLIP-score filter): the image files stay where they are, each drop
is listed with its reason in DIR/.synaug/dropped.csv, and metadata.csv no longer lists it (so
`read_metadata_csv` and training do not load it). The metadata.csv from before the first filter is
kept as DIR/.synaug/metadata.before-filter.csv, and DIR/.synaug/filter.json records the settings.

A re-run with the same audit and settings changes nothing (every kept image passed already), and a
later `synaug generate` of the same plan into DIR keeps the drops (the runner reads dropped.csv).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from synaug.cells import class_of, parse_tag
from synaug.constraints import MAX_RATIO
from synaug.data.readers import read_csv_rows
from synaug.errors import SynaugError
from synaug.fileio import atomic_write_text, write_json
from synaug.generators.runner import CARD, DROPPED, METADATA, STATE_DIR

BACKUP = "metadata.before-filter.csv"
SETTINGS = "filter.json"
REASON_PREFIX = "audit filter: "


@dataclass
class FilterReport:
    kept: int = 0
    dropped: list[tuple[str, str]] = field(default_factory=list)  # newly dropped (file_name, reason)
    already_dropped: int = 0
    per_cell: dict = field(default_factory=dict)  # cell name -> [kept, newly dropped]


def read_rows(path: Path, required: tuple = ()) -> tuple[list[dict], list[str]]:
    """(rows, columns) of a CSV (a clear error for a binary or non-UTF-8 file, or a `required` column
    missing)."""
    rows, columns = read_csv_rows(path)
    missing = [c for c in required if c not in columns]
    if missing:
        raise SynaugError(f"{path} lacks the column(s) {missing} (it has {columns})")
    return rows, columns


def _csv_text(rows, columns) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def read_audit_images(audit_dir: Path) -> tuple[dict, dict]:
    """({file_name: image row}, audit.json) of an audit folder."""
    audit_dir = Path(audit_dir)
    if audit_dir.is_file():
        audit_dir = audit_dir.parent
    if not (audit_dir / "audit.json").is_file() or not (audit_dir / "images.csv").is_file():
        raise SynaugError(f"{audit_dir} is not a `synaug audit` folder (audit.json and images.csv)")
    audit = json.loads((audit_dir / "audit.json").read_text())
    images, _ = read_rows(audit_dir / "images.csv", ("file_name", "cell", "own_prob", "assigned", "manifold_ratio"))
    return {r["file_name"]: r for r in images}, audit


def drop_reason(image: dict, names: dict, min_own_prob: float | None, max_ratio: float | None,
                label_check: bool) -> str | None:
    """Why the audit says to drop this image, or None to keep it."""
    own, assigned = int(image["cell"]), int(image["assigned"])
    p = float(image["own_prob"])
    if label_check and assigned != own:
        return (f"{REASON_PREFIX}label fidelity: a classifier of the real images assigns it to "
                f"{names.get(assigned, assigned)!r} (its own cell: p={p:.2f})")
    if min_own_prob is not None and p < min_own_prob:
        return f"{REASON_PREFIX}label fidelity: own-cell probability {p:.2f} < {min_own_prob}"
    ratio = image["manifold_ratio"]
    if max_ratio is not None and ratio not in ("", None) and float(ratio) > max_ratio:
        return (f"{REASON_PREFIX}off the real manifold: {float(ratio):.2f} x the nearest real image's k-NN "
                f"radius > {max_ratio}")
    return None


def read_folder_rows(folder: Path) -> tuple[list[dict], list[str]]:
    """metadata.csv of a generated folder: (rows, columns)."""
    meta_path = Path(folder) / METADATA
    if not meta_path.is_file():
        raise SynaugError(f"no {METADATA} in {folder}: pass a folder made by `synaug generate`")
    return read_rows(meta_path, ("file_name", "label"))


def filter_folder(synthetic_dir, audit_dir, *, label_check: bool = True, min_own_prob: float | None = None,
                  max_ratio: float | None = MAX_RATIO, dry_run: bool = False) -> FilterReport:
    folder = Path(synthetic_dir)
    rows, columns = read_folder_rows(folder)
    images, audit = read_audit_images(Path(audit_dir))
    names = {int(c["cell"]): c["name"] for c in audit.get("cells", [])}
    label_of = {int(c["cell"]): str(class_of(parse_tag(c.get("key", c["cell"])))) for c in audit.get("cells", [])}
    unknown = [r["file_name"] for r in rows if r["file_name"] not in images]
    if unknown:
        raise SynaugError(f"the audit {audit_dir} has no score for {len(unknown)} image(s) of {folder} (e.g. "
                          f"{unknown[0]!r}): it audited another folder, or images were added since; "
                          "re-run `synaug audit` on this folder")
    wrong = [r["file_name"] for r in rows if label_of.get(int(images[r["file_name"]]["cell"])) != str(r["label"])]
    if wrong:
        raise SynaugError(f"the audit {audit_dir} scored {wrong[0]!r} as another class than {folder}'s "
                          "metadata.csv says: it audited another folder; re-run `synaug audit`")
    reasons = {r["file_name"]: drop_reason(images[r["file_name"]], names, min_own_prob, max_ratio, label_check)
               for r in rows}
    cells = {f: names.get(int(im["cell"]), im["cell"]) for f, im in images.items()}
    settings = {"audit": str(audit_dir), "label_check": label_check, "min_own_prob": min_own_prob,
                "max_manifold_ratio": max_ratio}
    return record_drops(folder, rows, columns, reasons, cells, prefix=REASON_PREFIX, settings_file=SETTINGS,
                        settings=settings, dry_run=dry_run)


def record_drops(folder: Path, rows: list[dict], columns: list[str], reasons: dict, cells: dict, *, prefix: str,
                 settings_file: str, settings: dict, dry_run: bool = False) -> FilterReport:
    """Drop the rows whose reason is not None, the way every filter records it (the module docstring).
    `reasons` {file_name: reason or None}, `cells` {file_name: cell name} for the per-cell tally,
    `prefix` starts every reason of this filter (how a re-run counts its earlier drops)."""
    folder = Path(folder)
    meta_path, state = folder / METADATA, folder / STATE_DIR
    dropped_path = state / DROPPED
    dropped = dict((r["file_name"], r["reason"]) for r in read_rows(dropped_path)[0]) if dropped_path.is_file() else {}
    report = FilterReport(already_dropped=sum(1 for r in dropped.values() if r.startswith(prefix)))
    kept = []
    for r in rows:
        tally = report.per_cell.setdefault(cells.get(r["file_name"], r.get("class_name", "")), [0, 0])
        reason = reasons.get(r["file_name"])
        if reason:
            report.dropped.append((r["file_name"], reason))
        else:
            kept.append(r)
        tally[1 if reason else 0] += 1
    report.kept = len(kept)
    if dry_run or not report.dropped:
        return report
    state.mkdir(exist_ok=True)
    if not (state / BACKUP).is_file():
        atomic_write_text(state / BACKUP, meta_path.read_text(encoding="utf-8"))
    dropped.update(report.dropped)
    # dropped.csv first: if a crash follows, the runner and a re-run still know what was dropped
    atomic_write_text(dropped_path, _csv_text([{"file_name": f, "reason": why} for f, why in sorted(dropped.items())],
                                              ["file_name", "reason"]))
    atomic_write_text(meta_path, _csv_text(kept, columns))
    write_json(state / settings_file, {**settings, "dropped_by_filter": sum(1 for r in dropped.values()
                                                                            if r.startswith(prefix)),
                                       "kept": len(kept)})
    card = folder / CARD
    if card.is_file():  # the card states the number of images
        text = card.read_text(encoding="utf-8")
        atomic_write_text(card, re.sub(r"^\d+ images from", f"{len(kept)} images from", text, count=1, flags=re.M))
    return report
