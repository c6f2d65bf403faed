"""Sampling a fitted `ddpm` generator: GEN folder + labels + seeds -> uint8 images.

Each image starts from its own noise, drawn by a CPU `torch.Generator` seeded with the image's seed,
and the samplers used here are deterministic after that (DDIM with eta = 0, DPM-Solver++), so an
image depends on its seed, label and the settings only, not on the batch it is drawn in (up to the
float rounding of batched kernels, < 1e-5 before rounding; tests/test_ddpm.py checks that and that the
uint8 images are equal; a value within ~1e-6 of a rounding boundary could in principle still flip
one pixel by 1).
Classifier-free guidance: eps = eps(x, null) + w * (eps(x, y) - eps(x, null)), both in one pass;
w = 1 is the plain conditional model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from synaug.errors import ConfigError, GenerationError, require
from synaug.generators.ddpm_folder import CHECKPOINT, load_checkpoint, read_info
from synaug.generators.denoiser import build_denoiser
from synaug.runtime import device_for

# sampler name -> (diffusers class, options over the training schedule's config, options of `step`).
# "trailing" spacing starts sampling at the last training timestep (pure noise), as Lin et al. 2024
# advise for few steps. Both keep x0 predictions inside [-1, 1] (pixels) AND keep the step consistent
# with it: DDIM recomputes eps from the clipped x0 (`use_clipped_model_output`; clipping x0 but
# stepping with the raw eps, diffusers' default, draws scribbles here), DPM-Solver++ thresholds x0.
SCHEDULERS = {
    "ddim": ("DDIMScheduler", {"timestep_spacing": "trailing", "clip_sample": True, "clip_sample_range": 1.0},
             {"eta": 0.0, "use_clipped_model_output": True}),
    "dpm-solver": ("DPMSolverMultistepScheduler", {"timestep_spacing": "trailing", "algorithm_type": "dpmsolver++",
                                                   "thresholding": True, "sample_max_value": 1.0}, {}),
}


class DdpmSampler:
    """A loaded GEN folder: the EMA weights (or the weights, without EMA) in eval mode."""

    def __init__(self, folder, device: str = "cpu"):
        self.folder = Path(folder)
        self.info = read_info(self.folder)
        try:
            self.device = device_for(device)
        except RuntimeError as exc:
            raise ConfigError(f"unknown device {device!r}: {exc}") from None
        self.model = self._load()

    def _load(self):
        path = self.folder / CHECKPOINT
        if not path.is_file():
            raise GenerationError(f"{self.folder} has no {CHECKPOINT}: its fit has not reached a checkpoint yet")
        saved = load_checkpoint(self.folder, self.device)
        if int(saved["step"]) < int(self.info["steps"]):
            raise GenerationError(f"the ddpm fit in {self.folder} stopped at step {saved['step']} of "
                                  f"{self.info['steps']}; run fit_generator again with the same settings to finish it")
        model = build_denoiser(self.info["architecture"])
        model.load_state_dict(saved["ema"] if saved.get("ema") is not None else saved["model"])
        return model.to(self.device).to(memory_format=torch.channels_last).eval().requires_grad_(False)

    def scheduler(self, name: str, steps: int):
        if name not in SCHEDULERS:
            raise ConfigError(f"unknown ddpm scheduler {name!r}; choose from {sorted(SCHEDULERS)}")
        diffusers = require("diffusers", "diffusion", "The ddpm generator")
        cls_name, options, step_options = SCHEDULERS[name]
        sched = getattr(diffusers, cls_name).from_config({**self.info["schedule"], **options})
        sched.set_timesteps(steps)
        return sched, step_options

    def initial_noise(self, seeds: Sequence[int]) -> torch.Tensor:
        """x_T of each image from a generator seeded with its own seed: independent of the batch."""
        H, W, C = self.info["image_shape"]
        noise = [torch.randn((C, H, W), generator=torch.Generator("cpu").manual_seed(int(s))) for s in seeds]
        return torch.stack(noise).to(self.device)

    @torch.no_grad()
    def eps(self, x: torch.Tensor, t, labels: torch.Tensor, guidance: float) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        tt = torch.full((len(x),), int(t), device=self.device, dtype=torch.long)
        if guidance == 1.0:
            return self.model(x, tt, labels)
        null = torch.full_like(labels, int(self.info["null_label"]))
        cond, uncond = self.model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, null])).chunk(2)
        return uncond + guidance * (cond - uncond)

    @torch.no_grad()
    def sample_float(self, labels: Sequence[int], seeds: Sequence[int], *, steps: int = 50, guidance: float = 2.0,
                     scheduler: str = "ddim") -> torch.Tensor:
        """Images in [-1, 1] (B, C, H, W) before rounding, one per (label, seed); labels index the
        model's cells (`ddpm_folder.model_cell`)."""
        sched, step_options = self.scheduler(scheduler, steps)
        x = self.initial_noise(seeds) * sched.init_noise_sigma
        y = torch.as_tensor(list(labels), dtype=torch.long, device=self.device)
        for t in sched.timesteps:
            eps = self.eps(sched.scale_model_input(x, t), t, y, guidance)
            x = sched.step(eps, t, x, **step_options).prev_sample
        return x.clamp(-1, 1)

    def sample(self, labels: Sequence[int], seeds: Sequence[int], **options) -> np.ndarray:
        """uint8 images (B, H, W, C) at the model's size (options: those of `sample_float`)."""
        x = self.sample_float(labels, seeds, **options)
        return ((x + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
