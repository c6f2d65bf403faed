"""Training throughput through synaug's own loop (`synaug.training.loop.fit`) against the model's own
ceiling, measured in the same process: the same model, batch, dtype (bf16 autocast on CUDA) and memory
format (channels-last), one optimiser step per batch on a fixed device batch with no data work.

- CIFAR scale from memory: 50,000 images of 32 px (10,847 real + 39,153 synthetic, random pixels) as one
  uint8 tensor on the device, ResNet-32, SYNAuG's stage 1 (pad-crop + flip, domain Mixup, soft CE);
- 224 px crops from the decoded cache: a real and a synthetic memory-mapped uint8 cache of 256 px images
  (as `synaug cache` writes them), ResNet-50, random-resized crop + flip + ImageNet normalisation on the
  device, plain CE (benchmarks/large_images.py --cuda's setting, so the fractions compare), eager and
  torch.compile'd.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from synaug.data.imageset import CachedImages, ImageSet
from synaug.training.augment import Augment, Normalize, RandomResizedCrop
from synaug.training.loop import FitConfig, FitParts, Phase, TensorData, autocast_for, fit
from synaug.training.losses import LOSSES
from synaug.training.mixing import BATCH_TRANSFORMS
from synaug.training.models import build_model
from synaug.training.samplers import SAMPLERS

LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 5e-4


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def new_model(name: str, classes: int, side: int, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)  # the ceiling and the loop start from the same weights
    model = build_model(name, in_channels=3, num_classes=classes, image_size=side)
    return model.to(device).to(memory_format=torch.channels_last)  # as synaug.training.pipeline does


def ceiling(name: str, classes: int, side: int, batch: int, device: torch.device, steps: int, warm: int,
            compile: bool = False) -> float:
    """Images/s of forward + backward + SGD step on one pre-made device batch (no data work at all)."""
    model = new_model(name, classes, side, device).train()
    net = torch.compile(model) if compile else model
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, nesterov=True)
    x = torch.randn(batch, 3, side, side, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.eye(classes, device=device)[torch.randint(0, classes, (batch,), device=device)]
    cast, _ = autocast_for(device, True)  # bf16 on CUDA, as the loop's amp=True
    loss_fn = LOSSES["ce"]()

    def step():
        with cast:
            loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warm):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * batch / (time.perf_counter() - t)


def loop_rate(model, data: TensorData, parts_for, batch: int, steps: int, warm: int, classes: int,
              compile: bool = False, callbacks=()) -> tuple[float, float]:
    """(images/s, seconds) of `fit` over `steps` steps, after `warm` steps of the same model."""
    device = data.device
    config = FitConfig(num_classes=classes, seed=0, amp=True)
    phase = lambda n: Phase("bench", n, batch, LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,  # noqa: E731
                            schedule="constant", compile=compile)
    if warm:
        fit(model, data, phase(warm), parts_for(model), config)
    sync(device)
    t = time.perf_counter()
    fit(model, data, phase(steps), parts_for(model), config, callbacks=callbacks)
    sync(device)
    seconds = time.perf_counter() - t
    return steps * batch / seconds, seconds


def cifar_set(real: int, synthetic: int, classes: int) -> ImageSet:
    rng = np.random.default_rng(0)
    n = real + synthetic
    return ImageSet(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, classes, n),
                    [f"c{i}" for i in range(classes)], synthetic=np.arange(n) >= real)


def cifar_from_memory(s: dict, device: torch.device) -> list[dict]:
    """ResNet-32 on the uniformized CIFAR100-LT shape, one epoch per batch size, against its ceiling."""
    ds = cifar_set(s["real"], s["synthetic"], s["classes"])
    data = TensorData.from_imageset(ds, device)
    n, out = len(ds), []
    for batch in s["batches"]:
        def parts_for(model, batch=batch):
            return FitParts(list(model.parameters()), SAMPLERS["shuffle"](n=n, batch_size=batch, seed=0),
                            Augment(crop_padding=4, flip=True), Normalize((0.5,) * 3, (0.25,) * 3),
                            BATCH_TRANSFORMS["mixup"](alpha=1.0, pairing="domain"), LOSSES["ce"]())
        top = ceiling("resnet32", s["classes"], 32, batch, device, s["ceiling_steps"], s["warm_steps"])
        epoch_steps = math.ceil(n / batch)
        ours, seconds = loop_rate(new_model("resnet32", s["classes"], 32, device), data, parts_for, batch,
                                  epoch_steps, s["warm_steps"], s["classes"])
        out.append(dict(batch=batch, images=n, epoch_steps=epoch_steps, epoch_s=seconds,
                        ceiling_images_per_s=top, loop_images_per_s=ours, fraction_of_ceiling=ours / top))
    return out


def write_cache(path: Path, n: int, side: int, seed: int) -> np.ndarray:
    """A memory-mapped (n, side, side, 3) uint8 .npy of random pixels, opened read-only like synaug's cache."""
    if not path.is_file():
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, side, side, 3))
        rng = np.random.default_rng(seed)
        for k in range(0, n, 256):
            arr[k:k + 256] = rng.integers(0, 256, arr[k:k + 256].shape, dtype=np.uint8)
        arr.flush()
        del arr
    return np.load(path, mmap_mode="r")


def cached_set(s: dict, work: Path) -> ImageSet:
    work.mkdir(parents=True, exist_ok=True)
    real = CachedImages.of(write_cache(work / "real.npy", s["real"], s["side"], 1))
    syn = CachedImages.of(write_cache(work / "synthetic.npy", s["synthetic"], s["side"], 2))
    n = s["real"] + s["synthetic"]
    labels = np.random.default_rng(3).integers(0, s["classes"], n)
    return ImageSet(real.concat(syn), labels, [f"c{i}" for i in range(s["classes"])],
                    synthetic=np.arange(n) >= s["real"])


def large_parts(n: int, batch: int, crop: int):
    def parts_for(model):
        return FitParts(list(model.parameters()), SAMPLERS["shuffle"](n=n, batch_size=batch, seed=0),
                        RandomResizedCrop(crop), Normalize.imagenet(), BATCH_TRANSFORMS["none"](), LOSSES["ce"]())
    return parts_for


def large_from_cache(s: dict, work: Path, device: torch.device, compile: bool, batch: int | None = None,
                     with_ceiling: bool = True, callbacks=()) -> dict:
    """ResNet-50 (tiny mode: ResNet-18) on 224 px crops of the 256 px cache through `fit`, and
    (optionally) its ceiling."""
    batch = batch or s["batch"]
    ds = cached_set(s, work)
    data = TensorData.from_imageset(ds, device)
    top = (ceiling(s["model"], s["classes"], s["crop"], batch, device, s["steps"], s["warm_steps"], compile)
           if with_ceiling else None)
    model = new_model(s["model"], s["classes"], s["crop"], device)
    ours, seconds = loop_rate(model, data, large_parts(len(ds), batch, s["crop"]), batch, s["steps"],
                              s["warm_steps"], s["classes"], compile=compile, callbacks=callbacks)
    return dict(model=s["model"], batch=batch, compile=compile, steps=s["steps"], seconds=seconds, ceiling_images_per_s=top,
                loop_images_per_s=ours, fraction_of_ceiling=ours / top if top else None)
