"""Class distribution fitting (the paper's Table 5 baseline, DreamBooth-style): one LoRA adapter of the
Stable Diffusion UNet per class, fitted on that class's real images, then loaded while that class is drawn.

Recipe of diffusers' train_text_to_image_lora / train_dreambooth_lora examples: peft LoRA (rank r,
alpha = r, gaussian init: the adapter starts as the identity) on the UNet's attention projections
to_q / to_k / to_v / to_out.0; VAE, text encoder and base UNet frozen; the noise-prediction MSE
(or v-prediction, as the scheduler says) at uniform DDPM timesteps; AdamW; the prompt is the class
prompt "a photo of a {class}". The VAE's latent distribution and the prompt's encoding are computed
once (the frozen parts give the same every step), so a step is one UNet forward + backward.

Layout: OUT/<class slug>/pytorch_lora_weights.safetensors (diffusers' LoRA format, loadable with
`pipe.load_lora_weights`) + lora.json (base model, class, prompt, rank, steps, lr, seed, real image
count, loss before/after on fixed noise). lora.json is written last: its presence marks a finished adapter.
Seeded: one CPU generator drives image choice, noise and timesteps; the class's seed is hashed from
(seed, class name), so an adapter does not depend on which other classes were fitted with it.
torch, diffusers and peft are imported only inside the functions (optional `diffusion` extra).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from synaug.errors import ConfigError, GenerationError, require
from synaug.fileio import write_json
from synaug.prompts import PromptBank, slug
from synaug.seeds import hashed_seed

TARGET_MODULES = ["to_k", "to_q", "to_v", "to_out.0"]
WEIGHTS = "pytorch_lora_weights.safetensors"
INFO = "lora.json"
EVAL_DRAWS = 4  # fixed (noise, timestep) draws per image for the before/after loss


@dataclass
class LoraSettings:
    rank: int = 4
    steps: int = 200
    lr: float = 1e-4
    batch_size: int = 1
    resolution: int | None = None  # default: the UNet's sample size x the VAE's scale factor
    seed: int = 0


def class_prompt(class_name: str) -> str:
    return PromptBank().prompt(class_name, "a")  # "a photo of a cat", "a photo of an ankle boot"


def adapter_dir(root, class_name: str) -> Path:
    return Path(root) / slug(class_name)


def adapter_name(class_name: str) -> str:
    """A peft adapter name (a module key: no dots) that is distinct per class."""
    return "c" + hashlib.blake2b(class_name.encode(), digest_size=6).hexdigest()


def read_adapter(root, class_name: str) -> dict | None:
    """lora.json of the class's finished adapter under `root`, or None."""
    folder = adapter_dir(root, class_name)
    if not (folder / INFO).is_file() or not (folder / WEIGHTS).is_file():
        return None
    info = json.loads((folder / INFO).read_text())
    return info if info.get("class_name") == class_name else None  # another class of the same slug


def load_base_pipeline(model: str, device):
    """The base SD pipeline in fp32 (training keeps full precision), local files only."""
    diffusers = require("diffusers", "diffusion", "LoRA fitting")
    try:
        pipe = diffusers.AutoPipelineForText2Image.from_pretrained(
            model, local_files_only=True, safety_checker=None, requires_safety_checker=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load diffusers model {model!r} (local folders only): {exc}") from exc
    if not all(hasattr(pipe, a) for a in ("unet", "vae", "text_encoder", "tokenizer")) or hasattr(pipe, "text_encoder_2"):
        raise ConfigError(f"{model}: LoRA fitting supports Stable Diffusion 1.x / 2.x pipelines "
                          f"(one text encoder), not {type(pipe).__name__}")
    pipe = pipe.to(device)
    for part in (pipe.unet, pipe.vae, pipe.text_encoder):
        part.requires_grad_(False)
    return pipe


def class_pixels(images, resolution: int):
    """Real images (N, H, W, C uint8) -> (N, 3, R, R) in [-1, 1]: shorter side to R, centre crop."""
    torch = require("torch", "diffusion", "LoRA fitting")
    # imported here, as torch is: the diffusion backend imports this module at CLI start-up
    from torchvision.transforms.v2 import functional as TF

    x = torch.as_tensor(np.stack([np.asarray(im) for im in images])).permute(0, 3, 1, 2)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = TF.center_crop(TF.resize(x, resolution, antialias=True), [resolution, resolution])
    return x.float() / 127.5 - 1.0


def encode_latents(pipe, images, resolution: int, batch: int = 16):
    """(mean, std) of the VAE's latent distribution of every image, scaled as the UNet sees latents
    (pixels made a batch at a time: a head class's images at 512 px would not fit in memory at once)."""
    torch = require("torch", "diffusion", "LoRA fitting")
    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            pixels = class_pixels(images[i:i + batch], resolution)
            dist = pipe.vae.encode(pixels.to(pipe.device, pipe.vae.dtype)).latent_dist
            means.append(dist.mean.float())
            stds.append(dist.std.float())
    scale = pipe.vae.config.scaling_factor
    return torch.cat(means) * scale, torch.cat(stds) * scale


def encode_prompt(pipe, prompt: str):
    torch = require("torch", "diffusion", "LoRA fitting")
    tok = pipe.tokenizer([prompt], padding="max_length", max_length=pipe.tokenizer.model_max_length,
                         truncation=True, return_tensors="pt")
    with torch.no_grad():
        return pipe.text_encoder(tok.input_ids.to(pipe.device))[0].float()


def noise_loss(pipe, scheduler, mean, std, text, gen):
    """The training objective on one batch: latents drawn from the VAE's distribution, noised at
    uniform timesteps; MSE between the UNet's prediction and the noise (or velocity)."""
    torch = require("torch", "diffusion", "LoRA fitting")
    dev = mean.device
    latents = mean + std * torch.randn(mean.shape, generator=gen).to(dev)
    noise = torch.randn(latents.shape, generator=gen).to(dev)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(latents),), generator=gen).to(dev)
    noisy = scheduler.add_noise(latents, noise, t)
    target = noise if scheduler.config.prediction_type == "epsilon" else scheduler.get_velocity(latents, noise, t)
    pred = pipe.unet(noisy, t, text.expand(len(latents), -1, -1)).sample
    return torch.nn.functional.mse_loss(pred.float(), target.float())


