"""Training and sampling speed of the `ddpm` generator's denoisers on this machine (28 px, 1 channel,
11 labels: MNIST's 10 classes and the null label).

    PYTHONPATH=src python benchmarks/ddpm_timing.py [--arch fast|unet] [--steps 5] [--rounds 3]
        [--batch 128] [--sample-batch 128]

Training: images per second of the real fit step (`ddpm_loss.step_loss`: noise, forward, MSE,
backward, gradient clipping, AdamW, EMA) at `--batch`, after two warm-up steps. Sampling: image x
denoising steps per second of `DdpmSampler.sample` (DDIM) at `--sample-batch`, with guidance 2
(two network passes per step) and 1 (one pass). Each number is the best of `--rounds` rounds: other
processes on the cores only slow a round down. Run it alone all the same.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from synaug.data.imageset import ImageSet
from synaug.generators.ddpm_fit import FitSettings, fit_generator, make_scheduler
from synaug.generators.ddpm_loss import pool_tensors, step_loss, update_ema
from synaug.generators.ddpm_sample import DdpmSampler
from synaug.generators.denoiser import architecture, build_denoiser
from synaug.training.loop import step_generators

CANDIDATES = [  # (arch, options)
    ("fast", {"channels": [32, 64]}),
    ("fast", {"channels": [48, 96]}),
    ("fast", {"channels": [64, 128]}),
    ("unet", {"channels": [16, 32, 64]}),
    ("unet", {"channels": [32, 64, 64]}),
    ("unet", {"channels": [32, 64, 64], "attention": True}),
]


def toy_pool(n: int = 512) -> ImageSet:
    rng = np.random.default_rng(0)
    return ImageSet(rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8), np.arange(n) % 10,
                    [str(d) for d in range(10)], name="toy")


def train_rate(arch: str, options: dict, pool: ImageSet, batch: int, steps: int, rounds: int) -> tuple[float, int]:
    """(images per second of the fit step, best of `rounds` rounds of `steps` steps; parameters)."""
    config = architecture(arch, pool.image_shape, 11, **options)
    model = build_denoiser(config).to(memory_format=torch.channels_last)
    ema = build_denoiser(config).to(memory_format=torch.channels_last).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = make_scheduler(FitSettings())
    data = pool_tensors(pool.images, pool.cells(), 10, "cpu")

    def step(s):
        loss, _, _ = step_loss(model, scheduler, data, batch, *step_generators(0, s), label_dropout=0.1, cbdm_weight=0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        update_ema(ema, model, 0.999, s)

    step(0), step(1)
    best = 0.0
    for r in range(rounds):
        start = time.perf_counter()
        for s in range(2 + r * steps, 2 + (r + 1) * steps):
            step(s)
        best = max(best, batch * steps / (time.perf_counter() - start))
    return best, sum(p.numel() for p in model.parameters())


def sample_rate(arch: str, options: dict, pool: ImageSet, batch: int, guidance: float, rounds: int,
                steps: int = 5) -> float:
    """image x denoising steps per second of DDIM sampling, best of `rounds` (a 1-step fit gives the network)."""
    with tempfile.TemporaryDirectory() as folder:
        fit_generator(pool, folder, FitSettings(arch=arch, arch_options=options, steps=1), progress=False)
        sampler = DdpmSampler(folder)
        labels, seeds = list(np.arange(batch) % 10), list(range(batch))
        sampler.sample(labels[:8], seeds[:8], steps=2, guidance=guidance)  # warm-up
        best = 0.0
        for _ in range(rounds):
            start = time.perf_counter()
            sampler.sample(labels, seeds, steps=steps, guidance=guidance)
            best = max(best, batch * steps / (time.perf_counter() - start))
        return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement; the best is reported "
                        "(other processes only ever slow a round down)")
    parser.add_argument("--arch", choices=["fast", "unet"], default=None, help="measure only this architecture")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--sample-batch", type=int, default=128)
    args = parser.parse_args()
    pool = toy_pool()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; train batch {args.batch}, "
          f"sample batch {args.sample_batch}; best of {args.rounds}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'arch':5} {'options':45} {'params':>8} {'train img/s':>12} {'sample img*steps/s w=2':>23} {'w=1':>7}")
    for arch, options in [c for c in CANDIDATES if args.arch in (None, c[0])]:
        train, params = train_rate(arch, options, pool, args.batch, args.steps, args.rounds)
        s2 = sample_rate(arch, options, pool, args.sample_batch, 2.0, args.rounds)
        s1 = sample_rate(arch, options, pool, args.sample_batch, 1.0, args.rounds)
        print(f"{arch:5} {str(options):45} {params / 1e6:7.2f}M {train:12.0f} {s2:23.0f} {s1:7.0f}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
