"""`synaug` command line: a thin layer over the library. Each subcommand is one function."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from pathlib import Path

import yaml

from synaug import __version__
from synaug.errors import ConfigError, GenerationError, SynaugError
from synaug.experiments.tasks import TASKS
from synaug.generators import GENERATORS
from synaug.generators.runner import parse_shard
from synaug.train.config import TrainConfig
from synaug.train.methods import METHODS, get_method
from synaug.validate import (check_out_dir, check_out_file, finite_float, imbalance_factor, load_yaml, nonneg_int,
                             parse_strategy, positive_float, positive_int, probability)

# The commands import the pipeline (and torch with it) when they run, so `synaug --help` and
# `synaug plan` start fast; these lazy imports hide no cycle (nothing below imports the CLI).

log = logging.getLogger("synaug")

DATASET_HELP = ("embedded: mnist-lt, fashion-lt, mnist-fair, fashion-spurious; yours: cifar100-lt:PATH, "
                "cifar10-lt:PATH, imagefolder:ROOT, csv:FILE, utkface:DIR, waterbirds:DIR, celeba:DIR, "
                "imagenet100-lt:ROOT (SDCLR list files; imagenet-lt:ROOT for ImageNet-LT)")


def _aliases(pairs) -> dict:
    """--alias 'T-shirt_top=t-shirt' (repeatable) -> {class name: words}."""
    out = {}
    for pair in pairs or []:
        name, sep, words = pair.partition("=")
        if not sep or not name.strip() or not words.strip():
            raise SynaugError(f"bad --alias {pair!r}; use --alias 'CLASS NAME=words', "
                              "e.g. --alias 'T-shirt_top=t-shirt'")
        out[name.strip()] = words.strip()
    return out


# ----------------------------------------------------------------------------- plan / generate
def cmd_plan(args) -> int:
    from synaug.workflow import format_cell_table, plan_dataset, plan_notes

    dataset_options = {"group_column": args.group_column} if args.group_column else {}
    if args.group_column and not args.dataset.startswith("csv:"):
        raise ConfigError("--group-column applies to csv:FILE datasets only")
    check_out_file(args.out)
    items, meta = plan_dataset(args.dataset, Path(args.out), imbalance=args.imbalance, dataset_options=dataset_options,
                               strategy=parse_strategy(args.strategy), seed=args.seed,
                               template=args.template, modifiers=args.modifiers,
                               generator=args.generator, use_groups=not args.no_groups,
                               aliases=_aliases(args.alias))
    real = [r["real"] for r in meta["cells"]]
    factor = (f"IF={args.imbalance}" if "imbalance" in meta.get("dataset_info", {}) else  # synaug built the tail
              f"measured IF={max(real) / min(real):.1f}" if min(real) > 0 else "a cell is empty")
    print(f"plan for {args.dataset} ({factor}, strategy={args.strategy}, seed={args.seed})")
    print(format_cell_table(meta["cells"]))
    for line in plan_notes(meta):
        print(line)
    print(f"wrote {len(items)} items to {args.out} (settings: {Path(args.out).with_suffix('.json')})")
    return 0


def cmd_generate(args) -> int:
    from synaug.workflow import generate_from_plan

    options = _diffusion_options(args) if args.generator == "diffusion" else {}
    options.update(_generator_options(args.generator_option))
    shard = parse_shard(args.shard) if args.shard else _distributed_shard()
    check_out_dir(args.out)
    report = generate_from_plan(Path(args.plan), Path(args.out), args.generator,
                                generator_options=options, batch_size=args.batch_size, shard=shard,
                                skip_undrawable=args.skip_undrawable, workers=args.workers)
    print(f"{report.generated} generated, {report.already_done} already done, "
          f"{len(report.skipped)} skipped, {len(report.dropped)} dropped -> {report.out_dir}")
    for name, reason in report.skipped[:10]:
        print(f"  skipped {name}: {reason}")
    for name, reason in report.dropped[:10]:
        print(f"  dropped {name}: {reason}")
    if report.metadata_written:
        print(f"metadata: {report.out_dir / 'metadata.csv'} (+ README.md: a dataset card for "
              f"datasets.load_dataset({str(report.out_dir)!r}))")
    else:
        print("metadata.csv is written when every shard has finished")
    return 0


def _generator_options(pairs) -> dict:
    """--generator-option KEY=VALUE (repeatable) -> {key: value}, the value read as YAML (0.5 -> float)."""
    out = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad --generator-option {pair!r}; use KEY=VALUE, e.g. degrade=0.5")
        try:
            out[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"bad --generator-option {pair!r}: {exc}") from None
    return out


def _diffusion_options(args) -> dict:
    """The diffusion generator's options from `synaug generate` flags."""
    options = dict(model=args.model, allow_download=args.allow_download, steps=args.steps,
                   guidance=args.guidance, negative_prompt=args.negative_prompt, scheduler=args.scheduler,
                   gen_size=args.gen_size, dtype=args.dtype, device=args.device,
                   safety_checker=not args.no_safety_checker, max_redraws=args.max_redraws,
                   compile=args.compile, img2img=args.img2img, strength=args.strength, lora=args.lora)
    if args.save_size:
        options["save_size"] = args.save_size
    if args.img2img:
        if not args.guidance_data:
            raise GenerationError("--img2img needs --guidance-data DATASET (the real images that guide it)")
        from synaug.data import load_dataset
        options["guidance_images"] = load_dataset(args.guidance_data).train
    return options


