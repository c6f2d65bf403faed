"""Tiny datasets in the EXACT on-disk formats of the paper's real datasets, for tests of the readers
and of the shipped configs (configs/utkface-*.yaml, waterbirds-*.yaml, imagenet100-lt-*.yaml).

- `write_utkface(dir, n)`: UTKFace's aligned crops, `[age]_[gender]_[race]_[date&time].jpg.chip.jpg`
  (17-digit date&time), 48x48 JPEGs, read by `utkface:DIR`.
- `write_waterbirds(dir)`: Waterbirds' `metadata.csv` (`img_id,img_filename,y,split,place,
  place_filename`, split 0/1/2) with the images in CUB-style species sub-folders, read by
  `waterbirds:DIR`.
- `write_imagenet_lt(dir)`: an ImageNet folder (`train/<wnid>/<wnid>_<n>.JPEG`,
  `val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG`) with SDCLR's ImageNet100-LT list files
  (`split/imagenet-100/imageNet_100_LT_train.txt`, `ImageNet_100_val.txt`, `ImageNet_100_test.txt`),
  read by `imagenet100-lt:DIR` / `imagenet-lt:DIR`.

Every class (x group) cell is non-empty in every split the reader makes (the training code needs
that). Images carry a weak class signal (a class-dependent colour and brightness, plus a smaller
group-dependent tint, under pixel noise), so a tiny training run can learn something, and they are
seeded: the same call writes the same bytes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

UTK_RACES = 4            # White, Black, Asian, Indian (Others = 4 is written too, and dropped by the reader)
UTK_MIN_PER_CELL = 10    # the reader's seeded 80/10/10 split needs >= 10 per cell for non-empty val/test cells

# class colours (RGB) the images are tinted with; groups add a smaller tint on top
_CLASS_RGB = [(70, 70, 150), (170, 150, 70), (60, 160, 80), (170, 70, 70), (110, 110, 110),
              (60, 150, 160), (150, 70, 160), (200, 200, 200)]
_GROUP_RGB = [(0, 0, 0), (25, -10, -10), (-10, 25, -10), (-10, -10, 25)]


def signal_image(label: int, group: int, rng: np.random.Generator, size: int = 48,
                 noise: float = 24.0) -> Image.Image:
    """An RGB image whose mean colour depends on `label` (strongly) and `group` (weakly), with a
    brighter centre square (the 'object') and seeded pixel noise."""
    base = np.array(_CLASS_RGB[label % len(_CLASS_RGB)], dtype=np.float32)
    tint = np.array(_GROUP_RGB[group % len(_GROUP_RGB)], dtype=np.float32)
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = base * 0.6 + tint + 40.0                     # background: mostly the group's tint
    lo, hi = size // 4, size - size // 4
    img[lo:hi, lo:hi] = base + 0.5 * tint                 # the object: the class colour
    img += rng.normal(0.0, noise, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def _save_jpeg(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG", quality=90)


# ----------------------------------------------------------------------------- UTKFace
def write_utkface(directory, n: int = 10, imbalance: int = 2, others: int = 2, seed: int = 0,
                  size: int = 48) -> dict:
    """UTKFace aligned-crop files in `directory` (flat, as the UTKFace.tar.gz 'UTKFace/' folder).

    Every (gender, race) cell of the paper (races White, Black, Asian, Indian) gets `n` images
    (at least 10, so the reader's 80/10/10 split leaves every cell non-empty in train, val and
    test); White cells get `imbalance` x n, as White dominates the real data. `others` images of
    race 4 (Others) are written too: the reader drops them, as the paper does.
    Class signal: gender (the paper's class) sets the colour; race (the group) a weaker tint.
    Returns {(gender, race): count} of the images the reader keeps.
    """
    if n < UTK_MIN_PER_CELL:
        raise ValueError(f"write_utkface needs n >= {UTK_MIN_PER_CELL} per cell, got {n}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    counts, serial = {}, 0
    cells = [(g, r) for g in (0, 1) for r in range(UTK_RACES)] + [(g, 4) for g in (0, 1)]
    for gender, race in cells:
        k = others if race == 4 else n * (imbalance if race == 0 else 1)
        for i in range(k):
            age = int(rng.integers(1, 90))
            stamp = f"20170116{serial:09d}"                 # [date&time]: 17 digits, yyyymmddHHMMSSFFF-like
            serial += 1
            name = f"{age}_{gender}_{race}_{stamp}.jpg.chip.jpg"
            _save_jpeg(signal_image(gender, race, rng, size), root / name)
        if race != 4:
            counts[(gender, race)] = k
    return counts


# ----------------------------------------------------------------------------- Waterbirds
_WB_SPECIES = {0: ["094.White_breasted_Nuthatch", "017.Cardinal"],      # landbirds
               1: ["146.Forsters_Tern", "086.Pacific_Loon"]}            # waterbirds
_WB_PLACES = {0: ["/b/bamboo_forest/00000012.jpg", "/f/forest/broadleaf/00000431.jpg"],   # land
              1: ["/o/ocean/00002262.jpg", "/l/lake/natural/00000065.jpg"]}              # water


def write_waterbirds(directory, train=(12, 3, 2, 8), val=(4, 4, 4, 4), test=(4, 4, 4, 4), seed: int = 0,
                     size: int = 48) -> Path:
    """Waterbirds as `waterbird_complete95_forest2water2/`: metadata.csv with
    `img_id,img_filename,y,split,place,place_filename` (y 1 = waterbird, place 1 = water, split
    0 train / 1 val / 2 test) and the images in CUB species sub-folders.

    `train`, `val`, `test` give the counts of groups (y, place) = (0,0), (0,1), (1,0), (1,1), i.e.
    group = 2 * y + place; the default train counts follow the real 3498 / 184 / 56 / 1057 shape
    (spurious: landbirds on land, waterbirds on water), every group non-empty in every split.
    Class signal: the bird (centre) colour follows y; the background tint follows the place.
    Returns the path of metadata.csv.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 2])
    rows, img_id = [], 1
    for split, counts in enumerate((train, val, test)):
        if len(counts) != 4 or min(counts) < 1:
            raise ValueError(f"write_waterbirds needs 4 positive group counts per split, got {counts}")
        for group, k in enumerate(counts):
            y, place = divmod(group, 2)
            for i in range(k):
                species = _WB_SPECIES[y][i % 2]
                bird = species.split(".", 1)[1]
                filename = f"{species}/{bird}_{img_id:04d}_{700000 + img_id}.jpg"
                _save_jpeg(signal_image(y, place + 1, rng, size), root / filename)
                rows.append({"img_id": img_id, "img_filename": filename, "y": y, "split": split,
                             "place": place, "place_filename": _WB_PLACES[place][i % 2]})
                img_id += 1
    meta = root / "metadata.csv"
    with open(meta, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["img_id", "img_filename", "y", "split", "place", "place_filename"])
        writer.writeheader()
        writer.writerows(rows)
    return meta


