"""THE training loop. Stage 1 (whole network) and stage 2 (last layer only) are two calls of
`fit` with different parts plugged in; methods never fork it.

Each step takes the sampler's batch (this process's slice of it under torchrun), gets its uint8
images on the device (indexed from a device tensor, or gathered from the host cache by a prefetch
thread), augments them as one tensor, mixes them, and takes one optimiser step. Every random draw
of step s comes from generators seeded by (seed, s), so a run resumed from a checkpoint repeats an
uninterrupted run exactly.

`fit` takes what to optimise (`FitParts`), its own few settings (`FitConfig`) and declared hooks
(`Callback`s: `Checkpoint`, `JsonlLog`, `ProgressBar`, in the manner of minGPT's Trainer callbacks);
a loss's or batch transform's own schedule is its `set_progress` hook. The running loss stays on
the device: it is read (one sync) only every LOG_EVERY steps and before a checkpoint, and a
non-finite one stops training there, before anything is written.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from synaug.training import distributed
from synaug.training.batches import TensorData  # noqa: F401  (re-exported: the loop's data type)
from synaug.training.distributed import Dist, device_for
from synaug.seeds import step_generators  # noqa: F401  (re-exported: the training loop's step draws)
from synaug.errors import TrainingError
from synaug.fileio import atomic_open
from synaug.progress import Progress
from synaug.training.losses import Loss
from synaug.training.rundir import load_checkpoint
from synaug.training.samplers import Sampler
from synaug.training.schedules import OPTIMIZERS, SCHEDULES


def resolve_device(name: str = "auto", d: Dist | None = None) -> torch.device:
    """`auto` is this rank's GPU under torchrun (`d`, default: the environment's), else CUDA or the CPU."""
    return device_for(name, d)


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
    hint: str = ""  # the settings to change when this phase diverges (named in the error)

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        return SCHEDULES[self.schedule](self, step)


def autocast_for(device: torch.device, enabled: bool):
    """bf16 (or fp16) autocast on CUDA; a no-op on CPU, where fp32 is the fast path."""
    if device.type != "cuda" or not enabled:
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


@dataclass
class FitParts:
    """What one phase optimises and how a batch is made: the parameters and the modules put in train
    mode (default: the whole model; everything else stays in eval mode, so frozen BatchNorm
    statistics do not move during last-layer fine-tuning), the sampler, per-image augmentation,
    normalisation, the batch transform (Mixup...) and the loss."""

    params: Iterable[nn.Parameter]
    sampler: Sampler
    augment: Callable
    normalize: Callable
    transform: Callable
    loss_fn: Loss
    train_modules: Iterable[nn.Module] | None = None


@dataclass
class FitConfig:
    """The loop's own settings (the rest of a run's configuration does not reach it)."""

    num_classes: int
    seed: int
    amp: bool = True        # bf16/fp16 autocast on CUDA
    dist: Dist = field(default_factory=Dist)  # this process's place under torchrun (one process alone by default)


class Callback:
    """A hook into `fit` (minGPT's Trainer callbacks): every method is optional. `state` is the
    loop's `LoopState`; `loss` arguments are the running loss as a float, read only when a hook runs."""

    def on_start(self, state: LoopState) -> None:
        """Before the first step (after a resume has loaded its checkpoint)."""

    def on_log(self, state: LoopState, step: int, loss: float, lr: float) -> None:
        """Every LOG_EVERY steps and at the last step."""

    def on_step_end(self, state: LoopState, done: int) -> None:
        """After `done` steps."""

    def on_end(self, state: LoopState) -> None:
        """After the last step, before the ranks synchronise."""


LOG_EVERY = 20  # steps between log lines (and GPU syncs to read the loss)
DIVERGED = 10.0  # a running loss this many times its lowest (and above a uniform guess's) has diverged


@dataclass
class LoopState:
    """What hooks may read: the phase, the model (not the DDP wrapper), optimiser and loss."""

    phase: Phase
    model: nn.Module
    opt: torch.optim.Optimizer
    loss_fn: Loss
    is_main: bool
    device: torch.device
    start: int = 0
    running: torch.Tensor | None = None  # exponential moving average of the loss, kept on the device
    lowest: tuple[float, int] | None = None  # (lowest running loss read so far, its step)

    def running_loss(self, step: int) -> float:
        """The running loss as a float (one device sync); a non-finite one stops training."""
        value = float(self.running)
        if not math.isfinite(value):
            raise TrainingError(f"{self.phase.name} step {step}: the loss is {value}; training stopped (the last "
                                "checkpoint is kept). Lower --lr, or check the data for broken images")
        return value

    def check_divergence(self, step: int, loss: float, num_classes: int) -> None:
        """Stop a phase whose running loss has grown an order of magnitude (DIVERGED x) above its lowest
        reading and above ln(num_classes), the loss of a uniform guess (so a loss wandering near 0 is
        never taken for divergence), naming the settings that drive the step size."""
        if self.lowest is None or loss < self.lowest[0]:
            self.lowest = (loss, step)
            return
        low, at = self.lowest
        if loss > DIVERGED * low and loss > math.log(max(num_classes, 2)):
            hint = self.phase.hint or f"lower this phase's learning rate (now {self.phase.lr:g})"
            raise TrainingError(f"{self.phase.name} step {step}: the loss grew from {low:.4g} (step {at}) to "
                                f"{loss:.4g}, more than {DIVERGED:g}x: training diverged and was stopped. {hint}")


def fit(model: nn.Module, data: TensorData, phase: Phase, parts: FitParts, config: FitConfig,
        callbacks: Sequence[Callback] = ()) -> dict:
    """Optimise `parts.params` for `phase.steps` steps; returns {"final_loss", "steps_run"}.
    Under torchrun the model trains as DistributedDataParallel on this rank's slice of every batch."""
    d = config.dist
    state = LoopState(phase, model, OPTIMIZERS[phase.optimizer](list(parts.params), phase), parts.loss_fn,
                      d.is_main, data.device)
    for cb in callbacks:  # in order: a resuming Checkpoint first sets the step the others start from
        cb.on_start(state)
    model.eval()
    for m in (parts.train_modules if parts.train_modules is not None else [model]):
        m.train()
    net = distributed.wrap(model, d, data.device)
    net = torch.compile(net) if phase.compile else net  # the module itself is saved: no compiled-name keys
    cast, scaler = autocast_for(data.device, config.amp)
    eye = torch.eye(config.num_classes, device=data.device)
    batches = data.batches((distributed.local_slice(parts.sampler.batch(step), d)
                            for step in range(state.start, phase.steps)), host_index=True)
    for step, (host_idx, idx, images) in zip(range(state.start, phase.steps), batches):
        rng, gen = step_generators(config.seed, step, d.rank)
        parts.transform.set_progress(step / phase.steps)  # e.g. CMO's on/off window
        # the synthetic flags are read on the host with the host's indices: the partner draw needs them
        # there, and fetching them from the device would wait for the GPU every step
        x, y = parts.transform(parts.normalize(parts.augment(images, gen)), eye[data.labels[idx]],
                               data.synthetic[torch.as_tensor(host_idx)], rng)
        x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
        lr = phase.lr_at(step)
        for g in state.opt.param_groups:
            g["lr"] = lr
        parts.loss_fn.set_progress(step / phase.steps)  # schedules inside a loss (DRW) follow the step
        # a transform that makes one sample of k images (CMO: base, minority) keeps each k-th's cell
        cells = data.cells[idx if len(y) == len(idx) else idx[::len(idx) // len(y)]]
        with cast:
            loss = parts.loss_fn(net(x), y, cells=cells)
        _backward(loss, state.opt, scaler)
        value = loss.detach().float()
        state.running = value if state.running is None else 0.95 * state.running + 0.05 * value
        if step % LOG_EVERY == 0 or step == phase.steps - 1:
            running = state.running_loss(step)
            state.check_divergence(step, running, config.num_classes)
            for cb in callbacks:
                cb.on_log(state, step, running, lr)
        for cb in callbacks:
            cb.on_step_end(state, step + 1)
    batches.close()  # stops a prefetch thread that ran ahead
    for cb in callbacks:
        cb.on_end(state)
    model.eval()
    distributed.broadcast_module(model, d, buffers_only=True)
    distributed.barrier(d)  # rank 0's checkpoint is on disk before anyone reads it
    final = None if state.running is None else state.running_loss(phase.steps - 1)
    return {"final_loss": final, "steps_run": phase.steps - state.start}


def _backward(loss: torch.Tensor, opt, scaler) -> None:
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()


class Checkpoint(Callback):
    """Saves model, optimiser and loss state every `every` steps and at the last one (rank 0 only),
    with `meta` beside them; with `resume`, `fit` starts from the file's step (model, optimiser and
    loss state loaded). The running loss is read (and a non-finite one refused) before anything is written."""

    def __init__(self, path: Path, every: int = 200, meta: dict | None = None, resume: bool = False):
        self.path, self.every, self.meta, self.resume = Path(path), every, dict(meta or {}), resume

    def on_start(self, state: LoopState) -> None:
        if not self.resume or not self.path.is_file():
            return
        saved = load_checkpoint(self.path, state.device)  # an unreadable file: a clear error, not a traceback
        state.model.load_state_dict(saved["model"])
        state.opt.load_state_dict(saved["optimizer"])
        if "loss" in saved:
            state.loss_fn.load_state_dict(saved["loss"])
        if saved.get("running_loss") is not None:  # the log's running loss goes on as if never interrupted
            state.running = torch.tensor(saved["running_loss"], dtype=torch.float32, device=state.device)
        state.start = int(saved["step"])

    def on_step_end(self, state: LoopState, done: int) -> None:
        if state.is_main and (done % self.every == 0 or done == state.phase.steps):
            extra = dict(self.meta, running_loss=state.running_loss(done - 1))  # a float32 value, exact as float
            loss_state = state.loss_fn.state_dict()
            if loss_state is not None:
                extra["loss"] = loss_state
            save_checkpoint(self.path, state.model, state.opt, done, **extra)


class JsonlLog(Callback):
    """One JSON line per log step (phase, step, running loss, learning rate), appended and flushed;
    rank 0 only. A resumed run's log (`synaug.training.rundir.trim_log` keeps the lines of the
    checkpointed steps, the checkpoint restores the running loss) equals an uninterrupted run's."""

    def __init__(self, path: Path):
        self.path, self.file = Path(path), None

    def on_start(self, state: LoopState) -> None:
        self.file = open(self.path, "a") if state.is_main else None

    def on_log(self, state: LoopState, step: int, loss: float, lr: float) -> None:
        if self.file:
            self.file.write(json.dumps({"phase": state.phase.name, "step": step, "loss": loss, "lr": lr}) + "\n")
            self.file.flush()  # in the OS before the next checkpoint: a SIGKILL then loses no line it keeps

    def on_end(self, state: LoopState) -> None:
        if self.file:
            self.file.close()


class ProgressBar(Callback):
    """A progress bar on a terminal, periodic log lines elsewhere (rank 0 only). The learning rate
    shown is the current step's; the loss is the running loss read at the last log step (every
    LOG_EVERY steps: reading it waits for the GPU), and says which step that was."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.bar = enabled, None

    def on_start(self, state: LoopState) -> None:
        p = state.phase
        self.bar = Progress(None, desc=p.name, unit="step", initial=state.start,
                            total=p.steps, enabled=self.enabled and state.is_main, leave=False,
                            images_per_unit=p.batch_size)

    def on_log(self, state: LoopState, step: int, loss: float, lr: float) -> None:
        self.bar.set_postfix(loss=f"{loss:.3f} (step {step})", lr=f"{lr:.4g}", refresh=False)

    def on_step_end(self, state: LoopState, done: int) -> None:
        self.bar.set_postfix(**{**self.bar.postfix, "lr": f"{state.opt.param_groups[0]['lr']:.4g}"}, refresh=False)
        self.bar.update(1)

    def on_end(self, state: LoopState) -> None:
        self.bar.close()


def save_checkpoint(path: Path, model: nn.Module, opt, step: int, **extra) -> None:
    """Atomic: a run killed while saving keeps its previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict() if opt else {},
                    "step": step, **extra}, f)


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
