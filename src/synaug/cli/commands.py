"""One function per `synaug` subcommand: turn the parsed flags into its API call (`synaug.api`) and
print what it returns. Nothing here trains, plans or evaluates."""

from __future__ import annotations

from pathlib import Path

import yaml

from synaug import api
from synaug.cli.suggest import cmd_suggest
from synaug.errors import ConfigError, SynaugError


def check_renamed(args) -> None:
    """A flag given under its old name: say the new one (see `parsers.renamed`)."""
    for key, value in vars(args).items():
        if key.startswith("renamed__") and value is not None:
            old, new = ("--" + part.replace("_", "-") for part in key[len("renamed__"):].split("__"))
            raise ConfigError(f"{args.command}: {old} is now {new} (--model names a classifier, --steps counts "
                              "stage-1 training steps and --image-size is the decoded side, in every command)")


def pairs(values, flag: str, sep: str = "=", parse=str) -> dict:
    """Repeated KEY=VALUE flags as a dict (a bad one, or a KEY given twice, is an error naming the flag:
    never the last one silently winning)."""
    out = {}
    for pair in values or []:
        key, found, text = pair.partition(sep)
        if not found or not key.strip() or not text.strip():
            raise ConfigError(f"bad {flag} {pair!r}; use {flag} KEY{sep}VALUE")
        if key.strip() in out:
            raise ConfigError(f"{flag} {key.strip()} is given twice; give it once (which value was meant?)")
        try:
            out[key.strip()] = parse(text.strip())
        except yaml.YAMLError as exc:
            raise ConfigError(f"bad {flag} {pair!r}: {exc}") from None
    return out


def merged(named: dict, given: dict, flag: str) -> dict:
    """Options from named flags and from repeated `flag` KEY=VALUE, refusing one given both ways."""
    both = sorted(set(named) & set(given))
    if both:
        raise ConfigError(f"{', '.join(both)} given both as a named flag and as {flag}; give each once")
    return {**named, **given}


def seeds(text) -> list[int]:
    from synaug.experiments.config import check_seeds
    try:
        values = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError as exc:
        raise SynaugError(f"bad --seeds {text!r}; use e.g. 0,1,2") from exc
    try:
        return list(check_seeds(values))
    except ConfigError:
        raise SynaugError(f"bad --seeds {text!r}: give distinct seeds >= 0, e.g. 0,1,2") from None


# ----------------------------------------------------------------------------- plan / generate / cache
def cmd_plan(args) -> int:
    from synaug.engine.planning import format_cell_table, plan_notes
    if args.suggest:
        return cmd_suggest(args.suggest)
    if args.group_column and not args.dataset.startswith("csv:"):
        raise ConfigError("--group-column applies to csv:FILE datasets only")
    items, meta = api.plan(args.dataset, args.out, imbalance=args.imbalance, strategy=args.strategy, seed=args.seed,
                           template=args.template, modifiers=args.modifiers, generator=args.generator,
                           generator_options=generator_options_of(args), use_groups=not args.no_groups,
                           aliases=pairs(args.alias, "--alias"), image_size=args.image_size,
                           render_words=pairs(args.render_word, "--render-word"),
                           dataset_options={"group_column": args.group_column} if args.group_column else None)
    real = [r["real"] for r in meta["cells"]]
    factor = (f"IF={args.imbalance:g}" if "imbalance" in meta.get("dataset_info", {}) else  # synaug built the tail
              f"measured IF={max(real) / min(real):.1f}" if min(real) > 0 else "a cell is empty")
    print(f"plan for {args.dataset} ({factor}, strategy={args.strategy}, seed={args.seed})")
    print(format_cell_table(meta["cells"]))
    for line in plan_notes(meta):
        print(line)
    print(f"wrote {len(items)} items to {args.out} (settings: {Path(args.out).with_suffix('.json')})")
    return 0


GENERATOR_FLAGS = {"generator_model": "model", "sampling_steps": "steps", "guidance": "guidance",
                   "negative_prompt": "negative_prompt", "scheduler": "scheduler", "gen_size": "gen_size",
                   "dtype": "dtype", "device": "device", "allow_download": "allow_download",
                   "safety_checker": "safety_checker", "max_redraws": "max_redraws", "compile": "compile",
                   "img2img": "img2img", "strength": "strength", "lora": "lora"}


