"""`fit_generator`: train the `ddpm` generator's class-conditional denoiser on a pool of real images.

    fit_generator(images, out, FitSettings(steps=2000, cbdm_weight=0.0), test=splits.test)

trains with diffusers' `DDPMScheduler` (epsilon prediction, MSE), label dropout for classifier-free
guidance and optional CBDM (`synaug.generators.ddpm_loss`), AdamW with warm-up and cosine decay,
gradient clipping and an EMA of the weights, and writes GEN/ (layout in `synaug.generators.ddpm_folder`).
With groups, the model is conditioned on (class, group) cells; `images.without_groups()` gives a
class-conditional one.

Seeded and resumable: step s draws only from generators seeded by (seed, s); the checkpoint (weights,
EMA, optimiser, step, the loss window not yet logged) is rewritten atomically every
`checkpoint_every` steps, so a fit killed at any moment and run again with the same arguments
continues from its last checkpoint and ends bit for bit as an uninterrupted fit (weights and
log.jsonl alike; log lines written after that checkpoint are dropped and written again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import math

import numpy as np
import torch

from synaug.data.imageset import ImageSet
from synaug.errors import ConfigError, GenerationError, require
from synaug.fileio import atomic_open, write_json
from synaug.devices import check_available
from synaug.generators.ddpm_folder import CHECKPOINT, INFO, LOG, check_disjoint, load_checkpoint, pool_digest
from synaug.generators.ddpm_settings import FitSettings
from synaug.generators.ddpm_loss import pool_tensors, step_loss, update_ema
from synaug.generators.denoiser import architecture, build_denoiser
from synaug.progress import Progress
from synaug.runtime import device_for
from synaug.seeds import step_generators
from synaug.version import __version__

def make_scheduler(settings: FitSettings):
    diffusers = require("diffusers", "diffusion", "The ddpm generator")
    try:
        return diffusers.DDPMScheduler(num_train_timesteps=settings.train_timesteps,
                                       beta_schedule=settings.beta_schedule, prediction_type="epsilon")
    except NotImplementedError as exc:
        raise ConfigError(f"beta_schedule {settings.beta_schedule!r}: {exc}") from None


def describe_fit(images: ImageSet, settings: FitSettings, pool_name: str, scheduler) -> dict:
    """generator.json: everything needed to rebuild, sample and audit the generator."""
    space = images.cell_space
    return {"generator": "ddpm", "synaug_version": __version__,
            "architecture": architecture(settings.arch, images.image_shape, space.size + 1, **settings.arch_options),
            "class_names": list(images.class_names),
            "group_names": list(images.group_names) if images.has_groups else None,
            "null_label": space.size, "image_shape": list(images.image_shape),
            "normalisation": "x = pixel / 127.5 - 1 (uint8 0..255 -> -1..1), channels first",
            "schedule": {k: v for k, v in scheduler.config.items() if not k.startswith("_")},
            "pool": {"name": pool_name, "images": len(images), "sha256": pool_digest(images),
                     "cell_counts": np.bincount(images.cells(), minlength=space.size).tolist()},
            "steps": settings.steps, "seed": settings.seed, "training": settings.recorded()}


def claim_folder(out: Path, info: dict) -> None:
    """Write generator.json, or check that the one there describes the same fit (a resume)."""
    path = out / INFO
    if not path.is_file():
        if out.is_dir() and any(out.iterdir()):
            raise GenerationError(f"{out} is not empty and holds no ddpm generator fit ({INFO}); fit into a new or "
                                  "empty folder")
        out.mkdir(parents=True, exist_ok=True)
        write_json(path, info)
        return
    old = json.loads(path.read_text())
    keys = ("architecture", "class_names", "group_names", "image_shape", "schedule", "pool", "training")
    differ = [k for k in keys if json.dumps(old.get(k), sort_keys=True) != json.dumps(info[k], sort_keys=True)]
    if differ:
        raise GenerationError(f"{out} holds a ddpm generator fit with other {', '.join(differ)} (recorded: "
                              f"{ {k: old.get(k) for k in differ if k != 'pool'} }"
                              f"{', pool ' + str(old['pool']['name']) if 'pool' in differ else ''}); "
                              "use a new folder to fit this one")


@dataclass
class FitState:
    """What a checkpoint holds beyond the weights: the step and the losses not yet logged."""

    step: int = 0
    window: list = field(default_factory=lambda: [0.0, 0.0, 0.0, 0])  # sums of loss, eps, cbdm; count


def save_checkpoint(path: Path, model, ema, opt, state: FitState) -> None:
    with atomic_open(path, "wb") as f:
        torch.save({"model": model.state_dict(), "ema": ema.state_dict() if ema is not None else None,
                    "optimizer": opt.state_dict(), "step": state.step, "window": list(state.window)}, f)


def resume(out: Path, model, ema, opt, device) -> FitState:
    """Load the last checkpoint (if any) and drop log lines written after it."""
    path = out / CHECKPOINT
    if not path.is_file():
        (out / LOG).unlink(missing_ok=True)
        return FitState()
    saved = load_checkpoint(out, device)
    model.load_state_dict(saved["model"])
    if ema is not None:
        ema.load_state_dict(saved["ema"])
    opt.load_state_dict(saved["optimizer"])
    state = FitState(int(saved["step"]), list(saved["window"]))
    lines = (out / LOG).read_text().splitlines() if (out / LOG).is_file() else []
    kept = [ln for ln in lines if _logged_step(ln) is not None and _logged_step(ln) <= state.step]
    with atomic_open(out / LOG, "w") as f:
        f.write("".join(ln + "\n" for ln in kept))
    return state


def _logged_step(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None  # a line torn by a kill mid-write


def log_window(log_file, state: FitState, lr: float, cbdm: bool) -> float:
    total, eps, reg, n = state.window
    row = {"step": state.step, "loss": total / n, "loss_eps": eps / n, "lr": lr}
    if cbdm:
        row["loss_cbdm"] = reg / n
    log_file.write(json.dumps(row) + "\n")
    log_file.flush()
    state.window = [0.0, 0.0, 0.0, 0]
    return row["loss"]


def fit_generator(images: ImageSet, out, settings: FitSettings | None = None, *, test: ImageSet | None = None,
                  pool_name: str = "pool", progress: bool = True) -> dict:
    """Train (or resume training) a ddpm generator on `images` into folder `out`; returns
    {"out", "steps", "steps_run", "final_loss"} (final_loss: the last logged mean loss).
    `test`: a split the pool must not share any image with (checked by content first).
    `pool_name` (e.g. "train" or "unused") is recorded in generator.json."""
    settings = settings or FitSettings()
    settings.check()
    _check_pool(images, settings)
    if test is not None:
        check_disjoint(images, test, "training pool", "test")
    out, device = Path(out), _device(settings.device)
    scheduler = make_scheduler(settings)
    info = describe_fit(images, settings, pool_name, scheduler)
    model, ema = _networks(info["architecture"], settings, device)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    state = FitState()
    try:
        claim_folder(out, info)
        state = resume(out, model, ema, opt, device)
        start = state.step
        final = _train(model, ema, opt, scheduler, images, settings, state, out, progress)
    except OSError as exc:  # a full disk: no half file is left (atomic writes); the last checkpoint resumes
        raise GenerationError(f"cannot write into {out}: {exc.strerror or exc}; the fit stopped at step {state.step} "
                              f"of {settings.steps} with its last checkpoint kept: free space and run the same fit "
                              "again, it resumes from there") from None
    return {"out": out, "steps": settings.steps, "steps_run": settings.steps - start,
            "final_loss": final if final is not None else _last_logged_loss(out)}


def _train(model, ema, opt, scheduler, images, settings: FitSettings, state: FitState, out: Path, progress: bool):
    """Steps state.step .. settings.steps; returns the last logged loss (None if no step ran)."""
    data = pool_tensors(images.images, images.cells(), images.num_cells, next(model.parameters()).device)
    bar = Progress(total=settings.steps, desc="fit ddpm", unit="step", initial=state.step,
                   images_per_unit=settings.batch_size, enabled=progress and state.step < settings.steps)
    model.train()
    final = None
    with open(out / LOG, "a") as log_file:
        for s in range(state.step, settings.steps):
            lr = learning_rate(settings, s)
            for g in opt.param_groups:
                g["lr"] = lr
            rng, gen = step_generators(settings.seed, s)
            loss, eps, cbdm = step_loss(model, scheduler, data, settings.batch_size, rng, gen,
                                        label_dropout=settings.label_dropout, cbdm_weight=settings.cbdm_weight)
            _optimise(loss, model, opt, settings.grad_clip)
            if ema is not None:
                update_ema(ema, model, settings.ema_decay, s)
            logged = _after_step(state, (loss, eps, cbdm), lr, settings, log_file, bar)
            final = logged if logged is not None else final
            if state.step % settings.checkpoint_every == 0 or state.step == settings.steps:
                save_checkpoint(out / CHECKPOINT, model, ema, opt, state)
    bar.close()
    return final


def learning_rate(settings: FitSettings, step: int) -> float:
    """Linear warm-up over `warmup_steps`, then cosine decay to 0 at `steps` (the training loop's
    `cosine` schedule, written out: the fit shares no code with training)."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    t = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    return 0.5 * settings.lr * (1 + math.cos(math.pi * t))