def _distributed_shard() -> tuple[int, int]:
    """torchrun / accelerate launch set RANK and WORLD_SIZE: each process takes its shard."""
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    return (int(rank), int(world)) if rank is not None and world is not None else (0, 1)


def add_generator_options(p) -> None:
    g = p.add_argument_group("diffusion generator (with --generator diffusion)")
    g.add_argument("--model", help="local path (or hub id with --allow-download) of a diffusers model")
    g.add_argument("--allow-download", action="store_true", help="let diffusers fetch from the hub")
    g.add_argument("--steps", type=positive_int, default=30)
    g.add_argument("--guidance", type=finite_float, default=7.5)
    g.add_argument("--negative-prompt", default="")
    g.add_argument("--scheduler", default=None, help="scheduler class name, e.g. DPMSolverMultistepScheduler")
    g.add_argument("--gen-size", type=positive_int, default=None, help="height=width generated (default: model's)")
    g.add_argument("--save-size", type=positive_int, default=None, help="side the images are saved at")
    g.add_argument("--dtype", default="auto", choices=["auto", "fp16", "bf16", "fp32"])
    g.add_argument("--device", default="auto")
    g.add_argument("--no-safety-checker", action="store_true")
    g.add_argument("--max-redraws", type=nonneg_int, default=3)
    g.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    g.add_argument("--img2img", choices=["intra", "inter"], default=None,
                   help="image-to-image translation baseline: guidance from the same class or any class")
    g.add_argument("--guidance-data", default=None, help="dataset whose real images guide img2img")
    g.add_argument("--strength", type=probability, default=0.7)
    g.add_argument("--lora", default=None, help="folder of per-class LoRA adapters from `synaug fit-lora`: each "
                   "class is drawn with its own (a class without one cannot be drawn)")


def cmd_cache(args) -> int:
    from synaug.data import load_dataset
    from synaug.workflow import decode_to_cache, read_synthetic

    cfg = TrainConfig(image_size=args.size, cache_dir=args.cache_dir, cache_workers=args.workers)
    splits = load_dataset(args.dataset, imbalance=args.imbalance)
    synthetic = read_synthetic(Path(args.synthetic), splits.train, args.size) if args.synthetic else None
    cached, sets = decode_to_cache(splits, {"synthetic": synthetic}, cfg, args.dataset, Path(args.cache_dir))
    if cached is splits:
        print(f"{args.dataset} is held in memory (images <= 64 px): nothing to cache")
        return 0
    for name, ds in (("train", cached.train), ("val", cached.val), ("test", cached.test), ("synthetic", sets["synthetic"])):
        if ds is not None:
            folders = sorted({Path(getattr(src, "filename", "") or "").parent.name for src in ds.images.sources})
            print(f"{name:<9} {len(ds):>7} images at {args.size}px  {len(ds.skipped)} skipped  {', '.join(folders)}")
            for path, reason in ds.skipped:
                print(f"  skipped {path}: {reason}")
    print(f"cache: {args.cache_dir}")
    return 0


