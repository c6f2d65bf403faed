"""`ddpm`: a class-conditional diffusion model trained on the dataset's own images (issue 22;
DiffuLT's and CBDM's route: no text-to-image model, no download). Fit it with
`synaug.generators.ddpm_fit.fit_generator` into a GEN folder, then draw plan items from it:

    make_generator("ddpm", model="GEN", steps=50, guidance=2.0, scheduler="ddim")

Plan items are matched to the model's classes (or class x group cells) by NAME, so a model fitted on
one pool serves any plan of the same dataset; `cannot_draw` says why a class or cell is missing
(not in the model, or no training image of it). Images are drawn at the model's size and resized
(bicubic) to `image_shape`, the dataset's (H, W, C), when that differs, and said so (a WARNING
logged when the plan is checked and when drawing starts), as is a model whose pool of training images
is not this dataset's training split.

Before it draws from a model without a sample check (GEN/sample_check.json), the backend runs the
check (`synaug.generators.ddpm_check`) on the real images it is given, and a model whose samples a
real-image classifier does not recognise is a loud WARNING naming the classes and the fit's settings.

Reproducibility: one CPU `torch.Generator` per image seeded with the plan item's seed and
deterministic samplers (`synaug.generators.ddpm_sample`): an image is the same alone or in any batch.
torch and diffusers load on the first `generate`, never when synaug starts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from synaug.constraints import GUIDANCE, POSITIVE_INT, Options, check
from synaug.data.imageset import ImageSet
from synaug.errors import ConfigError, GenerationError
from synaug.generators.base import Generated, Knob, register_generator
from synaug.generators.ddpm_check import CHECK_STEPS, check_samples, read_check, warning_text
from synaug.generators.ddpm_folder import CHECKPOINT, INFO, file_sha256, model_cell, read_info
from synaug.generators.ddpm_settings import FitSettings
from synaug.generators.recorded import RecordsConfig
from synaug.plans import PlanItem

log = logging.getLogger(__name__)
SCHEDULER_NAMES = ("ddim", "dpm-solver")  # the keys of ddpm_sample.SCHEDULERS (kept here: no torch)


DEFAULT_STEPS = 50


def trained_timesteps(info: dict) -> int | None:
    """The number of timesteps a fit's schedule has (None when its record does not say)."""
    return int(info.get("schedule", {}).get("num_train_timesteps", 0) or 0) or None


def check_sampling_steps(model: Path, steps: int) -> dict:
    """The model's generator.json, when it can take `steps` sampling steps: at most the timesteps it
    was trained with (a sampler cannot visit more distinct timesteps than the schedule has)."""
    info = read_info(model)
    trained = trained_timesteps(info)
    if trained and steps > trained:
        raise ConfigError(f"ddpm option steps: must be at most the {trained} timesteps the model in {model} was "
                          f"trained with, got {steps}")
    return info


