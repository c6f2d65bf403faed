"""The argparse definitions of the commands around synthetic data: audit, filter, fit-lora, fit-generator."""

from __future__ import annotations

import synaug.cli.commands as C
from synaug.cli.parsers import DATASET_HELP, data_options, renamed, resize_option
from synaug.devices import device_arg
from synaug.engine.specs import FIT_POOLS
from synaug.validate import (finite_float, image_side, imbalance_factor, nonneg_float, nonneg_int, positive_float,
                             positive_int, probability)


def export_parser(sub) -> None:
    p = sub.add_parser("export", help="a run's final model as a plain torchvision / timm state dict + preprocess.json")
    p.add_argument("run", help="run directory written by `synaug train` (or runs/METHOD/seedS of `synaug run`)")
    p.add_argument("--out", default=None, help="folder for model.pth and preprocess.json (default RUN/export)")
    p.set_defaults(func=C.cmd_export)


def audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="per cell: will the synthetic images help? (validation carved from training)")
    data_options(p, required=True)
    p.add_argument("--synthetic", required=True, help="folder from `synaug generate` (metadata.csv)")
    p.add_argument("--out", required=True, help="new or empty folder: audit.json, audit.csv, images.csv, audit.html")
    p.add_argument("--seed", type=nonneg_int, default=0, help="validation split, feature network and probes")
    p.add_argument("--val-fraction", type=finite_float, default=0.2, help="share of each real training cell held out")
    p.add_argument("--k", type=positive_int, default=3, help="k of the k-NN manifolds (precision / recall)")
    p.add_argument("--feature-steps", type=positive_int, default=150, help="training steps of the feature network")
    p.add_argument("--model", default="audit-cnn", help="feature network: audit-cnn (half-width small-cnn), any "
                   "synaug model, or the --pretrained backbone's model")
    p.add_argument("--pretrained", default=None, help="features from this local backbone checkpoint instead of "
                   "training a network (.pth / .safetensors, torchvision/timm keys; pass its --model)")
    p.add_argument("--image-size", type=image_side, default=None, help="decode side for on-disk datasets")
    resize_option(p)
    p.add_argument("--examples", type=positive_int, default=6, help="images per cell in the report")
    p.add_argument("--device", type=device_arg, default="auto")
    p.add_argument("--no-groups", action="store_true", help="audit classes even if the data has groups")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    renamed(p, "--steps", "--feature-steps")
    p.set_defaults(func=C.cmd_audit)


def filter_parser(sub) -> None:
    p = sub.add_parser("filter", help="drop synthetic images an audit scores as mislabelled or off the real manifold, "
                       "or a CLIP model scores as unlike their text (recorded in DIR/.synaug/dropped.csv; files kept)")
    p.add_argument("--synthetic", required=True, help="folder from `synaug generate` (the one audited)")
    by = p.add_mutually_exclusive_group(required=True)
    by.add_argument("--audit", help="folder written by `synaug audit` on it")
    by.add_argument("--clip", help="local CLIP model folder (transformers CLIPModel + processor, save_pretrained)")
    p.add_argument("--keep-mislabelled", action="store_true",
                   help="do not drop images a real-data classifier (--audit) or CLIP zero-shot (--clip) assigns to "
                        "another class")
    p.add_argument("--min-own-prob", type=probability, default=None,
                   help="--audit: also drop images whose own-cell probability is below this")
    p.add_argument("--max-ratio", type=finite_float, default=None, help="--audit: drop images farther from the real "
                   "manifold than this many times the nearest real image's k-NN radius (default 2; 0: no check)")
    p.add_argument("--threshold", type=finite_float, default=None,
                   help="--clip: also drop images whose CLIP score (100 x cosine, clipped at 0) is below this")
    p.add_argument("--clip-text", choices=["prompt", "class"], default="prompt",
                   help="--clip: the threshold scores an image against its generation prompt or 'a photo of a CLASS'")
    p.add_argument("--device", type=device_arg, default="auto", help="--clip: where the CLIP model runs")
    p.add_argument("--batch-size", type=positive_int, default=64, help="--clip: images per forward pass")
    p.add_argument("--dry-run", action="store_true", help="print what would be dropped, change nothing")
    p.set_defaults(func=C.cmd_filter)


