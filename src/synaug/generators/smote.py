"""SMOTE as a generator: the data-side baseline every imbalanced-learn user knows, as one more
"additional data type" beside synthetic images (issue 9, Table 5's rows). Each planned image is
one SMOTE sample of its cell, made by imbalanced-learn's own `SMOTE.fit_resample` on the flattened
real training images with the item's seed as `random_state`: an interpolation between a real
image of the cell and one of its k nearest neighbours in the same cell. One call per image keeps
the runner's guarantees (every image a pure function of its seed; resume, shards and batches give
the same images) at the cost of refitting the neighbours per image, cheap at the sizes SMOTE on
pixels is used for.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from synaug.constraints import POSITIVE_INT, check
from synaug.data.imageset import ImageSet
from synaug.errors import GenerationError, require
from synaug.generators.base import Generated, register_generator
from synaug.generators.recorded import RecordsConfig
from synaug.cells import parse_tag
from synaug.plans import PlanItem


@register_generator("smote")
class SmoteGenerator(RecordsConfig):
    name = "smote"
    parallel_safe = True  # CPU, picklable (the real images travel with it to --workers processes)
    reads_prompt = False  # interpolates the cell's real images, whatever the prompt says
    described = ("k_neighbors", "real_images", "real_digest")

    def __init__(self, *, k_neighbors: int = 5, real: ImageSet):
        if not isinstance(real.images, np.ndarray):
            raise GenerationError("SMOTE interpolates images held in memory (<= 64 px datasets)")
        check("smote option k_neighbors", k_neighbors, POSITIVE_INT)
        self.shape = real.image_shape
        self.x = real.images.reshape(len(real), -1).astype(np.float64)
        self.space = real.cell_space
        self.cells = np.asarray(real.cells())
        self.record(k_neighbors=k_neighbors)

    def derived(self) -> dict:
        return {"real_images": len(self.x), "real_digest": int(np.abs(self.x).sum()) % 2**31}

    def cannot_draw(self, item: PlanItem) -> str | None:
        n = int((self.cells == self.space.id_of(parse_tag(item.cell))).sum())
        return None if n >= 2 else f"SMOTE needs at least 2 real images of the cell (it has {n})"

    def generate(self, items: Sequence[PlanItem]) -> list[Generated]:
        return [Generated(self._one(it)) for it in items]

    def _one(self, item: PlanItem) -> Image.Image:
        over_sampling = require("imblearn.over_sampling", "smote", "the smote generator")
        cell = self.space.id_of(parse_tag(item.cell))
        rows = np.flatnonzero(self.cells == cell)
        # SMOTE draws from the cell's own rows only: fitting on them plus one row of another cell
        # (the API wants two classes) gives the same sample as fitting on the whole set, far faster
        other = int(np.flatnonzero(self.cells != cell)[0])
        x = self.x[np.append(rows, other)]
        y = np.append(np.full(len(rows), cell), self.cells[other])
        smote = over_sampling.SMOTE(sampling_strategy={cell: len(rows) + 1}, k_neighbors=min(self.k_neighbors, len(rows) - 1),
                                    random_state=item.seed % 2**32)
        x_res, _ = smote.fit_resample(x, y)
        pixels = np.clip(np.rint(x_res[-1]), 0, 255).astype(np.uint8).reshape(self.shape)
        return Image.fromarray(pixels[:, :, 0] if self.shape[2] == 1 else pixels)
