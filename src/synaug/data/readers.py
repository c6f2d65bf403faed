"""Readers for the formats users have: ImageFolder and metadata.csv (CIFAR pickles and IDX files:
`synaug.data.formats`).

Every reader returns an `ImageSet`. Unreadable images are skipped and listed in
`ImageSet.skipped` with the reason (and logged), unless `strict=True`, which raises instead:
bad input gets a clear message and loses nothing silently.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import stat
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from synaug.data.imageset import GRAY_MODES, IN_MEMORY_MAX_SIDE, ImageSet, LazyImages, load_image
from synaug.errors import DatasetError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


# ----------------------------------------------------------------------------- image files
def _header(path: Path) -> tuple[tuple[int, int], str]:
    """((H, W), mode) from an image's header, without decoding its pixels; raises on non-images."""
    with Image.open(path) as img:
        return (img.size[1], img.size[0]), img.mode


def log_skipped(skipped: list[tuple[str, str]]) -> None:
    """Name every skipped file (not just the first), one per line."""
    if skipped:
        log.warning("skipped %d file(s):\n%s", len(skipped), "\n".join(f"  {p}: {r}" for p, r in skipped))


def not_regular(path: Path) -> str | None:
    """Why `path` is not read as an image (a FIFO, socket or device would block or never end; a
    folder is no image), or None for a regular file (or one that is missing: its reader says so)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a folder"
            if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
    return f"not a regular file ({kind}): not read"


def readable(paths: Sequence[Path], size: int | None = None) -> tuple[list[int], list[tuple[str, str]]]:
    """For lazily read datasets: positions of the files that decode fully, and (path, reason) for the
    others, checked up front so a truncated file is listed here instead of crashing training.
    JPEGs are decoded at reduced scale (`draft`), which still reads the whole stream."""
    kept, skipped = [], []
    for i, p in enumerate(paths):
        if reason := not_regular(p):
            skipped.append((str(p), reason))
            continue
        try:
            with Image.open(p) as img:
                if size:
                    img.draft(img.mode, (size, size))
                img.load()
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            skipped.append((str(p), f"unreadable image: {exc.__class__.__name__}: {exc}"))
            continue
        kept.append(i)
    return kept, skipped


def _images_from_paths(paths: list[Path], size, channels, strict: bool):
    """Read the images; return (images, kept positions, skipped [(path, reason)]).

    Headers give every file's size and mode. Small images are then decoded once into memory (a file
    that fails is skipped); large ones stay on disk as `LazyImages`, decoded once into the training
    cache, which skips and lists the files that fail to decode (`strict` decodes them all here)."""
    kept, skipped, shapes, modes = [], [], [], []
    for i, p in enumerate(paths):
        if reason := not_regular(p):  # never opened: opening a FIFO waits for a writer forever
            if strict:
                raise DatasetError(f"{p}: {reason}")
            skipped.append((str(p), reason))
            continue
        try:
            shape, mode = _header(p)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            _skip(skipped, p, exc, strict)
            continue
        kept.append(i)
        shapes.append(shape)
        modes.append(mode)
    if kept:
        size = size or max(set(shapes), key=shapes.count)  # the most common size
        channels = channels or (1 if all(m in GRAY_MODES for m in modes) else 3)
    if kept and (max(size) <= IN_MEMORY_MAX_SIDE or strict):
        decoded, ok = [], []
        for i in kept:
            try:
                decoded.append(load_image(paths[i], size, channels))
                ok.append(i)
            except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
                _skip(skipped, paths[i], exc, strict)
        kept = ok
    log_skipped(skipped)
    if not kept:
        return None, kept, skipped
    if max(size) <= IN_MEMORY_MAX_SIDE:
        return np.stack(decoded), kept, skipped
    return LazyImages([paths[i] for i in kept], size, channels), kept, skipped


def _skip(skipped: list, path: Path, exc: Exception, strict: bool) -> None:
    reason = f"unreadable image: {exc.__class__.__name__}: {exc}"
    if strict:
        raise DatasetError(f"{path}: {reason}") from exc
    skipped.append((str(path), reason))


def read_imagefolder(root, size=None, channels=None, strict: bool = False,
                     class_names: Sequence[str] | None = None) -> ImageSet:
    """torchvision ImageFolder layout: root/<class>/<image>; classes sorted alphabetically."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"ImageFolder root {root} is not a directory")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    hidden = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name.startswith("."))
    if hidden:
        log.warning("%s: hidden folder(s) %s are not read as classes (rename them without the leading '.' to "
                    "use them)", root, hidden)
    if not found:
        raise DatasetError(f"{root} has no class sub-folders (expected root/<class>/<image>)")
    names = list(class_names) if class_names is not None else found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DatasetError(f"{root}: unknown class folder(s) {unknown}; known classes: {names}")
    paths, labels = [], []
    empty = []
    for c, name in enumerate(names):
        folder = root / name
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        if not files:
            empty.append(name)
        paths += files
        labels += [c] * len(files)
    if empty:
        log.warning("%s: class(es) with no images: %s", root, empty)
    images, kept, skipped = _images_from_paths(paths, size, channels, strict)
    if images is None:
        raise DatasetError(f"{root}: no readable images ({len(skipped)} unreadable)")
    ds = ImageSet(images, np.asarray(labels)[kept], names, name=root.name)
    ds.skipped = skipped + [(str(root / n), "empty class folder") for n in empty] + [
        (str(root / n), "hidden folder: not read as a class") for n in hidden]
    return ds


