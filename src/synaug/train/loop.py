"""THE training loop. Stage 1 (whole network) and stage 2 (last layer only) are two calls of
`fit` with different parts plugged in; methods never fork it.

Data stay on the device as one uint8 tensor; each step indexes a batch, augments it as a tensor,
mixes it, and takes one SGD step. Every random draw of step s comes from generators seeded by
(seed, s), so a run resumed from a checkpoint repeats an uninterrupted run exactly.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from synaug.data.imageset import ImageSet, LazyImages
from synaug.progress import Progress


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class TensorData:
    """An ImageSet as device tensors (images uint8 NCHW, channels-last memory) or, for images too
    large to hold, a lazy view decoded per batch."""

    images: torch.Tensor | LazyImages
    labels: torch.Tensor
    synthetic: torch.Tensor
    cells: torch.Tensor  # dense cell id per sample: the label, or label * G + group
    device: torch.device

    @classmethod
    def from_imageset(cls, ds: ImageSet, device: torch.device) -> TensorData:
        images = ds.images
        if not isinstance(images, LazyImages):
            # (N, H, W, C) memory is exactly NCHW in channels_last layout: no copy needed.
            images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device)
        return cls(images, torch.from_numpy(ds.labels).to(device), torch.from_numpy(ds.synthetic).to(device),
                   torch.from_numpy(np.asarray(ds.cells(), dtype=np.int64)).to(device), device)

    def __len__(self) -> int:
        return len(self.labels)

    def batch_images(self, idx: torch.Tensor) -> torch.Tensor:
        if isinstance(self.images, LazyImages):
            arr = self.images[idx.cpu().numpy()]
            return torch.from_numpy(arr).permute(0, 3, 1, 2).to(self.device)
        return self.images[idx]


@dataclass
class Phase:
    """One optimisation phase (stage 1 or stage 2)."""

    name: str
    steps: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    warmup_steps: int = 0
    schedule: str = "cosine"
    milestones: tuple = (0.8, 0.9)
    gamma: float = 0.1

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "cosine":
            t = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
            return 0.5 * self.lr * (1 + math.cos(math.pi * t))
        if self.schedule == "step":
            return self.lr * self.gamma ** sum(step >= m * self.steps for m in self.milestones)
        if self.schedule == "constant":
            return self.lr
        raise ValueError(f"unknown schedule {self.schedule!r}")


def step_generators(seed: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    rng = np.random.default_rng([seed, step])
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return rng, gen


def autocast_for(device: torch.device, enabled: bool):
    """bf16 (or fp16) autocast on CUDA; a no-op on CPU, where fp32 is the fast path."""
    if device.type != "cuda" or not enabled:
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


def fit(model: nn.Module, data: TensorData, phase: Phase, *, params: Iterable[nn.Parameter],
        sampler, augment: Callable, normalize: Callable, transform: Callable, loss_fn: Callable,
        num_classes: int, seed: int, train_modules: Iterable[nn.Module] | None = None,
        checkpoint: Path | None = None, checkpoint_every: int = 200, resume: bool = False,
        amp: bool = True, progress: bool = True, log_path: Path | None = None,
        checkpoint_meta: dict | None = None) -> dict:
    """Optimise `params` for `phase.steps` steps; returns {"final_loss", "steps_run"}.

    `train_modules` are put in train mode (default: the whole model); everything else stays in
    eval mode, so frozen BatchNorm statistics do not move during last-layer fine-tuning.
    """
    params = list(params)
    opt = torch.optim.SGD(params, lr=phase.lr, momentum=phase.momentum,
                          weight_decay=phase.weight_decay, nesterov=phase.nesterov and phase.momentum > 0)
    start = 0
    if resume and checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=data.device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if "loss" in state and hasattr(loss_fn, "load_state_dict"):
            loss_fn.load_state_dict(state["loss"])
        start = int(state["step"])
    model.eval()
    for m in (train_modules if train_modules is not None else [model]):
        m.train()
    cast, scaler = autocast_for(data.device, amp)
    eye = torch.eye(num_classes, device=data.device)
    bar = Progress(range(start, phase.steps), desc=phase.name, unit="step", initial=start, total=phase.steps,
                   enabled=progress, leave=False, images_per_unit=phase.batch_size)  # bar or log lines
    running = None
    with open(log_path, "a") if log_path else nullcontext() as log_file:
        for step in bar:
            rng, gen = step_generators(seed, step)
            idx = torch.as_tensor(sampler.batch(step), device=data.device)
            x = normalize(augment(data.batch_images(idx), gen))
            y = eye[data.labels[idx]]
            x, y = transform(x, y, data.synthetic[idx], rng)
            x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
            lr = phase.lr_at(step)
            for g in opt.param_groups:
                g["lr"] = lr
            if hasattr(loss_fn, "set_progress"):  # schedules inside a loss (DRW) follow the step
                loss_fn.set_progress(step / phase.steps)
            with cast:
                loss = loss_fn(model(x), y, cells=data.cells[idx])
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            value = float(loss.detach())
            running = value if running is None else 0.95 * running + 0.05 * value
            if step % 20 == 0 or step == phase.steps - 1:
                bar.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.4f}")
                if log_file:
                    log_file.write(json.dumps({"phase": phase.name, "step": step, "loss": running, "lr": lr}) + "\n")
            done = step + 1
            if checkpoint is not None and (done % checkpoint_every == 0 or done == phase.steps):
                extra = dict(checkpoint_meta or {})
                if hasattr(loss_fn, "state_dict"):
                    extra["loss"] = loss_fn.state_dict()
                save_checkpoint(checkpoint, model, opt, done, **extra)
    bar.close()
    model.eval()
    return {"final_loss": running, "steps_run": phase.steps - start}


def save_checkpoint(path: Path, model: nn.Module, opt, step: int, **extra) -> None:
    """Atomic: a run killed while saving keeps its previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict() if opt else {},
                "step": step, **extra}, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def predict(model: nn.Module, data: TensorData, normalize: Callable, batch_size: int = 1024,
            features: bool = False) -> np.ndarray:
    """Logits (or penultimate features) for every sample, in order, without augmentation."""
    model.eval()
    out = []
    head = model.features if features else model
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data)), device=data.device)
        x = normalize(data.batch_images(idx)).contiguous(memory_format=torch.channels_last)
        out.append(head(x).float().cpu())
    return torch.cat(out).numpy()
