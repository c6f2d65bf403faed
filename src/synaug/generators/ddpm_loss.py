"""One training step's loss of the `ddpm` generator: DDPM's epsilon-prediction MSE with label
dropout for classifier-free guidance, plus, optionally, CBDM's class-balancing regulariser.

Every random draw of step s (which images, noise, timesteps, dropped labels, CBDM's other labels)
comes from the generators `synaug.seeds.step_generators(seed, s)` returns, in a fixed order,
so a step is a pure function of (weights, seed, s): a resumed fit repeats an uninterrupted one.

CBDM (Qin et al., "Class-Balancing Diffusion Models", CVPR 2023), as its public code computes it
(github.com/qym7/CBDM-pytorch, diffusion.py, `GaussianDiffusionTrainer.forward`): the same noisy
image x_t is also denoised under labels y' drawn from the training label distribution, and with
w_t = tau * t / T the loss adds
    w_t * ||eps(x_t, y) - sg(eps(x_t, y'))||^2  +  1/4 * w_t * ||sg(eps(x_t, y)) - eps(x_t, y')||^2
(sg: stop-gradient; element means, as the code's F.mse_loss): the conditional prediction of a class
is pulled toward those of other classes (the regulariser), and theirs toward it (the commitment
term, weighted 1/4), most at high noise levels. Two differences from that code: labels are dropped
per image (p = `label_dropout`) rather than for the whole batch at once, and the regulariser is
applied to the images whose label was kept (the public code skips it for a dropped batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class StepData:
    """What every step draws from: the pool as one float tensor in [-1, 1] (N, C, H, W), its cell
    labels, the label distribution CBDM draws other labels from, and the null label."""

    images: torch.Tensor
    labels: torch.Tensor
    label_freq: torch.Tensor
    null_label: int


def draw_batch(data: StepData, batch_size: int, rng: np.random.Generator, gen: torch.Generator,
               train_timesteps: int, label_dropout: float):
    """(clean images, noise, timesteps, labels with dropped ones set to the null label, kept mask)."""
    idx = torch.from_numpy(rng.integers(0, len(data.labels), batch_size))
    x0 = data.images[idx]
    noise = torch.randn(x0.shape, generator=gen).to(x0.device)
    t = torch.randint(0, train_timesteps, (batch_size,), generator=gen).to(x0.device)
    kept = (torch.rand(batch_size, generator=gen) >= label_dropout).to(x0.device)
    labels = torch.where(kept, data.labels[idx], torch.full_like(data.labels[idx], data.null_label))
    return x0, noise, t, labels, kept


def step_loss(model: nn.Module, scheduler, data: StepData, batch_size: int, rng, gen, *,
              label_dropout: float, cbdm_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total loss, epsilon MSE, CBDM term) of one batch; the CBDM term is 0 when its weight is 0."""
    T = scheduler.config.num_train_timesteps
    x0, noise, t, labels, kept = draw_batch(data, batch_size, rng, gen, T, label_dropout)
    x_t = scheduler.add_noise(x0, noise, t).contiguous(memory_format=torch.channels_last)
    if cbdm_weight <= 0:
        eps = model(x_t, t, labels)
        mse = F.mse_loss(eps, noise)
        return mse, mse.detach(), torch.zeros((), device=x0.device)
    others = torch.multinomial(data.label_freq, batch_size, replacement=True, generator=gen).to(x0.device)
    both = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, others]))  # one pass: 2B images
    eps, eps_other = both.chunk(2)
    mse = F.mse_loss(eps, noise)
    w = (cbdm_weight * t.float() / T * kept.float())[:, None, None, None]
    reg = (w * (eps - eps_other.detach()).square()).mean()
    commit = (w * (eps.detach() - eps_other).square()).mean()
    cbdm = reg + 0.25 * commit
    return mse + cbdm, mse.detach(), cbdm.detach()


def update_ema(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """EMA of the weights with diffusers' EMAModel warm-up: the decay is at most (1 + s) / (10 + s),
    so early averages are not dominated by the random initialisation."""
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1 - d)
        for e, b in zip(ema.buffers(), model.buffers()):
            e.copy_(b)


def pool_tensors(images: np.ndarray, cells: np.ndarray, num_cells: int, device) -> StepData:
    """The pool as StepData: pixels 0..255 -> -1..1, channels-last; the null label is `num_cells`."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    labels = torch.from_numpy(np.asarray(cells, dtype=np.int64))
    freq = torch.bincount(labels, minlength=num_cells).double()
    return StepData(images=x.contiguous(memory_format=torch.channels_last).to(device), labels=labels.to(device),
                    label_freq=(freq / freq.sum()).float(), null_label=num_cells)
