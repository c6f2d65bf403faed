"""The argparse definitions of every `synaug` subcommand. A flag means the same thing in every command
that has it: --model is a classifier architecture, --steps stage-1 training steps, --image-size the
side images are decoded at, --device where the command computes; a generator's weights and sampling
steps are --generator-model and --sampling-steps."""

from __future__ import annotations

import argparse
from dataclasses import fields

import synaug.cli.commands as C
from synaug.constraints import FEW, MANY
from synaug.devices import device_arg
from synaug.experiments.tasks import TASKS
from synaug.generators import GENERATORS
from synaug.training.checks import NORMALIZE, RESIZE
from synaug.training.config import TrainConfig
from synaug.training.methods import METHODS
from synaug.validate import (fraction_below_one, guidance_scale, image_side, imbalance_factor, nonneg_float,
                             nonneg_int, positive_float, positive_int, probability, worker_count, words)

DATASET_HELP = ("embedded: mnist-lt, fashion-lt, mnist-fair, fashion-spurious; yours: cifar100-lt:PATH, "
                "cifar10-lt:PATH, imagefolder:ROOT, csv:FILE, utkface:DIR, waterbirds:DIR, celeba:DIR, "
                "imagenet100-lt:ROOT (SDCLR list files; imagenet-lt:ROOT for ImageNet-LT)")
DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}  # no TrainConfig is built: --help stays fast


def renamed(parser, old: str, new: str) -> None:
    """An old flag that now has another name: a clear error pointing at the new one."""
    parser.add_argument(old, dest=f"renamed{old}{new}".replace("-", "_"), default=None, help=argparse.SUPPRESS)


def data_options(p, required: bool = False, from_run: bool = False) -> None:
    if from_run:
        p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on; a different "
                       "one is refused. " + DATASET_HELP)
        p.add_argument("--imbalance", type=imbalance_factor, default=None, help="default: the run's")
        p.add_argument("--many", type=nonneg_int, default=None, help="Many: more than this many training images "
                       "(default: the run's)")
        p.add_argument("--few", type=nonneg_int, default=None, help="Few: fewer than this many (default: the run's)")
        return
    p.add_argument("--dataset", required=required, help=("(required) " if required else "") + DATASET_HELP)
    p.add_argument("--imbalance", type=imbalance_factor, default=100, help="long-tail factor IF (LT datasets)")


def thresholds(p) -> None:
    p.add_argument("--many", type=nonneg_int, default=MANY, help="Many: more than this many training images")
    p.add_argument("--few", type=nonneg_int, default=FEW, help="Few: fewer than this many training images")


