"""Run by tests/test_distributed.py, alone or under torchrun: trains a method on tiny learnable data
through the library's one path and saves what this rank ended with (weights, the batch slices it
trained on, the metrics where it is rank 0) under OUT."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.runtime import dist_of
from synaug.training import distributed
from synaug.training.config import TrainConfig
from synaug.training.methods import get_method
from synaug.engine.inference import evaluate_model
from synaug.training.pipeline import train_method


def tiny_splits(seed=0, size=12):
    rng = np.random.default_rng(seed)

    def make(counts, synthetic=False):
        imgs, labels = [], []
        for c, n in enumerate(counts):
            for _ in range(n):
                img = rng.integers(0, 60, (size, size, 1)).astype(np.uint8)
                img[2 + 3 * c:5 + 3 * c, 3:9] = 220
                imgs.append(img)
                labels.append(c)
        return ImageSet(np.stack(imgs), np.array(labels), ["a", "b", "c"], synthetic=np.full(len(labels), synthetic))

    splits = DatasetSplits(train=make((40, 16, 8)), test=make((20, 20, 20)), info={"dataset": "tiny"})
    return splits, make((0, 24, 32), synthetic=True)


def main(out: Path, method: str) -> None:
    d = distributed.join_process_group(dist_of())
    seen = []
    slice_of = distributed.local_slice
    distributed.local_slice = lambda idx, dd: seen.append(slice_of(idx, dd).tolist()) or slice_of(idx, dd)
    cfg = TrainConfig(steps=30, batch_size=16, lr=0.05, warmup=0.1, stage2_steps=10, stage2_batch_size=8,
                      checkpoint_every=10, seed=1, device=os.environ.get("SYNAUG_TEST_DEVICE", "cpu"))
    splits, synthetic = tiny_splits()
    trained = train_method(get_method(method), splits, cfg, out / "run", synthetic=synthetic, progress=False, dist=d)
    torch.save({"slices": seen, "model": trained.model.state_dict()}, out / f"rank{d.rank}-of-{d.world}.pt")
    if d.is_main:
        metrics = evaluate_model(trained, splits.test, splits.train.class_counts())
        (out / "metrics.json").write_text(json.dumps({"accuracy": metrics["accuracy"]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
