"""Do the claimed differences survive more training? Each experiment of each family (the long-tail
tables, the long-tail analyses, the fairness tables, the spurious table) is run at its budget (1x:
the experiment's default steps, or --steps) and at twice as many stage-1 steps (2x; uniformization's
equal-epoch schedule also at twice the epochs), over the same seeds, through `synaug experiment` and
the campaign's run store (results/store): the 1x runs are the campaign's own records (nothing trains
twice), the 2x runs are stored beside them. Every claim's paired difference is then compared across the two (`synaug.experiments.budget`): a
claim whose 2x difference falls outside its 1x 95 % interval is `budget-sensitive`. The marked 1x
findings are written beside the runs (OUT/NAME-budget.json) for the tables to be rebuilt with.

    python benchmarks/budget_check.py [--seeds 0,1,2] [--steps 300] [--only table2,table4] [--out runs/budget]
                                      [--store results/store] [--shared results/shared] [--workers 2]
                                      [--markdown docs/budget.md] [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synaug import api
from synaug.engine.sweep import to_make_note
from synaug.errors import SynaugError
from synaug.experiments.analyses import uniformization
from synaug.experiments.budget import mark_results
from synaug.experiments.catalog import experiment_config
from synaug.experiments.library import EXPERIMENTS
from synaug.experiments.tables import longtail
from synaug.fileio import atomic_write_text, write_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from experiments_markdown import budget_word, comparison_label  # noqa: E402  (the claims table's words)

FAMILIES = [("long-tail tables", ("table1", "table2", "table3b-lt", "table5")),
            ("long-tail analyses", ("fig2", "fig3", "fig4", "uniformization")),
            ("fairness tables", ("table3a", "table3b", "table3c", "table3d")),
            ("spurious table", ("table4",))]
# what else doubles at 2x: uniformization's equal-epoch schedule counts epochs, not steps
TWICE = {"uniformization": {"epochs": 2 * uniformization.DEFAULTS["epochs"]}}
# rows left out at both budgets: table5's learned-generator rows (synaug's exploratory ones) refit a ddpm per
# seed and pool at each budget, longer than the rest of the check; their four claims read `not run`
LEFT_OUT = {"table5": {"skip_rows": [longtail.LEARNED_TRAIN, longtail.LEARNED_UNUSED]}}


def options_at(name: str, factor: int) -> dict | None:
    """The experiment's options at a budget: the rows it leaves out at both, and at 2x what else doubles."""
    options = {**LEFT_OUT.get(name, {}), **(TWICE.get(name, {}) if factor == 2 else {})}
    return {"options": options} if options else None


def seed_list(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers >= 0 (e.g. 0,1,2), got {text!r}")
    if len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(f"--seeds {text!r} repeats a seed")
    return [int(p) for p in parts]


def positive_steps(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--steps takes an integer >= 1, got {text!r}")
    return value


def run_pair(name: str, args: argparse.Namespace) -> tuple[int, list[dict] | None]:
    """The experiment at 1x and 2x steps through the run store; returns the 1x steps and its findings
    marked by the 2x run (None on --dry-run, which prints what each budget would train instead)."""
    base = args.steps or experiment_config(EXPERIMENTS[name], {}).train.steps
    for factor in (1, 2):
        r = api.experiment(name, seeds=args.seeds, steps=base * factor, out=args.out / f"{name}-{factor}x",
                           overrides=options_at(name, factor), store=args.store, shared=args.shared,
                           progress=False, workers=args.workers, dry_run=args.dry_run)
        if args.dry_run:
            print(f"{name} at {factor}x ({base * factor} steps): {r['distinct']} distinct jobs, {r['stored']} stored, "
                  f"{r['to_train']} to train, ~{r['eta_seconds'] / 60:.0f} min" + to_make_note(r), flush=True)
    if args.dry_run:
        return base, None
    marked = mark_results(args.out / f"{name}-1x" / "results.json", args.out / f"{name}-2x" / "results.json")
    write_json(args.out / f"{name}-budget.json", {"experiment": name, "steps_1x": base, "steps_2x": 2 * base,
                                                  "seeds": args.seeds, "findings": marked})
    return base, marked


def markdown(rows: list) -> str:
    lines = ["| family | experiment (1x steps) | claim | test | 1x difference [95 % CI] | 2x | change | budget |",
             "|---|---|---|---|---|---|---|---|"]
    for family, name, steps, finding in rows:
        for t in finding["test"].get("tests", []):
            b = t["budget"]
            ci = "" if not b["ci95_1x"] else f" [{b['ci95_1x'][0]:.3g}, {b['ci95_1x'][1]:.3g}]"
            fmt = lambda v: "-" if v is None else f"{v:+.3g}"  # noqa: E731
            lines.append(f"| {family} | {name} ({steps}) | {finding['claim']} | {comparison_label(t)} | "
                         f"{fmt(b['diff_1x'])}{ci} | {fmt(b['diff_2x'])} | {fmt(b['change'])} | {budget_word(b)} |")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seed_list, default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("runs/budget"))
    ap.add_argument("--steps", type=positive_steps, default=None,
                    help="the 1x budget (default: each experiment's own; give the --steps the results were run with)")
    ap.add_argument("--only", default=None, help="comma-separated experiments to check (default: every family's: "
                    + ",".join(n for _, names in FAMILIES for n in names) + ")")
    ap.add_argument("--store", type=Path, default=Path("results/store"),
                    help="the run store (default: the campaign's, so the 1x runs are its records)")
    ap.add_argument("--shared", type=Path, default=Path("results/shared"), help="synthetic sets and fitted generators")
    ap.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    ap.add_argument("--dry-run", action="store_true", help="print what each budget would train, train nothing")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    every = [n for _, names in FAMILIES for n in names]
    args.only = [n.strip() for n in args.only.split(",")] if args.only else every
    unknown = [n for n in args.only if n not in every]
    if unknown:
        ap.error(f"--only: {unknown} are not budget-checked experiments (choose from {every})")
    for flag, path in (("--out", args.out), ("--store", args.store), ("--shared", args.shared)):
        if path.exists() and not path.is_dir():
            ap.error(f"{flag} {path} is a file, not a folder")
    if args.workers < 1:
        ap.error(f"--workers takes an integer >= 1, got {args.workers}")
    if args.markdown is not None and (args.markdown.is_dir() or not args.markdown.parent.is_dir()):
        ap.error(f"--markdown {args.markdown}: " + ("is a folder; give a file name" if args.markdown.is_dir()
                                                    else f"its folder {args.markdown.parent} does not exist"))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    rows = []
    try:
        for family, names in FAMILIES:
            for name in (n for n in names if n in args.only):
                steps, marked = run_pair(name, args)
                if marked is not None:
                    rows += [(family, name, steps, f) for f in marked if f.get("test", {}).get("tests")]
                    print(f"{family}: {name} done ({steps} and {2 * steps} steps)", flush=True)
    except SynaugError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if args.dry_run:
        return
    table = markdown(rows)
    print(table)
    if args.markdown:
        atomic_write_text(args.markdown, table + "\n")


if __name__ == "__main__":
    main()