@register_generator("ddpm")
class DdpmGenerator(RecordsConfig):
    name = "ddpm"
    parallel_safe = False  # one network per process: shard across processes instead
    reads_prompt = False   # class- (or cell-) conditional: the prompt's modifiers change nothing
    quality_knob = Knob("steps", 50, (1, 2, 5, 10, 25, 50), "ddpm sampling steps")  # Fig. 4's real knob
    fit_settings = FitSettings  # fitted by the engine when a config says `fit: {pool: ...}` (or fit-generator)
    fitter = "synaug.generators.ddpm_fit:fit_generator"
    # device, batch and the class/group names are recorded but, as they always were, not described (an image
    # is the same alone or in any batch; stored folders' fingerprints were made without them)
    described = ("model", "checkpoint_sha256", "steps", "guidance", "scheduler", "image_shape")
    sample_record = ("model", "checkpoint_sha256", "steps", "guidance", "scheduler")  # beside each image

    def __init__(self, *, model: str | None = None, steps: int | None = None, guidance: float = 2.0,
                 scheduler: str = "ddim",
                 device: str = "cpu", batch: int = 256, class_names: Sequence[str] | None = None,
                 group_names: Sequence[str] | None = None, image_shape: Sequence[int] | None = None,
                 real: ImageSet | None = None):
        if model is None:
            raise ConfigError("the ddpm generator needs model=GEN, a folder made by fit_generator "
                              "(synaug.generators.ddpm_fit)")
        fitted = (Path(model) / INFO).is_file()  # a fit the engine makes later is checked when it is drawn from
        if steps is None:  # 50, or every timestep of a fit trained with fewer (a tiny one)
            steps = min(DEFAULT_STEPS, (trained_timesteps(read_info(Path(model))) if fitted else None) or DEFAULT_STEPS)
        # a quality knob's level may arrive as 25.0 (experiment options are numbers): a whole float is its integer
        steps, batch = (int(v) if isinstance(v, float) and v.is_integer() else v for v in (steps, batch))
        check("ddpm option scheduler", scheduler, Options(SCHEDULER_NAMES))
        check("ddpm option steps", steps, POSITIVE_INT)
        check("ddpm option batch", batch, POSITIVE_INT)
        check("ddpm option guidance", guidance, GUIDANCE)
        if fitted:
            check_sampling_steps(Path(model), steps)
        self.record(model=Path(model), steps=int(steps), guidance=float(guidance), scheduler=scheduler,
                    device=device, batch=int(batch),
                    class_names=list(class_names) if class_names is not None else None,
                    group_names=list(group_names) if group_names is not None else None,
                    image_shape=tuple(int(v) for v in image_shape) if image_shape is not None else None)
        self._info: dict | None = None
        self._digest: str | None = None
        self._sampler = None
        self.real = real
        self._noted = False
        self._checked = False  # the sample check (and its warning) once per backend, not once per batch

    # ------------------------------------------------------------------ protocol
    def derived(self) -> dict:
        return {"checkpoint_sha256": self.digest()}

    def cannot_draw(self, item: PlanItem) -> str | None:
        self.note_mismatches()
        return model_cell(self.info(), *self._names(item))[1]

    def generate(self, items: Sequence[PlanItem]) -> list[Generated]:
        self.note_mismatches()
        if not self._checked:
            self._checked = True
            self.check_samples()
        labels = [self._label(it) for it in items]
        seeds = [it.seed for it in items]
        chunks = [self.sampler().sample(labels[k:k + self.batch], seeds[k:k + self.batch], steps=self.steps,
                                        guidance=self.guidance, scheduler=self.scheduler)
                  for k in range(0, len(items), self.batch)]
        pixels = np.concatenate(chunks) if chunks else np.zeros((0, 1, 1, 1), np.uint8)
        described = self.describe()
        extra = {key: described[key] for key in self.sample_record}
        return [Generated(self._to_saved(p), dict(extra)) for p in pixels]

    # ------------------------------------------------------------------ model
    def info(self) -> dict:
        if self._info is None:
            self._info = check_sampling_steps(self.model, self.steps)
        return self._info

    def digest(self) -> str:
        """sha256 of the checkpoint file: which weights drew the images."""
        if self._digest is None:
            path = self.model / CHECKPOINT
            self._digest = file_sha256(path) if path.is_file() else "missing"
        return self._digest

    def mismatches(self) -> list[str]:
        """What differs between the model and the data it draws for: the size, the training images."""
        info, notes = self.info(), []
        fitted = info.get("image_shape")
        if self.image_shape is not None and fitted and tuple(fitted[:2]) != tuple(self.image_shape[:2]):
            notes.append(f"the ddpm model in {self.model} was fitted at {fitted[0]} x {fitted[1]} px; its images are "
                         f"resized to {self.image_shape[0]} x {self.image_shape[1]} px")
        if self.real is not None and info["pool"].get("name") == "train":
            counts = list(np.bincount(self.real.cells(), minlength=self.real.num_cells))
            if counts != list(info["pool"]["cell_counts"]) or list(self.real.class_names) != info["class_names"]:
                notes.append(f"the ddpm model in {self.model} was fitted on another training set "
                             f"({info['pool']['images']} images, per cell {info['pool']['cell_counts']}) than this "
                             f"dataset's ({len(self.real)} images, per cell {counts}); it is matched by class name")
        return notes

    def note_mismatches(self) -> None:
        if not self._noted:
            self._noted = True
            for note in self.mismatches():
                log.warning(note)

    def check_samples(self, again: bool = False) -> dict | None:
        """The sample check's record (run now if the model has none, or `again`); a failing one is
        logged as a WARNING every time. None without real images to train the classifier on."""
        record = None if again else read_check(self.model)
        if record is None and self.real is not None and len(self.real):
            sample = lambda labels, seeds: np.concatenate([  # noqa: E731
                self.sampler().sample(labels[k:k + self.batch], seeds[k:k + self.batch],
                                      steps=min(CHECK_STEPS, trained_timesteps(self.info()) or CHECK_STEPS),
                                      guidance=self.guidance, scheduler=self.scheduler)
                for k in range(0, len(labels), self.batch)])
            record = check_samples(sample, self.info(), self.real, self.model)
        text = warning_text(record, self.model) if record else None
        if text:
            log.warning(text)
        return record

    def sampler(self):
        if self._sampler is None:
            # imported here: torch and diffusers must not load when synaug registers its generators
            # (tests/test_ddpm.py pins it: `import synaug.generators` loads neither)
            from synaug.generators.ddpm_sample import DdpmSampler
            self._sampler = DdpmSampler(self.model, self.device)
        return self._sampler

    def _label(self, item: PlanItem) -> int:
        label, reason = model_cell(self.info(), *self._names(item))
        if reason:
            raise GenerationError(f"cannot draw {item.file_name}: {reason}")
        return label

    def _names(self, item: PlanItem) -> tuple[str, str | None]:
        """The item's class and group names, as the dataset names them (its label order) when given."""
        cls = self.class_names[item.label] if self.class_names else item.class_name
        if item.group is None:
            return cls, None
        return cls, (self.group_names[item.group] if self.group_names else item.group_name) or None

    def _to_saved(self, pixels: np.ndarray) -> Image.Image:
        image = Image.fromarray(pixels[:, :, 0], "L") if pixels.shape[2] == 1 else Image.fromarray(pixels, "RGB")
        if self.image_shape is None:
            return image
        H, W, C = self.image_shape
        if image.size != (W, H):
            image = image.resize((W, H), Image.BICUBIC)
        return image.convert("L" if C == 1 else "RGB")
