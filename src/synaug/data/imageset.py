"""The one dataset type every stage reads: images + labels + optional groups + synthetic flag.

Small images (<= 64 px) live in memory as one uint8 array of shape (N, H, W, C) so training can
index batches and augment them as tensors. Larger images are read as `LazyImages` (decoded on
demand) and, before training, decoded once into a memory-mapped cache (`CachedImages`, see
`synaug.data.cache`); all three support the same fancy indexing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from synaug.cells import CellSpace

IN_MEMORY_MAX_SIDE = 64


GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def _to_8bit(img: Image.Image) -> Image.Image:
    """Any PIL mode as "L" or "RGB", documented per mode:
    - 16-bit and 32-bit integer gray ("I;16*", "I"): SCALED to 0..255 (v * 255 / 65535, rounded), as
      a 16-bit PNG stores 0..65535; "I" images whose values all fit in 0..255 are kept as they are.
      Float ("F"): values in [0, 1] are scaled by 255, others clipped to 0..255.
    - with transparency ("RGBA", "LA", "PA", palette with a transparent colour): composited onto a
      BLACK background (transparent pixels become black, half-transparent ones are darkened).
    - palette ("P"): its colours; "1": 0 / 255; "CMYK", "YCbCr", "LAB", "HSV": Pillow's conversion
      to RGB."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if mode == "F":
            arr = arr * 255.0 if arr.size and arr.min() >= 0 and arr.max() <= 1 else arr
        elif mode.startswith("I;16") or (arr.size and (arr.max() > 255 or arr.min() < 0)):
            arr = arr * (255.0 / 65535.0)
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA")
    elif mode == "1":
        return img.convert("L")
    if mode in ("LA", "La"):
        arr = np.asarray(img.convert("LA"), dtype=np.float64)
        return Image.fromarray(np.rint(arr[..., 0] * arr[..., 1] / 255.0).astype(np.uint8), "L")
    if img.mode in ("RGBA", "RGBa"):
        arr = np.asarray(img.convert("RGBA"), dtype=np.float64)
        return Image.fromarray(np.rint(arr[..., :3] * arr[..., 3:] / 255.0).astype(np.uint8), "RGB")
    return img.convert("RGB")


def load_image(path: Path, size: tuple[int, int] | None = None, channels: int | None = None) -> np.ndarray:
    """Decode one image as uint8 (H, W, C), optionally resized and converted to 1 or 3 channels.
    Every mode is first brought to 8-bit "L" or "RGB" as `_to_8bit` documents (16-bit scaled, not
    clipped; transparency composited onto black)."""
    with Image.open(path) as img:
        img.load()
        img = _to_8bit(img)
        if channels is not None:
            img = img.convert("L" if channels == 1 else "RGB")
        if size is not None and img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


class LazyImages:
    """Array-like view of image files, decoded when indexed (for images too large to hold). A view
    taken from another (`take`: a validation carve, a cap per class) remembers the full list it came
    from (`root`) and its positions there (`root_index`), so the decoded cache is made once for the
    full list and every view of it reads its rows."""

    def __init__(self, paths: Sequence[Path], size: tuple[int, int], channels: int,
                 root: Sequence[Path] | None = None, root_index: np.ndarray | None = None):
        self.paths = [Path(p) for p in paths]
        self.size = size
        self.channels = channels
        self.root = self.paths if root is None else list(root)
        self.root_index = np.arange(len(self.paths)) if root_index is None else np.asarray(root_index, np.int64)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size[0], self.size[1], self.channels)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index) -> np.ndarray:
        idx = np.arange(len(self.paths))[index]
        if np.ndim(idx) == 0:
            return load_image(self.paths[int(idx)], self.size, self.channels)
        return np.stack([load_image(self.paths[int(i)], self.size, self.channels) for i in idx])

    def take(self, idx: np.ndarray) -> LazyImages:
        idx = np.asarray(idx, np.int64)
        return LazyImages([self.paths[int(i)] for i in idx], self.size, self.channels, self.root, self.root_index[idx])


class CachedImages:
    """Array-like view of rows of one or more memory-mapped uint8 caches (`synaug.data.cache`):
    row i is row `rows[i]` of `sources[source_of[i]]`. Concatenating real and synthetic caches
    copies no pixels."""

    def __init__(self, sources: list[np.ndarray], source_of: np.ndarray, rows: np.ndarray):
        self.sources = list(sources)
        self.source_of = np.asarray(source_of, dtype=np.int64)
        self.rows = np.asarray(rows, dtype=np.int64)

    @classmethod
    def of(cls, array: np.ndarray, rows: np.ndarray | None = None) -> CachedImages:
        rows = np.arange(len(array)) if rows is None else rows
        return cls([array], np.zeros(len(rows), dtype=np.int64), rows)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.rows), *self.sources[0].shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index) -> np.ndarray:
        idx = np.arange(len(self.rows))[index]
        if np.ndim(idx) == 0:
            return np.asarray(self.sources[self.source_of[idx]][self.rows[idx]])
        out = np.empty((len(idx), *self.shape[1:]), dtype=np.uint8)
        for s, src in enumerate(self.sources):
            mask = self.source_of[idx] == s
            if mask.any():
                out[mask] = src[self.rows[idx[mask]]]
        return out

    def take(self, idx: np.ndarray) -> CachedImages:
        idx = np.asarray(idx, dtype=np.int64)
        return CachedImages(self.sources, self.source_of[idx], self.rows[idx])

    def concat(self, other: CachedImages) -> CachedImages:
        return CachedImages(self.sources + other.sources,
                            np.concatenate([self.source_of, other.source_of + len(self.sources)]),
                            np.concatenate([self.rows, other.rows]))


