"""The paper campaign (results/campaign.yaml): every experiment with its settings over one run store
whose records are kept in git (results/store), then docs/results.md rebuilt from them, with every
claim in one table (marked by benchmarks/budget_check.py's findings in the campaign's `budget` folder).

    python benchmarks/campaign.py [--only table2,table1] [--launcher local --workers 2]
    python benchmarks/campaign.py --collect-only     # docs/results.md from the stored records alone
    python benchmarks/campaign.py --dry-run          # what is missing, and its estimated time here

An interrupted campaign continues from what is stored (a finished job is never trained again); with
--collect-only a table's rows without stored runs are listed as not run, and an analysis whose runs
are not all stored is left out (its earlier section in docs/results.md is kept). An entry may be a variant
of an experiment: `table1@ddpm: {experiment: table1, generate: {generator: ddpm, fit: {pool: pretrain}}}` runs
table1 with those overrides into its own folder and its own section of docs/results.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from synaug import api
from synaug.engine.sweep import to_make_note
from synaug.errors import SynaugError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from experiments_markdown import main as write_markdown  # noqa: E402


def read_campaign(path: Path) -> dict:
    try:
        campaign = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SynaugError(f"{path}: cannot read the campaign ({exc})") from exc
    if not isinstance(campaign, dict) or not isinstance(campaign.get("experiments"), dict):
        raise SynaugError(f"{path}: expected store, out, shared and experiments: {{name: overrides}}")
    return campaign


def selected(campaign: dict, only: str | None) -> dict:
    names = campaign["experiments"]
    if only is None:
        return names
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise SynaugError(f"--only {only}: not in the campaign: {unknown} (it has {sorted(names)})")
    return {n: names[n] for n in wanted}


def run(campaign: dict, names: dict, args) -> list[str]:
    """Every selected experiment through the campaign's store; returns the ones that were collected."""
    root = Path(campaign["out"])
    collected = []
    for name, given in names.items():
        given = dict(given or {})
        experiment = given.pop("experiment", name)  # a variant (table1@ddpm) names the experiment it runs
        results = api.experiment(experiment, seeds=given.pop("seeds", None), steps=given.pop("steps", None),
                                 overrides=given, out=root / name, store=campaign["store"],
                                 shared=campaign["shared"], progress=not args.quiet, launcher=args.launcher,
                                 workers=args.workers, dry_run=args.dry_run, collect_only=args.collect_only)
        if args.dry_run:
            print(f"{name}: {results['distinct']} distinct jobs, {results['stored']} stored, "
                  f"{results['to_train']} to train, ~{results['eta_seconds'] / 60:.0f} min" + to_make_note(results))
        elif results is not None:
            collected.append(name)
    return collected


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--campaign", default="results/campaign.yaml")
    p.add_argument("--only", default=None, help="comma-separated experiments of the campaign")
    p.add_argument("--collect-only", action="store_true", help="train nothing: tables from the stored records")
    p.add_argument("--dry-run", action="store_true", help="print what is missing and its estimated time")
    p.add_argument("--launcher", default="local", choices=("local", "multi-gpu", "slurm", "submitit-local"))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--markdown", default="docs/results.md", help="the document whose experiments block is rebuilt")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        if args.workers < 1:
            raise SynaugError(f"--workers {args.workers}: give 1 or more")
        if not args.dry_run and not Path(args.markdown).is_file():  # refused before anything trains
            raise SynaugError(f"--markdown {args.markdown}: no such file (the document whose experiments block "
                              "the campaign rebuilds)")
        campaign = read_campaign(Path(args.campaign))
        collected = run(campaign, selected(campaign, args.only), args)
        if not args.dry_run and collected:
            write_markdown(campaign["out"], args.markdown, campaign.get("budget"))
    except SynaugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
