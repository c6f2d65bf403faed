"""`synaug export RUN`: a run's final model for use without synaug.

OUT/model.pth is a plain state dict of the architecture's own library (torchvision or timm): synaug's
`Classifier` holds the backbone as `features` and the last layer as `classifier`, so `features.` is
stripped and the last layer gets the library's head name (`fc.weight` for torchvision ResNets,
`head.weight` for many timm models). OUT/preprocess.json is the run's record of how an image becomes
the model's input (`synaug.training.preprocess`: resize mode, sizes, mean, std, class names in label
order) plus the architecture and the code that builds it. synaug's own models (small-cnn, resnet32)
have no library to load into: their state dict keeps synaug's names and the record says how to build
them with `synaug.training.models.build_model` (with its head, e.g. LDAM's cosine one).

Only a finished run is exported (its `done` marker: a killed, half-trained run is not a final model),
only into a new or empty folder (an existing model.pth or config.yaml is never overwritten, and a
folder of the user's files is refused), and a failed write (a full disk) leaves none of the export's
files behind and says what to run again.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from synaug.engine.rundirs import DONE
from synaug.errors import RunFolderError
from synaug.fileio import atomic_open, write_json
from synaug.training.models import HEADS, Classifier
from synaug.training.pipeline import load_trained
from synaug.training.preprocess import PREPROCESS


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


def architecture(model: Classifier, name: str, num_classes: int, channels: int, crop_size: int | None = None) -> dict:
    """How to build the same network in its own library: the call, and the stem changes synaug made
    (the CIFAR stem of ResNets on images <= 64 px, another input channel count)."""
    if name.startswith("timm:"):
        return {"library": "timm", "build": f"timm.create_model({name[5:]!r}, num_classes={num_classes}, "
                                            f"in_chans={channels})", "changes": []}
    if not model.head_keys:  # synaug's own: built with the run's head (LDAM's cosine one) at its crop size
        head = next((k for k, cls in HEADS.items() if type(model.classifier) is cls), "linear")
        return {"library": "synaug", "build": f"synaug.training.models.build_model({name!r}, in_channels={channels}, "
                                              f"num_classes={num_classes}, image_size={crop_size or 'CROP_SIZE'}"
                                              + (f", head={head!r})" if head != "linear" else ")"), "changes": []}
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


def check_export(run: Path, out: Path) -> None:
    """Before anything is loaded or written: a finished run, and an output folder that is new or empty."""
    if not run.is_dir():
        raise ExportError(f"{run} is not a run folder" + (" (it is a file)" if run.exists() else " (no such folder)"))
    if not (run / DONE).is_file():
        raise ExportError(f"{run} is not a finished run (no `{DONE}` marker: it was stopped before its last step, or "
                          "is still training); finish it (`synaug train` with the same options and --resume), then "
                          "export it")
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        held = sorted(p.name for p in out.iterdir())
        raise ExportError(f"--out {out} is not empty ({', '.join(held[:5])}{', ...' if len(held) > 5 else ''}): an "
                          "export never overwrites files; give a new or empty folder")


def export_run(run: str | Path, out: str | Path | None = None, device: str = "cpu") -> dict:
    """Write OUT/model.pth, OUT/preprocess.json and OUT/config.yaml (default OUT: RUN/export) from a
    finished run; returns the record."""
    run = Path(run)
    out = Path(out) if out is not None else run / "export"
    check_export(run, out)
    record = read_preprocess(run)
    trained = load_trained(run, len(record["class_names"]), record["channels"], record["image_size"], device=device)
    model = trained.model.to(memory_format=torch.contiguous_format)
    checkpoint = "stage2.pt" if (run / "stage2.pt").is_file() else "stage1.pt"
    arch = architecture(model, record["model"], len(record["class_names"]), record["channels"], record.get("crop_size"))
    state = plain_state_dict(model)
    record = {**record, "architecture": arch, "weights": "model.pth", "from_run": str(run),
              "from_checkpoint": checkpoint, "load": load_lines(arch)}
    write_export(run, out, state, record)
    return record


def write_export(run: Path, out: Path, state: dict, record: dict) -> None:
    """The export's files, all or none: a failed write (a full disk) removes what this export wrote."""
    created = not out.exists()
    written = [out / "model.pth", out / PREPROCESS, out / "config.yaml"]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_open(written[0], "wb") as f:
            torch.save(state, f)
        write_json(written[1], record)
        if (run / "config.yaml").is_file():
            with atomic_open(written[2], "wb") as f:  # how it was trained, beside it
                f.write((run / "config.yaml").read_bytes())
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise ExportError(f"cannot write the export into {out}: {exc.strerror or exc}; nothing of it was kept: free "
                          f"space (or fix the folder) and run `synaug export {run}` again") from None


def load_lines(arch: dict) -> list[str]:
    """The Python lines that rebuild the exported model and load its weights."""
    imports = ["import synaug.training.models"] if arch["library"] == "synaug" else []
    return [*imports, f"model = {arch['build']}", *arch["changes"],
            "model.load_state_dict(torch.load('model.pth', weights_only=True))", "model.eval()"]