def fit_lora_parser(sub) -> None:
    p = sub.add_parser("fit-lora", help="fit one LoRA adapter of a Stable Diffusion UNet per class on its real images "
                       "(class distribution fitting; generate with --lora DIR)")
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--imbalance", type=imbalance_factor, default=100, help="long-tail factor IF (LT datasets)")
    p.add_argument("--generator-model", default=None, help="(required) local diffusers Stable Diffusion 1.x / 2.x folder")
    p.add_argument("--out", required=True, help="adapters go to OUT/<class slug>/ (e.g. PLAN_DIR/lora); new, empty, "
                   "or one fit-lora wrote (fitted classes are kept)")
    p.add_argument("--classes", default=None, help="comma-separated class names (default: every class)")
    p.add_argument("--lora-steps", type=positive_int, default=200, help="optimiser steps per class")
    p.add_argument("--rank", type=positive_int, default=4, help="LoRA rank (alpha = rank)")
    p.add_argument("--lr", type=positive_float, default=1e-4)
    p.add_argument("--batch-size", type=positive_int, default=1)
    p.add_argument("--resolution", type=image_side, default=None, help="training side (default: the model's)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--device", type=device_arg, default="auto")
    renamed(p, "--model", "--generator-model")
    renamed(p, "--steps", "--lora-steps")
    p.set_defaults(func=C.cmd_fit_lora)


def fit_generator_parser(sub) -> None:
    p = sub.add_parser("fit-generator", help="train a class-conditional diffusion model (the ddpm generator) on the "
                       "dataset's own images, offline; draw from it with --generator ddpm --generator-model OUT")
    data_options(p, required=True)
    p.add_argument("--pool", choices=FIT_POOLS, default="train", help="train: the (long-tailed) training split "
                   "itself (DiffuLT); unused: the real images the long tail left out; pretrain: the embedded datasets' "
                   "fixed pretrain split, disjoint from every long tail, validation and test split (the offline "
                   "stand-in for a pretrained model; one fit per dataset, reused). Never the test split")
    p.add_argument("--out", required=True, help="the model folder GEN (new, empty, or a fit to resume)")
    p.add_argument("--generator", default="ddpm", choices=["ddpm"], help="the backend to fit")
    p.add_argument("--image-size", type=image_side, default=None, help="the side it fits at, 8 to 64 px (images resized "
                   "as the cache does; default: the images' own, refused above 64 px with the cost it would have)")
    p.add_argument("--steps", type=positive_int, default=None, help="optimiser steps (default 2000: ~5 min on 2 CPU "
                   "cores at 28 px, ~13 min at 32 px, ~45 min at 64 px: docs/ddpm.md)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="images per step (default 128)")
    p.add_argument("--lr", type=positive_float, default=None, help="AdamW peak learning rate (default 2e-3)")
    p.add_argument("--arch", default=None, choices=["fast", "unet"], help="denoiser: fast (CPU conv U-Net, default) "
                   "or unet (diffusers UNet2DModel)")
    p.add_argument("--cbdm-weight", type=nonneg_float, default=None, help="CBDM's class-balancing term tau (default "
                   "0: off; its paper uses 1)")
    p.add_argument("--seed", type=nonneg_int, default=None)
    p.add_argument("--device", type=device_arg, default=None, help="auto (default), cpu, cuda")
    p.add_argument("--fit-option", action="append", default=[], metavar="KEY=VALUE", help="any other fit setting, "
                   "e.g. ema_decay=0.999 or arch_options={channels: [48, 96]} (docs/ddpm.md)")
    p.add_argument("--no-groups", action="store_true", help="condition on classes even if the data has groups")
    p.add_argument("--quality-samples", type=nonneg_int, default=100, help="images drawn per cell to measure the "
                   "fitted generator (CAS vs real, Fréchet distance, copy rate, recall: OUT/quality.json, "
                   "OUT/quality.png); 0: not measured")
    p.add_argument("--quality-steps", type=positive_int, default=300, help="training steps of the CAS classifier")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=C.cmd_fit_generator)


def runs_parser(sub) -> None:
    p = sub.add_parser("runs", help="the run store: list its runs, check them, remove the ones no output folder uses")
    p.add_argument("action", nargs="?", default="list", choices=("list", "check", "gc"),
                   help="list (default), check (every run readable and complete), gc (remove unreferenced runs)")
    p.add_argument("--store", default="runs/store", help="the run store (default runs/store)")
    p.add_argument("--yes", action="store_true", help="gc: really remove (without it, gc only says what it would remove)")
    p.set_defaults(func=C.cmd_runs)