# ----------------------------------------------------------------------------- audit / filter (issue 10)
def cmd_audit(args) -> int:
    from synaug.audit.core import AuditConfig, audit_dataset, read_synthetic
    from synaug.data import load_dataset
    from synaug.workflow import decode_to_cache

    check_out_dir(args.out)
    if not 0 < args.val_fraction < 1:
        raise ConfigError(f"--val-fraction must be between 0 and 1, got {args.val_fraction}")
    cfg = AuditConfig(val_fraction=args.val_fraction, seed=args.seed, k=args.k, steps=args.steps,
                      model=args.model, pretrained=args.pretrained, image_size=args.image_size,
                      device=args.device, examples=args.examples)
    if cfg.pretrained and not Path(cfg.pretrained).is_file():
        raise ConfigError(f"--pretrained {cfg.pretrained}: no such file")
    splits = load_dataset(args.dataset, imbalance=args.imbalance)
    synthetic, names = read_synthetic(args.synthetic, splits.train, args.image_size)
    splits, sets = decode_to_cache(splits, {"s": synthetic}, _audit_train_config(cfg), args.dataset, Path(args.out))
    result = audit_dataset(splits, sets["s"], Path(args.out), cfg, dataset=args.dataset,
                           synthetic_dir=str(args.synthetic), syn_names=names, use_groups=not args.no_groups,
                           progress=not args.quiet)
    from synaug.audit.cli_text import format_audit_table
    print(format_audit_table(result))
    print(f"audit: {Path(args.out) / 'audit.json'}, {Path(args.out) / 'audit.csv'}, "
          f"{Path(args.out) / 'images.csv'}\nreport: {Path(args.out) / 'audit.html'} "
          f"({result['timing']['total_s']:.1f} s)")
    return 0


def _audit_train_config(cfg):
    from synaug.train.config import TrainConfig
    return TrainConfig(image_size=cfg.image_size)


def _add_audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="per cell: will the synthetic images help? (validation carved from training)")
    _add_data_options(p, required=True)
    p.add_argument("--synthetic", required=True, help="folder from `synaug generate` (metadata.csv)")
    p.add_argument("--out", required=True, help="new or empty folder: audit.json, audit.csv, images.csv, audit.html")
    p.add_argument("--seed", type=nonneg_int, default=0, help="validation split, feature network and probes")
    p.add_argument("--val-fraction", type=finite_float, default=0.2, help="share of each real training cell held out")
    p.add_argument("--k", type=positive_int, default=3, help="k of the k-NN manifolds (precision / recall)")
    p.add_argument("--steps", type=positive_int, default=150, help="training steps of the feature network")
    p.add_argument("--model", default="audit-cnn", help="feature network: audit-cnn (half-width small-cnn), any synaug model, or the --pretrained backbone's model")
    p.add_argument("--pretrained", default=None, help="features from this local backbone checkpoint instead of "
                   "training a network (.pth / .safetensors, torchvision/timm keys; pass its --model)")
    p.add_argument("--image-size", type=positive_int, default=None, help="decode side for on-disk datasets")
    p.add_argument("--examples", type=positive_int, default=6, help="images per cell in the report")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-groups", action="store_true", help="audit classes even if the data has groups")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_audit)


