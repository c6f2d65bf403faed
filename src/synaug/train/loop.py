"""THE training loop. Stage 1 (whole network) and stage 2 (last layer only) are two calls of
`fit` with different parts plugged in; methods never fork it.

Each step takes the sampler's batch (this process's slice of it under torchrun), gets its uint8
images on the device (indexed from a device tensor, or gathered from the host cache by a prefetch
thread), augments them as one tensor, mixes them, and takes one optimiser step. Every random draw
of step s comes from generators seeded by (seed, s), so a run resumed from a checkpoint repeats an
uninterrupted run exactly.
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

from synaug.train import distributed
from synaug.train.batches import TensorData  # noqa: F401  (re-exported: the loop's data type)
from synaug.train.distributed import device_for
from synaug.errors import TrainingError
from synaug.progress import Progress


def resolve_device(name: str = "auto") -> torch.device:
    return device_for(name, distributed.from_env())


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
    optimizer: str = "sgd"
    compile: bool = False

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


def step_generators(seed: int, step: int, rank: int = 0) -> tuple[np.random.Generator, torch.Generator]:
    """The step's generators: `rng` (batch transforms; the same on every rank) and `gen` (per-image
    augmentation; each rank augments its own slice, so ranks > 0 draw from their own stream)."""
    rng = np.random.default_rng([seed, step])
    gen_seed = int(rng.integers(2**62)) if rank == 0 else int(np.random.default_rng([seed, step, rank]).integers(2**62))
    return rng, torch.Generator().manual_seed(gen_seed)


OPTIMIZERS = {
    "sgd": lambda params, p: torch.optim.SGD(params, lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay,
                                             nesterov=p.nesterov and p.momentum > 0),
    "adam": lambda params, p: torch.optim.Adam(params, lr=p.lr, weight_decay=p.weight_decay),
    "adamw": lambda params, p: torch.optim.AdamW(params, lr=p.lr, weight_decay=p.weight_decay),
}


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
    eval mode, so frozen BatchNorm statistics do not move during last-layer fine-tuning. Under
    torchrun the model trains as DistributedDataParallel on this rank's slice of every batch.
    """
    d = distributed.current()
    params = list(params)
    opt = OPTIMIZERS[phase.optimizer](params, phase)
    start = _resume(checkpoint, model, opt, loss_fn, data.device) if resume else 0
    model.eval()
    for m in (train_modules if train_modules is not None else [model]):
        m.train()
    net = distributed.wrap(model, d, data.device)
    net = torch.compile(net) if phase.compile else net  # the module itself is saved: no compiled-name keys
    cast, scaler = autocast_for(data.device, amp)
    eye = torch.eye(num_classes, device=data.device)
    bar = Progress(range(start, phase.steps), desc=phase.name, unit="step", initial=start, total=phase.steps,
                   enabled=progress and d.is_main, leave=False, images_per_unit=phase.batch_size)  # bar or log lines
    batches = data.batches(distributed.local_slice(sampler.batch(step), d) for step in range(start, phase.steps))
    running = None
    with open(log_path, "a") if log_path and d.is_main else nullcontext() as log_file:
        for step, (idx, images) in zip(bar, batches):
            rng, gen = step_generators(seed, step, d.rank)
            x = normalize(augment(images, gen))
            y = eye[data.labels[idx]]
            x, y = transform(x, y, data.synthetic[idx], rng)
            x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
            lr = phase.lr_at(step)
            for g in opt.param_groups:
                g["lr"] = lr
            if hasattr(loss_fn, "set_progress"):  # schedules inside a loss (DRW) follow the step
                loss_fn.set_progress(step / phase.steps)
            with cast:
                loss = loss_fn(net(x), y, cells=data.cells[idx])
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(f"{phase.name} step {step}: the loss is {value}; training stopped (the last "
                                    "checkpoint is kept). Lower --lr, or check the data for broken images")
            running = value if running is None else 0.95 * running + 0.05 * value
            if step % 20 == 0 or step == phase.steps - 1:
                bar.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.4f}")
                if log_file:
                    log_file.write(json.dumps({"phase": phase.name, "step": step, "loss": running, "lr": lr}) + "\n")
            done = step + 1
            if checkpoint is not None and d.is_main and (done % checkpoint_every == 0 or done == phase.steps):
                extra = dict(checkpoint_meta or {})
                if hasattr(loss_fn, "state_dict"):
                    extra["loss"] = loss_fn.state_dict()
                save_checkpoint(checkpoint, model, opt, done, **extra)
    batches.close()  # stops a prefetch thread that ran ahead
    bar.close()
    model.eval()
    distributed.broadcast_module(model, d, buffers_only=True)
    distributed.barrier(d)  # rank 0's checkpoint is on disk before anyone reads it
    return {"final_loss": running, "steps_run": phase.steps - start}


def _resume(checkpoint: Path | None, model: nn.Module, opt, loss_fn, device) -> int:
    """Load a checkpoint written by `fit` (model, optimiser, loss state); the step to continue from."""
    if checkpoint is None or not checkpoint.is_file():
        return 0
    state = torch.load(checkpoint, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if "loss" in state and hasattr(loss_fn, "load_state_dict"):
        loss_fn.load_state_dict(state["loss"])
    return int(state["step"])


def save_checkpoint(path: Path, model: nn.Module, opt, step: int, **extra) -> None:
    """Atomic: a run killed while saving keeps its previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict() if opt else {},
                "step": step, **extra}, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def predict(model: nn.Module, data: TensorData, normalize: Callable, batch_size: int = 1024,
            features: bool = False, view: Callable = lambda x: x) -> np.ndarray:
    """Logits (or penultimate features) for every sample, in order, of the evaluation `view` of the
    images (e.g. a centre crop) without random augmentation."""
    model.eval()
    out = []
    head = model.features if features else model
    for _, images in data.in_order(batch_size):
        x = normalize(view(images)).contiguous(memory_format=torch.channels_last)
        out.append(head(x).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, model.feature_dim if features else 0), np.float32)
