"""Readers of the binary formats of the classic datasets: CIFAR python pickles and IDX files (MNIST,
Fashion-MNIST)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

from synaug.data.imageset import ImageSet
from synaug.errors import DatasetError


# ----------------------------------------------------------------------------- CIFAR
def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise DatasetError(f"{path} is not a readable CIFAR pickle ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(d, dict):
        raise DatasetError(f"{path} is not a CIFAR pickle (no dict inside)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}


def _names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_cifar(root, train: bool = True) -> ImageSet:
    """CIFAR-10 (`cifar-10-batches-py`) or CIFAR-100 (`cifar-100-python`) python pickles.

    `root` is the extracted folder or its parent. Images: N x 3072 uint8 in CHW order.
    """
    root = Path(root)
    for candidate in (root, root / "cifar-100-python", root / "cifar-10-batches-py"):
        if (candidate / "meta").is_file():  # CIFAR-100
            part = _unpickle(candidate / ("train" if train else "test"))
            names = _names(_unpickle(candidate / "meta")["fine_label_names"])
            data, labels = part["data"], part["fine_labels"]
            break
        if (candidate / "batches.meta").is_file():  # CIFAR-10
            files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
            parts = [_unpickle(candidate / f) for f in files if (candidate / f).is_file()]
            if not parts:
                raise DatasetError(f"{candidate}: no {'data_batch_*' if train else 'test_batch'} files")
            names = _names(_unpickle(candidate / "batches.meta")["label_names"])
            data = np.concatenate([np.asarray(p["data"]) for p in parts])
            labels = sum((list(p["labels"]) for p in parts), [])
            break
    else:
        raise DatasetError(f"{root}: no CIFAR python pickles (expected 'meta' or 'batches.meta')")
    images = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return ImageSet(np.ascontiguousarray(images), np.asarray(labels), names,
                    name="cifar100" if len(names) == 100 else "cifar10")


# ----------------------------------------------------------------------------- IDX
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """An IDX file (MNIST / Fashion-MNIST format), gzipped or not, as a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != expected:
        raise DatasetError(f"{path}: header says {dims} ({expected} bytes) but file has {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def read_idx_pair(images_path, labels_path, class_names: Sequence[str] | None = None,
                  name: str = "idx") -> ImageSet:
    images = read_idx(images_path)
    labels = read_idx(labels_path).astype(np.int64)
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} has {len(images)} images but {labels_path} {len(labels)} labels")
    if images.ndim == 3:
        images = images[:, :, :, None]
    names = list(class_names) if class_names else [str(i) for i in range(int(labels.max()) + 1)]
    return ImageSet(np.ascontiguousarray(images, dtype=np.uint8), labels, names, name=name)
