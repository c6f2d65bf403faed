"""The GEN folder of a fitted `ddpm` generator, and the content checks around it. No torch here:
the backend reads this to answer `cannot_draw` and `describe` without loading a network (only
`load_checkpoint` imports torch, when it is called).

GEN/
  generator.json   what the network is and what it was trained on (written before the first step;
                   `fit_generator` refuses a folder whose recorded settings or pool differ)
  checkpoint.pt    weights, EMA weights, optimiser state, step (rewritten atomically every
                   `checkpoint_every` steps; complete when its step equals generator.json's `steps`)
  log.jsonl        one line per `log_every` steps: step, mean loss (and its parts), learning rate
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np

from synaug.data.imageset import ImageSet
from synaug.errors import DatasetError, GenerationError

INFO = "generator.json"
CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def image_hashes(images: np.ndarray) -> np.ndarray:
    """sha256 of each image's bytes (uint8, H x W x C), as an array of hex strings."""
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    return np.array([hashlib.sha256(row.tobytes()).hexdigest() for row in flat])


def pool_digest(images: ImageSet) -> str:
    """One sha256 over the pixels, labels and groups of a pool, in order: the pool's identity."""
    h = hashlib.sha256(np.ascontiguousarray(images.images).tobytes())
    h.update(images.labels.astype(np.int64).tobytes())
    if images.groups is not None:
        h.update(images.groups.astype(np.int64).tobytes())
    return h.hexdigest()


def check_disjoint(pool: ImageSet, test: ImageSet, pool_name: str = "pool", test_name: str = "test") -> None:
    """Refuse a training pool that shares any image with a test split, compared by content (the
    sha256 of each image's bytes, so a copy under another index or label is caught too)."""
    if not isinstance(pool.images, np.ndarray) or not isinstance(test.images, np.ndarray):
        raise DatasetError("the overlap check compares images held in memory (<= 64 px datasets)")
    if pool.image_shape != test.image_shape:
        return  # different shapes cannot share bytes
    pool_h, test_h = image_hashes(pool.images), image_hashes(test.images)
    shared = np.isin(pool_h, test_h)
    if shared.any():
        first = int(np.flatnonzero(shared)[0])
        where = int(np.flatnonzero(test_h == pool_h[first])[0])
        raise DatasetError(
            f"the {pool_name} shares {int(shared.sum())} image(s) with the {test_name} split (by content: "
            f"e.g. {pool_name} row {first}, class {pool.class_names[pool.labels[first]]!r}, is {test_name} row "
            f"{where}); a generator trained on it would leak test images into training. Train it on images "
            "disjoint from the test split")


# what sampling reads from generator.json: a record lacking one is not a ddpm fit's
INFO_KEYS = ("generator", "architecture", "class_names", "image_shape", "schedule", "pool", "steps")
REBUILD = ("remove {folder} and run the fit again (`synaug fit-generator ... --out {folder}`, or the config that "
           "fitted it)")


def load_checkpoint(folder: Path, device="cpu") -> dict:
    """GEN/checkpoint.pt, or a GenerationError naming the file and how to rebuild it when it is
    truncated, foreign or lacks what a fit writes."""
    import torch  # the folder's layout stays readable without torch; only weights need it
    path = Path(folder) / CHECKPOINT
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError, OSError) as exc:
        lines = str(exc).strip().splitlines()
        raise GenerationError(f"checkpoint {path} is unreadable (truncated or not a ddpm fit: "
                              f"{(lines[0].split('. ')[0] if lines else type(exc).__name__)[:160]}); "
                              + REBUILD.format(folder=folder)) from None
    if not isinstance(saved, dict) or not {"model", "step", "optimizer"} <= set(saved):
        raise GenerationError(f"checkpoint {path} is not a ddpm fit's checkpoint (no model / step / optimizer); "
                              + REBUILD.format(folder=folder))
    return saved


def read_info(folder: Path) -> dict:
    """generator.json of a GEN folder, or a GenerationError that says what is missing."""
    path = Path(folder) / INFO
    if not path.is_file():
        raise GenerationError(f"{folder} is not a fitted ddpm generator (no {INFO}); make one with "
                              f"`synaug fit-generator --dataset DATA --out {folder}` (or "
                              "synaug.generators.ddpm_fit.fit_generator)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenerationError(f"{path} is not valid JSON ({exc}); " + REBUILD.format(folder=folder)) from None
    missing = [k for k in INFO_KEYS if not isinstance(info, dict) or k not in info]
    if missing or info.get("generator") != "ddpm":
        raise GenerationError(f"{path} is not a ddpm fit's record (" + (f"no {', '.join(missing)}" if missing else
                              f"generator {info.get('generator')!r}") + "); " + REBUILD.format(folder=folder))
    return info


def cell_names(info: dict) -> list[str]:
    """The names of the cells the model is conditioned on, in label-index order ("class" or
    "class / group", as `synaug.cells.CellSpace.names`)."""
    classes, groups = info["class_names"], info.get("group_names")
    if groups is None:
        return list(classes)
    return [f"{c} / {g}" for c in classes for g in groups]


def model_cell(info: dict, class_name: str, group_name: str | None) -> tuple[int | None, str | None]:
    """(label index in the model, None), or (None, why the model cannot draw this class / cell)."""
    grouped = info.get("group_names") is not None
    if grouped and not group_name:
        return None, ("the ddpm model is conditioned on (class, group) cells and this plan names a class only: "
                      "plan per cell, or fit the generator on the images without groups")
    if not grouped and group_name:
        return None, (f"the ddpm model is conditioned on classes only; it cannot draw group {group_name!r}: "
                      "fit it on images with groups")
    names = cell_names(info)
    name = f"{class_name} / {group_name}" if grouped else class_name
    if name not in names:
        return None, f"the ddpm model was not trained on {name!r} (its {'cells' if grouped else 'classes'}: {names})"
    index = names.index(name)
    if info["pool"]["cell_counts"][index] == 0:
        return None, f"the pool the ddpm model was trained on has no image of {name!r}"
    return index, None