def generator_options_of(args) -> dict:
    """The generator options given on the command line (named flags and --generator-option)."""
    from synaug.validate import user_yaml
    options = {opt: getattr(args, flag) for flag, opt in GENERATOR_FLAGS.items() if getattr(args, flag, None) is not None}
    return merged(options, pairs(args.generator_option, "--generator-option", parse=user_yaml), "--generator-option")


def cmd_generate(args) -> int:
    from synaug.generators.runner import parse_shard
    options = generator_options_of(args)
    report = api.generate(args.plan, args.out, args.generator, options=options, batch_size=args.batch_size,
                          shard=parse_shard(args.shard) if args.shard else None, workers=args.workers,
                          skip_undrawable=args.skip_undrawable)
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


def cmd_cache(args) -> int:
    from synaug.data.cache import default_cache_dir
    cached = api.cache(args.dataset, image_size=args.image_size, cache_dir=args.cache_dir, imbalance=args.imbalance,
                       synthetic=args.synthetic, workers=args.workers, resize=args.resize or "shorter-side")
    if not cached:
        print(f"{args.dataset} is held in memory (images <= 64 px): nothing to cache")
        return 0
    for name, ds in cached.items():  # the side each set really has, and where its cache is (if it has one)
        files = [getattr(src, "filename", None) for src in ds.images.sources]  # memory maps have one
        folders = sorted({Path(f).parent.name for f in files if f})
        where = ", ".join(folders) or "held in memory (images of at most 64 px are not cached)"
        print(f"{name:<9} {len(ds):>7} images at {ds.image_shape[0]}px  {len(ds.skipped)} skipped  {where}")
        for path, reason in ds.skipped:
            print(f"  skipped {path}: {reason}")
    print(f"cache: {args.cache_dir or default_cache_dir()} (train, run, evaluate and experiment find these images "
          "there by their content: pass the same --image-size and --resize)")
    return 0


# ----------------------------------------------------------------------------- train / evaluate
# flags that are TrainConfig keys (synaug.cli.parsers.train_options / tuning_options)
TUNING_FLAGS = ("lr", "weight_decay", "warmup", "flip", "normalize", "stage2_lr", "stage2_batch_size")
TRAIN_FLAGS = ("model", "steps", "batch_size", "stage2_steps", "device", "pretrained", "image_size", "crop_size",
               "augment", "resize", "cache_dir") + TUNING_FLAGS


def given(args, names) -> dict:
    """The flags of `names` the user gave (None means not given)."""
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def cmd_train(args) -> int:
    from synaug.training.config import TrainConfig
    from synaug.validate import check_batches_split, check_outside_dataset, load_yaml
    check_outside_dataset(args.out, args.dataset)
    options = {}
    if args.config:
        raw = load_yaml(args.config, "--config")
        options = raw.get("train", raw)
        if not isinstance(options, dict):
            raise ConfigError(f"--config {args.config}: 'train' must be a mapping of training options")
    flags = given(args, TRAIN_FLAGS)
    clash = {k: (options[k], v) for k, v in flags.items() if k in options and options[k] != v}
    if clash:  # a flag and the config file disagree: which was meant? (never the last one silently)
        raise ConfigError("; ".join(f"{k} is {a!r} in --config {args.config} and {b!r} by --{k.replace('_', '-')}"
                                    for k, (a, b) in clash.items()) + ": give each option once")
    options.update(flags, seed=args.seed)
    check_batches_split({k: options.get(k, TrainConfig.__dataclass_fields__[k].default)
                         for k in ("batch_size", "stage2_batch_size")}, _world())
    metrics = api.train(args.dataset, args.method, args.out, synthetic=args.synthetic, imbalance=args.imbalance,
                        many=args.many, few=args.few, resume=args.resume, overwrite=args.overwrite, **options)
    if _is_main():
        print_metrics(metrics)
        run = Path(args.out)
        ckpts = ", ".join(str(p) for p in sorted(run.glob("stage*.pt"))) or "none"
        print(f"metrics:     {run / 'metrics.json'}\ncheckpoints: {ckpts}\n"
              f"log:         {run / 'log.jsonl'}\nconfig:      {run / 'config.yaml'}")
    return 0


