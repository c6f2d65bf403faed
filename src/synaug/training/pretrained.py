"""Load a local pretrained checkpoint (torchvision or timm state dict, `.pth`/`.pt` or safetensors)
into a model's backbone. The checkpoint's own classification head is dropped: our classifier is
sized for the task. Anything else that does not fit exactly (missing or unexpected keys, wrong
shapes) is an error that names the keys, never a silent partial load."""

from __future__ import annotations

from pathlib import Path

import torch

from synaug.errors import SynaugError
from synaug.training.models import Classifier

WRAPPERS = ("state_dict", "model", "module")  # dict keys checkpoints nest their weights under
PREFIXES = ("module.", "model.", "backbone.")  # added by DDP and some training scripts


class CheckpointError(SynaugError):
    """A pretrained checkpoint cannot be read or does not fit the model."""


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no pretrained checkpoint at {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file: the message names it and the reason
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.__class__.__name__}: {exc}") from exc
    for key in WRAPPERS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a state dict of tensors")
    for prefix in PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_backbone(model: Classifier, path: Path) -> None:
    """Copy a checkpoint's weights into `model.features`, strictly, dropping its head."""
    model.features.load_state_dict(backbone_state(model, path), strict=True)


def backbone_state(model: Classifier, path: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's backbone weights, checked to fit `model.features` exactly (a model built on
    the meta device will do: only its keys and shapes are read)."""
    state = {k: v for k, v in read_state_dict(path).items() if k not in model.head_keys}
    own = model.features.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                   for k in set(own) & set(state) if state[k].shape != own[k].shape)
    problems = [f"{what} ({len(keys)}): {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}"
                for what, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                   ("wrong shapes", wrong)) if keys]
    if problems:
        raise CheckpointError(f"checkpoint {path} does not fit the model's backbone: " + "; ".join(problems))
    return state
