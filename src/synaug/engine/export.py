"""`synaug export RUN`: a run's final model for use without synaug.

OUT/model.pth is a plain state dict of the architecture's own library (torchvision or timm): synaug's
`Classifier` holds the backbone as `features` and the last layer as `classifier`, so `features.` is
stripped and the last layer gets the library's head name (`fc.weight` for torchvision ResNets,
`head.weight` for many timm models). OUT/preprocess.json is the run's record of how an image becomes
the model's input (`synaug.train.preprocess`: resize mode, sizes, mean, std, class names in label
order) plus the architecture and the code that builds it. synaug's own models (small-cnn, resnet32)
have no library to load into: their state dict keeps synaug's names and the record says how to build
them with `synaug.train.models.build_model`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import nn

from synaug.errors import RunFolderError
from synaug.fileio import atomic_open, write_json
from synaug.train.models import Classifier
from synaug.train.pipeline import load_trained
from synaug.train.preprocess import PREPROCESS


class ExportError(RunFolderError):
    """A run cannot be exported as a plain model."""


def plain_state_dict(model: Classifier) -> dict[str, torch.Tensor]:
    """The model's weights under the library's own key names (see the module docstring)."""
    if not model.head_keys:  # synaug's own architecture: its names are the only ones there are
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if not isinstance(model.classifier, nn.Linear):
        raise ExportError(f"the last layer is a {type(model.classifier).__name__} (a method's own head, e.g. LDAM's "
                          "cosine classifier), not a plain linear layer: no torchvision or timm model has it")
    weight, bias = model.head_keys
    state = {k: v.detach().cpu() for k, v in model.features.state_dict().items()}
    state.update({weight: model.classifier.weight.detach().cpu(), bias: model.classifier.bias.detach().cpu()})
    return state


def architecture(model: Classifier, name: str, num_classes: int, channels: int) -> dict:
    """How to build the same network in its own library: the call, and the stem changes synaug made
    (the CIFAR stem of ResNets on images <= 64 px, another input channel count)."""
    if name.startswith("timm:"):
        return {"library": "timm", "build": f"timm.create_model({name[5:]!r}, num_classes={num_classes}, "
                                            f"in_chans={channels})", "changes": []}
    if not model.head_keys:
        return {"library": "synaug", "build": f"synaug.train.models.build_model({name!r}, in_channels={channels}, "
                                              f"num_classes={num_classes}, image_size=CROP_SIZE)", "changes": []}
    changes = []
    conv = getattr(model.features, "conv1", None)
    if isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3):
        changes = [f"model.conv1 = torch.nn.Conv2d({conv.in_channels}, {conv.out_channels}, 3, 1, 1, bias=False)",
                   "model.maxpool = torch.nn.Identity()"]
    elif isinstance(conv, nn.Conv2d) and conv.in_channels != 3:
        changes = [f"model.conv1 = torch.nn.Conv2d({conv.in_channels}, {conv.out_channels}, {conv.kernel_size}, "
                   f"{conv.stride}, {conv.padding}, bias=False)"]
    return {"library": "torchvision", "build": f"torchvision.models.{name}(num_classes={num_classes})",
            "changes": changes}


def read_preprocess(run: Path) -> dict:
    path = Path(run) / PREPROCESS
    if not path.is_file():
        raise ExportError(f"{run} has no {PREPROCESS}: it was trained before synaug recorded it, or is not a run "
                          "folder; train it again with this synaug")
    return json.loads(path.read_text())


def export_run(run: str | Path, out: str | Path | None = None, device: str = "cpu") -> dict:
    """Write OUT/model.pth and OUT/preprocess.json (default OUT: RUN/export); returns the record."""
    run = Path(run)
    out = Path(out) if out is not None else run / "export"
    record = read_preprocess(run)
    trained = load_trained(run, len(record["class_names"]), record["channels"], record["image_size"], device=device)
    model = trained.model.to(memory_format=torch.contiguous_format)
    checkpoint = "stage2.pt" if (run / "stage2.pt").is_file() else "stage1.pt"
    arch = architecture(model, record["model"], len(record["class_names"]), record["channels"])
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "model.pth", "wb") as f:
        torch.save(plain_state_dict(model), f)
    record = {**record, "architecture": arch, "weights": "model.pth", "from_run": str(run),
              "from_checkpoint": checkpoint, "load": load_lines(arch)}
    write_json(out / PREPROCESS, record)
    if (run / "config.yaml").is_file():
        shutil.copyfile(run / "config.yaml", out / "config.yaml")  # how it was trained, beside it
    return record


def load_lines(arch: dict) -> list[str]:
    """The Python lines that rebuild the exported model and load its weights."""
    return [f"model = {arch['build']}", *arch["changes"],
            "model.load_state_dict(torch.load('model.pth', weights_only=True))", "model.eval()"]
