"""CPU speed of torchvision models as synaug trains and evaluates them, so a user can plan a run:
images per second of one training step (forward + backward + SGD, channels-last, as synaug's loop)
and of evaluation (forward only, no gradient), on random images of the given side.

    python benchmarks/cpu_models.py [--models resnet18,resnet50] [--size 96] [--batch 32] [--steps 8] [--repeats 3]

The README quotes the median of `--repeats` runs of `--steps` timed steps (after 2 untimed ones) for
ResNet-18 at 96 px; the number depends on the cores and on what else runs on them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from synaug.training.models import build_model


def images_per_second(name: str, size: int, batch: int, steps: int, train: bool) -> float:
    torch.manual_seed(0)
    model = build_model(name, in_channels=3, num_classes=8, image_size=size).to(memory_format=torch.channels_last)
    model.train(train)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 8, (batch,))

    def step():
        if not train:
            with torch.no_grad():
                model(x)
            return
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):  # warm-up: allocator, oneDNN kernels
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    out = {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "size": args.size, "batch": args.batch}
    for name in args.models.split(","):
        for kind, train in (("train", True), ("eval", False)):
            runs = [images_per_second(name, args.size, args.batch, args.steps, train) for _ in range(args.repeats)]
            out[f"{name} {kind} img/s"] = round(statistics.median(runs), 1)
            print(f"{name:<10} {args.size} px  {kind:<5}  {statistics.median(runs):7.1f} img/s  "
                  f"(median of {args.repeats}: {', '.join(f'{r:.1f}' for r in runs)})", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
