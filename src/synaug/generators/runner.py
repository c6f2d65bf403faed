"""The resumable generation runner: plan items -> DIR/<class>/<file>.png + DIR/metadata.csv, and
DIR/README.md, a Hugging Face dataset card giving the columns' types (`label` a ClassLabel with the
class names), so `datasets.load_dataset(DIR)` loads it ready to concatenate with the real set.

Guarantees:
- every image is written to a temp name and renamed, so a killed run never leaves half a file;
- re-running the same command skips finished images and the final folder is byte-identical to an
  uninterrupted run (images are deterministic per seed; metadata is written once, in plan order);
- an output folder made from another plan or generator is refused, not silently mixed;
- `shard=(i, n)` takes every n-th item, so n processes (or torchrun ranks) split one plan and
  their union equals a single-process run; metadata.csv is written by whichever finishes last.

State lives in DIR/.synaug/: the plan fingerprint (kept) and per-shard journals of finished
images with what the backend recorded (removed once metadata.csv is complete).
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from io import BytesIO, StringIO
from pathlib import Path
from typing import Iterable, Sequence

from synaug.errors import GenerationError, PlanError
from synaug.fileio import atomic_open
from synaug.generators.base import Generator
from synaug.generators.card import dataset_card, label_names
from synaug.plans import PlanItem, check_unique_names
from synaug.progress import Progress
from synaug.validate import check_out_dir, check_relative_name, confined
from synaug.workers import process_pool

log = logging.getLogger(__name__)

STATE_DIR = ".synaug"
FINGERPRINT = "plan-fingerprint.json"
METADATA = "metadata.csv"
DROPPED = "dropped.csv"
CARD = "README.md"  # Hugging Face dataset card: the column types, class names included
BASE_COLUMNS = ["file_name", "label", "class_name", "group", "group_name", "cell", "prompt",
                "modifier", "seed", "generator", "synthetic"]


@dataclass
class GenerationReport:
    out_dir: Path
    generated: int = 0
    already_done: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file_name, reason): undrawable cells
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (file_name, reason): generated, not kept
    metadata_written: bool = False


def fingerprint(items: Sequence[PlanItem], generator: Generator) -> str:
    h = hashlib.sha256(json.dumps(generator.describe(), sort_keys=True).encode())
    for it in items:
        h.update(f"{it.file_name}|{it.label}|{it.group}|{it.modifier}|{it.prompt}|{it.seed}\n".encode())
    return h.hexdigest()


def shard_items(items: Sequence[PlanItem], shard: tuple[int, int]) -> list[PlanItem]:
    """Every n-th item starting at i: shards are disjoint and their union is the plan."""
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise GenerationError(f"bad shard {i}/{n}: need 0 <= i < n")
    return list(items[i::n])


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError as exc:
        raise GenerationError(f"bad --shard {text!r}; use i/n, e.g. 0/4") from exc
    shard_items([], (i, n))
    return i, n


def cell_label(item: PlanItem) -> str:
    return item.class_name + (f" / {item.group_name}" if item.group_name else "")


def check_drawable(items: Sequence[PlanItem], generator: Generator) -> dict[str, str]:
    """{cell label ("class" or "class / group"): reason} for every cell the generator cannot draw
    (asked once per cell: a backend's answer depends on the class and group only)."""
    reasons: dict[str, str] = {}
    seen = set()
    for it in items:
        label = cell_label(it)
        if label in seen:
            continue
        seen.add(label)
        reason = generator.cannot_draw(it)
        if reason:
            reasons[label] = reason
    return reasons


def _write_atomic(path: Path, data: bytes, tag: str) -> None:
    with atomic_open(path, "wb", tmp_name=f".{path.name}.{tag}.tmp") as f:
        f.write(data)


def _png_bytes(image) -> bytes:
    buf = BytesIO()
    image.save(buf, format="PNG")  # no timestamps or text chunks: same pixels -> same bytes
    return buf.getvalue()


def _render_and_write(generator: Generator, batch: Sequence[PlanItem], out_dir: Path, tag: str) -> list[dict]:
    """Generate a batch and write each image atomically; return the journal rows."""
    results = generator.generate(batch)
    if len(results) != len(batch):
        raise GenerationError(f"generator returned {len(results)} images for {len(batch)} items")
    rows = []
    for item, res in zip(batch, results):
        if res.image is None:  # the backend refused to keep it (e.g. the safety checker flagged it)
            rows.append({"file_name": item.file_name, "extra": res.extra,
                         "dropped": str(res.extra.get("dropped", "no image returned"))})
            continue
        path = out_dir / item.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, _png_bytes(res.image), tag)
        rows.append({"file_name": item.file_name, "extra": res.extra})
    return rows