def _is_main() -> bool:
    from synaug.runtime import dist_of
    return dist_of().is_main


def _world() -> int:
    from synaug.runtime import dist_of
    return dist_of().world


def print_metrics(m: dict) -> None:
    from synaug.eval.specs import format_metrics
    for line in format_metrics(m):
        print(line)


def cmd_evaluate(args) -> int:
    from synaug.engine.evaluation import evaluate_run
    metrics, written = evaluate_run(Path(args.run), args.dataset, args.imbalance, many=args.many, few=args.few,
                                    device=args.device)
    print_metrics(metrics)
    print(f"evaluation: {Path(args.run) / 'evaluation.json'}" + ("" if written else
          " (with other thresholds than the run's; metrics.json keeps the run's numbers)"))
    return 0


def cmd_export(args) -> int:
    record = api.export(args.run, args.out)
    out = Path(args.out) if args.out else Path(args.run) / "export"
    arch = record["architecture"]
    print(f"exported {record['from_run']}/{record['from_checkpoint']} -> {out / 'model.pth'} ({arch['library']} "
          f"{record['model']}, {len(record['class_names'])} classes) and {out / 'preprocess.json'}")
    print("load it (in OUT):\n    import torch, torchvision" + ("\n    import timm" if arch["library"] == "timm" else "")
          + "".join(f"\n    {line}" for line in record["load"]))
    print("an image as its input (from torchvision.transforms.v2 import functional as F; mean, std from "
          "preprocess.json):" + "".join(f"\n    {line}" for line in record["steps"]))
    return 0


# ----------------------------------------------------------------------------- run / demo / experiment
def cmd_run(args) -> int:
    from synaug.validate import check_out_dir, load_yaml
    overrides = {"out": args.out, "seeds": seeds(args.seeds) if args.seeds else None,
                 "audit": False if args.no_audit else None}
    load_yaml(args.config, "--config")  # a missing, binary or non-mapping file: a clear error here
    if args.out:
        check_out_dir(args.out)
    results = api.run({k: v for k, v in overrides.items() if v is not None}, args.config)
    if results is not None:  # None: a rank > 0 under torchrun
        print_experiment(results)
    return 0


def cmd_demo(args) -> int:
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    results = api.demo(args.task, dataset=args.dataset, imbalance=args.imbalance, seeds=seeds(args.seeds),
                       methods=methods, steps=args.steps, out=args.out, audit=not args.no_audit,
                       train=given(args, TUNING_FLAGS), generator=args.generator, progress=not args.quiet)
    if results is not None:
        cfg = results["config"]
        from synaug.experiments.tasks import TASKS
        what = f"IF={cfg['imbalance']:g}, " if TASKS[cfg["task"]].shot_groups and cfg.get("imbalance") else ""
        print(f"\n{cfg['task']}: {cfg['dataset']} {what}seeds {cfg['seeds']}: metrics at the last step, mean ± std")
        print_experiment(results)
    return 0


def cmd_experiment(args) -> int:
    from synaug.experiments.library import EXPERIMENTS, listing
    from synaug.validate import load_yaml
    if args.list:
        experiments = listing()
        width = max(len(e.name) for e in experiments)
        for e in experiments:
            print(f"{e.name:<{width}}  {e.dataset:<16}  {e.paper}")
        return 0
    if not args.name:
        raise SynaugError("give an experiment NAME (one of: " + ", ".join(sorted(EXPERIMENTS)) + "), all, or --list")
    if args.name != "all":
        EXPERIMENTS[args.name]  # an unknown name fails (with a suggestion) before any work
    if args.config:
        load_yaml(args.config, "--config")  # a missing, binary or non-mapping file: a clear error here
    auto = args.seeds is not None and str(args.seeds).startswith("auto")
    results = api.experiment(args.name, dataset=args.dataset, imbalance=args.imbalance,
                             seeds=args.seeds if auto else seeds(args.seeds) if args.seeds is not None else None,
                             steps=args.steps,
                             out=args.out, config=args.config, shared=args.shared, progress=not args.quiet,
                             train=given(args, TUNING_FLAGS), store=args.store, launcher=args.launcher,
                             workers=args.workers, slurm=key_values(args.slurm, "--slurm"), dry_run=args.dry_run,
                             collect_only=args.collect_only)
    if results is None:  # a rank > 0 under torchrun
        return 0
    if args.dry_run:
        print_dry_run(results)
    elif args.name == "all":
        for name, r in results.items():
            print_experiment(r, brief=True) if r is not None else print(f"\n{name}: not collected (runs missing)")
    else:
        print_experiment(results)
    return 0


