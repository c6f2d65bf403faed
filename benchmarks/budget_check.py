"""Are the experiments' training budgets sufficient? Each experiment family's plain baseline (CE or ERM,
the row that gains most from longer training) is trained at the family's default steps and at twice
as many, over the same seeds, through the engine; the paired difference (2x - 1x) with its 95 %
t-interval says whether the default is budget-limited (a gap of one point or more on the headline
metric).

    python benchmarks/budget_check.py [--seeds 0,1,2] [--steps 300] [--out runs/budget] [--markdown docs/budget.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from synaug.engine.execute import run_job
from synaug.engine.workspace import Workspace
from synaug.experiments.catalog import EXPERIMENTS, experiment_config
from synaug.experiments.claims import paired_test
from synaug.experiments.library import listing  # noqa: F401  (registers every experiment)

# (family, an experiment whose config it uses, the baseline, the headline metric)
FAMILIES = [("long-tail tables (table1, table2, table3b-lt, table5)", "table2", "ce", "accuracy"),
            ("long-tail analyses (fig2 at IF 1, fig4, uniformization: 300 steps)", "fig4", "ce", "accuracy"),
            ("fairness tables (table3a-d)", "table3a", "erm", "accuracy"),
            ("spurious table (table4)", "table4", "erm", "worst_group")]


def measure(name: str, method: str, key: str, seeds: list[int], out: Path, steps: int | None = None) -> dict:
    overrides = {"seeds": seeds, "out": str(out / name)}
    if steps:  # the base budget of a run made with `synaug experiment NAME --steps S`
        overrides["train"] = {"steps": steps}
    cfg = experiment_config(EXPERIMENTS[name], overrides)
    ws = Workspace(shared=out / "shared", progress=False, log=lambda *a, **k: None)
    steps = cfg.train.steps
    values = {}
    for factor in (1, 2):
        for seed in seeds:
            job = cfg.job(method, seed, f"{method}-{factor}x", train={"steps": steps * factor})
            values.setdefault(factor, {})[seed] = run_job(job, cfg.run_dir(job), ws)[key]
    _, diff, ci, p = paired_test(values[2], values[1], 1.0)
    return {"steps": steps, "mean_1x": float(np.mean(list(values[1].values()))),
            "mean_2x": float(np.mean(list(values[2].values()))), "diff": diff, "ci95": ci, "p": p,
            "limited": diff is not None and diff >= 1.0}


def markdown(rows: list) -> str:
    lines = ["| family | baseline | steps | headline at 1x | at 2x | 2x - 1x (95 % CI, p) | budget-limited |",
             "|---|---|---|---|---|---|---|"]
    for family, method, key, r in rows:
        ci = "" if r["ci95"] is None else f" [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"
        p = "" if r["p"] is None else f", p = {r['p']:.3g}"
        lines.append(f"| {family} | {method} ({key}) | {r['steps']} | {r['mean_1x']:.2f} | {r['mean_2x']:.2f} | "
                     f"{r['diff']:+.2f}{ci}{p} | {'yes' if r['limited'] else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="runs/budget")
    ap.add_argument("--steps", type=int, default=None,
                    help="the 1x budget (default: each experiment's own; give the --steps the results were run with)")
    ap.add_argument("--only", default=None,
                    help="comma-separated experiments naming the families to check (default: all: "
                         + ",".join(f[1] for f in FAMILIES) + ")")
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    rows = []
    only = set(args.only.split(",")) if args.only else {f[1] for f in FAMILIES}
    for family, name, method, key in (f for f in FAMILIES if f[1] in only):
        r = measure(name, method, key, seeds, out, args.steps)
        rows.append((family, method, key, r))
        print(family, json.dumps(r), flush=True)
    table = markdown(rows)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")


if __name__ == "__main__":
    main()
