"""`heldout`: real images in place of synthetic ones, the real-data ceiling of uniformizing (the
paper's Table 5 "web-crawled" row, with real images of the same classes that the long-tailed
training set left out: `DatasetSplits.unused`, which mnist-lt and fashion-lt keep).

Which pool image a plan item gets: the cell's pool rows in an order shuffled once per cell by
`seed` (a generator option, default 0, so another seed draws another subset), and the item takes
position `item.index` of that order. Items of one cell have distinct indices 0..n-1, so no pool
image is used twice in a plan, and an image depends only on (pool, seed, cell, index): resume,
shards, batches and worker processes give the same images. metadata.csv records the pool row of
each image as `source_index` (a row of `DatasetSplits.unused`).

A cell whose pool has fewer images than the plan asks for: by default generation stops with an
error naming the cell and its pool size; with `when_short: skip` the items past the pool are
recorded as dropped (the runner's dropped.csv, with the reason) and the cell ends below target.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from synaug.cells import parse_tag
from synaug.data.imageset import ImageSet
from synaug.errors import ConfigError, GenerationError
from synaug.generators.base import Generated, register_generator
from synaug.generators.recorded import RecordsConfig
from synaug.generators.runner import cell_label
from synaug.plans import PlanItem

WHEN_SHORT = ("error", "skip")


@register_generator("heldout")
class HeldoutGenerator(RecordsConfig):
    name = "heldout"
    parallel_safe = True  # CPU, picklable (the pool travels with it to --workers processes)
    reads_prompt = False  # real images of the cell, whatever the prompt says
    # when_short is recorded, not described: it changes which images are recorded as dropped, never an
    # image, so a run stopped by the error resumes in the same folder with `when_short: skip`
    described = ("seed", "pool_images", "pool_digest")

    def __init__(self, *, seed: int = 0, when_short: str = "error", unused: ImageSet | None = None):
        pool = unused
        if pool is None:
            raise GenerationError(
                "the heldout generator draws real images the training set does not use, and this dataset keeps "
                "none (mnist-lt and fashion-lt do; a user folder or csv has only its own splits)")
        if when_short not in WHEN_SHORT:
            raise ConfigError(f"heldout when_short must be one of {list(WHEN_SHORT)}, got {when_short!r}")
        if not isinstance(pool.images, np.ndarray):
            raise GenerationError("the heldout generator serves pools held in memory (<= 64 px datasets)")
        self.pool = pool
        self.record(seed=int(seed), when_short=when_short)
        self.space = pool.cell_space
        self.cells = np.asarray(pool.cells())
        self._orders: dict[int, np.ndarray] = {}

    def derived(self) -> dict:
        return {"pool_images": len(self.pool), "pool_digest": int(self.pool.images.sum(dtype=np.int64) % 2**31)}

    def order(self, cell: int) -> np.ndarray:
        """Pool rows of `cell` in this generator's shuffled order (item index k takes entry k)."""
        if cell not in self._orders:
            rows = np.flatnonzero(self.cells == cell)
            self._orders[cell] = np.random.default_rng([self.seed, cell]).permutation(rows)
        return self._orders[cell]

    def cannot_draw(self, item: PlanItem) -> str | None:
        n = len(self.order(self.space.id_of(parse_tag(item.cell))))
        return None if n else "the held-out pool has no real image of this cell"

    def generate(self, items: Sequence[PlanItem]) -> list[Generated]:
        return [self._one(it) for it in items]

    def _one(self, item: PlanItem) -> Generated:
        order = self.order(self.space.id_of(parse_tag(item.cell)))
        if item.index >= len(order):
            reason = (f"the held-out pool of {cell_label(item)!r} has {len(order)} real images; "
                      f"the plan asks for more (item {item.index})")
            if self.when_short == "error":
                raise GenerationError(f"{reason}. Plan fewer images (e.g. a lower imbalance or n_max), or pass "
                                      "the generator option when_short: skip to keep the pool's images and "
                                      "record the rest as dropped")
            return Generated(None, {"dropped": reason})
        row = int(order[item.index])
        pixels = self.pool.images[row]
        image = Image.fromarray(pixels[:, :, 0], "L") if pixels.shape[2] == 1 else Image.fromarray(pixels, "RGB")
        return Generated(image, {"source_index": row})
