"""Test helpers shared by several test files."""

import hashlib
import pickle
from pathlib import Path

import numpy as np

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.training.config import TrainConfig


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
    base = dict(model="small-cnn", steps=12, batch_size=16, lr=0.05, warmup=0.2, stage2_steps=6,
                checkpoint_every=4, seed=3, device="cpu")
    return TrainConfig(**{**base, **kw})


def folder_digest(root) -> dict:
    """{relative path: SHA-256} of every file under `root`."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def _pickle_dict(content: dict, byte_keys: bool) -> dict:
    if not byte_keys:
        return content
    return {k.encode(): [n.encode() for n in v] if k.endswith("names") else v for k, v in content.items()}


def write_cifar10(parent: Path, train_batches, test, names, byte_keys: bool = True) -> Path:
    """The CIFAR-10 python format under parent/cifar-10-batches-py: `train_batches` and `test` are
    (data (N, 3072) uint8, labels) pairs; bytes keys as the real files, or str keys."""
    root = Path(parent) / "cifar-10-batches-py"
    root.mkdir(parents=True)
    files = {f"data_batch_{i}": {"data": d, "labels": list(labels)} for i, (d, labels) in enumerate(train_batches, 1)}
    files["test_batch"] = {"data": test[0], "labels": list(test[1])}
    files["batches.meta"] = {"label_names": list(names)}
    for name, content in files.items():
        (root / name).write_bytes(pickle.dumps(_pickle_dict(content, byte_keys)))
    return root


def write_cifar100(parent: Path, train, test, names, byte_keys: bool = True) -> Path:
    """The CIFAR-100 python format under parent/cifar-100-python (fine labels only)."""
    root = Path(parent) / "cifar-100-python"
    root.mkdir(parents=True)
    files = {"train": {"data": train[0], "fine_labels": list(train[1])},
             "test": {"data": test[0], "fine_labels": list(test[1])}, "meta": {"fine_label_names": list(names)}}
    for name, content in files.items():
        (root / name).write_bytes(pickle.dumps(_pickle_dict(content, byte_keys)))
    return root


def plan_for(train, strategy="uniform", generator="render", dataset="", use_groups=True, unused=None,
             generator_options=None, **plan_options):
    """(plan items, plan meta) of `synaug.engine.planning.fit_plan` with the specs built from keywords."""
    from synaug.engine.planning import fit_plan
    from synaug.engine.specs import GeneratorSpec, PlanSpec
    fitted = fit_plan(train, PlanSpec(strategy=strategy, use_groups=use_groups, **plan_options),
                      GeneratorSpec(generator, generator_options), dataset, unused)
    return fitted.items, fitted.meta
