"""Training data as the loop sees it: per-sample labels on the device, and images that are either
one uint8 tensor on the device (small images, airbench style) or rows of a memory-mapped cache on
the host, gathered per batch by a background thread, pinned, and copied to the device without
blocking while the device trains on the previous batch.

Both kinds yield the same thing, (indices on the device, uint8 NCHW images on the device), so the
loop has one code path for CPU and CUDA, small and large images.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch

from synaug.data.cache import cache_images_readonly
from synaug.data.imageset import CachedImages, ImageSet, LazyImages


@dataclass
class TensorData:
    """An ImageSet for training or prediction: device labels, and images on the device (in-memory
    sets) or on the host (cached or lazily decoded sets, gathered per batch)."""

    images: torch.Tensor | CachedImages | LazyImages
    labels: torch.Tensor
    synthetic: torch.Tensor  # on the host: only the Mixup partner draw reads it, and it draws on the host
    cells: torch.Tensor  # dense cell id per sample: the label, or label * G + group
    device: torch.device
    prefetch: int = 4    # host batches prepared ahead of the device

    @classmethod
    def from_imageset(cls, ds: ImageSet, device: torch.device) -> TensorData:
        images = ds.images
        if isinstance(images, np.ndarray):
            # (N, H, W, C) memory is exactly NCHW in channels_last layout: no copy needed, except of a
            # read-only array (a view of shared images), which torch refuses to wrap without a warning
            images = torch.from_numpy(np.require(images, requirements=["C", "W"])).permute(0, 3, 1, 2).to(device)
        return cls(images, torch.from_numpy(ds.labels).to(device), torch.from_numpy(ds.synthetic),
                   torch.from_numpy(np.asarray(ds.cells(), dtype=np.int64)).to(device), device)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def on_device(self) -> bool:
        return isinstance(self.images, torch.Tensor)

    def batches(self, index_batches: Iterable[np.ndarray], host_index: bool = False) -> Iterator[tuple]:
        """(indices, uint8 NCHW images), both on the device, for each array of sample indices; with
        `host_index`, (the host's indices, indices, images), so host-side reads need no device sync."""
        if self.on_device:
            for idx in index_batches:
                dev = to_device(idx, self.device)
                yield (idx, dev, self.images[dev]) if host_index else (dev, self.images[dev])
            return
        pin = self.device.type == "cuda"
        for idx, host in prefetched(index_batches, lambda i: gather_host(self.images, i, pin), self.prefetch):
            dev, images = to_device(idx, self.device), host.to(self.device, non_blocking=True)
            yield (idx, dev, images) if host_index else (dev, images)

    def in_order(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every sample once, in order (prediction)."""
        return self.batches(np.arange(s, min(s + batch_size, len(self))) for s in range(0, len(self), batch_size))


def to_device(values, device: torch.device) -> torch.Tensor:
    """A small host array (batch indices, per-image random draws) on `device`, without waiting for the
    device. A plain `.to(device)` ends with a stream synchronisation: the host then stops, every step,
    until the GPU has finished all the work queued so far, and the GPU idles while the host prepares the
    next kernels. From pageable memory CUDA stages the bytes before the call returns, so the source
    may be freed at once; the values are the same, only the waiting goes."""
    values = values if isinstance(values, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(values))
    return values.to(device, non_blocking=True)


def gather_host(images: CachedImages | LazyImages, idx: np.ndarray, pin: bool = False) -> torch.Tensor:
    """Rows `idx` as a uint8 (B, C, H, W) tensor in channels-last memory, in pinned memory for CUDA.
    Cached rows are copied by torch's index_select, which releases the GIL (the prefetch thread runs
    beside the training step) and splits large copies across threads."""
    if isinstance(images, LazyImages):  # per-image decoding: the slow path the cache replaces
        out = torch.from_numpy(images[idx])
        return (out.pin_memory() if pin else out).permute(0, 3, 1, 2)
    idx = np.asarray(idx, dtype=np.int64)
    out = torch.empty((len(idx), *images.shape[1:]), dtype=torch.uint8, pin_memory=pin)
    sources = images.source_of[idx]
    rows = torch.from_numpy(images.rows[idx])
    if len(images.sources) == 1:
        torch.index_select(cache_images_readonly(images.sources[0]), 0, rows, out=out)
    else:
        for s, src in enumerate(images.sources):
            mask = torch.from_numpy(sources == s)
            if mask.any():
                out[mask] = torch.index_select(cache_images_readonly(src), 0, rows[mask])
    return out.permute(0, 3, 1, 2)


def prefetched(items: Iterable, load, depth: int) -> Iterator:
    """(item, load(item)) for each item, loaded by a background thread up to `depth` ahead.
    An error in the thread is raised here; leaving the loop early stops the thread."""
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def work():
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put((item, load(item)))
        except BaseException as exc:  # handed to the consumer, which raises it
            q.put(exc)
        q.put(done)

    thread = threading.Thread(target=work, name="synaug-prefetch", daemon=True)
    thread.start()
    try:
        while (got := q.get()) is not done:
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
