"""`diffusion`: text-to-image (and image-to-image) generation with Hugging Face diffusers.

Optional extra: `pip install 'synaug[diffusion]'` (diffusers, transformers, accelerate, safetensors).
Nothing here is imported by the core; `make_generator("diffusion")` loads this module on demand.

Reproducibility: one CPU `torch.Generator` per image, seeded with the plan's seed, so an image is the
same alone or in any batch (to ~1e-6, not bitwise: batched kernels sum in another order). Images the
safety checker flags are never kept as data: they are redrawn with a derived seed (recorded in
metadata as `final_seed`) up to `max_redraws` times, then dropped and reported.

`lora=DIR` (class distribution fitting, `synaug fit-lora`): each class is drawn with its own LoRA
adapter DIR/<class slug>/ loaded into the UNet, recorded per image in the `lora` metadata column. A
class without an adapter cannot be drawn (the runner stops, or skips it with --skip-undrawable).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from PIL import Image

from synaug.constraints import GUIDANCE, NONNEG_INT, POSITIVE_INT, PROBABILITY, SIDE, Options
from synaug.errors import GenerationError, require
from synaug.generators.base import Generated, Knob, check_option, register_generator
from synaug.generators.lora import activate_adapter, missing_adapter
from synaug.generators.recorded import RecordsConfig
from synaug.plans import PlanItem
from synaug.runtime import device_for
from synaug.seeds import hashed_seed

log = logging.getLogger(__name__)

DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}


def redraw_seed(seed: int, attempt: int) -> int:
    """The seed of the `attempt`-th redraw of a flagged image: stable and recorded."""
    return hashed_seed(seed, "redraw", attempt)


def is_oom(exc: BaseException) -> bool:
    import torch
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


@register_generator("diffusion")
class DiffusionGenerator(RecordsConfig):
    name = "diffusion"
    parallel_safe = False  # one pipeline per process: shard across processes / GPUs instead
    reads_prompt = True    # a text-to-image model: the prompt is its condition
    quality_knob = Knob("steps", 30, (3, 10, 50, 100, 300), "diffusion inference steps")
    # allow_download, dtype, device, max_redraws and compile are recorded but, as they always were, not described:
    # stored folders' fingerprints were made without them
    described = ("model", "scheduler", "steps", "guidance", "negative_prompt", "gen_size", "save_size",
                 "save_channels", "img2img", "strength", "safety_checker", "lora")
    left_out_when_unset = ("lora",)
    # what each option may be, said once (`generators.base.check_option`: checked where options enter,
    # before a folder is made, and here); the model, scheduler and LoRA folder are checked on loading
    option_constraints = {"steps": (POSITIVE_INT,), "guidance": (GUIDANCE,), "gen_size": (SIDE, None),
                          "dtype": (Options(("auto", *DTYPES)),), "max_redraws": (NONNEG_INT,),
                          "img2img": (Options(("intra", "inter")), None), "strength": (PROBABILITY,)}

    def __init__(self, *, model: str | None = None, allow_download: bool = False, steps: int = 30,
                 guidance: float = 7.5, negative_prompt: str = "", scheduler: str | None = None,
                 gen_size: int | None = None, dtype: str = "auto", device: str = "auto", safety_checker: bool = True,
                 max_redraws: int = 3, compile: bool = False, img2img: str | None = None, strength: float = 0.7,
                 lora: str | None = None, pipeline=None, image_shape: Sequence[int] = (512, 512, 3), real=None):
        for option, value in dict(steps=steps, guidance=guidance, gen_size=gen_size, dtype=dtype,
                                  max_redraws=max_redraws, img2img=img2img, strength=strength).items():
            check_option(self, option, value)
        if img2img and real is None:
            raise GenerationError("image-to-image translation is guided by the real training images, which this "
                                  "command does not have")
        self.record(model=model, allow_download=allow_download, steps=int(steps), guidance=float(guidance),
                    negative_prompt=negative_prompt, scheduler_name=scheduler, gen_size=gen_size,
                    # images are saved at the planned dataset's size and channels
                    save_size=int(image_shape[0]), save_channels=int(image_shape[2]),
                    dtype_name=dtype, device_name=device, safety_checker=safety_checker,
                    max_redraws=int(max_redraws), compile=compile, img2img=img2img, strength=float(strength),
                    lora=lora)
        self.guidance_images = real
        self._pipe, self._i2i = pipeline, None
        self._loaded_adapters = set()
        self.max_batch: int | None = None  # lowered after an out-of-memory error

    # ------------------------------------------------------------------ protocol
    def derived(self) -> dict:
        # a model or scheduler left unset is shown as such; strength acts only with img2img
        return {"model": str(self.model), "scheduler": self.scheduler_name or "default",
                "strength": self.strength if self.img2img else None, "lora": str(self.lora) if self.lora else None}

    def cannot_draw(self, item: PlanItem) -> str | None:
        if self.lora:
            return missing_adapter(self.lora, item.class_name)
        return None  # a text-to-image model draws any prompt; the safety checker may still drop images

    def generate(self, items: Sequence[PlanItem]) -> list[Generated]:
        if not self.lora:
            return self._generate(items)
        out: list[Generated | None] = [None] * len(items)
        for class_name in dict.fromkeys(it.class_name for it in items):  # one adapter switch per class
            where = [k for k, it in enumerate(items) if it.class_name == class_name]
            folder = activate_adapter(self.pipeline(), self.lora, class_name, self._loaded_adapters)
            for k, g in zip(where, self._generate([items[k] for k in where])):
                g.extra["lora"] = folder
                out[k] = g
        return out

    def _generate(self, items: Sequence[PlanItem]) -> list[Generated]:
        seeds = [it.seed for it in items]
        guides = [self._guidance_for(it) for it in items] if self.img2img else [None] * len(items)
        images, flagged = self._draw([it.prompt for it in items], seeds, [g[0] if g else None for g in guides])
        described, out = self.describe(), []
        for k, item in enumerate(items):
            image, final_seed, redraws = images[k], item.seed, 0
            while flagged[k] and redraws < self.max_redraws:
                redraws += 1
                final_seed = redraw_seed(item.seed, redraws)
                (image,), (flagged[k],) = self._draw([item.prompt], [final_seed], [guides[k][0] if guides[k] else None])
            extra = {"model": described["model"], "scheduler": self._scheduler_label(), "steps": described["steps"],
                     "guidance": described["guidance"], "final_seed": final_seed, "redraws": redraws}
            if guides[k]:
                extra.update(img2img=self.img2img, strength=self.strength, guidance_index=guides[k][1],
                             guidance_label=guides[k][2])
            if flagged[k]:
                out.append(Generated(None, {**extra, "dropped": f"flagged by the safety checker "
                                                                f"{redraws + 1} times"}))
            else:
                out.append(Generated(self._to_saved(image), extra))
        return out

    # ------------------------------------------------------------------ pipeline
    def _torch(self):
        return require("torch", "diffusion", "The diffusion generator")

    def pipeline(self):
        if self._pipe is None:
            self._pipe = self._load()
        return self._pipe

    def _device(self):
        self._torch()  # a clear error when torch is missing
        return device_for(self.device_name)  # auto: this rank's GPU under torchrun

    def _dtype(self, device):
        torch = self._torch()
        name = self.dtype_name
        if name == "auto":
            name = "fp16" if device.type == "cuda" else "fp32"
        return getattr(torch, DTYPES[name])

    def _load(self):
        if self.model is None:
            raise GenerationError("the diffusion generator needs --generator-model PATH (a local diffusers model folder, "
                                  "or a hub id together with --allow-download)")
        diffusers = require("diffusers", "diffusion", "The diffusion generator")
        device = self._device()
        kwargs = dict(dtype=self._dtype(device), local_files_only=not self.allow_download)
        if not self.safety_checker:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        try:
            pipe = diffusers.AutoPipelineForText2Image.from_pretrained(self.model, **kwargs)
        except (OSError, ValueError) as exc:
            hint = "" if self.allow_download else " (loading is local-only; pass --allow-download to use the hub)"
            raise GenerationError(f"cannot load diffusers model {self.model!r}: {exc}{hint}") from exc
        return self._prepare(pipe, device)

    def _prepare(self, pipe, device):
        diffusers = require("diffusers", "diffusion", "The diffusion generator")
        if self.scheduler_name:
            cls = getattr(diffusers, self.scheduler_name, None)
            if cls is None or not hasattr(cls, "from_config"):
                names = sorted(c.__name__ for c in getattr(pipe.scheduler, "compatibles", []))
                raise GenerationError(f"unknown scheduler {self.scheduler_name!r}; compatible: {names}")
            pipe.scheduler = cls.from_config(pipe.scheduler.config)
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        # PyTorch 2 attention (SDPA) is diffusers' default processor: no attention slicing, which is slower.
        if self.compile:
            pipe.unet = self._torch().compile(pipe.unet, mode="reduce-overhead", fullgraph=True)
        return pipe

    def _image_pipeline(self):
        if self._i2i is None:
            diffusers = require("diffusers", "diffusion", "Image-to-image generation")
            self._i2i = diffusers.AutoPipelineForImage2Image.from_pipe(self.pipeline())
            self._i2i.set_progress_bar_config(disable=True)
        return self._i2i

    def _scheduler_label(self) -> str:
        return type(self.pipeline().scheduler).__name__

    def _draw(self, prompts, seeds, init_images):
        """Images and safety flags for one batch; halves the batch on out-of-memory and goes on."""
        limit = self.max_batch or len(prompts)
        if len(prompts) > limit:
            a = self._draw(prompts[:limit], seeds[:limit], init_images[:limit])
            b = self._draw(prompts[limit:], seeds[limit:], init_images[limit:])
            return a[0] + b[0], a[1] + b[1]
        try:
            return self._call(prompts, seeds, init_images)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_oom(exc) or len(prompts) == 1:
                raise
        # Retried here, not inside `except`: while the exception lives, its traceback keeps the failed
        # call's frames, and with them every activation they allocated, so the retry would find the
        # memory still taken (and empty_cache could not give it back).
        torch = self._torch()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.max_batch = max(1, (len(prompts) + 1) // 2)
        log.warning("out of memory at batch %d: continuing with batch %d", len(prompts), self.max_batch)
        return self._draw(prompts, seeds, init_images)

    def _call(self, prompts, seeds, init_images):
        torch = self._torch()
        pipe = self.pipeline()
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        kwargs = dict(prompt=list(prompts), num_inference_steps=self.steps, guidance_scale=self.guidance,
                      generator=gens, output_type="pil")
        if self.negative_prompt:
            kwargs["negative_prompt"] = [self.negative_prompt] * len(prompts)
        if len(prompts) > 8 and hasattr(pipe, "vae"):
            pipe.vae.enable_slicing()  # decode big batches one image at a time: less peak memory
        if self.img2img:
            out = self._image_pipeline()(image=list(init_images), strength=self.strength, **kwargs)
        else:
            if self.gen_size:
                kwargs.update(height=self.gen_size, width=self.gen_size)
            out = pipe(**kwargs)
        flags = getattr(out, "nsfw_content_detected", None) or [False] * len(prompts)
        return list(out.images), [bool(f) for f in flags]

    # ------------------------------------------------------------------ images
    def _guidance_for(self, item: PlanItem):
        """(PIL image, index, label) of the real guidance image: same class (intra) or any (inter)."""
        ds = self.guidance_images
        rng = np.random.default_rng([item.seed, 11])
        pool = np.where(ds.labels == item.label)[0] if self.img2img == "intra" else np.arange(len(ds))
        if len(pool) == 0:
            raise GenerationError(f"no real image of class {item.class_name!r} to guide intra-class translation")
        idx = int(rng.choice(pool))
        arr = ds.images[idx]
        img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).convert("RGB")
        size = self.gen_size or 512
        return img.resize((size, size), Image.BICUBIC), idx, int(ds.labels[idx])

    def _to_saved(self, image: Image.Image) -> Image.Image:
        if self.save_size and image.size != (self.save_size, self.save_size):
            image = image.resize((self.save_size, self.save_size), Image.LANCZOS)
        return image.convert("L" if self.save_channels == 1 else "RGB")
