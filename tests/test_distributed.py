"""Several processes through torchrun (gloo on CPU): the same global batches as one process, split
into disjoint slices, and identical weights on every rank."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synaug.errors import SynaugError
from synaug.training.distributed import Dist, local_slice

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.parametrize("world", [1, 2, 4])
def test_rank_slices_are_disjoint_and_make_up_the_batch(world):
    batch = np.random.default_rng(0).permutation(1000)[:64]
    parts = [local_slice(batch, Dist(rank, world)) for rank in range(world)]
    assert np.array_equal(np.concatenate(parts), batch) and all(len(p) == 64 // world for p in parts)
    with pytest.raises(SynaugError, match="multiple of"):
        local_slice(batch[:63], Dist(0, 2))


def run_worker(out: Path, method: str, nproc: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path),
           "SYNAUG_DIST_BACKEND": "gloo"}  # CPU processes, also on a machine with a GPU
    cmd = [sys.executable, str(WORKER), str(out), method]
    if nproc > 1:
        # no --master_port: torchrun then rendezvous on a free port, so parallel test workers never collide
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), str(WORKER), str(out),
               method]
    subprocess.run(cmd, check=True, env=env, timeout=300, capture_output=True)


@pytest.mark.slow
def test_two_gloo_processes_train_like_one(tmp_path):
    run_worker(tmp_path / "one", "synaug", 1)
    run_worker(tmp_path / "two", "synaug", 2)
    one = torch.load(tmp_path / "one" / "rank0-of-1.pt", weights_only=True)
    r0 = torch.load(tmp_path / "two" / "rank0-of-2.pt", weights_only=True)
    r1 = torch.load(tmp_path / "two" / "rank1-of-2.pt", weights_only=True)
    # every stage-1 and stage-2 step: rank slices are disjoint halves whose union is the one-process batch
    assert len(one["slices"]) == len(r0["slices"]) == len(r1["slices"]) == 40  # 30 stage-1 + 10 stage-2 steps
    for whole, a, b in zip(one["slices"], r0["slices"], r1["slices"]):  # disjoint positions of the batch
        assert a == whole[:len(whole) // 2] and b == whole[len(whole) // 2:]
    # DDP keeps the ranks' weights identical through both stages (BatchNorm buffers are broadcast from rank 0)
    assert all(torch.equal(r0["model"][k], r1["model"][k]) for k in r0["model"])
    # and close to the one-process run, though not equal: each rank augments its own half with its
    # own draws and normalises its half's BatchNorm statistics, and the gradient is summed in
    # another order
    close = [torch.allclose(one["model"][k].float(), r0["model"][k].float()) for k in one["model"]]
    assert not all(close)
    acc1 = json.loads((tmp_path / "one" / "metrics.json").read_text())["accuracy"]
    acc2 = json.loads((tmp_path / "two" / "metrics.json").read_text())["accuracy"]
    assert acc1 > 80 and abs(acc1 - acc2) <= 10, (acc1, acc2)
