"""Decoded image cache: decode every image of a split once, resized to the training resolution,
into one memory-mapped uint8 array, then train from it many times (FFCV's idea with NumPy).

A cache is a folder `<cache_dir>/<label>-<size>px-<resize>-<key>/`, where the key depends only on
what decides its pixels: the sources (resolved paths, byte sizes, modification times), the side,
the channels and the resize mode. Every command (`cache`, `train`, `run`, `evaluate`, `audit`,
`experiment`) finds the same folder whatever the spelling of the dataset path, so each image is
decoded once; the default `cache_dir` is shared by all of them (`default_cache_dir`). The label (the
sources' common folder, e.g. `photos-train`) only makes the folder readable.

- `images.npy`  (N, S, S, C) uint8, row i = source image i (rows of unreadable images stay zero)
- `valid.npy`   (N,) bool, False where the image could not be decoded
- `manifest.json`  written last: the fingerprint of the sources (paths, sizes, mtimes), the size,
  channels and the skipped images with their reason. A cache without it is not finished and is
  never read.

Building is resumable like generation: rows are decoded in chunks by worker processes that write
straight into `images.npy.partial`; a journal records finished chunks (with their skips). A run
killed mid-way and started again skips the journalled chunks and ends with a byte-identical cache.
Sources that changed (a file added, removed, rewritten) give another fingerprint, hence another
cache folder: a stale cache is never silently reused. The fingerprint samples content too (the first
and last 64 KiB of each file, `source_digest`), so a rewrite that keeps size and mtime is seen. Two
builds of one cache at once (runs sharing a cache folder) take turns on a lock (`claim_build`): the
second waits, then reuses the first's cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from synaug.data.imageset import CachedImages, ImageSet, LazyImages, load_image
from synaug.cachedir import default_cache_dir  # noqa: F401  (the cache folder every command shares)
from synaug.errors import DatasetError
from synaug.fileio import atomic_open, atomic_write_text
from synaug.progress import Progress
from synaug.workers import process_pool

log = logging.getLogger(__name__)
# torchvision 0.29 announces that TorchCodec will take over image decoding; its decoders still are
# the fastest installed here (libjpeg-turbo, libpng) and the field's own, so we keep them quietly.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)

CACHE_FORMAT = 1
CHUNK = 256  # images per work unit: large enough to amortise process hand-off, small enough to resume
RESIZE_MODES = ("shorter-side", "squash")


def source_fingerprint(paths: Sequence[Path], size: int, channels: int) -> str:
    """sha256 of every source's path, byte size, modification time and sampled content
    (`source_digest`), plus the target geometry."""
    h = hashlib.sha256(f"synaug-cache/{CACHE_FORMAT}/{size}/{channels}\n".encode())
    for line in source_digests(paths):
        h.update(line.encode())
    return h.hexdigest()


SAMPLE_BYTES = 64 * 1024  # hashed at each end of every source file


def source_digests(paths: Sequence[Path]) -> list[str]:
    """`source_digest` of every path, read by threads (the reads wait on the disk, not the CPU)."""
    if len(paths) < 64:
        return [source_digest(p) for p in paths]
    with ThreadPoolExecutor(min(16, (os.cpu_count() or 1) * 2)) as pool:
        return list(pool.map(source_digest, paths, chunksize=64))


def source_digest(path: Path) -> str:
    """A source's path, size, mtime and a hash of its first and last SAMPLE_BYTES: a file rewritten
    with its size and mtime kept (a restored backup, `cp -p`, `touch -r`, a coarse file-system clock)
    still changes the fingerprint. An edit only in the middle of a file over 128 KiB that keeps its
    size and mtime is not seen: delete that cache folder (README, "The cache")."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # never read a FIFO or a device: the readers skip them anyway
            return f"{path}|not a regular file\n"
        with open(path, "rb") as f:
            head = f.read(SAMPLE_BYTES)
            if st.st_size > 2 * SAMPLE_BYTES:
                f.seek(-SAMPLE_BYTES, os.SEEK_END)
            tail = f.read()
    except OSError:
        return f"{path}|missing\n"
    return f"{path}|{st.st_size}|{st.st_mtime_ns}|{hashlib.sha256(head + tail).hexdigest()[:32]}\n"


