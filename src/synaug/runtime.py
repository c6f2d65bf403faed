"""The facts of this process that synaug reads from its environment, in one place.

The one module that reads `os.environ`. The face (the CLI's `main`, the API functions) calls
`environment()` once when a command starts (a bad value is an `error: ...` before any work) and hands
what it needs down: the place of the process in a torchrun job (`Dist`), the device to use
(`device_for`), how often progress lines print, where decoded caches live.

| variable                       | read as                | default                            |
|--------------------------------|------------------------|------------------------------------|
| RANK / WORLD_SIZE / LOCAL_RANK | `Dist` (set by torchrun) | one process alone                |
| LOCAL_WORLD_SIZE               | processes on this machine | 1                               |
| SYNAUG_DIST_BACKEND            | the process-group backend | nccl with a GPU per process, else gloo |
| SYNAUG_PROGRESS_SECONDS        | seconds between progress lines off a terminal | 10         |
| SYNAUG_CACHE_DIR, XDG_CACHE_HOME | where decoded caches live | ~/.cache/synaug                |
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from synaug.devices import check_available
from synaug.errors import ConfigError

# torch is imported where it is used: the place of a process (`Dist`) is plain data that the torch-free
# parts (planning, generation, `synaug --help`) pass on too.

DIST_BACKENDS = ("gloo", "nccl", "mpi", "ucc")
PROGRESS_SECONDS = 10.0  # between progress lines when output is not a terminal


@dataclass(frozen=True)
class Dist:
    """The place of this process in a torchrun job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


@dataclass(frozen=True)
class Environment:
    """Every environment variable synaug reads, read and checked once (`environment()`)."""

    dist: Dist = Dist()
    local_world: int = 1
    dist_backend: str | None = None
    progress_seconds: float = PROGRESS_SECONDS
    cache_dir: Path = Path("~/.cache/synaug").expanduser()


def environment(environ: Mapping[str, str] | None = None) -> Environment:
    """The process's environment (`os.environ` unless given), checked: a bad SYNAUG_* value is a
    ConfigError naming the variable."""
    env = os.environ if environ is None else environ
    backend = env.get("SYNAUG_DIST_BACKEND") or None
    if backend and backend not in DIST_BACKENDS:
        raise ConfigError(f"environment variable SYNAUG_DIST_BACKEND={backend!r}: one of {', '.join(DIST_BACKENDS)}")
    return Environment(dist=dist_of(env), local_world=int(env.get("LOCAL_WORLD_SIZE", "1")), dist_backend=backend,
                       progress_seconds=_seconds(env, "SYNAUG_PROGRESS_SECONDS", PROGRESS_SECONDS),
                       cache_dir=_cache_dir(env))


def dist_of(environ: Mapping[str, str] | None = None) -> Dist:
    """The process's place in a torchrun job (one process alone when not launched by torchrun)."""
    env = os.environ if environ is None else environ
    return Dist(int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0")))


def progress_seconds() -> float:
    """SYNAUG_PROGRESS_SECONDS, checked (a bad value is an error, not silently the default)."""
    return _seconds(os.environ, "SYNAUG_PROGRESS_SECONDS", PROGRESS_SECONDS)


def default_cache_dir() -> Path:
    """Where decoded caches live unless a command is told otherwise: $SYNAUG_CACHE_DIR, else
    $XDG_CACHE_HOME/synaug, else ~/.cache/synaug (one place, like the Hugging Face and torch hub
    caches, so `synaug cache`, `train`, `run` and `experiment` all find what another decoded)."""
    return _cache_dir(os.environ)


def gpu_per_process(local_world: int | None = None) -> bool:
    """Whether every process of this machine (`local_world`, default LOCAL_WORLD_SIZE) can have its own GPU."""
    import torch
    if local_world is None:
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return torch.cuda.is_available() and torch.cuda.device_count() >= local_world


def visible_gpus(count: int) -> list[str]:
    """The ids of the `count` GPUs this process may use (CUDA_VISIBLE_DEVICES, else 0..count-1)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return (visible.split(",") if visible else [str(i) for i in range(count)])[:count]


def only_gpu(device_id: str) -> None:
    """Make one GPU the only one this process sees (a launcher's worker, before CUDA starts in it)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = str(device_id)


def backend() -> str:
    """nccl when every process has a GPU, else gloo; SYNAUG_DIST_BACKEND overrides (e.g. gloo for
    CPU training on a GPU machine)."""
    return os.environ.get("SYNAUG_DIST_BACKEND") or ("nccl" if gpu_per_process() else "gloo")


def device_for(name: str, d: Dist | None = None):
    """`auto` is this rank's GPU (LOCAL_RANK) when every process can have one, else the CPU (a
    torch.device); a bare `cuda` under torchrun is this rank's GPU. `d` defaults to the environment's."""
    import torch
    check_available("device", name)
    d = dist_of() if d is None else d
    if name == "auto":
        return torch.device(f"cuda:{d.local_rank}" if gpu_per_process() else "cpu")
    device = torch.device(name)
    if d.active and device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{d.local_rank}")
    return device


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of seconds (>= 0) from the environment variable `name`, `default` when unset."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"environment variable {name}={text!r}: must be a number of seconds >= 0 (unset it for "
                          f"the default, {default:g})")
    return value


def _cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("SYNAUG_CACHE_DIR"):
        return Path(env["SYNAUG_CACHE_DIR"]).expanduser()
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "synaug"
