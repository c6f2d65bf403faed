"""Test helpers shared by several test files."""

import numpy as np

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.train.config import TrainConfig


class DiesAfter:
    """Wraps any generator and raises after `batches` batches, as a crash mid-run would. It describes
    itself as the wrapped generator, so the run's folder fingerprint is the same as a normal run's."""

    def __init__(self, inner, batches: int):
        self.inner, self.left, self.name = inner, batches, inner.name
        self.parallel_safe = inner.parallel_safe

    def cannot_draw(self, item):
        return self.inner.cannot_draw(item)

    def describe(self) -> dict:
        return self.inner.describe()

    def generate(self, items):
        if self.left == 0:
            raise RuntimeError("simulated crash")
        self.left -= 1
        return self.inner.generate(items)


def tiny_splits(n_per_class=(30, 12, 4), size=12, seed=0):
    """Learnable toy data: class c is a bright square at a class-specific position; group 0/1 is a
    dim/bright background (alternating), so every class has both groups."""
    rng = np.random.default_rng(seed)

    def make(counts, synthetic=False):
        imgs, labels, groups = [], [], []
        for c, n in enumerate(counts):
            for i in range(n):
                g = i % 2
                img = rng.integers(0, 40 + 60 * g, (size, size, 1)).astype(np.uint8)
                img[2 + 3 * c:5 + 3 * c, 3:9] = 220
                imgs.append(img)
                labels.append(c)
                groups.append(g)
        return ImageSet(np.stack(imgs), np.array(labels), ["a", "b", "c"], groups=np.array(groups),
                        group_names=["dim", "bright"], synthetic=np.full(len(labels), synthetic))

    train, val, test = make(n_per_class), make((8, 8, 8)), make((10, 10, 10))
    syn = make(tuple(max(n_per_class) - n for n in n_per_class), synthetic=True)
    return DatasetSplits(train=train, val=val, test=test, info={"dataset": "tiny"}), syn


def tiny_cfg(**kw):
    base = dict(model="small-cnn", steps=12, batch_size=16, lr=0.05, warmup_steps=2, stage2_steps=6,
                checkpoint_every=4, seed=3, device="cpu")
    return TrainConfig(**{**base, **kw})
