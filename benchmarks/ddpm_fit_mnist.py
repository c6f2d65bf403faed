"""One default `ddpm` fit on real data, timed, and a grid of its samples to look at (docs/ddpm.md).

    PYTHONPATH=src python benchmarks/ddpm_fit_mnist.py --out OUT/ddpm-mnist [--dataset mnist-lt]
        [--pool unused] [--steps 2000] [--guidance 2] [--sample-steps 50] [--scheduler ddim]

Fits `FitSettings()` (only --steps changed when given) on the dataset's unused pool (or its training
split) into OUT/GEN, checked against the test split first; prints the wall time, the loss every 500
steps, and the sampling rate; writes OUT/samples.png: one row per class the pool has images of,
10 samples each (seeds 0..), upscaled 3x. A re-run resumes or reuses the fit.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from synaug.data import load_dataset
from synaug.generators.ddpm_fit import FitSettings, fit_generator
from synaug.generators.ddpm_sample import DdpmSampler


def sample_grid(folder: Path, png: Path, per_class: int, **options) -> float:
    """Write the grid; return image x denoising steps per second."""
    sampler = DdpmSampler(folder)
    counts = sampler.info["pool"]["cell_counts"]
    labels = [c for c, n in enumerate(counts) if n > 0 for _ in range(per_class)]
    start = time.perf_counter()
    images = sampler.sample(labels, list(range(len(labels))), **options)
    rate = len(labels) * options["steps"] / (time.perf_counter() - start)
    H, W, C = images.shape[1:]
    rows = images.reshape(-1, per_class, H, W, C)
    grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
    grid = grid[:, :, 0] if C == 1 else grid
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST).save(png)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dataset", default="mnist-lt")
    parser.add_argument("--pool", choices=["unused", "train"], default="unused")
    parser.add_argument("--steps", type=int, default=None, help="fit steps (default: FitSettings' default)")
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--scheduler", default="ddim")
    args = parser.parse_args()
    splits = load_dataset(args.dataset)
    pool = splits.unused if args.pool == "unused" else splits.train
    settings = FitSettings() if args.steps is None else FitSettings(steps=args.steps)
    print(f"{args.dataset} {args.pool} pool: {len(pool)} images, per class {pool.class_counts().tolist()}")
    start = time.perf_counter()
    report = fit_generator(pool, args.out / "GEN", settings, test=splits.test, pool_name=args.pool)
    seconds = time.perf_counter() - start
    print(f"fit: {report['steps_run']} steps in {seconds:.0f} s "
          f"({report['steps_run'] * settings.batch_size / max(seconds, 1e-9):.0f} img/s)")
    rows = [json.loads(line) for line in (args.out / "GEN" / "log.jsonl").read_text().splitlines()]
    print("loss:", ", ".join(f"{r['step']}: {r['loss']:.4f}" for r in rows if r["step"] % 500 == 0 or r is rows[0]))
    rate = sample_grid(args.out / "GEN", args.out / "samples.png", 10, steps=args.sample_steps,
                       guidance=args.guidance, scheduler=args.scheduler)
    print(f"samples: {args.out / 'samples.png'} ({args.scheduler}, {args.sample_steps} steps, guidance "
          f"{args.guidance}: {rate:.0f} image x steps/s)")


if __name__ == "__main__":
    main()