def read_metadata_csv(path, class_names: Sequence[str] | None = None,
                      group_names: Sequence[str] | None = None, split: str | None = None,
                      size=None, channels=None, strict: bool = False,
                      synthetic: bool | None = None, group_column: str = "group") -> ImageSet:
    """Hugging Face imagefolder convention: metadata.csv with `file_name`, `label` and optional
    `class_name`, `group`, `group_name`, `split`, `synthetic`; file names relative to the CSV.
    `group_column` names the column holding the group (sensitive attribute, place, ...).

    Labels may be integers or class names. Pass `class_names` to map onto an existing label space
    (e.g. synthetic images onto the real dataset); unknown classes are an error.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "metadata.csv"
    if not path.is_file():
        raise DatasetError(f"no metadata file at {path}")
    rows, columns = read_csv_rows(path)
    for col in ("file_name", "label"):
        if col not in columns:
            raise DatasetError(f"{path} lacks the required column '{col}' (has {columns})")
    if not rows:
        if class_names is not None and size is not None and channels is not None:
            # e.g. the synthetic folder of an already balanced dataset: nothing was planned
            return ImageSet(np.zeros((0, *size, channels), np.uint8), np.zeros(0, np.int64), list(class_names),
                            groups=None if group_names is None else np.zeros(0, np.int64), group_names=group_names,
                            synthetic=np.full(0, bool(synthetic)), name=path.parent.name)
        raise DatasetError(f"{path} has no rows")
    _check_rows(rows, path)
    lines = {id(r): n for n, r in enumerate(rows, start=2)}  # a row's line in the file, whichever split it is in
    if split is not None:
        if "split" not in rows[0]:
            raise DatasetError(f"{path} has no 'split' column to select split={split!r}")
        rows = [r for r in rows if split_of(r["split"]) == split_of(split)]
        if not rows:
            raise DatasetError(f"{path} has no rows with split={split!r}")

    names = _paired_space(rows, "label", "class_name", class_names, path, "class")
    labels = [_label_of(r, "label", "class_name", names, path, class_names is not None) for r in rows]
    _check_pairs(rows, labels, "label", "class_name", names, path, lines)
    groups = gnames = None
    if group_column != "group" and group_column not in rows[0]:
        raise DatasetError(f"{path} has no group column {group_column!r} (has {list(rows[0])})")
    if group_column in rows[0] and any(r[group_column] not in ("", None) for r in rows):
        name_col = "group_name" if group_column == "group" else None
        gnames = _paired_space(rows, group_column, name_col, group_names, path, "group")
        groups = [_label_of(r, group_column, name_col, gnames, path, group_names is not None) for r in rows]
        _check_pairs(rows, groups, group_column, name_col, gnames, path, lines)
    paths = [path.parent / r["file_name"] for r in rows]
    images, kept, skipped = _images_from_paths(paths, size, channels, strict)
    if images is None:
        raise DatasetError(f"{path}: no readable images ({len(skipped)} unreadable)")
    if synthetic is None and "synthetic" in rows[0]:
        synth = np.array([rows[i]["synthetic"].lower() in ("1", "true") for i in kept])
    else:
        synth = np.full(len(kept), bool(synthetic))
    ds = ImageSet(images, np.asarray(labels)[kept], names,
                  groups=None if groups is None else np.asarray(groups)[kept],
                  group_names=gnames, synthetic=synth, name=path.parent.name)
    ds.skipped = skipped
    return ds


MISSING_VALUES = {"", "nan", "none", "null", "na", "n/a", "<na>"}


# a `split` value (lower-cased, stripped) -> its split; 0/1/2 is Waterbirds' numbering
SPLITS = {"train": "train", "val": "val", "test": "test", "0": "train", "1": "val", "2": "test"}


def split_of(value) -> str | None:
    """The split a metadata.csv `split` value names ('Train', ' train ' and '0' all name train), or None."""
    return SPLITS.get(str(value).strip().lower())


def check_split_values(rows: list[dict], path: Path) -> set[str]:
    """The splits a metadata.csv's rows name. A value naming none ('training', '') is an error with its
    line (a row is never dropped without a word), and so is a file mixing names and numbers (train
    and 0: one of them was meant to be something else)."""
    for line, row in enumerate(rows, start=2):
        if split_of(row.get("split")) is None:
            raise DatasetError(f"{path} line {line}: split {row.get('split')!r} is not one of train, val, test "
                               "(or 0, 1, 2); every row needs one (case and spaces do not matter)")
    kinds = {str(row["split"]).strip().isdigit() for row in rows}
    if len(kinds) > 1:
        raise DatasetError(f"{path} mixes named splits (train, val, test) and numbered ones (0, 1, 2) in its split "
                           "column; use one of the two")
    return {split_of(row["split"]) for row in rows}


def read_csv_rows(path: Path) -> tuple[list[dict], list[str]]:
    """Rows and columns of a user's CSV: UTF-8 (an Excel BOM is fine); binary or other encodings
    are a clear error."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not a UTF-8 CSV ({exc.reason} at byte {exc.start}); "
                           "save it as CSV UTF-8") from exc
    if "\x00" in text:
        raise DatasetError(f"{path} is not a readable CSV: it is a binary file (NUL bytes)")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise DatasetError(f"{path} is not a readable CSV: {exc}") from exc
    if any(None in r for r in rows):
        n = next(i for i, r in enumerate(rows) if None in r) + 2
        raise DatasetError(f"{path} line {n}: more fields than the header has columns")
    return rows, columns


