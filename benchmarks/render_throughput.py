"""Renderer + PNG writing throughput (images/s) for 28x28 output, through the real runner.

    python benchmarks/render_throughput.py [--images 6000] [--workers 1 2] [--dir .bench-tmp]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from synaug.generators import run_generation
from synaug.generators.render import RenderGenerator
from synaug.plans import build_plan
from synaug.prompts import load_bank

FASHION = ["T-shirt/top", "Trouser", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def measure(kind: str, n: int, workers: int, where: Path) -> float:
    if kind == "digits":
        items = build_plan({c: n // 10 for c in range(10)}, [str(i) for i in range(10)], load_bank("mnist-lt"), 0)
    else:
        items = build_plan({c: n // 9 for c in range(9)}, FASHION, load_bank("fashion-lt"), 0)
    gen = RenderGenerator(image_shape=(28, 28, 1))
    gen.generate(items[:: max(1, len(items) // 40)])  # warm the per-process glyph/emoji caches
    where.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(dir=where))
    try:
        t = time.perf_counter()
        run_generation(items, gen, out / "o", batch_size=256, workers=workers, progress=False)
        return len(items) / (time.perf_counter() - t)
    finally:
        shutil.rmtree(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=6000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    # File creation speed depends on the folder's file system: on the dev machines, /tmp creates
    # files ~15x slower than /work. Measure where you will write.
    ap.add_argument("--dir", type=Path, default=Path(".bench-tmp"))
    args = ap.parse_args()
    print(f"writing under {args.dir.resolve()}")
    for kind in ("digits", "emoji"):
        for w in args.workers:
            print(f"{kind:<7} workers={w}: {measure(kind, args.images, w, args.dir):7.0f} images/s (render + PNG + metadata)")


if __name__ == "__main__":
    main()
