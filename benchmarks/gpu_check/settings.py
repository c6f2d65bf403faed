"""Everything gpu_check measures, in one readable block per mode (airbench style), and the facts the
projection multiplies the measured rates by, each with its source. No result lives here: every number
the check prints is measured in its own run."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def generation_runs(tiny: bool, cuda: bool) -> list[dict]:
    """`synaug generate` runs, in order. `batches`: runner batches; the first is the warm-up (loading,
    kernel selection, compilation) and is left out of images/s. Without CUDA (the tiny mode's CPU run)
    every run is fp32: PyTorch has no fast half-precision kernels on a CPU."""
    size, b = (64, 2) if tiny else (512, 32)  # generate at the model's 512 px (SD-Turbo's native side)
    half = "fp16" if cuda else "fp32"
    runs = [
        dict(arch="sd-turbo", steps=1, guidance=0.0, dtype=half, batch=b, batches=4),
        dict(arch="sd-turbo", steps=4, guidance=0.0, dtype=half, batch=b, batches=4),
        # SD 1.5 as the README's GPU recipe runs it: DPM-Solver++ at 25 steps, classifier-free guidance 7.5
        dict(arch="sd15", steps=25, guidance=7.5, dtype=half, batch=max(2, b // 2), batches=3,
             scheduler="DPMSolverMultistepScheduler"),
        dict(arch="sdxl-turbo", steps=4, guidance=0.0, dtype=half, batch=max(2, b // 2), batches=3),
    ]
    if cuda:  # bf16 beside fp16 for the headline setting
        runs.insert(2, dict(runs[1], dtype="bf16"))
    return [named(dict(r, gen_size=size)) for r in runs]


def named(run: dict) -> dict:
    """'sd-turbo 4 steps fp16', 'sd15 25 steps cfg 7.5 fp16', ... (+ ' compiled')."""
    cfg = f" cfg {run['guidance']:g}" if run["guidance"] > 1 else ""
    step = "step" if run["steps"] == 1 else "steps"
    run["name"] = f"{run['arch']} {run['steps']} {step}{cfg} {run['dtype']}" + (" compiled" if run.get("compile") else "")
    return run


def oom_run(tiny: bool, cuda: bool) -> dict:
    """SDXL-Turbo asked for 4x the batch that fits under a memory cap set to the peak the normal run
    needed: diffusion.py's out-of-memory halving must bring it back down (64 -> 32 -> 16)."""
    run = next(r for r in generation_runs(tiny, cuda) if r["arch"] == "sdxl-turbo")
    return dict(run, name="sdxl-turbo oom halving", batch=4 * run["batch"], batches=1, cap_from=run["name"])


def compiled_run(tiny: bool, cuda: bool) -> dict:
    """SD-Turbo with `--compile` (torch.compile of the UNet, mode reduce-overhead): run last, only
    when the time budget has room for the compilation."""
    run = next(r for r in generation_runs(tiny, cuda) if r["arch"] == "sd-turbo" and r["steps"] == 4)
    return named(dict(run, compile=True, batches=5))


def training(tiny: bool) -> dict:
    if tiny:
        # a CPU stand-in for ResNet-50 (resnet18): the same code path at a fraction of the time
        return dict(cifar=dict(real=24, synthetic=40, classes=10, batches=[16, 32], warm_steps=1, ceiling_steps=2),
                    large=dict(model="resnet18", real=16, synthetic=16, side=40, crop=32, classes=4, batch=4,
                               small_batch=2, steps=3, warm_steps=1, profile_steps=2))
    return dict(
        # CIFAR100-LT IF 100 (10,847 real, REFERENCE.md) uniformized to 500 per class = 50,000 images
        cifar=dict(real=10_847, synthetic=39_153, classes=100, batches=[128, 512], warm_steps=20, ceiling_steps=100),
        # 256 px cache, 224 px crops (configs/waterbirds-resnet50.yaml, imagenet100-lt-resnet50.yaml);
        # a real and a synthetic cache concatenated, as SYNAuG trains (two memory maps)
        large=dict(model="resnet50", real=1_500, synthetic=1_500, side=256, crop=224, classes=100, batch=256, small_batch=32,
                   steps=60, warm_steps=10, profile_steps=6))


def _train_config(name: str) -> dict:
    return yaml.safe_load((REPO / "configs" / name).read_text())["train"]


def projection_rows() -> list[dict]:
    """The paper-scale jobs the measured rates are projected onto. Sizes from REFERENCE.md and the
    repo's configs (read from the YAML files where the config states them)."""
    cifar = _train_config("cifar100-lt.yaml")
    inet = _train_config("imagenet100-lt-resnet50.yaml")
    wb = _train_config("waterbirds-resnet50.yaml")
    return [
        dict(row="Table 2 SYNAuG (CIFAR100-LT IF100)", synthetic=39_153, model="resnet32",
             # 200 epochs over 10,847 real + 39,153 synthetic images, batch 128 (the field's schedule)
             train_images=200 * 50_000, batch=128,
             stage2_images=cifar["stage2_steps"] * cifar["batch_size"],
             assumptions="200 epochs x 50,000 images at batch 128; stage 2 = cifar100-lt.yaml's "
                         f"{cifar['stage2_steps']} steps x {cifar['batch_size']} at the full model's rate (an upper bound)"),
        dict(row="Waterbirds SYNAuG (DFR recipe)", synthetic=13_992 - 4_795, model="resnet50",
             # DFR: 100 epochs, batch 32; the uniformized set: 4 groups of 3,498 = 13,992 images
             train_images=100 * 13_992, batch=wb["batch_size"], stage2_images=wb["stage2_steps"] * wb["stage2_batch_size"],
             assumptions=f"100 epochs x 13,992 images at DFR's batch {wb['batch_size']} (ImageNet-pretrained "
                         "ResNet-50, 224 px crops); the DFR logistic regression is CPU work, not counted"),
        dict(row="ImageNet100-LT fill to the largest class", synthetic=100 * 1_280 - 12_205, model="resnet50",
             train_images=inet["steps"] * inet["batch_size"], batch=inet["batch_size"],
             stage2_images=inet["stage2_steps"] * inet["stage2_batch_size"],
             assumptions=f"12,205 real images (SDCLR split), every class filled to 1,280; training as "
                         f"imagenet100-lt-resnet50.yaml: {inet['steps']} steps x batch {inet['batch_size']} "
                         f"(= {math.ceil(12_205 / inet['batch_size'])} steps/epoch x 90 epochs x 2 for Mixup)"),
        dict(row="ImageNet100-LT U-500 (the config's plan)", synthetic=38_765, model="resnet50",
             train_images=inet["steps"] * inet["batch_size"], batch=inet["batch_size"],
             stage2_images=inet["stage2_steps"] * inet["stage2_batch_size"],
             assumptions="the paper's U-500 (38,765 synthetic images, imagenet100-lt-resnet50.yaml); same training"),
    ]


TARGETS = {  # issue 21: what the numbers are reported against
    "train_fraction_of_ceiling": 0.90,
    "sd_turbo_512_4_steps_images_per_s": 10.0,
    "table2_synaug_gpu_hours": 1.5,
}