def _filter_report(args):
    """Run the filter the flags name: an audit's scores (--audit) or a CLIP model's (--clip)."""
    if args.clip:
        from synaug.audit.clip_score import clip_filter_folder
        if args.min_own_prob is not None or args.max_ratio is not None:
            raise ConfigError("--min-own-prob and --max-ratio apply to --audit; the CLIP filter uses --threshold")
        return clip_filter_folder(Path(args.synthetic), Path(args.clip), threshold=args.threshold,
                                  label_check=not args.keep_mislabelled, text=args.clip_text, device=args.device,
                                  batch_size=args.batch_size, dry_run=args.dry_run)
    from synaug.audit.filter import filter_folder
    if args.threshold is not None:
        raise ConfigError("--threshold applies to the CLIP filter (--clip PATH)")
    max_ratio = 2.0 if args.max_ratio is None else args.max_ratio
    if max_ratio < 0:
        raise ConfigError(f"--max-ratio must be 0 (no manifold check) or more, got {max_ratio}")
    return filter_folder(Path(args.synthetic), Path(args.audit), label_check=not args.keep_mislabelled,
                         min_own_prob=args.min_own_prob, max_ratio=None if max_ratio == 0 else max_ratio,
                         dry_run=args.dry_run)


def cmd_filter(args) -> int:
    report = _filter_report(args)
    w = max([len("cell")] + [len(str(c)) for c in report.per_cell])
    print(f"{'cell':<{w}}  {'kept':>6} {'drop':>6}")
    for cell, (kept, dropped) in report.per_cell.items():
        print(f"{str(cell):<{w}}  {kept:>6} {dropped:>6}")
    verb = "would drop" if args.dry_run else "dropped"
    print(f"{verb} {len(report.dropped)} image(s), kept {report.kept}"
          + (f" ({report.already_dropped} dropped by an earlier filter)" if report.already_dropped else ""))
    for name, reason in report.dropped[:5]:
        print(f"  {name}: {reason}")
    if report.dropped and not args.dry_run:
        print(f"recorded in {Path(args.synthetic) / '.synaug' / 'dropped.csv'} (files kept on disk; metadata.csv "
              f"before the first filter: .synaug/metadata.before-filter.csv)")
    return 0


def _add_filter_parser(sub) -> None:
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
    p.add_argument("--device", default="auto", help="--clip: where the CLIP model runs")
    p.add_argument("--batch-size", type=positive_int, default=64, help="--clip: images per forward pass")
    p.add_argument("--dry-run", action="store_true", help="print what would be dropped, change nothing")
    p.set_defaults(func=cmd_filter)


# ----------------------------------------------------------------------------- fit-lora (class distribution fitting)
def cmd_fit_lora(args) -> int:
    from synaug.data import load_dataset
    from synaug.generators.lora import LoraSettings, adapter_dir, fit_lora

    settings = LoraSettings(rank=args.rank, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
                            resolution=args.resolution, seed=args.seed)
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    if not Path(args.model).is_dir():
        raise ConfigError(f"--model {args.model}: no such folder (a local diffusers Stable Diffusion model)")
    train = load_dataset(args.dataset, imbalance=args.imbalance).train
    unknown_classes = [c for c in classes or [] if c not in train.class_names]
    if unknown_classes:  # before the table's header: an error line alone
        raise ConfigError(f"--classes: {unknown_classes} not classes of {args.dataset} (classes: {train.class_names})")
    print(f"{'class':<20} {'images':>6}  {'loss before':>11} {'after':>8}  adapter")

    def show(info):
        print(f"{info['class_name']:<20} {info['real_images']:>6}  {info['loss_before']:>11.4f} "
              f"{info['loss_after']:>8.4f}  {adapter_dir(args.out, info['class_name'])}")

    infos = fit_lora(train, args.model, Path(args.out), classes=classes, settings=settings, device=args.device,
                     on_class=show)
    print(f"{len(infos)} adapter(s) in {args.out}: generate with "
          f"`synaug generate --generator diffusion --model {args.model} --lora {args.out} ...`")
    return 0