def plan_parser(sub) -> None:
    p = sub.add_parser("plan", help="count cells and write the generation plan (no GPU time spent)")
    data_options(p)
    p.set_defaults(dataset="mnist-lt")
    p.add_argument("--strategy", default="uniform",
                   help="uniform, auto, not majority, all, minority, not minority, U-<beta>, LT+<alpha>, a dict of "
                        "final counts '{\"3\": 400}', or from a `synaug audit` folder: audit-proportional:DIR "
                        "(fill x score), audit-threshold:DIR:T (no fill below score T)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="base seed hashed into every image's seed")
    p.add_argument("--template", default=None, help='prompt template, e.g. "a photo of {modifier} {class}"')
    p.add_argument("--modifiers", default=None, help="modifier bank YAML (default: the dataset's shipped bank)")
    p.add_argument("--generator", default="render", choices=sorted(GENERATORS), help="generator to check drawability against")
    p.add_argument("--generator-model", default=None, help="its model, where that decides what it can draw (ddpm: "
                   "a `synaug fit-generator` folder)")
    p.add_argument("--generator-option", action="append", default=[], metavar="KEY=VALUE", help="a generator option")
    p.add_argument("--alias", action="append", metavar="CLASS=WORDS",
                   help="what prompts and the renderer call a class, e.g. 'T-shirt_top=t-shirt' (repeatable; adds to "
                        "the bank's `aliases:`)")
    p.add_argument("--render-word", action="append", metavar="CLASS=WORD",
                   help="the word the offline renderer looks up for a class (an emoji name, see --suggest); the "
                        "prompt keeps the class name (repeatable; adds to the bank's `render:`)")
    p.add_argument("--suggest", metavar="WORDS", type=words, default=None,
                   help="list the emoji names the offline renderer can draw nearest to WORDS, and exit")
    p.add_argument("--group-column", default=None, help="csv datasets: the metadata column holding the group "
                   "(default 'group'); with groups, the plan is over (class, group) cells")
    p.add_argument("--no-groups", action="store_true", help="plan over classes even if the data has groups")
    p.add_argument("--image-size", type=image_side, default=None, help="side (px) generated images are saved at "
                   "(default: the dataset reader's; give your training side, e.g. 256)")
    p.add_argument("--out", default="plan.csv", help="the plan CSV (its settings go beside it as .json)")
    p.set_defaults(func=C.cmd_plan)


def generator_options(p) -> None:
    p.add_argument("--generator", default="render", choices=sorted(GENERATORS))
    p.add_argument("--generator-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a generator option (repeatable), e.g. degrade=0.5 for render")
    g = p.add_argument_group("generator options (each passed only when given; a backend refuses those it lacks)")
    g.add_argument("--generator-model", default=None, help="diffusion: a local diffusers folder (or a hub id with "
                   "--allow-download); ddpm: a `synaug fit-generator` folder")
    g.add_argument("--sampling-steps", type=positive_int, default=None, help="denoising steps per image")
    g.add_argument("--guidance", type=guidance_scale, default=None, help="classifier-free guidance scale")
    g.add_argument("--negative-prompt", default=None)
    g.add_argument("--scheduler", default=None, help="scheduler class name, e.g. DPMSolverMultistepScheduler")
    g.add_argument("--gen-size", type=image_side, default=None, help="height=width generated (default: model's)")
    g.add_argument("--dtype", default=None, choices=["auto", "fp16", "bf16", "fp32"])
    g.add_argument("--device", type=device_arg, default=None, help="where the generator runs (auto: this rank's GPU, "
                   "else CPU)")
    g.add_argument("--allow-download", action="store_true", default=None, help="let diffusers fetch from the hub")
    g.add_argument("--no-safety-checker", dest="safety_checker", action="store_false", default=None)
    g.add_argument("--max-redraws", type=nonneg_int, default=None)
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the denoiser")
    g.add_argument("--img2img", choices=["intra", "inter"], default=None, help="image-to-image translation "
                   "baseline, guided by the plan's real training images of the same class or any class")
    g.add_argument("--strength", type=probability, default=None)
    g.add_argument("--lora", default=None, help="folder of per-class LoRA adapters from `synaug fit-lora`")
    renamed(p, "--model", "--generator-model")
    renamed(p, "--steps", "--sampling-steps")


def generate_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate the images of a plan (resumable)")
    p.add_argument("--plan", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--shard", default=None, help="i/n: this process does every n-th item from i")
    p.add_argument("--workers", type=worker_count, default=1, help="processes for CPU generators")
    p.add_argument("--skip-undrawable", action="store_true",
                   help="generate the rest when the generator cannot draw some cells (reported)")
    generator_options(p)
    p.set_defaults(func=C.cmd_generate)


def cache_parser(sub) -> None:
    p = sub.add_parser("cache", help="decode an on-disk dataset once into the memory-mapped training cache")
    data_options(p, required=True)
    p.add_argument("--synthetic", default=None, help="also cache this `synaug generate` folder")
    p.add_argument("--image-size", type=image_side, required=True, help="side (px) images are decoded at")
    resize_option(p)
    p.add_argument("--cache-dir", default=None, help="cache folder (default $SYNAUG_CACHE_DIR, else ~/.cache/synaug, "
                   "where every command looks)")
    p.add_argument("--workers", type=worker_count, default=2, help="decoding processes")
    renamed(p, "--size", "--image-size")
    p.set_defaults(func=C.cmd_cache)


def tuning_options(g) -> None:
    """The training settings users tune most, as flags (every key: docs/training-options.md)."""
    d = DEFAULTS
    g.add_argument("--lr", type=positive_float, default=None, help=f"stage-1 peak learning rate (default {d['lr']})")
    g.add_argument("--weight-decay", type=nonneg_float, default=None, help=f"(default {d['weight_decay']})")
    g.add_argument("--warmup", type=fraction_below_one, default=None, help=f"linear warm-up as a fraction of --steps, "
                   f"0 <= W < 1 (default {d['warmup']})")
    g.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="horizontal flips (default: "
                   "on with random-resized-crop, off with pad-crop and none: digits must not be mirrored)")
    g.add_argument("--normalize", choices=NORMALIZE, default=None, help="input statistics: fit (the real training "
                   "images'), imagenet, or auto (imagenet with --pretrained, else fit; the default)")
    g.add_argument("--stage2-lr", type=positive_float, default=None, help=f"(default {d['stage2_lr']})")
    g.add_argument("--stage2-batch-size", type=positive_int, default=None, help="images per last-layer step "
                   f"(default {d['stage2_batch_size']}; --batch-size is stage 1's)")


def train_options(p) -> None:
    d = DEFAULTS
    g = p.add_argument_group("training (override --config; every key: docs/training-options.md)")
    g.add_argument("--model", default=None, help=f"classifier architecture (default {d['model']})")
    g.add_argument("--steps", type=positive_int, default=None, help=f"stage-1 steps (default {d['steps']})")
    g.add_argument("--batch-size", type=positive_int, default=None, help=f"(default {d['batch_size']})")
    g.add_argument("--stage2-steps", type=nonneg_int, default=None, help=f"(default {d['stage2_steps']})")
    tuning_options(g)
    g.add_argument("--device", type=device_arg, default=None, help="auto, cpu, cuda, cuda:N (default auto; under torchrun each "
                   "process takes its LOCAL_RANK GPU)")
    g.add_argument("--pretrained", default=None, help="local backbone checkpoint (.pth or .safetensors, "
                   "torchvision/timm key names); the classifier is sized for this task")
    g.add_argument("--image-size", type=image_side, default=None, help="side of the decoded image cache for "
                   "on-disk datasets (default: the reader's size)")
    g.add_argument("--crop-size", type=image_side, default=None, help="training crop / centre-crop evaluation side")
    g.add_argument("--augment", default=None, help="pad-crop, random-resized-crop or none")
    resize_option(g)
    g.add_argument("--cache-dir", default=None, help="image cache folder (default $SYNAUG_CACHE_DIR, else "
                   "~/.cache/synaug: every command finds the images decoded once)")


def resize_option(g) -> None:
    g.add_argument("--resize", choices=RESIZE, default=None, help="how on-disk images become square in the cache: "
                   "shorter-side (torchvision Resize + centre crop, ImageNet's; the default) or squash (DFR's)")


def train_parser(sub) -> None:
    p = sub.add_parser("train", help="train one method (stage 1 + stage 2) and evaluate it")
    data_options(p, required=True)
    thresholds(p)
    p.add_argument("--synthetic", default=None, help="folder from `synaug generate` (metadata.csv)")
    p.add_argument("--method", default="synaug", help="one of: " + ", ".join(sorted(METHODS))
                   + "; or parts joined by '+' (A+B: A's recipe with B's algorithm on top, e.g. synaug+wb)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", required=True, help="run directory: new or empty (it records the job in job.json)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoints (the same "
                     "job, else refused)")
    how.add_argument("--overwrite", action="store_true", help="delete the run already in --out and start afresh")
    p.add_argument("--config", default=None, help="YAML with training options (the `train:` block or flat)")
    train_options(p)
    p.set_defaults(func=C.cmd_train)


def evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a run directory's final checkpoint on the test set")
    data_options(p, from_run=True)
    p.add_argument("--run", required=True, help="run directory written by `synaug train`")
    p.add_argument("--device", type=device_arg, default="auto")
    p.set_defaults(func=C.cmd_evaluate)


def no_audit(p) -> None:
    p.add_argument("--no-audit", action="store_true", help="skip the audit of the synthetic images before training "
                   "(a fidelity check per cell, with a verdict; it changes no method's numbers)")


def run_parser(sub) -> None:
    p = sub.add_parser("run", help="plan -> generate -> audit -> train -> fine-tune -> evaluate from one YAML config")
    p.add_argument("--config", required=True)
    p.add_argument("--out", default=None)
    p.add_argument("--seeds", default=None, help="comma-separated seeds, overrides the config")
    no_audit(p)
    p.set_defaults(func=C.cmd_run)


def demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="SYNAuG vs baselines on embedded data: table + report.html")
    p.add_argument("--task", default="longtail", choices=sorted(TASKS),
                   help=", ".join(f"{t.name} ({t.dataset})" for t in TASKS.values()))
    p.add_argument("--dataset", default=None, help="default: the task's embedded dataset "
                   "(mnist-lt / fashion-lt, mnist-fair, fashion-spurious)")
    p.add_argument("--imbalance", type=imbalance_factor, default=100)
    p.add_argument("--seeds", default="0", help="comma-separated training seeds, e.g. 0,1,2")
    p.add_argument("--methods", default=None, help="comma-separated methods (default: the task's)")
    p.add_argument("--steps", type=positive_int, default=None, help="stage-1 steps (default 600)")
    p.add_argument("--generator", default="render", choices=["render", "ddpm"], help="render: the offline renderer "
                   "(fonts and emoji); ddpm: the pretrained stand-in, a diffusion model fitted once on the dataset's "
                   "pretrain split (real images no split draws; minutes on 2 CPU cores, docs/ddpm.md) and reused")
    tuning_options(p.add_argument_group("training (every key: docs/training-options.md)"))
    p.add_argument("--out", default=None, help="default runs/demo-<task>-<dataset>")
    no_audit(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=C.cmd_demo)


