"""Images/s of the diffusion backend for a model, size, steps and batch on whatever device is here.

    # CPU, offline: the tiny random pipeline the tests use
    python benchmarks/diffusion_throughput.py --tiny --size 64 --steps 4 --batch 8
    # a user's GPU with local weights (unchanged code path)
    python benchmarks/diffusion_throughput.py --model /models/sd-turbo --size 512 --steps 4 --batch 16 --dtype fp16
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from synaug.generators.diffusion import DiffusionGenerator
from synaug.plans import build_plan
from synaug.prompts import load_bank


def main():
    ap = argparse.ArgumentParser()
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="local diffusers model folder")
    src.add_argument("--tiny", action="store_true", help="build the tiny random test pipeline")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batches", type=int, default=3, help="timed batches (after one warm-up batch)")
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    model = args.model
    if args.tiny:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from tiny_sd import build_tiny_pipeline
        model = str(build_tiny_pipeline(Path(tempfile.mkdtemp()) / "tiny-sd"))
    gen = DiffusionGenerator(model=model, steps=args.steps, gen_size=args.size, guidance=args.guidance,
                             dtype=args.dtype, device=args.device, compile=args.compile, safety_checker=False,
                             image_shape=(args.size, args.size, 3))
    items = build_plan({0: args.batch * (args.batches + 1)}, ["cat"], load_bank(None), 0)
    gen.generate(items[:args.batch])  # warm-up: loading, kernels, compilation
    import torch
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t = time.perf_counter()
    for b in range(1, args.batches + 1):
        gen.generate(items[b * args.batch:(b + 1) * args.batch])
    sync()
    seconds = time.perf_counter() - t
    n = args.batch * args.batches
    device = gen.pipeline().device
    print(f"{'tiny' if args.tiny else model} on {device} ({gen.pipeline().unet.dtype}), {args.size}px, "
          f"{args.steps} steps, batch {args.batch}: {n / seconds:.2f} images/s, "
          f"{n * args.steps / seconds:.1f} image-steps/s")


if __name__ == "__main__":
    main()
