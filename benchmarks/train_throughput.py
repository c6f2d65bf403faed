"""Training throughput (images/s) of synaug's loop against two references, on mnist-lt shapes:

1. ceiling: the model's own forward + backward + SGD step on one pre-made tensor batch;
2. synaug: `synaug.training.loop.fit` (batch indexing, tensor crop augmentation, normalisation,
   domain Mixup, soft-target CE, lr schedule) on the uniformized mnist-lt set (4,000 images);
3. PIL + DataLoader: the usual per-sample pipeline (PIL crop with padding, to-tensor, normalise,
   collate) feeding the same model step.

    python benchmarks/train_throughput.py [--steps 100] [--repeats 3] [--model small-cnn] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image, ImageOps

from synaug.data import load_dataset
from synaug.data.imageset import ImageSet
from synaug.training.augment import Augment, Normalize
from synaug.training.loop import FitConfig, FitParts, Phase, TensorData, fit
from synaug.training.losses import LOSSES
from synaug.training.mixing import BATCH_TRANSFORMS
from synaug.training.models import build_model
from synaug.training.samplers import SAMPLERS


def make_model(name):
    torch.manual_seed(0)
    return build_model(name, in_channels=1, num_classes=10, image_size=28).to(memory_format=torch.channels_last)


def ceiling(name, batch, steps) -> float:
    model = make_model(name).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    for i in range(steps + 10):
        if i == 10:
            t = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t)


def synaug_loop(name, batch, steps, data: ImageSet) -> float:
    model = make_model(name)
    td = TensorData.from_imageset(data, torch.device("cpu"))
    norm = Normalize.fit(td.images)
    sampler = SAMPLERS["shuffle"](n=len(data), batch_size=batch, seed=0)
    parts = FitParts(list(model.parameters()), sampler, Augment(2, False), norm,
                     BATCH_TRANSFORMS["mixup"](alpha=1.0, pairing="domain"), LOSSES["ce"]())
    config = FitConfig(num_classes=10, seed=0)
    fit(model, td, Phase("warm", 10, batch, 0.01), parts, config)
    t = time.perf_counter()
    fit(model, td, Phase("bench", steps, batch, 0.01), parts, config)
    return steps * batch / (time.perf_counter() - t)


class PILDataset(torch.utils.data.Dataset):
    def __init__(self, data: ImageSet, mean, std, seed=0):
        self.images = [Image.fromarray(im[:, :, 0], "L") for im in data.images]
        self.labels = data.labels
        self.mean, self.std = mean, std
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = ImageOps.expand(self.images[i], 2)
        dx, dy = self.rng.integers(0, 5, 2)
        img = img.crop((dx, dy, dx + 28, dy + 28))
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None]
        return (x - self.mean) / self.std, int(self.labels[i])


def pil_dataloader(name, batch, steps, data: ImageSet, workers: int) -> float:
    model = make_model(name).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loader = torch.utils.data.DataLoader(PILDataset(data, 0.13, 0.3), batch_size=batch, shuffle=True,
                                         num_workers=workers, drop_last=True, persistent_workers=workers > 0)
    done, t = -10, None
    while done < steps:
        for x, y in loader:
            if done == 0:
                t = time.perf_counter()
            x = x.contiguous(memory_format=torch.channels_last)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done >= steps:
                break
    return steps * batch / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--model", default="small-cnn")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    splits = load_dataset("mnist-lt", imbalance=100)
    # the uniformized set's shape: 4,000 images, a quarter real (the rendered ones are stood in by
    # re-using real images marked synthetic; throughput does not depend on pixel values)
    pool = splits.train.images[np.random.default_rng(0).integers(0, len(splits.train), 4000)]
    labels = np.random.default_rng(1).integers(0, 10, 4000)
    data = ImageSet(pool, labels, splits.train.class_names, synthetic=np.arange(4000) >= 988)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, model {args.model}, "
          f"batch {args.batch_size}, {args.steps} steps")
    # interleaved repeats, median: a 2-core VM's speed drifts between runs
    runs = {k: [] for k in ("c", "s", "p0", "p2")}
    for _ in range(args.repeats):
        runs["c"].append(ceiling(args.model, args.batch_size, args.steps))
        runs["s"].append(synaug_loop(args.model, args.batch_size, args.steps, data))
        runs["p0"].append(pil_dataloader(args.model, args.batch_size, args.steps, data, 0))
        runs["p2"].append(pil_dataloader(args.model, args.batch_size, args.steps, data, 2))
    c, s, p0, p2 = (float(np.median(runs[k])) for k in ("c", "s", "p0", "p2"))
    print("all runs (images/s):", {k: [round(v) for v in vs] for k, vs in runs.items()})
    print(f"ceiling (model fwd+bwd+step on a pre-made batch): {c:8.0f} images/s")
    print(f"synaug loop (tensor augment + domain Mixup):        {s:8.0f} images/s  = {100 * s / c:5.1f} % of ceiling")
    print(f"PIL per-sample + DataLoader, 0 workers:             {p0:8.0f} images/s  -> synaug is {s / p0:4.1f}x")
    print(f"PIL per-sample + DataLoader, 2 workers:             {p2:8.0f} images/s  -> synaug is {s / p2:4.1f}x")


if __name__ == "__main__":
    main()
