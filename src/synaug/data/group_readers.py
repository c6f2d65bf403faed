"""Readers for the real group datasets of the paper: UTKFace (fairness), Waterbirds (spurious
correlation) and CelebA (spurious correlation, Group DRO's benchmark). Images stay on disk and are
decoded per batch at `size` (they are 178-256 px); labels and groups come from names or tables."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from synaug.data.datasets import register_dataset
from synaug.data.imageset import DatasetSplits, ImageSet, LazyImages
from synaug.data.readers import log_skipped, read_csv_rows, readable
from synaug.errors import DatasetError
from synaug.validate import read_text

log = logging.getLogger(__name__)

UTK_GENDERS = ["male", "female"]                            # 0, 1
UTK_RACES = ["White", "Black", "Asian", "Indian", "Others"]  # 0..4
# [age]_[gender]_[race]_[date&time].jpg, aligned crops end in .jpg.chip.jpg; parsed strictly
UTK_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_(\d{17})\.jpg(\.chip\.jpg)?$")


def parse_utkface_name(name: str) -> dict | None:
    m = UTK_NAME.match(name)
    if not m:
        return None
    return {"age": int(m.group(1)), "gender": int(m.group(2)), "race": int(m.group(3))}


def read_utkface(root, size: int = 64, target: str = "gender", group: str = "race",
                 drop_races=("Others",)) -> ImageSet:
    """class = gender, group = race without Others (the paper's setting), both configurable.
    Malformed file names are skipped and listed in `skipped` with the reason."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"UTKFace folder {root} does not exist")
    fields = {"gender": UTK_GENDERS, "race": UTK_RACES}
    for what, attr in (("target", target), ("group", group)):
        if attr not in fields:
            raise DatasetError(f"UTKFace {what} must be 'gender' or 'race', not {attr!r}")
    keep_races = [r for r in UTK_RACES if r not in set(drop_races)]
    paths, labels, groups, skipped = [], [], [], []
    for p in sorted(root.rglob("*.jpg")):
        info = parse_utkface_name(p.name)
        if info is None:
            skipped.append((str(p), "malformed UTKFace name (expected age_gender_race_datetime.jpg)"))
            continue
        race = UTK_RACES[info["race"]]
        if race not in keep_races:
            continue
        values = {"gender": info["gender"], "race": keep_races.index(race)}
        paths.append(p)
        labels.append(values[target])
        groups.append(values[group])
    kept, unreadable = readable(paths, size)  # a truncated image is listed here, not a crash in training
    paths, labels, groups = ([v[i] for i in kept] for v in (paths, labels, groups))
    skipped += unreadable
    log_skipped(skipped)
    if not paths:
        raise DatasetError(f"{root}: no UTKFace images ({len(skipped)} malformed names)")
    names = {"gender": UTK_GENDERS, "race": keep_races}
    ds = ImageSet(LazyImages(paths, (size, size), 3), np.array(labels), names[target], groups=np.array(groups),
                  group_names=names[group], name="utkface")
    ds.skipped = skipped
    return ds


def stratified_split(cells: np.ndarray, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> list[np.ndarray]:
    """Split indices so every cell is divided in the same proportions (seeded)."""
    rng = np.random.default_rng([seed, 8])
    parts = [[] for _ in fractions]
    for cell in np.unique(cells):
        idx = rng.permutation(np.where(cells == cell)[0])
        bounds = np.floor(np.cumsum(fractions) / sum(fractions) * len(idx)).astype(int)
        for k, (a, b) in enumerate(zip(np.r_[0, bounds[:-1]], bounds)):
            parts[k].append(idx[a:b])
    return [np.sort(np.concatenate(p)) for p in parts]


@register_dataset("utkface")
def utkface(path: str = "", size: int = 64, split_seed: int = 0,
            **options) -> DatasetSplits:
    """UTKFace has no official split: a seeded 80/10/10 split stratified over (gender, race) cells."""
    if not path:
        raise DatasetError("utkface needs a path: utkface:FOLDER")
    full = read_utkface(path, size=size, **options)
    train, val, test = (full.subset(ix) for ix in stratified_split(full.cells(), seed=split_seed))
    train.skipped = full.skipped
    return DatasetSplits(train=train, val=val, test=test, info=dict(
        dataset="utkface", source=path, split="seeded 80/10/10 stratified by cell", split_seed=split_seed,
        skipped=len(full.skipped)))


WATERBIRDS_CLASSES = ["landbird", "waterbird"]
WATERBIRDS_PLACES = ["land", "water"]


@register_dataset("waterbirds")
def waterbirds(path: str = "", size: int = 64) -> DatasetSplits:
    """metadata.csv: img_id, img_filename, y, split (0 train / 1 val / 2 test), place (1 = water);
    group = 2 * y + place, which is our cell id (class * 2 + group)."""
    root = Path(path)
    meta = root / "metadata.csv" if root.is_dir() else root
    if not meta.is_file():
        raise DatasetError(f"no Waterbirds metadata.csv at {meta}")
    rows, columns = read_csv_rows(meta)
    need = {"img_filename", "y", "split", "place"}
    if not rows or not need <= set(columns):
        raise DatasetError(f"{meta}: expected columns {sorted(need)}")
    for n, r in enumerate(rows, start=2):
        if r["y"] not in ("0", "1") or r["place"] not in ("0", "1"):
            raise DatasetError(f"{meta} line {n}: y and place must be 0 or 1, got {r['y']!r}, {r['place']!r}")
    kept, skipped = readable([meta.parent / r["img_filename"] for r in rows], size)
    log_skipped(skipped)
    rows = [rows[i] for i in kept]
    splits = {}
    for split_id, name in (("0", "train"), ("1", "val"), ("2", "test")):
        part = [r for r in rows if r["split"] == split_id]
        if not part:
            raise DatasetError(f"{meta}: no rows with split={split_id} ({name})")
        splits[name] = ImageSet(LazyImages([meta.parent / r["img_filename"] for r in part], (size, size), 3),
                                np.array([int(r["y"]) for r in part]), WATERBIRDS_CLASSES,
                                groups=np.array([int(r["place"]) for r in part]), group_names=WATERBIRDS_PLACES,
                                name="waterbirds")
    splits["train"].skipped = skipped
    return DatasetSplits(**splits, info=dict(dataset="waterbirds", source=str(meta), skipped=len(skipped)))


@register_dataset("celeba")
def celeba(path: str = "", size: int = 64, target: str = "Blond_Hair",
           confounder: str = "Male") -> DatasetSplits:
    """list_attr_celeba.txt (count line, attribute names, then `file v1 v2 ...` with +-1) and
    list_eval_partition.txt (`file 0|1|2`); images in img_align_celeba/. Group DRO's setting:
    target Blond_Hair, confounder Male."""
    root = Path(path)
    attr_file, part_file = root / "list_attr_celeba.txt", root / "list_eval_partition.txt"
    for f in (attr_file, part_file):
        if not f.is_file():
            raise DatasetError(f"CelebA file {f} not found")
    lines = read_text(attr_file, "CelebA file").splitlines()
    if len(lines) < 2:
        raise DatasetError(f"{attr_file}: expected a count line and a line of attribute names")
    names = lines[1].split()
    for attr in (target, confounder):
        if attr not in names:
            raise DatasetError(f"unknown CelebA attribute {attr!r}; known: {names}")
    attrs = {}
    for line in lines[2:]:
        parts = line.split()
        if len(parts) != len(names) + 1:
            raise DatasetError(f"{attr_file}: malformed line {line[:60]!r}")
        attrs[parts[0]] = dict(zip(names, (int(v) for v in parts[1:])))
    pairs = [line.split() for line in read_text(part_file, "CelebA file").splitlines() if line.strip()]
    if any(len(p) != 2 for p in pairs):
        raise DatasetError(f"{part_file}: expected lines 'file split'")
    partition = dict(pairs)
    image_dir = root / "img_align_celeba"
    names_sorted = sorted(partition)
    kept, skipped = readable([image_dir / f for f in names_sorted], size)
    log_skipped(skipped)
    ok = {names_sorted[i] for i in kept}
    splits = {}
    for split_id, name in (("0", "train"), ("1", "val"), ("2", "test")):
        files = sorted(f for f, s in partition.items() if s == split_id and f in ok)
        missing = [f for f in files if f not in attrs]
        if missing:
            raise DatasetError(f"{part_file}: {len(missing)} file(s) without attributes, e.g. {missing[0]}")
        splits[name] = ImageSet(LazyImages([image_dir / f for f in files], (size, size), 3),
                                np.array([attrs[f][target] > 0 for f in files], dtype=np.int64),
                                [f"not {target}", target],
                                groups=np.array([attrs[f][confounder] > 0 for f in files], dtype=np.int64),
                                group_names=[f"not {confounder}", confounder], name="celeba")
    return DatasetSplits(**splits, info=dict(dataset="celeba", source=str(root), target=target, confounder=confounder))
