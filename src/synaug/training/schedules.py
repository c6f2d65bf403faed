"""Learning-rate schedules and optimisers by name (the choices a training config's `schedule` and
`optimizer` take). A schedule maps (phase, step after warm-up) to the learning rate."""

from __future__ import annotations

import math

from synaug.registry import Registry

SCHEDULES = Registry("schedule")
OPTIMIZERS = Registry("optimizer")


@SCHEDULES.register("cosine")
def cosine(p, step: int) -> float:
    t = (step - p.warmup_steps) / max(1, p.steps - p.warmup_steps)
    return 0.5 * p.lr * (1 + math.cos(math.pi * t))


@SCHEDULES.register("step")
def step_decay(p, step: int) -> float:
    """lr x gamma at each milestone (fractions of the phase's steps), as LDAM-DRW's schedule."""
    return p.lr * p.gamma ** sum(step >= m * p.steps for m in p.milestones)


@SCHEDULES.register("constant")
def constant(p, step: int) -> float:
    return p.lr


@OPTIMIZERS.register("sgd")
def sgd(params, p):
    import torch
    return torch.optim.SGD(params, lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay,
                           nesterov=p.nesterov and p.momentum > 0)


@OPTIMIZERS.register("adam")
def adam(params, p):
    import torch
    return torch.optim.Adam(params, lr=p.lr, weight_decay=p.weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(params, p):
    import torch
    return torch.optim.AdamW(params, lr=p.lr, weight_decay=p.weight_decay)
