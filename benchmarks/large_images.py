"""Large images (224 px photos): what the host can feed a GPU, and what a GPU then trains.

On disk: `--n` JPEG and PNG photos-like images of 224-320 px (made once, kept in `--dir`).

CPU mode (host images/s, batch `--batch` of random indices, as a sampler draws them):
  (a) per-sample PIL: `LazyImages` decoding + resizing each image of the batch (today's path);
  (b) cache: gather the batch's rows from the memory-mapped cache into one uint8 tensor (the work
      the host does per batch while the device augments), alone and through the prefetch thread;
  plus the cache build speed with 1 and 2 worker processes.

CUDA mode (`--cuda`): ResNet-50 at 224 px, bf16 autocast, channels-last, SGD:
  ceiling: forward + backward + step on a pre-made device batch;
  synaug:  `synaug.training.loop.fit` from the cache (prefetch thread, pinned host batches, copy
           without blocking, random-resized crop + flip + normalise on the GPU, CE).

    python benchmarks/large_images.py [--n 3000] [--dir runs/bench-large] [--cuda [--compile]] [--steps 60]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from synaug.data.cache import build_cache
from synaug.data.imageset import CachedImages, ImageSet, LazyImages
from synaug.training.batches import TensorData, gather_host, prefetched


def make_photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """Smooth colour fields plus texture (JPEG sizes like photos', ~20-40 kB), half JPEG half PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(folder.glob("*.*"))
    if len(paths) >= n:
        return paths[:n]
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = int(rng.integers(224, 320)), int(rng.integers(224, 320))
        coarse = rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.int16)
        img = np.clip(img + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        ext = "jpg" if i % 2 == 0 else "png"
        Image.fromarray(img).save(folder / f"{i:06d}.{ext}", quality=90)
    return sorted(folder.glob("*.*"))[:n]


def rate(fn, batches: int, batch: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(batches):
        fn()
    return batches * batch / (time.perf_counter() - t)


def cpu_mode(args, paths):
    rng = np.random.default_rng(0)
    lazy = LazyImages(paths, (args.size, args.size), 3)
    pil = rate(lambda: lazy[rng.integers(0, len(paths), args.batch)], 3, args.batch)
    print(f"(a) per-sample PIL decode+resize   {pil:8.0f} img/s")

    builds = {}
    for workers in (1, 2):
        folder = args.dir / f"cache-w{workers}"
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        cache = build_cache(paths, args.size, 3, folder, "bench", workers=workers, progress=False)
        builds[workers] = len(paths) / (time.perf_counter() - t)
        print(f"    cache build, {workers} worker(s)        {builds[workers]:8.0f} img/s")
    images = CachedImages.of(cache.images)
    np.asarray(cache.images).sum()  # page cache warm, as in every epoch after the first
    gather = rate(lambda: gather_host(images, rng.integers(0, len(paths), args.batch)), 60, args.batch)
    print(f"(b) cache gather (uint8 batch)     {gather:8.0f} img/s   = {gather / pil:.0f}x (a)")
    index_batches = [rng.integers(0, len(paths), args.batch) for _ in range(120)]
    t = time.perf_counter()
    for _ in prefetched(index_batches, lambda i: gather_host(images, i), 4):
        pass
    threaded = len(index_batches) * args.batch / (time.perf_counter() - t)
    print(f"(b) cache gather, prefetch thread  {threaded:8.0f} img/s")
    return {"pil": pil, "gather": gather, "gather_prefetch": threaded, "build_1": builds[1], "build_2": builds[2]}


def cuda_mode(args, paths):
    from synaug.training.augment import Normalize, RandomResizedCrop
    from synaug.training.loop import FitConfig, FitParts, Phase, fit
    from synaug.training.losses import LOSSES
    from synaug.training.mixing import BATCH_TRANSFORMS
    from synaug.training.models import build_model
    from synaug.training.samplers import SAMPLERS

    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    cache = build_cache(paths, args.cache_size, 3, args.dir / "cache-gpu", "bench", workers=args.workers, progress=False)
    labels = np.arange(len(paths)) % 100
    ds = ImageSet(CachedImages.of(cache.images), labels, [str(i) for i in range(100)])

    def model():
        torch.manual_seed(0)
        return build_model("resnet50", in_channels=3, num_classes=100, image_size=224).to(device).to(
            memory_format=torch.channels_last)

    m = model().train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    net = torch.compile(m) if args.compile else m
    x = torch.randn(args.batch, 3, 224, 224, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 100, (args.batch,), device=device)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for _ in range(10):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    ceiling = args.steps * args.batch / (time.perf_counter() - t)
    print(f"ceiling: ResNet-50 fwd+bwd bf16{' compiled' if args.compile else ''}, pre-made batch "
          f"{ceiling:8.0f} img/s")

    data = TensorData.from_imageset(ds, device)
    m2 = model()
    sampler = SAMPLERS["shuffle"](n=len(ds), batch_size=args.batch, seed=0)
    parts = FitParts(list(m2.parameters()), sampler, RandomResizedCrop(224), Normalize.imagenet(),
                     BATCH_TRANSFORMS["none"](), LOSSES["ce"]())
    config = FitConfig(num_classes=100, seed=0, amp=True)
    fit(m2, data, Phase("warm", 10, args.batch, 0.01, compile=args.compile), parts, config)
    torch.cuda.synchronize()
    t = time.perf_counter()
    fit(m2, data, Phase("timed", args.steps, args.batch, 0.01, compile=args.compile), parts, config)
    torch.cuda.synchronize()
    ours = args.steps * args.batch / (time.perf_counter() - t)
    print(f"synaug fit from the cache (RRC on GPU)           {ours:8.0f} img/s = {100 * ours / ceiling:.0f} % of ceiling")
    return {"ceiling": ceiling, "synaug": ours}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--size", type=int, default=224, help="cache side in CPU mode")
    p.add_argument("--cache-size", type=int, default=256, help="cache side in CUDA mode (crops of 224)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--dir", type=Path, default=Path("runs/bench-large"))
    p.add_argument("--cuda", action="store_true")
    p.add_argument("--compile", action="store_true", help="CUDA mode: torch.compile the model (both runs)")
    args = p.parse_args()
    paths = make_photos(args.dir / "photos", args.n)
    print(f"{len(paths)} images in {args.dir / 'photos'}, batch {args.batch}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    if args.cuda:
        cuda_mode(args, paths)
    else:
        cpu_mode(args, paths)


if __name__ == "__main__":
    main()