def key_values(pairs: list[str], flag: str) -> dict:
    """KEY=VALUE flags as a dict (values read as YAML scalars: 120 is a number)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {pair!r}: give KEY=VALUE, e.g. {flag} partition=gpu")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def print_dry_run(r: dict) -> None:
    from synaug.engine.sweep import to_make_text
    eta = r["eta_seconds"]
    print(f"experiments: {', '.join(r['experiments'])}\nrun store:   {r['store']}\n"
          f"jobs:        {r['listed']} listed, {r['distinct']} distinct after de-duplication, {r['stored']} stored, "
          f"{r['to_train']} to train\n"
          f"estimate:    {eta / 60:.1f} min of training on {r['workers']} worker(s) "
          f"({'; '.join(r['throughput']) or 'nothing to train'})\n"
          f"first:       {to_make_text(r)}" + "".join(f"\n  fit {f}" for f in r["fits_to_make"]))


def print_experiment(results: dict, brief: bool = False) -> None:
    """The one text table of run, demo and experiment (`format_result_text`), and where the files went."""
    from synaug.experiments.experiment_report import format_result_text
    out = Path(results["config"]["out"])
    jobs = results.get("jobs") or {}
    if not brief:
        print()
        print(format_result_text(results))
    done = f"{jobs.get('distinct', 0)} job(s): {jobs.get('stored', 0)} stored, {jobs.get('trained', 0)} trained"
    print(f"\n{results['experiment']}: {done}\nresults: {out / 'results.json'}\nreport:  {out / 'report.html'}"
          + (f"\nruns:    {out / 'runs'} (links into the run store {jobs.get('store')})" if (out / "runs").is_dir()
             else ""))


def cmd_runs(args) -> int:
    from synaug.engine.store import RunStore
    store = RunStore(Path(args.store))
    if not Path(args.store).is_dir():
        raise SynaugError(f"--store {args.store}: no such folder (a run store is made by run, demo or experiment)")
    refs = store.references()
    runs = store.runs()
    if args.action == "list":
        for r in runs:
            used = len(refs.get(r.key, []))
            print(f"{r.key}  {r.method:<20} seed {r.seed!s:<4} {'done' if r.done else 'unfinished':<10} "
                  f"used by {used} folder(s)")
        print(f"{len(runs)} run(s) in {store.root}")
    elif args.action == "check":
        bad = store.check()
        for key, why in bad:
            print(f"{key}: {why}")
        print(f"{len(runs)} run(s) checked, {len(bad)} with a problem")
        return 1 if bad else 0
    else:
        unused = store.unreferenced()
        for r in unused:
            print(f"{'removing' if args.yes else 'would remove'} {r.folder} ({r.method} seed {r.seed})")
            if args.yes:
                store.remove(r)
        print(f"{len(unused)} of {len(runs)} run(s) used by no output folder" + ("" if args.yes else
              "; nothing removed (dry run): add --yes to remove them"))
    return 0


# ----------------------------------------------------------------------------- audit / filter / fit-lora
def cmd_audit(args) -> int:
    from synaug.audit.cli_text import format_audit_table
    from synaug.validate import check_outside_dataset
    check_outside_dataset(args.out, args.dataset)
    result = api.audit(args.dataset, args.synthetic, args.out, imbalance=args.imbalance, use_groups=not args.no_groups,
                       progress=not args.quiet, val_fraction=args.val_fraction, seed=args.seed, k=args.k,
                       steps=args.feature_steps, model=args.model, pretrained=args.pretrained,
                       image_size=args.image_size, device=args.device, examples=args.examples,
                       resize=args.resize or "shorter-side")
    out = Path(args.out)
    print(format_audit_table(result))
    print(f"audit: {out / 'audit.json'}, {out / 'audit.csv'}, {out / 'images.csv'}\nreport: {out / 'audit.html'} "
          f"({result['timing']['total_s']:.1f} s)")
    return 0


def cmd_filter(args) -> int:
    report = api.filter(args.synthetic, audit=args.audit, clip=args.clip, keep_mislabelled=args.keep_mislabelled,
                        min_own_prob=args.min_own_prob, max_ratio=args.max_ratio, threshold=args.threshold,
                        clip_text=args.clip_text, device=args.device, batch_size=args.batch_size, dry_run=args.dry_run)
    w = max([len("cell")] + [len(str(c)) for c in report.per_cell])
    print(f"{'cell':<{w}}  {'kept':>6} {'drop':>6}")
    for cell, (kept, dropped) in report.per_cell.items():
        print(f"{str(cell):<{w}}  {kept:>6} {dropped:>6}")
    print(f"{'would drop' if args.dry_run else 'dropped'} {len(report.dropped)} image(s), kept {report.kept}"
          + (f" ({report.already_dropped} dropped by an earlier filter)" if report.already_dropped else ""))
    for name, reason in report.dropped[:5]:
        print(f"  {name}: {reason}")
    if report.dropped and not args.dry_run:
        print(f"recorded in {Path(args.synthetic) / '.synaug' / 'dropped.csv'} (files kept on disk; metadata.csv "
              "before the first filter: .synaug/metadata.before-filter.csv)")
    return 0


def cmd_fit_generator(args) -> int:
    from synaug.engine.fit_quality import summary as quality_summary
    from synaug.validate import check_outside_dataset, user_yaml
    check_outside_dataset(args.out, args.dataset)
    settings = {k: getattr(args, k) for k in ("steps", "batch_size", "lr", "arch", "cbdm_weight", "seed", "device")
                if getattr(args, k) is not None}
    settings = merged(settings, pairs(args.fit_option, "--fit-option", parse=user_yaml), "--fit-option")
    result = api.fit_generator(args.dataset, args.out, pool=args.pool, imbalance=args.imbalance,
                               use_groups=not args.no_groups, image_size=args.image_size, progress=not args.quiet,
                               quality_samples=args.quality_samples, quality_steps=args.quality_steps, **settings)
    loss, check = result["final_loss"], result.get("sample_check")
    print(f"{args.generator} generator in {args.out}: {result['steps']} steps ({result['steps_run']} run now"
          + (f", final loss {loss:.4f}" if loss is not None else "") + f") on the {args.pool} pool of {args.dataset}; "
          f"draw with `synaug generate --generator {args.generator} --generator-model {args.out}` or a config's "
          f"generate: {{generator: {args.generator}, options: {{model: {args.out}}}}}")
    if check and not check["failing"]:  # a failing check is a WARNING logged by the check itself
        print(f"sample check: every class's samples are recognised by a classifier trained on the real images "
              f"(at least {100 * check['floor']:.0f} % each; grid in {Path(args.out) / check['grid']})")
    if result.get("quality"):
        print(quality_summary(result["quality"]) + f" (in {args.out})")
    return 0


def cmd_fit_lora(args) -> int:
    from synaug.generators.lora import adapter_dir
    if not args.generator_model:
        raise ConfigError("fit-lora needs --generator-model (a local diffusers Stable Diffusion folder)")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    shown = []

    def show(info):  # the header with the first row: a refused --classes prints an error line alone
        if not shown:
            print(f"{'class':<20} {'images':>6}  {'loss before':>11} {'after':>8}  adapter")
            shown.append(True)
        print(f"{info['class_name']:<20} {info['real_images']:>6}  {info['loss_before']:>11.4f} "
              f"{info['loss_after']:>8.4f}  {adapter_dir(args.out, info['class_name'])}")

    infos = api.fit_lora(args.dataset, args.generator_model, args.out, imbalance=args.imbalance, classes=classes,
                         device=args.device, on_class=show, rank=args.rank, steps=args.lora_steps, lr=args.lr,
                         batch_size=args.batch_size, resolution=args.resolution, seed=args.seed)
    print(f"{len(infos)} adapter(s) in {args.out}: generate with `synaug generate --generator diffusion "
          f"--generator-model {args.generator_model} --lora {args.out} ...`")
    return 0