_WORKER_GENERATOR: Generator | None = None


def _worker_init(generator: Generator) -> None:
    global _WORKER_GENERATOR
    _WORKER_GENERATOR = generator


def _worker_batch(args) -> list[dict]:
    batch, out_dir, tag = args
    return _render_and_write(_WORKER_GENERATOR, batch, out_dir, tag)


def _read_journal(path: Path) -> list[dict]:
    """Valid lines of a journal; a torn last line (killed mid-append) is dropped."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows


def _read_metadata_extras(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {r["file_name"]: {k: v for k, v in r.items() if k not in BASE_COLUMNS and v != ""}
                for r in csv.DictReader(f)}


def run_generation(items: Sequence[PlanItem], generator: Generator, out_dir, *, batch_size: int = 64,
                   shard: tuple[int, int] = (0, 1), skip_undrawable: bool = False, workers: int = 1,
                   progress: bool = True, class_names: Sequence[str] | None = None) -> GenerationReport:
    """`class_names` (all classes of the dataset, in label order) name the labels in the dataset card;
    without them, the names the plan's items carry are used."""
    out_dir = Path(out_dir)
    check_plan_paths(items, out_dir)  # before anything is written
    if batch_size < 1 or workers < 1:
        raise GenerationError(f"batch_size and workers must be >= 1, got {batch_size} and {workers}")
    state = out_dir / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    report = GenerationReport(out_dir=out_dir)

    undrawable = check_drawable(items, generator)
    if undrawable and not skip_undrawable:
        lines = "\n".join(f"  - {k}: {v}" for k, v in undrawable.items())
        raise GenerationError(f"generator '{generator.name}' cannot draw:\n{lines}\n"
                              "Pass --skip-undrawable to generate the rest and report these.")
    if undrawable:
        report.skipped = [(it.file_name, undrawable[cell_label(it)]) for it in items if cell_label(it) in undrawable]
        items = [it for it in items if cell_label(it) not in undrawable]
        log.warning("skipping %d image(s) of undrawable cell(s): %s", len(report.skipped), sorted(undrawable))

    _claim_folder(out_dir, items, generator)
    mine = shard_items(items, shard)
    tag = f"{shard[0]}of{shard[1]}"
    for stale in out_dir.rglob(f".*.{tag}.tmp"):
        stale.unlink()  # left by a killed run of this shard

    journal = state / f"journal-{tag}.jsonl"
    done_rows = {r["file_name"]: r for r in _read_journal(journal)}
    finished_meta = _read_metadata_extras(out_dir / METADATA)
    dropped = _read_dropped(state)
    done = {f for f in set(done_rows) | set(finished_meta) if (out_dir / f).is_file()}
    done |= {f for f, r in done_rows.items() if r.get("dropped")} | set(dropped)
    _rewrite_journal(journal, [done_rows[f] for f in done_rows if f in done])
    todo = [it for it in mine if it.file_name not in done]
    report.already_done = len(mine) - len(todo)

    batches = [todo[k:k + batch_size] for k in range(0, len(todo), batch_size)]
    bar = Progress(total=len(todo), desc=f"generate [{generator.name}] {tag}", unit="img",
                   enabled=progress and bool(todo))  # a bar on a terminal, log lines elsewhere
    with open(journal, "a") as jf:
        for rows in _map_batches(generator, batches, out_dir, tag, workers):
            jf.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
            jf.flush()
            report.generated += sum(1 for r in rows if not r.get("dropped"))
            report.dropped += [(r["file_name"], r["dropped"]) for r in rows if r.get("dropped")]
            bar.update(len(rows))
    bar.close()
    if report.dropped:
        log.warning("%d image(s) not kept: %s", len(report.dropped), report.dropped[0][1])
    report.metadata_written = _finalize(out_dir, items, generator, class_names)
    return report