def _check_rows(rows: list[dict], path: Path) -> None:
    """Every row names a file once and has a label: no duplicates, no missing values."""
    seen = {}
    for n, r in enumerate(rows, start=2):
        name = (r.get("file_name") or "").strip()
        if not name:
            raise DatasetError(f"{path} line {n}: empty file_name")
        if name in seen:
            raise DatasetError(f"{path} line {n}: duplicate file_name {name!r} (also on line {seen[name]}); "
                               "each image must be listed once")
        seen[name] = n
        label = r.get("class_name") or r.get("label") or ""
        if label.strip().lower() in MISSING_VALUES:
            raise DatasetError(f"{path} line {n}: missing label {label!r} for {name!r}; "
                               "give every row a label (or remove the row)")


def _label_space(values, given, path, what) -> list[str]:
    """Class (or group) names: `given` (the training split's, or a declared list), else from the
    values: integers must be 0..K-1 with every one present (a gap is most likely a typo), names
    are sorted."""
    if given is not None:
        return list(given)
    values = set(values)
    if all(v.lstrip("-").isdigit() for v in values):
        ints = sorted(int(v) for v in values)
        if ints[0] < 0:
            raise DatasetError(f"{path}: negative {what} label {ints[0]}; integer labels are 0..K-1")
        gaps = sorted(set(range(ints[-1] + 1)) - set(ints))
        if gaps:
            raise DatasetError(f"{path}: {what} labels are integers up to {ints[-1]} but {gaps} never occur: "
                               f"a typo? integer labels must be 0..K-1 with every {what} present "
                               "(or use class names)")
        return [str(i) for i in range(ints[-1] + 1)]
    return sorted(values)


def _paired_space(rows, id_col, name_col, given, path, what) -> list[str]:
    """The label space of an id column and its name column (label / class_name, group / group_name):
    `given`, else, when every row has both and the ids are the integers 0..K-1, class k is the name
    paired with id k (the user's numbering is kept), else `_label_space` of the names (ids where a
    row has no name)."""
    if given is None and name_col and all(r.get(id_col) and r.get(name_col) for r in rows):
        pairs = {}
        for r in rows:
            if r[id_col].isdigit():
                pairs.setdefault(int(r[id_col]), r[name_col])
        if (len(pairs) == len({r[id_col] for r in rows}) and sorted(pairs) == list(range(len(pairs)))
                and len(set(pairs.values())) == len(pairs)):
            return [pairs[k] for k in range(len(pairs))]
    return _label_space([(name_col and r.get(name_col)) or r[id_col] for r in rows], given, path, what)


def _check_pairs(rows, ids: list[int], id_col, name_col, names, path, lines: dict) -> None:
    """A row that gives both an id and a name must mean one class by them (the name decides the
    label, so an id that says another would be silently overruled): the id is the name itself or
    its index. `lines`: each row's line in the file."""
    for r, k in zip(rows, ids):
        value = (r.get(id_col) or "").strip()
        if not name_col or not r.get(name_col) or not value:
            continue
        if value != names[k] and not (value.isdigit() and int(value) == k):
            raise DatasetError(f"{path} line {lines[id(r)]}: {id_col} {value!r} and {name_col} {r[name_col]!r} "
                               f"contradict each other ({r[name_col]!r} is {id_col} {k} of {names}); fix one of the "
                               "two columns")


def _label_of(row, id_col, name_col, names, path, fixed: bool = False) -> int:
    where = " (the label space is fixed by the training split)" if fixed else ""
    name = row.get(name_col) if name_col else None
    if name:
        if name not in names:
            raise DatasetError(f"{path}: unknown {id_col} {name!r}{where}; known: {names}")
        return names.index(name)
    value = row[id_col]
    if value in names:
        return names.index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < len(names):
        return int(value)
    raise DatasetError(f"{path}: unknown {id_col} {value!r}{where}; known: {names}")