def fixed_loss(pipe, scheduler, mean, std, text, seed: int) -> float:
    """The objective on fixed draws (same noise before and after training): did the fit help?"""
    torch = require("torch", "diffusion", "LoRA fitting")
    gen = torch.Generator("cpu").manual_seed(hashed_seed(seed, "eval"))
    with torch.no_grad():
        losses = [noise_loss(pipe, scheduler, mean, std, text, gen).item() for _ in range(EVAL_DRAWS)]
    return float(np.mean(losses))


def train_adapter(pipe, mean, std, text, settings: LoraSettings, name: str, seed: int) -> dict:
    """Add adapter `name` to the UNet and fit it; returns the losses (fixed draws, before / after)."""
    torch = require("torch", "diffusion", "LoRA fitting")
    peft = require("peft", "diffusion", "LoRA fitting")
    diffusers = require("diffusers", "diffusion", "LoRA fitting")
    scheduler = diffusers.DDPMScheduler.from_config(pipe.scheduler.config)
    torch.manual_seed(seed)  # the adapter's gaussian init
    pipe.unet.add_adapter(peft.LoraConfig(r=settings.rank, lora_alpha=settings.rank, init_lora_weights="gaussian",
                                          target_modules=TARGET_MODULES), adapter_name=name)
    pipe.unet.set_adapter(name)
    params = [p for p in pipe.unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr)
    before = fixed_loss(pipe, scheduler, mean, std, text, seed)
    gen, rng = torch.Generator("cpu").manual_seed(seed), np.random.default_rng(seed)
    pipe.unet.train()
    for _ in range(settings.steps):
        idx = rng.choice(len(mean), size=settings.batch_size, replace=len(mean) < settings.batch_size)
        loss = noise_loss(pipe, scheduler, mean[idx], std[idx], text, gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    pipe.unet.eval()
    return {"loss_before": before, "loss_after": fixed_loss(pipe, scheduler, mean, std, text, seed),
            "last_train_loss": float(loss.item()) if settings.steps else None}


def save_adapter(pipe, name: str, folder: Path) -> None:
    peft_utils = require("peft.utils", "diffusion", "LoRA fitting")
    diffusers = require("diffusers", "diffusion", "LoRA fitting")
    state = peft_utils.get_peft_model_state_dict(pipe.unet, adapter_name=name)
    layers = diffusers.utils.convert_state_dict_to_diffusers(state)
    type(pipe).save_lora_weights(save_directory=str(folder), unet_lora_layers=layers, weight_name=WEIGHTS,
                                 safe_serialization=True)


def fit_class_lora(pipe, images, class_name: str, out_root, settings: LoraSettings, base_model: str) -> dict:
    """Fit, save and describe one class's adapter (removed from the UNet afterwards)."""
    if len(images) == 0:
        raise ConfigError(f"class {class_name!r} has no real image to fit a LoRA adapter on")
    resolution = settings.resolution or pipe.unet.config.sample_size * pipe.vae_scale_factor
    prompt = class_prompt(class_name)
    seed = hashed_seed(settings.seed, "lora", class_name)
    mean, std = encode_latents(pipe, images, resolution)
    name = adapter_name(class_name)
    losses = train_adapter(pipe, mean, std, encode_prompt(pipe, prompt), settings, name, seed)
    folder = adapter_dir(out_root, class_name)
    folder.mkdir(parents=True, exist_ok=True)
    save_adapter(pipe, name, folder)
    pipe.unet.delete_adapters(name)
    info = {"class_name": class_name, "prompt": prompt, "base_model": str(base_model), **asdict(settings),
            "resolution": resolution, "class_seed": seed, "real_images": len(images),
            "target_modules": TARGET_MODULES, "lora_alpha": settings.rank, **losses}
    write_json(folder / INFO, info)  # last: marks the adapter finished
    return info


def same_fit(info: dict, settings: LoraSettings, base_model: str) -> bool:
    keys = ("rank", "steps", "lr", "batch_size", "seed")
    return info.get("base_model") == str(base_model) and all(info.get(k) == getattr(settings, k) for k in keys) \
        and (settings.resolution is None or info.get("resolution") == settings.resolution)


def fit_lora(splits_train, model: str, out, *, classes=None, settings: LoraSettings | None = None,
             device: str = "auto", on_class=None) -> list[dict]:
    """Fit one adapter per class of `splits_train` (an ImageSet) or of `classes` (names); a class
    already fitted under `out` with the same settings is kept (re-runs resume)."""
    torch = require("torch", "diffusion", "LoRA fitting")
    require("peft", "diffusion", "LoRA fitting")  # before any model is loaded
    settings = settings or LoraSettings()
    names = list(splits_train.class_names)
    wanted = names if not classes else list(classes)
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise ConfigError(f"unknown class(es) {unknown}; the dataset's classes: {names}")
    clash = [c for c in wanted if sum(slug(n) == slug(c) for n in names) > 1]
    if clash:
        raise ConfigError(f"class(es) {clash} share an adapter folder name with another class; rename the classes")
    check_adapter_root(out, names)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
    pipe, infos = None, []
    for class_name in wanted:
        done = read_adapter(out, class_name)
        if done is not None and not same_fit(done, settings, model):
            raise ConfigError(f"{adapter_dir(out, class_name)} holds an adapter fitted with other settings; "
                              "choose another --out or remove it")
        if done is None:
            pipe = pipe or load_base_pipeline(model, device)
            idx = np.flatnonzero(splits_train.labels == names.index(class_name))
            done = fit_class_lora(pipe, [splits_train.images[int(i)] for i in idx], class_name, out, settings, model)
        infos.append(done)
        if on_class:
            on_class(done)
    return infos


def check_adapter_root(root, class_names) -> None:
    """Refuse an output folder that holds anything but adapters of these classes (a folder per class
    slug with only an adapter's files in it): the fit writes there, and must overwrite nothing else."""
    root = Path(root)
    if not root.is_dir():
        return
    slugs = {adapter_dir(root, name).name for name in class_names}
    foreign = sorted(p.name for p in root.iterdir() if p.name not in slugs or not p.is_dir()
                     or any(q.name not in (WEIGHTS, INFO) for q in p.iterdir()))
    if foreign:
        raise ConfigError(f"--out {root} holds {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}, which "
                          "are not LoRA adapters of this dataset's classes; fit into a new or empty folder, or one "
                          "fit-lora wrote")


def missing_adapter(root, class_name: str) -> str | None:
    """Why the diffusion generator cannot draw this class with adapters from `root`, or None."""
    if read_adapter(root, class_name) is None:
        return (f"no LoRA adapter for class {class_name!r} in {root} (fit it: synaug fit-lora ... --out {root} "
                f"--classes {class_name!r})")
    return None


def activate_adapter(pipe, root, class_name: str, loaded: set) -> str:
    """Load (once) and switch to the class's adapter; returns its folder for the metadata."""
    folder = adapter_dir(root, class_name)
    if read_adapter(root, class_name) is None:
        raise GenerationError(missing_adapter(root, class_name))
    name = adapter_name(class_name)
    if name not in loaded:
        with warnings.catch_warnings():  # peft warns that a model holds several adapters: it is meant to
            warnings.filterwarnings("ignore", message=".*multiple adapters.*")
            # into the UNet only: the adapters have no text-encoder part
            pipe.unet.load_lora_adapter(str(folder), weight_name=WEIGHTS, adapter_name=name, prefix="unet")
        loaded.add(name)
    pipe.unet.set_adapters([name])
    return str(folder)