def experiment_parser(sub) -> None:
    p = sub.add_parser("experiment", help="reproduce a table or figure of the paper: --list, or NAME "
                       "(results.json, PNGs, report.html)")
    p.add_argument("name", nargs="?", help="experiment name (see --list), or `all` (every table and figure)")
    p.add_argument("--list", action="store_true", help="print every experiment: name, default dataset, paper reference")
    p.add_argument("--dataset", default=None, help="default: the experiment's embedded dataset. " + DATASET_HELP)
    p.add_argument("--imbalance", type=imbalance_factor, default=None, help="long-tail factor IF (default 100)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2, or the config's), or auto[:CAP]: "
                   "a pilot of 3 seeds, then as many as the power rule asks for to detect each paper claim's "
                   "margin (at most CAP, default 10)")
    p.add_argument("--steps", type=positive_int, default=None, help="stage-1 steps (default: the experiment's)")
    tuning_options(p.add_argument_group("training (every key: docs/training-options.md)"))
    p.add_argument("--config", default=None, help="YAML like `synaug run`'s (dataset, imbalance, seeds, plan, "
                   "generate, train, thresholds): your data and generator; the experiment's rows stay its own")
    p.add_argument("--out", default=None, help="default runs/experiments/NAME (generated images shared in "
                   "runs/experiments/shared; with --out: OUT/shared, or --shared); a re-run reuses finished runs")
    p.add_argument("--shared", default=None, help="folder of generated images shared between experiments")
    store_options(p)
    p.add_argument("--collect-only", action="store_true", help="tables from the runs already in the store: train "
                   "nothing (a row none of whose runs is stored is listed as not run)")
    p.add_argument("--dry-run", action="store_true", help="print the distinct jobs (after de-duplication across the "
                   "experiments named), how many the run store holds and the estimated time of the rest; train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=C.cmd_experiment)


def store_options(p) -> None:
    p.add_argument("--store", default=None, help="the run store (one folder per job, named by the hash of its "
                   "settings; a job any command stored is not trained again). Default runs/store, or OUT/store")
    p.add_argument("--launcher", default="local", choices=("local", "multi-gpu", "slurm", "submitit-local"),
                   help="where jobs run: local (--workers processes), multi-gpu (one job per visible GPU), slurm "
                   "(a submitit job array; preempted jobs requeue and resume), submitit-local")
    p.add_argument("--workers", type=worker_count, default=1, help="local launcher: jobs trained at once in worker "
                   "processes (1: in this process)")
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE", help="a submitit parameter for "
                   "--launcher slurm (repeatable), under submitit's own names: e.g. slurm_partition=gpu, "
                   "timeout_min=120, gpus_per_node=1")
