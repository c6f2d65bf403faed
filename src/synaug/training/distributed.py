"""Several processes through PyTorch's own engine: `torchrun --nproc_per_node N -m synaug.cli ...`.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; we join the process group (nccl on CUDA, gloo on CPU)
and wrap the model in DistributedDataParallel. Every rank draws the same global batch from the
sampler (a pure function of seed and step) and trains on its own contiguous slice of it, so N
processes see exactly the batches one process would; DDP averages the gradients. Rank 0 alone
writes logs, checkpoints and metrics.
"""

from __future__ import annotations

import numpy as np

from synaug.errors import SynaugError
# the process facts (its place, its device, the backend) are the runtime's: re-exported for the training code
from synaug.runtime import Dist, backend, device_for, gpu_per_process  # noqa: F401

# torch is imported where it is used (see synaug.runtime)


def join_process_group(d: Dist) -> Dist:
    """Join the process group when torchrun started several processes (`d`, this process's place as
    the entry point read it: the CLI, an API function); `d`, passed down explicitly from there."""
    import torch
    import torch.distributed as dist
    if d.active and not dist.is_initialized():
        name = backend()
        if name == "nccl":
            torch.cuda.set_device(d.local_rank)
        dist.init_process_group(name)
    return d


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
