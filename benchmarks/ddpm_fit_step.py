"""Seconds per step of the `ddpm` generator's fit at a side: the numbers behind
`synaug.engine.fitting.SECONDS_PER_STEP` (the cost `fit-generator` states when it refuses a size).

    PYTHONPATH=src python benchmarks/ddpm_fit_step.py [--sides 32 64] [--steps 30] [--threads 2]

Each side runs the real fit (`fit_generator` with the default FitSettings: the `fast` denoiser, batch
128) on random RGB images of 8 classes (64 each; a step's cost depends on the shape, not the pixels):
an untimed 1-step fit first (imports, kernels, allocator), then a fit of `--warmup` steps and one of
`--warmup` + `--steps` steps, each in a fresh folder; the difference of the two wall times over
`--steps` is the cost of one step with the set-up (networks, scheduler, pool tensors, the final
checkpoint) taken out. Run it alone, not niced, e.g. under the shared lock:
`uptime; PYTHONPATH=src python benchmarks/ddpm_fit_step.py`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from synaug.data.imageset import ImageSet
from synaug.generators.ddpm_fit import fit_generator
from synaug.generators.ddpm_settings import FitSettings

CLASSES, PER_CLASS, CHANNELS = 8, 64, 3


def random_pool(side: int) -> ImageSet:
    """CLASSES x PER_CLASS random uint8 images of side x side x CHANNELS."""
    rng = np.random.default_rng(side)
    n = CLASSES * PER_CLASS
    return ImageSet(rng.integers(0, 256, (n, side, side, CHANNELS), dtype=np.uint8), np.arange(n) % CLASSES,
                    [f"class{c}" for c in range(CLASSES)], name=f"random-{side}px")


def fit_seconds(pool: ImageSet, settings: FitSettings) -> float:
    """Wall time of a whole fit (set-up included) into a fresh temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        fit_generator(pool, Path(folder) / "gen", settings, progress=False)
        return time.perf_counter() - start


def seconds_per_step(side: int, steps: int, warmup: int) -> tuple[float, float]:
    """(seconds per fit step with the set-up taken out, set-up seconds of the short fit)."""
    pool, settings = random_pool(side), FitSettings()
    fit_seconds(pool, replace(settings, steps=1))  # first use: imports, kernels and allocator warm up, untimed
    short = fit_seconds(pool, replace(settings, steps=warmup))
    long = fit_seconds(pool, replace(settings, steps=warmup + steps))
    per_step = (long - short) / steps
    return per_step, short - warmup * per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=2, help="steps of the short fit whose time is subtracted")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the 2 CPU cores the docs assume)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = FitSettings()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; arch {settings.arch}, batch "
          f"{settings.batch_size}, {CHANNELS} channels, {CLASSES} classes; {args.steps} timed steps; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    for side in args.sides:
        per_step, setup = seconds_per_step(side, args.steps, args.warmup)
        print(f"{side:4d} px: {per_step:.3f} s/step ({settings.batch_size / per_step:.0f} images/s), set-up "
              f"{setup:.1f} s; default {settings.steps:,} steps: {per_step * settings.steps / 60:.0f} min; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
