"""The quality of a fitted `ddpm` generator, written beside its model: GEN/quality.json and GEN/quality.png.
In the engine, where generation and the audit's training meet (generators import nothing from train).

`write_quality(GEN, pool, test)` draws `per_cell` images of every cell the model was fitted on
(DDIM, `steps` sampling steps, seeds 0..N-1, guidance 2) and measures them with
`synaug.audit.quality.image_quality` against the fit's pool (the real images it learned from) and the
real test split: CAS next to the same classifier trained on as many real images, the Fréchet distance
on the audit's feature network, the copy rate and the per-cell recall. The grid shows the first
`GRID_COLUMNS` samples of every cell (one row per cell). A record made for the same checkpoint and
settings is reused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from synaug.audit.quality import QualityConfig, image_quality
from synaug.data.imageset import ImageSet
from synaug.fileio import write_json
from synaug.generators.ddpm import trained_timesteps
from synaug.generators.ddpm_check import write_grid
from synaug.generators.ddpm_folder import CHECKPOINT, cell_names, file_sha256, read_info
from synaug.generators.ddpm_sample import DdpmSampler

QUALITY_FILE = "quality.json"
QUALITY_GRID = "quality.png"
GRID_COLUMNS = 10


@dataclass(frozen=True)
class SampleSettings:
    per_cell: int = 100        # images drawn per cell
    steps: int = 25            # DDIM sampling steps
    guidance: float = 2.0
    batch: int = 256
    device: str = "auto"
    measure: QualityConfig = field(default_factory=QualityConfig)


def sample_cells(folder: Path, pool: ImageSet, settings: SampleSettings) -> ImageSet:
    """`per_cell` samples of every cell of `pool` the model was fitted on, labelled as `pool` labels them."""
    sampler = DdpmSampler(folder, settings.device)
    names, pool_names = cell_names(sampler.info), pool.cell_names()
    counts = sampler.info["pool"]["cell_counts"]
    cells = [i for i, n in enumerate(names) if counts[i] > 0 and n in pool_names]
    labels = np.repeat(cells, settings.per_cell)
    seeds = list(range(len(labels)))
    steps = min(settings.steps, trained_timesteps(sampler.info) or settings.steps)  # a tiny fit has fewer timesteps
    pixels = np.concatenate([sampler.sample(labels[k:k + settings.batch], seeds[k:k + settings.batch],
                                            steps=steps, guidance=settings.guidance)
                             for k in range(0, len(labels), settings.batch)])
    own = np.array([pool_names.index(names[c]) for c in labels])  # the pool's cell ids
    groups = len(pool.group_names) if pool.has_groups else 1
    return ImageSet(pixels, own // groups, list(pool.class_names), groups=own % groups if pool.has_groups else None,
                    group_names=pool.group_names if pool.has_groups else None, synthetic=np.ones(len(own), bool),
                    name="ddpm samples")


def write_quality(folder: Path, pool: ImageSet, test: ImageSet, settings: SampleSettings = SampleSettings()) -> dict:
    """quality.json (+ quality.png) of the model in `folder`, made now or reused (same checkpoint, settings)."""
    folder = Path(folder)
    recorded = {**asdict(settings), "measure": asdict(settings.measure), "checkpoint": file_sha256(folder / CHECKPOINT)}
    recorded.pop("device")
    recorded.pop("batch")
    recorded["measure"].pop("device")
    path = folder / QUALITY_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("sampling") == recorded:
            return {**old, "reused": True}
    synthetic = sample_cells(folder, pool, settings)
    test = test if pool.has_groups == test.has_groups else test.without_groups()
    record = {"sampling": recorded, **image_quality(synthetic, pool, test, settings.measure), "grid": QUALITY_GRID}
    cells = synthetic.cells()
    first = np.concatenate([np.flatnonzero(cells == c)[:GRID_COLUMNS] for c in np.unique(cells)])
    write_grid(synthetic.images[first], len(np.unique(cells)), folder / QUALITY_GRID)
    write_json(path, record)
    return record


def summary(record: dict) -> str:
    """Two lines for a terminal: CAS vs real, Fréchet distance (vs real's), copy rate, the weakest recall."""
    first = (f"quality ({record['images']} samples, {record['sampling']['steps']} DDIM steps): CAS "
             f"{record['cas']['accuracy']:.1f} % vs {record['real_score']['accuracy']:.1f} % trained on as many real "
             f"images (ratio {record['cas_ratio']:.2f}); Fréchet distance {record['frechet_distance']:.2f} (real "
             f"images: {record['frechet_distance_real']:.2f}; {record['feature_network']})")
    recall = {k: v for k, v in record["recall"].items() if v is not None}
    copy = "n/a" if record["copy_rate"] is None else f"{record['copy_rate']:.3f}"
    spread = (f"; k-NN recall per cell from {min(recall.values()):.2f} ({min(recall, key=recall.get)}) to "
              f"{max(recall.values()):.2f}" if recall else "")
    return f"{first}\ncopy rate {copy}{spread}; grid {record['grid']}"
