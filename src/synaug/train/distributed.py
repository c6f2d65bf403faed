"""Several processes through PyTorch's own engine: `torchrun --nproc_per_node N -m synaug.cli ...`.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; we join the process group (nccl on CUDA, gloo on CPU)
and wrap the model in DistributedDataParallel. Every rank draws the same global batch from the
sampler (a pure function of seed and step) and trains on its own contiguous slice of it, so N
processes see exactly the batches one process would; DDP averages the gradients. Rank 0 alone
writes logs, checkpoints and metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from synaug.devices import check_available
from synaug.errors import SynaugError

# torch is imported where it is used: the place of a process (`Dist`) is plain data that the torch-free
# parts (planning, generation) pass on too.


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def from_env() -> Dist:
    """The process's place in a torchrun job (one process alone when not launched by torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def gpu_per_process() -> bool:
    """Whether every process of this machine can have its own GPU (LOCAL_WORLD_SIZE of them)."""
    import torch
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return torch.cuda.is_available() and torch.cuda.device_count() >= local_world


def backend() -> str:
    """nccl when every process has a GPU, else gloo; SYNAUG_DIST_BACKEND overrides (e.g. gloo for
    CPU training on a GPU machine)."""
    return os.environ.get("SYNAUG_DIST_BACKEND") or ("nccl" if gpu_per_process() else "gloo")


def init_from_env() -> Dist:
    """This process's place, joining the process group when torchrun started several. Called once at
    an entry point (the CLI, an API function); the result is passed down explicitly."""
    import torch
    import torch.distributed as dist
    d = from_env()
    if d.active and not dist.is_initialized():
        name = backend()
        if name == "nccl":
            torch.cuda.set_device(d.local_rank)
        dist.init_process_group(name)
    return d


def device_for(name: str, d: Dist):
    """`auto` is this rank's GPU (LOCAL_RANK) when every process can have one, else the CPU (a torch.device)."""
    import torch
    check_available("device", name)
    if name == "auto":
        return torch.device(f"cuda:{d.local_rank}" if gpu_per_process() else "cpu")
    device = torch.device(name)
    if d.active and device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{d.local_rank}")
    return device


def local_slice(idx: np.ndarray, d: Dist) -> np.ndarray:
    """This rank's contiguous share of a global batch; the shares are disjoint and their union is
    the batch, in order."""
    if len(idx) % d.world:
        raise SynaugError(f"batch size {len(idx)} does not split evenly over {d.world} processes; "
                          f"use a multiple of {d.world}")
    per = len(idx) // d.world
    return idx[d.rank * per:(d.rank + 1) * per]


def wrap(model, d: Dist, device):
    """DDP over the parameters that require gradients (all of them in stage 1, the last layer in
    stage 2); the plain module when alone."""
    if not d.active:
        return model
    from torch import nn
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier(d: Dist) -> None:
    if d.active:
        import torch.distributed as dist
        dist.barrier()


def broadcast_module(module, d: Dist, buffers_only: bool = False) -> None:
    """Make every rank hold rank 0's parameters and buffers: after work each rank did alone (a DFR
    fit), or, for buffers, after the last training step (DDP syncs BatchNorm statistics from rank 0
    at each forward, and the last forward then updates each rank's own)."""
    if not d.active:
        return
    import torch
    import torch.distributed as dist
    tensors = list(module.buffers()) + ([] if buffers_only else list(module.parameters()))
    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t.data, src=0)