def _add_fit_lora_parser(sub) -> None:
    p = sub.add_parser("fit-lora", help="fit one LoRA adapter of a Stable Diffusion UNet per class on its real images "
                       "(class distribution fitting; generate with --lora DIR)")
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--imbalance", type=imbalance_factor, default=100, help="long-tail factor IF (LT datasets)")
    p.add_argument("--model", required=True, help="local diffusers Stable Diffusion 1.x / 2.x folder")
    p.add_argument("--out", required=True, help="adapters go to OUT/<class slug>/ (e.g. PLAN_DIR/lora)")
    p.add_argument("--classes", default=None, help="comma-separated class names (default: every class)")
    p.add_argument("--steps", type=positive_int, default=200, help="optimiser steps per class")
    p.add_argument("--rank", type=positive_int, default=4, help="LoRA rank (alpha = rank)")
    p.add_argument("--lr", type=positive_float, default=1e-4)
    p.add_argument("--batch-size", type=positive_int, default=1)
    p.add_argument("--resolution", type=positive_int, default=None, help="training side (default: the model's)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_fit_lora)


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synaug", description=(
        "Fix imbalanced image datasets with synthetic data (SYNAuG): plan, generate, train, evaluate."))
    parser.add_argument("--version", action="version", version=f"synaug {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_plan_parser, _generate_parser, _cache_parser, _train_parser, _evaluate_parser, _run_parser,
                _demo_parser, _experiment_parser, _add_audit_parser, _add_filter_parser, _add_fit_lora_parser):
        add(sub)
    return parser


