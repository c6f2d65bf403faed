"""The decoded image cache (synaug.data.cache) and training from it (synaug.training.batches)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from PIL import Image

from synaug.data.cache import build_cache, cached_imageset, decode_resized
from synaug.data.imageset import CachedImages, ImageSet, LazyImages
from synaug.training.batches import TensorData, gather_host, prefetched


def write_photos(folder, n=12, side=40, seed=0):
    """`n` RGB images of mixed formats and sizes (JPEG, PNG, 16-bit grey PNG) and one corrupt file."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        h, w = side + i % 3 * 5, side + i % 2 * 7
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        p = folder / f"{i:03d}.{'jpg' if i % 2 else 'png'}"
        Image.fromarray(arr).save(p, quality=90)
        paths.append(p)
    deep = folder / "deep.png"
    Image.fromarray((rng.integers(0, 65536, (side, side))).astype(np.uint16)).save(deep)
    broken = folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    return paths + [deep, broken]


def test_cache_holds_each_image_decoded_once_and_lists_unreadable_ones(tmp_path):
    paths = write_photos(tmp_path / "img")
    cache = build_cache(paths, 32, 3, tmp_path / "cache", "t", progress=False)
    assert cache.images.shape == (len(paths), 32, 32, 3) and cache.images.dtype == np.uint8
    assert cache.valid.tolist() == [True] * (len(paths) - 1) + [False]
    assert [p for p, _ in cache.skipped] == [str(paths[-1])] and "unreadable image" in cache.skipped[0][1]
    for i, p in enumerate(paths[:-1]):
        assert np.array_equal(cache.images[i], decode_resized(p, 32, 3))
    # the 16-bit PNG is scaled to 8 bits, not clipped to white
    deep = np.asarray(Image.open(paths[-2]), dtype=np.float64) / 257
    assert abs(cache.images[-2].astype(float).mean() - deep.mean()) < 3 and cache.images[-2].std() > 30
    # at its own size a PNG decodes to exactly PIL's pixels
    assert np.array_equal(decode_resized(paths[0], 40, 3), np.asarray(Image.open(paths[0]).convert("RGB")))


