"""The cost of the pretrained stand-in (issue 30): the wall time of a `ddpm` fit with the default settings
on a dataset's pretrain split, and its sampling speed at 10 DDIM steps (28 px for the MNIST-like sets).

    PYTHONPATH=src python benchmarks/ddpm_pretrain.py [--dataset mnist-lt] [--steps N] [--images 1000]
        [--sample-steps 10] [--guidance 2] [--batch 256] [--threads 2] [--out DIR] [--json FILE]

Fit: `synaug.generators.ddpm_fit.fit_generator` on `DatasetSplits.pretrain` with `FitSettings()` (the
defaults: 2000 steps of 128 images; `--steps` shortens it for a check), timed end to end (network
building, every step, checkpoints), on `--threads` CPU threads, into `--out` (default a temporary folder;
give one to keep the model). Sampling: `--images` images spread over the cells, drawn by
`DdpmSampler.sample` in batches of `--batch` at `--sample-steps` DDIM steps with guidance `--guidance`
(two network passes per step), after one warm-up batch: images per second. Quality (unless
`--quality-samples 0`): `synaug.engine.fit_quality.write_quality` as `synaug fit-generator` runs it (CAS vs as
many real images, Fréchet distance, copy rate, recall, the grid OUT/quality.png), timed apart. Issue 30's targets: a
default fit in at most 15 minutes and at least 100 images/s at 10 steps, on 2 cores. Run it alone: other
processes on the cores slow it down (the machine's load average is printed beside the numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from synaug.audit.quality import QualityConfig
from synaug.data import load_dataset
from synaug.engine.fit_quality import SampleSettings, summary, write_quality
from synaug.generators.ddpm_fit import fit_generator
from synaug.generators.ddpm_sample import DdpmSampler
from synaug.generators.ddpm_settings import FitSettings


def fit_seconds(dataset: str, steps: int | None, out: Path) -> tuple[float, dict]:
    splits = load_dataset(dataset)
    settings = FitSettings(device="cpu", **({"steps": steps} if steps else {}))
    start = time.perf_counter()
    result = fit_generator(splits.pretrain, out, settings, test=splits.test, pool_name="pretrain", progress=False)
    return time.perf_counter() - start, {"steps": settings.steps, "steps_run": result["steps_run"],
                                         "pool_images": len(splits.pretrain), "final_loss": result["final_loss"]}


def sampling_rate(out: Path, images: int, steps: int, guidance: float, batch: int) -> float:
    sampler = DdpmSampler(out, "cpu")
    cells = len(sampler.info["pool"]["cell_counts"])
    labels = np.arange(images) % cells
    sampler.sample(labels[:batch], list(range(min(batch, images))), steps=steps, guidance=guidance)  # warm-up
    start = time.perf_counter()
    for k in range(0, images, batch):
        sampler.sample(labels[k:k + batch], list(range(k, min(k + batch, images))), steps=steps, guidance=guidance)
    return images / (time.perf_counter() - start)


def measured_quality(args, out: Path) -> tuple[dict | None, float | None]:
    """quality.json of the fitted model as `synaug fit-generator` writes it, and the seconds it took."""
    if not args.quality_samples:
        return None, None
    splits = load_dataset(args.dataset)
    settings = SampleSettings(per_cell=args.quality_samples, device="cpu",
                              measure=QualityConfig(steps=args.quality_steps, device="cpu"))
    start = time.perf_counter()
    record = write_quality(out, splits.pretrain, splits.test, settings)
    return record, round(time.perf_counter() - start, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist-lt")
    p.add_argument("--steps", type=int, default=None, help="fit steps (default: FitSettings' 2000)")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--sample-steps", type=int, default=10)
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="keep the fitted model here (default: a temporary folder)")
    p.add_argument("--quality-samples", type=int, default=100, help="images per cell for quality.json (0: not measured)")
    p.add_argument("--quality-steps", type=int, default=300, help="training steps of the CAS classifier")
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="ddpm-pretrain-") as tmp:
        out = Path(args.out or Path(tmp) / "GEN")
        seconds, fit = fit_seconds(args.dataset, args.steps, out)
        rate = sampling_rate(out, args.images, args.sample_steps, args.guidance, args.batch)
        quality, quality_seconds = measured_quality(args, out)
    record = {"dataset": args.dataset, "fit_seconds": round(seconds, 1), **fit, "threads": args.threads,
              "sampling_images_per_s": round(rate, 1), "sample_steps": args.sample_steps, "guidance": args.guidance,
              "batch": args.batch, "load_average": os.getloadavg()[0], "torch": torch.__version__,
              "quality_seconds": quality_seconds, "quality": quality}
    print(f"{args.dataset}: fit of {fit['steps']} steps on the pretrain split ({fit['pool_images']} images): "
          f"{seconds / 60:.1f} min; sampling at {args.sample_steps} DDIM steps: {rate:.0f} images/s "
          f"({args.threads} threads, load average {record['load_average']:.2f})")
    if quality:
        print(summary(quality) + f" ({quality_seconds / 60:.1f} min)")
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
