"""Does a fitted `ddpm` model draw its classes? The check between fit and generate.

A classifier trained on the REAL images (logistic regression on 16 x 16 thumbnails, scikit-learn:
independent of the denoiser and of any synaug training) labels `SAMPLES_PER_CELL` samples of every
cell the model was fitted on. A cell passes when at least `floor(K)` = 2 / K of its samples (twice
chance, K = cells) are given its own label; coloured static, or a model that draws one class for all,
fails. The result is written beside the model (GEN/sample_check.json, and GEN/samples.png: one row
of samples per cell) and a failing cell makes a loud WARNING that names the cells and the fit's
settings. `synaug fit-generator` runs it after the fit; the ddpm backend runs it before drawing from
a model that has no sample_check.json.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from synaug.data.imageset import ImageSet
from synaug.fileio import atomic_open, write_json
from synaug.generators.ddpm_folder import cell_names

SAMPLES_PER_CELL = 8
CHECK_STEPS = 25   # DDIM steps per sample: enough to tell a class from static
REAL_PER_CELL = 100  # real images per cell the classifier learns from
THUMB = 16         # thumbnail side the classifier sees (real and sampled images alike)
CHECK_FILE = "sample_check.json"
GRID_FILE = "samples.png"


def floor(cells: int) -> float:
    """The least share of a cell's samples the real-image classifier must give the cell: twice chance."""
    return min(1.0, 2.0 / max(cells, 1))


def thumbnails(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N, THUMB * THUMB * C) floats in [0, 1] (bilinear resize)."""
    out = [np.asarray(Image.fromarray(im[:, :, 0] if im.shape[2] == 1 else im).resize((THUMB, THUMB),
                                                                                          Image.BILINEAR), np.float32)
           for im in images]
    return np.stack(out).reshape(len(images), -1) / 255.0


def real_classifier(real: ImageSet, seed: int = 0):
    """Logistic regression on thumbnails of at most `REAL_PER_CELL` real images per cell (the first ones)."""
    # scikit-learn loads here: the backends are registered at every command's start, which must stay fast
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    cells = real.cells()
    rows = np.concatenate([np.flatnonzero(cells == c)[:REAL_PER_CELL] for c in np.unique(cells)])
    images = np.asarray(real.images[rows])
    # The check needs a coarse judge, not the optimum: on colour photos lbfgs stops at max_iter unconverged, and
    # scikit-learn's ConvergenceWarning (a traceback-like block) read as a failure of the fit in the first-day walk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(max_iter=300, class_weight="balanced", random_state=seed).fit(
            thumbnails(images), cells[rows])


def check_samples(sample: Callable, info: dict, real: ImageSet, folder: Path) -> dict:
    """Draw, classify and record (see the module docstring); `sample(labels, seeds)` -> uint8 images
    at the model's size, labels indexing the model's cells. Returns the record written."""
    model_names, real_names = cell_names(info), real.cell_names()
    counts = info["pool"]["cell_counts"]
    cells = [i for i, n in enumerate(model_names) if counts[i] > 0 and n in real_names]
    labels = [c for c in cells for _ in range(SAMPLES_PER_CELL)]
    pixels = sample(labels, list(range(len(labels))))
    pred = real_classifier(real).predict(thumbnails(pixels))
    own = np.array([real_names.index(model_names[c]) for c in labels])
    least = floor(len(real_names))
    shares = {model_names[c]: float(np.mean(pred[own == real_names.index(model_names[c])] ==
                                            real_names.index(model_names[c]))) for c in cells}
    record = dict(samples_per_cell=SAMPLES_PER_CELL, sampling_steps=CHECK_STEPS, floor=least, shares=shares,
                  failing=[n for n, s in shares.items() if s < least], grid=GRID_FILE,
                  classifier=f"logistic regression on {THUMB} px thumbnails of the real images",
                  fit={"steps": info.get("steps"), "image_shape": info.get("image_shape"), **info.get("training", {})})
    write_grid(pixels, len(cells), Path(folder) / GRID_FILE)
    write_json(Path(folder) / CHECK_FILE, record)
    return record


def write_grid(pixels: np.ndarray, rows: int, path: Path) -> None:
    """One row of samples per cell, as a PNG."""
    n, H, W, C = pixels.shape
    cols = n // max(rows, 1)
    grid = pixels[:rows * cols].reshape(rows, cols, H, W, C).transpose(0, 2, 1, 3, 4).reshape(rows * H, cols * W, C)
    image = Image.fromarray(grid[:, :, 0] if C == 1 else grid)
    with atomic_open(path, "wb") as f:
        image.save(f, format="PNG")


def read_check(folder: Path) -> dict | None:
    path = Path(folder) / CHECK_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None  # a damaged record: checked again


def warning_text(record: dict, folder: Path) -> str | None:
    """The loud warning of a failing check, or None when every cell passed."""
    if not record["failing"]:
        return None
    shown = ", ".join(f"{n} {100 * record['shares'][n]:.0f} %" for n in record["failing"])
    fit = record["fit"]
    settings = ", ".join(f"{k}={fit[k]}" for k in ("steps", "batch_size", "lr", "arch", "image_shape") if k in fit)
    # no "WARNING:" of its own: it is logged as a warning, whose format already says so
    return (f"the ddpm model in {folder} draws {len(record['failing'])} of {len(record['shares'])} classes "
            f"that a classifier trained on the real images does not recognise (share of {record['samples_per_cell']} "
            f"samples given their own class, floor {100 * record['floor']:.0f} %: twice chance): {shown}. "
            f"Its fit: {settings}. Look at {Path(folder) / record['grid']}; these images would train the classifier "
            "on noise: fit longer (--steps), or use another generator")


def report(record: dict, folder: Path) -> str:
    """One line for a passing check, the warning for a failing one."""
    return warning_text(record, folder) or (f"sample check: every class's samples are recognised by a classifier trained on the real images "
            f"(at least {100 * record['floor']:.0f} % each; grid in {Path(folder) / record['grid']})")