def _plan_parser(sub) -> None:
    p = sub.add_parser("plan", help="count cells and write the generation plan (no GPU time spent)")
    p.add_argument("--dataset", default="mnist-lt",
                   help=DATASET_HELP)
    p.add_argument("--imbalance", type=imbalance_factor, default=100, help="long-tail factor IF (LT datasets)")
    p.add_argument("--strategy", default="uniform",
                   help="uniform, auto, not majority, all, minority, not minority, U-<beta>, LT+<alpha>, "
                        "a dict of final counts '{\"3\": 400}', or from a `synaug audit` folder: audit-proportional:DIR "
                        "(fill x score), audit-threshold:DIR:T (no fill below score T)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="base seed hashed into every image's seed")
    p.add_argument("--template", default=None, help='prompt template, e.g. "a photo of {modifier} {class}"')
    p.add_argument("--modifiers", default=None, help="modifier bank YAML (default: the dataset's shipped bank)")
    p.add_argument("--generator", default="render", help="generator to check drawability against")
    p.add_argument("--alias", action="append", metavar="CLASS=WORDS",
                   help="what prompts and the renderer call a class, e.g. 'T-shirt_top=t-shirt' (repeatable; "
                        "adds to the bank's `aliases:`)")
    p.add_argument("--group-column", default=None,
                   help="csv datasets: the metadata column holding the group (default 'group'); "
                        "with groups, the plan is over (class, group) cells")
    p.add_argument("--no-groups", action="store_true", help="plan over classes even if the data has groups")
    p.add_argument("--out", default="plan.csv")
    p.set_defaults(func=cmd_plan)


def _generate_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate the images of a plan (resumable)")
    p.add_argument("--plan", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--generator", default="render", choices=sorted(GENERATORS))
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--shard", default=None, help="i/n: this process does every n-th item from i")
    p.add_argument("--workers", type=positive_int, default=1, help="processes for CPU generators")
    p.add_argument("--skip-undrawable", action="store_true",
                   help="generate the rest when the generator cannot draw some cells (reported)")
    p.add_argument("--generator-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a generator option (repeatable), e.g. degrade=0.5 for render")
    add_generator_options(p)
    p.set_defaults(func=cmd_generate)


def _cache_parser(sub) -> None:
    p = sub.add_parser("cache", help="decode an on-disk dataset once into the memory-mapped training cache")
    _add_data_options(p)
    p.add_argument("--synthetic", default=None, help="also cache this `synaug generate` folder")
    p.add_argument("--size", type=int, required=True, help="side (px) images are decoded and resized to")
    p.add_argument("--cache-dir", required=True, help="cache folder; pass the same as `train --cache-dir` "
                   "(train's default is RUN/cache)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes")
    p.set_defaults(func=cmd_cache)


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train one method (stage 1 + stage 2) and evaluate it")
    _add_data_options(p, required=True)
    p.add_argument("--synthetic", default=None, help="folder from `synaug generate` (metadata.csv)")
    p.add_argument("--method", default="synaug", help="one of: " + ", ".join(_method_names())
                   + "; or parts joined by '+' (A+B: A's recipe with B's algorithm on top, e.g. synaug+wb)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", required=True, help="run directory: new or empty (it records method, dataset and "
                   "config in run.json)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoints (same "
                     "method, dataset and config, else refused)")
    how.add_argument("--overwrite", action="store_true", help="delete the run already in --out and start afresh")
    p.add_argument("--config", default=None, help="YAML with training options (the `train:` block or flat)")
    _add_train_options(p)
    p.set_defaults(func=cmd_train)


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a run directory's final checkpoint on the test set")
    _add_data_options(p, from_run=True)
    p.add_argument("--run", required=True, help="run directory written by `synaug train`")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_evaluate)


def _run_parser(sub) -> None:
    p = sub.add_parser("run", help="plan -> generate -> train -> fine-tune -> evaluate from one YAML config")
    p.add_argument("--config", required=True)
    p.add_argument("--out", default=None)
    p.add_argument("--seeds", default=None, help="comma-separated seeds, overrides the config")
    p.set_defaults(func=cmd_run)


def _demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="SYNAuG vs baselines on embedded data: table + report.html")
    p.add_argument("--task", default="longtail", choices=sorted(TASKS),
                   help=", ".join(f"{t.name} ({t.dataset})" for t in TASKS.values()))
    p.add_argument("--dataset", default=None, help="default: the task's embedded dataset "
                   "(mnist-lt / fashion-lt, mnist-fair, fashion-spurious)")
    p.add_argument("--imbalance", type=imbalance_factor, default=100)
    p.add_argument("--seeds", default="0", help="comma-separated training seeds, e.g. 0,1,2")
    p.add_argument("--methods", default=None, help="comma-separated methods (default: the task's)")
    p.add_argument("--steps", type=positive_int, default=None, help="stage-1 steps (default 600)")
    p.add_argument("--out", default=None, help="default runs/demo-<task>-<dataset>")
    p.add_argument("--no-audit", action="store_true", help="skip the audit of the synthetic images (its report "
                   "section; it changes no method's numbers)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)


def _experiment_parser(sub) -> None:
    p = sub.add_parser("experiment", help="reproduce a table or figure of the paper: --list, or NAME "
                       "(results.json, PNGs, report.html)")
    p.add_argument("name", nargs="?", help="experiment name (see --list)")
    p.add_argument("--list", action="store_true", help="print every experiment: name, default dataset, paper reference")
    p.add_argument("--dataset", default=None, help="default: the experiment's embedded dataset. " + DATASET_HELP)
    p.add_argument("--imbalance", type=imbalance_factor, default=None, help="long-tail factor IF (default 100)")
    p.add_argument("--seeds", default=None, help="comma-separated training seeds (default 0,1,2, or the "
                   "config's; --seeds 0 for a quick look)")
    p.add_argument("--steps", type=positive_int, default=None, help="stage-1 steps (default 600)")
    p.add_argument("--config", default=None, help="YAML like `synaug run`'s (dataset, imbalance, seeds, plan, "
                   "generate, train, thresholds): your data and generator; the experiment's rows stay its own")
    p.add_argument("--out", default=None, help="default runs/experiments/NAME, whose generated images are shared "
                   "between experiments in runs/experiments/shared (with --out: OUT/shared, or --shared); "
                   "a re-run reuses finished runs")
    p.add_argument("--shared", default=None, help="folder of generated images shared between experiments "
                   "(one subfolder per plan); give the same one to several experiments")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_experiment)


def _method_names():
    return sorted(METHODS)


def _add_data_options(p, required: bool = False, from_run: bool = False) -> None:
    if from_run:
        p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on (its "
                       "run.json); a different one is refused. " + DATASET_HELP)
        p.add_argument("--imbalance", type=imbalance_factor, default=None, help="default: the run's")
    else:
        p.add_argument("--dataset", required=required, help="(required) " + DATASET_HELP)
        p.add_argument("--imbalance", type=imbalance_factor, default=100, help="long-tail factor IF (LT datasets)")
    p.add_argument("--many", type=nonneg_int, default=100, help="Many: more than this many training images")
    p.add_argument("--few", type=nonneg_int, default=20, help="Few: fewer than this many training images")