@dataclass
class ImageSet:
    """Images with class labels, optional group labels and a per-sample synthetic flag.

    A *cell* is a class (long tail) or a (class, group) pair (fairness, spurious correlation);
    `cells()` returns them so the planner need not know which problem it is solving.
    """

    images: np.ndarray | LazyImages | CachedImages
    labels: np.ndarray
    class_names: list[str]
    groups: np.ndarray | None = None
    group_names: list[str] | None = None
    synthetic: np.ndarray | None = None
    name: str = "dataset"
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.labels)
        if len(self.images) != n:
            raise ValueError(f"{len(self.images)} images but {n} labels")
        if self.synthetic is None:
            self.synthetic = np.zeros(n, dtype=bool)
        self.synthetic = np.asarray(self.synthetic, dtype=bool)
        if self.groups is not None:
            self.groups = np.asarray(self.groups, dtype=np.int64)
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError("labels out of range of class_names")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # (H, W, C)

    @property
    def has_groups(self) -> bool:
        return self.groups is not None

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes)

    @property
    def cell_space(self) -> CellSpace:
        """The cells of this set: its classes, or classes x groups."""
        return CellSpace.of(self.class_names, self.group_names if self.groups is not None else None)

    @property
    def num_cells(self) -> int:
        return self.cell_space.size

    def cells(self) -> np.ndarray:
        """Cell id per sample (see `synaug.cells`): the label, or label * G + group."""
        return self.cell_space.ids(self.labels, self.groups)

    def cell_names(self) -> list[str]:
        """Readable name of every cell, indexed by the ids of `cells()`."""
        return self.cell_space.names()

    def cell_counts(self) -> dict:
        """{cell key: count} over every possible cell (zeros included), in id order."""
        return self.cell_space.counts(self.cells())

    def subset(self, idx) -> ImageSet:
        idx = np.asarray(idx, dtype=np.int64)
        images = self.images[idx] if isinstance(self.images, np.ndarray) else self.images.take(idx)
        return ImageSet(
            images=images,
            labels=self.labels[idx],
            class_names=list(self.class_names),
            groups=None if self.groups is None else self.groups[idx],
            group_names=self.group_names,
            synthetic=self.synthetic[idx],
            name=self.name,
        )

    def without_groups(self) -> ImageSet:
        """The same images and labels with the group attribute removed (cells become classes)."""
        return ImageSet(self.images, self.labels, list(self.class_names), synthetic=self.synthetic, name=self.name)

    def digest(self, sample: int = 256) -> str:
        """A digest of the contents, so that work made from them (a finished run, an audit) is reused
        only for the same data: size, labels, groups, synthetic flags and image bytes (all of an
        in-memory set; `sample` evenly spaced images of one read from disk or a cache, whose decoding
        would cost more than the check)."""
        h = hashlib.sha256(repr((len(self), self.image_shape, list(self.class_names))).encode())
        for part in (self.labels, self.groups, self.synthetic):
            if part is not None:
                h.update(np.ascontiguousarray(part).tobytes())
        if isinstance(self.images, np.ndarray):
            h.update(np.ascontiguousarray(self.images).tobytes())
        elif len(self):
            rows = np.unique(np.linspace(0, len(self) - 1, sample).astype(int))
            h.update(np.ascontiguousarray(self.images[rows]).tobytes())
        return h.hexdigest()

    def concat(self, other: ImageSet) -> ImageSet:
        """Append `other` (e.g. synthetic images); class (and group) names must agree."""
        if other.class_names != self.class_names:
            raise ValueError(f"class names differ: {self.class_names} vs {other.class_names}")
        if (self.groups is None) != (other.groups is None):
            raise ValueError("one set has groups and the other has none")
        if self.groups is not None and other.group_names != self.group_names:
            raise ValueError(f"group names differ: {self.group_names} vs {other.group_names}")
        if self.image_shape != other.image_shape:
            raise ValueError(f"image shapes differ: {self.image_shape} vs {other.image_shape}")
        return ImageSet(
            images=_concat_images(self.images, other.images),
            labels=np.concatenate([self.labels, other.labels]),
            class_names=list(self.class_names),
            groups=None if self.groups is None else np.concatenate([self.groups, other.groups]),
            group_names=self.group_names,
            synthetic=np.concatenate([self.synthetic, other.synthetic]),
            name=self.name,
        )


def _concat_images(a, b):
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.concatenate([a, b])
    if isinstance(a, CachedImages) and isinstance(b, CachedImages):
        return a.concat(b)
    raise ValueError("concatenate two in-memory or two cached image sets (decode on-disk images into a "
                     "cache first: synaug.data.cache.cached_imageset)")


@dataclass
class DatasetSplits:
    """Train (imbalanced), optional validation, and balanced test sets of one dataset, and, where the
    dataset has them, the real images of its classes that no split uses (`unused`: what the long
    tail left out; disjoint from train, val and test), the source of the `heldout` generator, and the
    fixed `pretrain` part of an embedded source (the same images for every seed; no train, val, test or
    unused split of any seed draws from it), the pool a domain generator is fitted on."""

    train: ImageSet
    test: ImageSet
    val: ImageSet | None = None
    info: dict = field(default_factory=dict)  # how the splits were made (seed, IF, n_max, ...)
    unused: ImageSet | None = None
    pretrain: ImageSet | None = None