def test_cache_is_reused_and_rebuilt_when_a_source_changes(tmp_path):
    paths = write_photos(tmp_path / "img", n=4)[:4]
    first = build_cache(paths, 16, 3, tmp_path / "cache", "t", progress=False)
    again = build_cache(paths, 16, 3, tmp_path / "cache", "t", progress=False)
    assert again.folder == first.folder
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(paths[0])  # the user edits an image
    os.utime(paths[0], ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = build_cache(paths, 16, 3, tmp_path / "cache", "t", progress=False)
    assert changed.folder != first.folder and changed.images[0].max() == 0
    assert build_cache(paths, 24, 3, tmp_path / "cache", "t", progress=False).folder != changed.folder


KILLED_BUILD = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    import synaug.data.cache as c
    c.CHUNK = 3
    real = c._decode_chunk
    calls = []
    def slow(task):
        calls.append(1)
        if len(calls) == 3:
            print("mid-build", flush=True)
            import time; time.sleep(60)
        return real(task)
    c._decode_chunk = slow
    paths = sorted(Path(sys.argv[1]).glob("*.*"))
    c.build_cache(paths, 20, 3, Path(sys.argv[2]), "t", workers=1, progress=False)
""")


def test_a_killed_build_resumes_to_a_byte_identical_cache(tmp_path):
    write_photos(tmp_path / "img", n=14)
    paths = sorted((tmp_path / "img").glob("*.*"))
    import synaug.data.cache as c
    old = c.CHUNK
    c.CHUNK = 3
    try:
        whole = build_cache(paths, 20, 3, tmp_path / "a", "t", progress=False)
        proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(tmp_path / "img"), str(tmp_path / "b")],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "mid-build"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        folder = tmp_path / "b" / whole.folder.name
        assert (folder / "images.npy.partial").is_file() and not (folder / "manifest.json").exists()
        resumed = build_cache(paths, 20, 3, tmp_path / "b", "t", progress=False)
    finally:
        c.CHUNK = old
    for name in ("images.npy", "valid.npy", "manifest.json"):
        assert (whole.folder / name).read_bytes() == (resumed.folder / name).read_bytes(), name
    assert not (resumed.folder / "journal.jsonl").exists()


def test_cached_imageset_drops_unreadable_rows_and_keeps_labels_aligned(tmp_path):
    paths = write_photos(tmp_path / "img", n=6)
    labels = np.arange(len(paths)) % 3
    ds = ImageSet(LazyImages(paths, (40, 40), 3), labels, ["a", "b", "c"])
    cached = cached_imageset(ds, 24, tmp_path / "cache", "t", progress=False)
    assert isinstance(cached.images, CachedImages) and len(cached) == len(paths) - 1
    assert cached.labels.tolist() == labels[:-1].tolist()
    assert cached.image_shape == (24, 24, 3) and [p for p, _ in cached.skipped] == [str(paths[-1])]
    both = cached.concat(cached.subset([4, 0]))
    assert np.array_equal(both.images[[7, 8, 0]], np.stack([cached.images[4], cached.images[0], cached.images[0]]))


def test_host_gather_equals_numpy_indexing_across_several_caches():
    a = np.random.default_rng(0).integers(0, 255, (10, 6, 5, 3), dtype=np.uint8)
    b = np.random.default_rng(1).integers(0, 255, (7, 6, 5, 3), dtype=np.uint8)
    images = CachedImages.of(a, np.arange(2, 10)).concat(CachedImages.of(b))
    idx = np.array([14, 0, 3, 9, 9, 7])
    got = gather_host(images, idx)
    assert got.shape == (6, 3, 6, 5) and got.is_contiguous(memory_format=torch.channels_last)
    assert np.array_equal(got.permute(0, 2, 3, 1).numpy(), images[idx])


def test_prefetch_yields_in_order_and_raises_worker_errors():
    assert [x for x, _ in prefetched(range(20), lambda i: i * i, depth=3)] == list(range(20))

    def fail(i):
        if i == 4:
            raise ValueError("boom")
        return i
    with pytest.raises(ValueError, match="boom"):
        list(prefetched(range(10), fail, depth=2))
    early = prefetched(range(10**6), lambda i: i, depth=2)  # leaving early stops the thread
    next(early)
    early.close()


def test_training_from_the_cache_equals_training_from_memory(tmp_path):
    """The same images in memory and in a memory-mapped cache train to identical weights."""
    from synaug.training.config import TrainConfig
    from synaug.training.methods import get_method
    from synaug.training.pipeline import train_method
    from synaug.data.imageset import DatasetSplits

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (60, 12, 12, 3), dtype=np.uint8)
    labels = np.repeat([0, 1, 2], 20)
    images[labels == 1, :6] //= 3
    memory = ImageSet(images, labels, ["a", "b", "c"])
    np.save(tmp_path / "x.npy", images)
    mapped = ImageSet(CachedImages.of(np.load(tmp_path / "x.npy", mmap_mode="r")), labels, ["a", "b", "c"])
    cfg = TrainConfig(steps=12, batch_size=16, warmup=0.2, stage2_steps=4, checkpoint_every=100,
                      flip=True, device="cpu")
    out = {}
    for name, ds in (("memory", memory), ("mapped", mapped)):
        trained = train_method(get_method("ce-rs"), DatasetSplits(ds, ds), cfg, tmp_path / name, progress=False)
        out[name] = trained.model.state_dict()
    assert all(torch.equal(out["memory"][k], out["mapped"][k]) for k in out["memory"])


def test_cache_cli_builds_the_cache_and_lists_skips(tmp_path, capsys):
    from synaug.cli import main

    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            write_photos(tmp_path / "data" / split / cls, n=3, side=80)
    # broken.jpg has a valid JPEG header: the reader keeps it (headers only), the cache cannot decode it
    assert main(["cache", "--dataset", f"imagefolder:{tmp_path / 'data'}", "--image-size", "72",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "72px" in out
    assert f"skipped {tmp_path / 'data' / 'train' / 'cat' / 'broken.jpg'}: unreadable image" in out
    manifests = sorted((tmp_path / "cache").glob("*/manifest.json"))
    assert len(manifests) == 2
    assert {json.loads(m.read_text())["shape"][1] for m in manifests} == {72}


class Killed(Exception):
    pass


def test_resume_from_the_cache_with_the_imagenet_recipe_equals_uninterrupted(tmp_path, monkeypatch):
    """Killed after a stage-1 checkpoint while the prefetch thread runs ahead, then resumed: the same
    weights as a run never killed (random-resized crops and flips keep their per-step seeds)."""
    import synaug.training.loop as loop
    from synaug.data.imageset import DatasetSplits
    from synaug.training.config import TrainConfig
    from synaug.training.methods import get_method
    from synaug.training.pipeline import train_method

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.integers(0, 255, (48, 20, 20, 3), dtype=np.uint8))
    labels = np.repeat([0, 1], 24)
    ds = ImageSet(CachedImages.of(np.load(tmp_path / "x.npy", mmap_mode="r")), labels, ["a", "b"])
    cfg = TrainConfig(steps=10, batch_size=8, warmup=0.1, stage2_steps=0, checkpoint_every=4, device="cpu",
                      augment="random-resized-crop", crop_size=16, flip=True, rrc_scale=(0.3, 1.0))
    method = get_method("ce")
    full = train_method(method, DatasetSplits(ds, ds), cfg, tmp_path / "full", progress=False)
    original = loop.save_checkpoint

    def save_then_die(path, model, opt, step, **extra):
        original(path, model, opt, step, **extra)
        if step == 4:
            raise Killed

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        train_method(method, DatasetSplits(ds, ds), cfg, tmp_path / "part", progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", original)
    resumed = train_method(method, DatasetSplits(ds, ds), cfg, tmp_path / "part", resume=True, progress=False)
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
