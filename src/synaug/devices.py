"""Whether this machine has the device a user named (`cpu`, `cuda`, `cuda:N`, `mps`, `auto`),
checked where the name enters (a flag's argparse type, a fit's settings, `device_for`) so that a
device the machine lacks is an error naming what it has, before a model is built, not torch's
"Found no NVIDIA driver" traceback once training starts."""

from __future__ import annotations

import argparse

from synaug.errors import ConfigError

# torch is imported where a device is looked at: the runtime (torch-free at import) checks device names too


def available_devices() -> list[str]:
    """The devices torch can use here: cpu, then cuda:0..N-1, then mps."""
    import torch
    names = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0)]
    mps = getattr(torch.backends, "mps", None)
    return names + (["mps"] if mps is not None and mps.is_available() else [])


def check_available(option: str, name) -> str:
    """`name` when this machine has that device (`auto` always), else a ConfigError listing what it has."""
    import torch
    have = available_devices()
    if name == "auto":
        return name
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{option}: unknown device {name!r}; this machine has {', '.join(have)} (or auto)") from None
    ok = (device.type == "cpu" or (device.type == "cuda" and any(h.startswith("cuda") for h in have)
                                   and (device.index is None or f"cuda:{device.index}" in have))
          or (device.type == "mps" and "mps" in have))
    if not ok:
        raise ConfigError(f"{option}: device {name!r} is not available on this machine (it has {', '.join(have)}); "
                          "give one of them, or auto")
    return name


def device_arg(text: str) -> str:
    """An argparse `type=` for --device."""
    try:
        return check_available("device", text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("device: ")) from None