def decode_resized(path: Path, size: int, channels: int, resize: str = "squash") -> np.ndarray:
    """One image as uint8 (size, size, channels): torchvision's decoders for JPEG/PNG/WebP (16-bit
    PNGs scaled to 8 bits), PIL for the other formats; made square by `resize` (`square_image`:
    bilinear, antialiased)."""
    import torchvision.io as tio

    try:
        mode = tio.ImageReadMode.GRAY if channels == 1 else tio.ImageReadMode.RGB
        img = tio.decode_image(tio.read_file(str(path)), mode=mode)
        if img.dtype == torch.uint16:
            img = (img.to(torch.int32) // 257).to(torch.uint8)
    except RuntimeError:  # a format torchvision does not decode (GIF frames, BMP, TIFF...): PIL
        img = torch.from_numpy(load_image(Path(path), None, channels)).permute(2, 0, 1)
    return square_image(img, size, resize).permute(1, 2, 0).contiguous().numpy()


def square_image(img: torch.Tensor, size: int, resize: str) -> torch.Tensor:
    """A (C, H, W) image as (C, size, size): `squash` resizes both sides (torchvision Resize((size,
    size)), DFR's Waterbirds recipe); `shorter-side` resizes the shorter side to `size` and keeps the
    central square (torchvision Resize(size) + CenterCrop(size), the ImageNet convention)."""
    from torchvision.transforms.v2 import functional as TF

    if resize not in RESIZE_MODES:
        raise DatasetError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    if img.shape[-2:] == (size, size):
        return img
    if resize == "squash":
        return TF.resize(img, [size, size], antialias=True)
    return TF.center_crop(TF.resize(img, size, antialias=True), [size, size])


def _decode_chunk(task) -> list[tuple[int, str, str]]:
    """Worker: decode rows [start, stop) into the partial array; return [(row, path, reason)] skipped."""
    partial, paths, start, size, channels, resize = task
    torch.set_num_threads(1)  # parallelism comes from the processes
    out = np.load(partial, mmap_mode="r+")
    skipped = []
    for row, path in enumerate(paths, start):
        try:
            out[row] = decode_resized(Path(path), size, channels, resize)
        except (OSError, RuntimeError, ValueError) as exc:
            skipped.append((row, str(path), f"unreadable image: {exc.__class__.__name__}: {exc}"))
    out.flush()
    del out
    return skipped


@dataclass
class ImageCache:
    """A finished cache folder."""

    folder: Path
    images: np.ndarray  # memory-mapped (N, S, S, C) uint8
    valid: np.ndarray
    skipped: list[tuple[str, str]]

    @classmethod
    def open(cls, folder: Path) -> ImageCache:
        manifest = json.loads((folder / "manifest.json").read_text())
        return cls(folder, np.load(folder / "images.npy", mmap_mode="r"), np.load(folder / "valid.npy"),
                   [tuple(s) for s in manifest["skipped"]])


def cache_key(paths: Sequence[Path], size: int, channels: int, resize: str) -> str:
    """What decides a cache's pixels, as a digest: the sources by their RESOLVED paths (so
    `imagefolder:data` and `imagefolder:/abs/data` meet), their sizes and times, the geometry and the
    resize mode. Which command asks, and under which name, is not part of it."""
    resolved = [Path(p).resolve() for p in paths]
    return hashlib.sha256(f"{source_fingerprint(resolved, size, channels)}|{resize}".encode()).hexdigest()[:16]


def source_label(paths: Sequence[Path]) -> str:
    """A readable label of a set of sources: the last two parts of their common folder ('photos-train')."""
    if not paths:
        return "empty"
    common = Path(os.path.commonpath([str(Path(p).resolve().parent) for p in paths]))
    return "-".join(common.parts[-2:]) if len(common.parts) > 1 else "images"


def cache_folder(cache_dir: Path, name: str | None, paths: Sequence[Path], size: int, channels: int,
                 resize: str = "squash") -> Path:
    """The one folder of these sources at this geometry; `name` only labels it (default: `source_label`)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in (name or source_label(paths)))
    return Path(cache_dir) / f"{safe[-48:]}-{size}px-{resize}-{cache_key(paths, size, channels, resize)}"


def build_cache(paths: Sequence[Path], size: int, channels: int, cache_dir: Path, name: str | None = None,
                workers: int = 1, progress: bool = True, resize: str = "squash") -> ImageCache:
    """Decode `paths` into a cache (or reuse the finished cache of the same sources); resumable."""
    paths = [Path(p) for p in paths]
    folder = cache_folder(cache_dir, name, paths, size, channels, resize)
    if (folder / "manifest.json").is_file():
        return ImageCache.open(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the image cache folder {folder}: {exc}") from exc
    lock = claim_build(folder)  # held until this call returns: two builds of one cache never interleave
    if (folder / "manifest.json").is_file():  # another process finished it while this one waited
        return ImageCache.open(folder)
    (folder / "images.npy.creating").unlink(missing_ok=True)  # left by a build killed while creating it
    partial = folder / "images.npy.partial"
    journal = folder / "journal.jsonl"
    shape = (len(paths), size, size, channels)
    if not partial.is_file() or not journal.is_file():
        create_partial(folder / "images.npy.creating", partial, shape)
        journal.write_text("")
    done = _read_journal(journal)
    chunks = [(start, min(start + CHUNK, len(paths))) for start in range(0, len(paths), CHUNK)]
    todo = [c for c in chunks if c[0] not in done]
    tasks = [(str(partial), [str(p) for p in paths[a:b]], a, size, channels, resize) for a, b in todo]
    # progress lines in a pipe or a log too (synaug.progress), as every other long step prints
    bar = Progress(None, total=len(paths), initial=len(paths) - sum(b - a for a, b in todo),
                   desc=f"cache {folder.name.rpartition('-')[0]}", unit="img", enabled=progress)
    with open(journal, "a") as log_file:
        for (a, b), skipped in zip(todo, _map(tasks, workers)):
            log_file.write(json.dumps({"chunk": a, "skipped": skipped}) + "\n")
            log_file.flush()
            done[a] = skipped
            bar.update(b - a)
    bar.close()
    cache = _finish(folder, partial, journal, paths, done, size, channels, resize)
    lock.close()
    return cache


def claim_build(folder: Path):
    """An exclusive lock on FOLDER/.lock (released when the returned file is closed, or by the kernel
    when the process dies): a second build of the same cache, e.g. two runs sharing --cache-dir,
    waits for the first and then reuses its cache instead of failing on its partial files."""
    lock = open(folder / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.warning("image cache %s: another process is building it; waiting for it to finish", folder)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def create_partial(tmp: Path, partial: Path, shape: tuple) -> None:
    """The zero-filled array the workers decode into, made under a temporary name (a stale one from a
    killed or failed build is replaced; a failure here removes its own)."""
    try:
        np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape).flush()
        os.replace(tmp, partial)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _map(tasks: list, workers: int):
    if workers <= 1 or len(tasks) <= 1:
        threads = torch.get_num_threads()
        try:
            yield from map(_decode_chunk, tasks)
        finally:  # _decode_chunk pins one thread (for worker processes): training after it here gets them back
            torch.set_num_threads(threads)
        return
    with process_pool(workers) as pool:  # its workers die with this process, even SIGKILLed
        yield from pool.map(_decode_chunk, tasks)


def _read_journal(journal: Path) -> dict[int, list]:
    done = {}
    for line in journal.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line torn by a kill: that chunk is simply redone
            continue
        done[int(entry["chunk"])] = [tuple(s) for s in entry["skipped"]]
    return done


def _finish(folder: Path, partial: Path, journal: Path, paths, done: dict, size: int, channels: int,
            resize: str) -> ImageCache:
    skipped_rows = sorted((tuple(s) for chunk in done.values() for s in chunk), key=lambda s: s[0])
    valid = np.ones(len(paths), dtype=bool)
    valid[[int(s[0]) for s in skipped_rows]] = False
    with atomic_open(folder / "valid.npy", "wb") as f:
        np.save(f, valid)
    os.replace(partial, folder / "images.npy")
    skipped = [(path, reason) for _, path, reason in skipped_rows]
    manifest = {"format": CACHE_FORMAT, "fingerprint": source_fingerprint(paths, size, channels),
                "shape": [len(paths), size, size, channels], "size": size, "channels": channels, "resize": resize,
                "valid": int(valid.sum()), "skipped": skipped}
    atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    journal.unlink()
    if skipped:
        log.warning("image cache %s: skipped %d unreadable image(s): %s", folder.name, len(skipped),
                    "; ".join(f"{p} ({r})" for p, r in skipped))
    return ImageCache.open(folder)


def cached_imageset(ds: ImageSet, size: int | None, cache_dir: Path, name: str | None = None, workers: int = 1,
                    progress: bool = True, resize: str = "squash") -> ImageSet:
    """`ds` with its on-disk images replaced by a decoded cache at `size` px (default: the size the
    reader chose), made square by `resize`. In-memory sets are returned as they are. Unreadable images
    are dropped from the set and listed in its `skipped`, exactly as the readers do."""
    if not isinstance(ds.images, LazyImages):
        return ds
    lazy = ds.images
    size = int(size or lazy.size[0])
    # the cache of the full list a view was taken from: a carve or a cap decodes nothing again
    cache = build_cache(lazy.root, size, lazy.channels, cache_dir, name, workers, progress, resize)
    keep = np.flatnonzero(cache.valid[lazy.root_index])
    cached = ds.subset(keep)  # labels, groups, synthetic flags of the readable images
    cached.images = CachedImages.of(cache.images, lazy.root_index[keep])
    mine = {str(p) for p in lazy.paths}
    cached.skipped = list(ds.skipped) + [(p, why) for p, why in cache.skipped if str(p) in mine]
    return cached


def cache_images_readonly(array: np.ndarray) -> torch.Tensor:
    """A torch view of a read-only memory map (torch warns about non-writable arrays; we never write)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)