# ----------------------------------------------------------------------------- ImageNet100-LT
# real ImageNet100-LT wnids (SDCLR's labels 0, 1, 2, 3, 4, 5 are these folders, in this order)
IMAGENET_LT_WNIDS = ["n02869837", "n01749939", "n02488291", "n02107142", "n13037406", "n02091831"]
SDCLR_LISTS = ("imageNet_100_LT_train.txt", "ImageNet_100_val.txt", "ImageNet_100_test.txt")


def write_imagenet_lt(directory, counts=(12, 6, 3), val_per_class: int = 2, test_per_class: int = 4,
                      seed: int = 0, size: int = 40, list_dir: str = "split/imagenet-100") -> dict:
    """An ImageNet root with SDCLR's ImageNet100-LT layout: `train/<wnid>/<wnid>_<n>.JPEG`,
    `val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG` (the validation images sorted into wnid folders,
    which SDCLR's test list assumes), and the list files `imageNet_100_LT_train.txt`,
    `ImageNet_100_val.txt` (held out of train/, disjoint from the LT list) and
    `ImageNet_100_test.txt` in `list_dir` (SDCLR keeps them in split/imagenet-100/).

    `counts` are the long-tailed training images per class (label c = IMAGENET_LT_WNIDS[c]: label
    order is not sorted wnid order, as in the real lists). Class signal: colour per class.
    Returns dict(root, train, val, test (list paths), wnids, counts).
    """
    if len(counts) > len(IMAGENET_LT_WNIDS) or min(counts) < 1:
        raise ValueError(f"write_imagenet_lt takes 1..{len(IMAGENET_LT_WNIDS)} positive class counts, got {counts}")
    root = Path(directory)
    lists = root / list_dir
    lists.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 3])
    wnids = IMAGENET_LT_WNIDS[:len(counts)]
    lines = {"train": [], "val": [], "test": []}
    val_serial = 1
    for label, (wnid, n) in enumerate(zip(wnids, counts)):
        for i in range(n + val_per_class):
            rel = f"train/{wnid}/{wnid}_{1000 + 37 * i}.JPEG"
            _save_jpeg(signal_image(label, 0, rng, size), root / rel)
            lines["train" if i < n else "val"].append(f"{rel} {label}")
        for _ in range(test_per_class):
            rel = f"val/{wnid}/ILSVRC2012_val_{val_serial:08d}.JPEG"
            val_serial += 1
            _save_jpeg(signal_image(label, 0, rng, size), root / rel)
            lines["test"].append(f"{rel} {label}")
    paths = {"val": None}
    for split, name in zip(("train", "val", "test"), SDCLR_LISTS):
        if not lines[split]:
            continue  # val_per_class=0: no val list
        paths[split] = lists / name
        paths[split].write_text("\n".join(lines[split]) + "\n")
    return dict(root=root, **paths, wnids=wnids, counts=list(counts))