def _add_train_options(p) -> None:
    d = TrainConfig()
    g = p.add_argument_group("training (override --config)")
    g.add_argument("--model", default=None, help=f"model (default {d.model})")
    g.add_argument("--steps", type=positive_int, default=None, help=f"stage-1 steps (default {d.steps})")
    g.add_argument("--batch-size", type=positive_int, default=None, help=f"(default {d.batch_size})")
    g.add_argument("--lr", type=positive_float, default=None, help=f"(default {d.lr})")
    g.add_argument("--stage2-steps", type=positive_int, default=None, help=f"(default {d.stage2_steps})")
    g.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default auto; under torchrun "
                   "each process takes its LOCAL_RANK GPU)")
    g.add_argument("--pretrained", default=None, help="local backbone checkpoint (.pth or .safetensors, "
                   "torchvision/timm key names); the classifier is sized for this task")
    g.add_argument("--image-size", type=positive_int, default=None, help="side of the decoded image cache for "
                   "on-disk datasets (default: the reader's size)")
    g.add_argument("--crop-size", type=positive_int, default=None, help="training crop / centre-crop evaluation side")
    g.add_argument("--augment", default=None, help="pad-crop, random-resized-crop or none")
    g.add_argument("--cache-dir", default=None, help="image cache folder (default RUN/cache)")


def _train_overrides(args) -> dict:
    keys = ("model", "steps", "batch_size", "lr", "stage2_steps", "device", "pretrained", "image_size",
            "crop_size", "augment", "cache_dir")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def cmd_train(args) -> int:
    from synaug.workflow import train_config, train_run

    options = {}
    if args.config:
        raw = load_yaml(args.config, "--config")
        options = raw.get("train", raw)
        if not isinstance(options, dict):
            raise ConfigError(f"--config {args.config}: 'train' must be a mapping of training options")
    cfg = train_config(options, **_train_overrides(args), seed=args.seed)
    get_method(args.method)  # an unknown method (or part of an A+B one) fails before the output folder is checked
    check_out_dir(args.out)
    metrics = train_run(args.dataset, args.method, Path(args.out), cfg, synthetic=args.synthetic,
                        imbalance=args.imbalance, many=args.many, few=args.few, resume=args.resume,
                        overwrite=args.overwrite)
    if metrics is not None:  # rank 0 under torchrun
        _print_metrics(metrics)
        _print_run_files(Path(args.out))
    return 0


def _print_run_files(run: Path) -> None:
    """Say where a run's results went: metrics, checkpoints, the step log and the resolved config."""
    ckpts = ", ".join(str(p) for p in sorted(run.glob("stage*.pt"))) or "none"
    print(f"metrics:     {run / 'metrics.json'}\ncheckpoints: {ckpts}\n"
          f"log:         {run / 'log.jsonl'}\nconfig:      {run / 'config.yaml'}")


def _print_metrics(m: dict) -> None:
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    print(f"All {fmt(m['accuracy'])}  Many {fmt(m['many'])}  Medium {fmt(m['medium'])}  Few {fmt(m['few'])}  "
          f"Balanced {fmt(m['balanced_accuracy'])}  G-mean {fmt(m['gmean'])}")
    if "worst_group" in m:
        print(f"Worst group {fmt(m['worst_group'])}  Mean {fmt(m['mean_group'])}  "
              f"Mean (train-weighted) {fmt(m['mean_weighted'])}")
    if "dp" in m:
        print(f"DP {m['dp']:.4f}  EO {m['eo']:.4f}  ED {m['ed']:.4f}")