def _after_step(state: FitState, losses, lr: float, settings: FitSettings, log_file, bar) -> float | None:
    values = [float(v.detach()) for v in losses]
    if not np.isfinite(values[0]):
        raise GenerationError(f"ddpm fit step {state.step}: the loss is {values[0]}; stopped (the last checkpoint "
                              "is kept). Lower lr")
    state.window = [w + v for w, v in zip(state.window, values + [1])]
    state.step += 1
    loss = None
    if state.step % settings.log_every == 0 or state.step == settings.steps:
        loss = log_window(log_file, state, lr, settings.cbdm_weight > 0)
        bar.set_postfix(loss=f"{loss:.4f}")
    bar.update(1)
    return loss


def _networks(config: dict, settings: FitSettings, device):
    """The denoiser, initialised from the seed (the caller's global RNG is left as it was), and its EMA copy."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = build_denoiser(config)
        ema = build_denoiser(config) if settings.ema_decay > 0 else None
    model = model.to(device).to(memory_format=torch.channels_last)
    if ema is not None:
        ema = ema.to(device).to(memory_format=torch.channels_last)
        ema.load_state_dict(model.state_dict())
        ema.requires_grad_(False)
    return model, ema


def _optimise(loss, model, opt, grad_clip: float) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()


def _check_pool(images: ImageSet, settings: FitSettings) -> None:
    if not isinstance(images.images, np.ndarray) or images.images.dtype != np.uint8:
        raise GenerationError("the ddpm generator trains on images held in memory as uint8 (<= 64 px datasets)")
    if len(images) == 0:
        raise GenerationError("the ddpm generator needs at least one training image; the pool is empty")
    if settings.batch_size > len(images):  # every step would draw each image many times over: a typo
        raise ConfigError(f"ddpm fit batch_size {settings.batch_size} is larger than the pool it learns from "
                          f"({len(images)} images); give a batch_size of at most {len(images)}")


def _device(name: str) -> torch.device:
    check_available("ddpm fit device", name)
    try:
        return device_for(name)  # auto: this rank's GPU under torchrun
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}: {exc}") from None


def _last_logged_loss(out: Path) -> float | None:
    lines = (out / LOG).read_text().splitlines() if (out / LOG).is_file() else []
    return json.loads(lines[-1])["loss"] if lines else None