def check_plan_paths(items: Sequence[PlanItem], out_dir: Path) -> None:
    """Every file the plan names is a relative .png inside `out_dir` (symlinks resolved), once."""
    check_out_dir(out_dir)
    check_unique_names(items, "plan")
    try:
        for it in items:
            check_relative_name(it.file_name)
        confined(out_dir, (it.file_name for it in items))
    except PlanError as exc:
        raise GenerationError(f"refusing to write outside {out_dir}: {exc}") from None


def _read_dropped(state: Path) -> dict[str, str]:
    path = state / DROPPED
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {r["file_name"]: r["reason"] for r in csv.DictReader(f)}


def _map_batches(generator, batches, out_dir, tag, workers) -> Iterable[list[dict]]:
    if workers <= 1 or len(batches) <= 1 or not generator.parallel_safe:
        for batch in batches:
            yield _render_and_write(generator, batch, out_dir, tag)
        return
    with process_pool(workers, _worker_init, (generator,)) as pool:
        yield from pool.map(_worker_batch, [(b, out_dir, tag) for b in batches])


def _rewrite_journal(path: Path, rows: list[dict]) -> None:
    _write_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode(), "rewrite")


def _claim_folder(out_dir: Path, items, generator) -> None:
    """Record which plan this folder belongs to, or refuse if it belongs to another."""
    fp_path = out_dir / STATE_DIR / FINGERPRINT
    record = {"fingerprint": fingerprint(items, generator), "generator": generator.describe(),
              "images": len(items)}
    if fp_path.is_file():
        existing = json.loads(fp_path.read_text())
        if existing.get("fingerprint") != record["fingerprint"]:
            raise GenerationError(
                f"{out_dir} holds images from a different plan or generator settings "
                f"(recorded {existing.get('generator')}, {existing.get('images')} images); "
                "use a new --out folder or delete this one")
        return
    held = sorted(p.name for p in out_dir.iterdir() if p.name != STATE_DIR)
    if held:  # a folder of no plan: its files (a README.md, a metadata.csv...) would be overwritten or mixed in
        what = "images not made by this plan" if (out_dir / METADATA).exists() or any(out_dir.rglob("*.png")) else \
            f"files of its own ({', '.join(held[:3])}{' ...' if len(held) > 3 else ''})"
        raise GenerationError(f"{out_dir} already has {what}; use a new or empty --out folder (or the folder this "
                              "plan was generated into, to resume)")
    _write_atomic(fp_path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode(), "claim")


def _finalize(out_dir: Path, items: Sequence[PlanItem], generator: Generator,
              class_names: Sequence[str] | None = None) -> bool:
    """Write metadata.csv once every planned image exists (under a lock: shards finish in any order)."""
    state = out_dir / STATE_DIR
    with open(state / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        extras = _read_metadata_extras(out_dir / METADATA)
        dropped = _read_dropped(state)
        journals = sorted(state.glob("journal-*.jsonl"))
        for j in journals:
            for r in _read_journal(j):
                if r.get("dropped"):
                    dropped[r["file_name"]] = r["dropped"]
                else:
                    extras[r["file_name"]] = r.get("extra", {})
        if not all(it.file_name in dropped or (it.file_name in extras and (out_dir / it.file_name).is_file())
                   for it in items):
            return False
        kept = [it for it in items if it.file_name not in dropped]
        extra_cols = sorted({k for it in kept for k in extras[it.file_name]})
        if dropped:
            text = StringIO()
            w = csv.writer(text, lineterminator="\n")
            w.writerow(["file_name", "reason"])
            w.writerows(sorted(dropped.items()))
            _write_atomic(state / DROPPED, text.getvalue().encode(), "final")
        buf = []
        for it in kept:
            row = asdict(it)
            row.pop("index")
            row["group"] = "" if it.group is None else it.group
            row.update(generator=generator.name, synthetic=1, **extras[it.file_name])
            buf.append(row)
        text = StringIO()
        w = csv.DictWriter(text, BASE_COLUMNS + extra_cols, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(buf)
        _write_atomic(out_dir / METADATA, text.getvalue().encode(), "final")
        _write_atomic(out_dir / CARD, dataset_card(BASE_COLUMNS + extra_cols, label_names(items, class_names),
                                                    generator.name, len(kept)).encode(), "final")
        for j in journals:
            j.unlink()
        return True