def cmd_evaluate(args) -> int:
    from synaug.workflow import evaluate_run

    metrics = evaluate_run(Path(args.run), args.dataset, args.imbalance, many=args.many, few=args.few,
                           device=args.device)
    _print_metrics(metrics)
    print(f"metrics: {Path(args.run) / 'metrics.json'}")
    return 0


def _seeds(text):
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError as exc:
        raise SynaugError(f"bad --seeds {text!r}; use e.g. 0,1,2") from exc
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise SynaugError(f"bad --seeds {text!r}: give distinct seeds >= 0, e.g. 0,1,2")
    return seeds


def cmd_run(args) -> int:
    from synaug.experiments.runner import resolve_config, run_experiment

    overrides = {"out": args.out}
    if args.seeds:
        overrides["seeds"] = _seeds(args.seeds)
    load_yaml(args.config, "--config")  # a missing, binary or non-mapping file: a clear error here
    if args.out:
        check_out_dir(args.out)
    cfg = resolve_config(overrides, args.config)
    _print_results(cfg, run_experiment(cfg))
    return 0


def cmd_demo(args) -> int:
    from synaug.experiments.runner import default_out, resolve_config, run_experiment

    dataset = args.dataset or TASKS[args.task].dataset
    overrides = {"task": args.task, "dataset": dataset, "imbalance": args.imbalance, "seeds": _seeds(args.seeds),
                 "out": args.out or default_out(args.task, dataset, demo=True)}
    if args.methods:
        overrides["methods"] = [m.strip() for m in args.methods.split(",")]
    if args.steps:
        overrides["train"] = {"steps": args.steps}
    overrides["audit"] = not args.no_audit  # the report shows what the audit says of the synthetic images
    cfg = resolve_config(overrides)
    check_out_dir(cfg["out"])
    results = run_experiment(cfg, progress=not args.quiet)
    print()
    what = f"IF={cfg['imbalance']}, " if cfg["task"] == "longtail" else ""
    print(f"{cfg['task']}: {cfg['dataset']} {what}seeds {cfg['seeds']}: metrics at the last step, mean ± std")
    _print_results(cfg, results, gap=True)
    return 0


def cmd_experiment(args) -> int:
    from synaug.experiments.experiment_report import format_result_text
    from synaug.experiments.library import EXPERIMENTS, listing, run_named

    if args.list:
        experiments = listing()
        width = max(len(e.name) for e in experiments)
        for e in experiments:
            print(f"{e.name:<{width}}  {e.dataset:<16}  {e.paper}")
        return 0
    if not args.name:
        raise SynaugError("give an experiment NAME (one of: " + ", ".join(sorted(EXPERIMENTS))
                          + ") or --list")
    EXPERIMENTS[args.name]  # an unknown name fails (with a suggestion) before any work
    overrides = {"dataset": args.dataset, "imbalance": args.imbalance, "out": args.out}
    if args.seeds is not None:
        overrides["seeds"] = _seeds(args.seeds)
    if args.steps:
        overrides["train"] = {"steps": args.steps}
    if args.config:
        load_yaml(args.config, "--config")  # a missing, binary or non-mapping file: a clear error here
    results = run_named(args.name, overrides, args.config, progress=not args.quiet, shared=args.shared)
    print()
    print(format_result_text(results))
    out = Path(results["config"]["out"])
    print(f"\nresults: {out / 'results.json'}\nreport:  {out / 'report.html'}"
          + (f"\nruns:    {out / 'runs'}" if (out / "runs").is_dir() else ""))
    return 0


def _print_results(cfg: dict, results: dict | None, gap: bool = False) -> None:
    """The table and where an experiment's files went (rank 0 only under torchrun)."""
    if results is None:
        return
    out = Path(cfg["out"])
    print(results["table"])
    print(("\n" if gap else "") + f"results: {out / 'results.json'}\nreport:  {out / 'report.html'}\n"
          f"runs:    {out / 'runs'} (per method and seed: metrics.json, checkpoints, log.jsonl)")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except SynaugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped early (e.g. `| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.filename is None and exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise  # not about a user's file, folder or disk: a bug, keep the traceback
        # a read-only or full disk, a missing folder, a file where a folder is needed
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
