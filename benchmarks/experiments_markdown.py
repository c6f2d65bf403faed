"""Write the named experiments' results (`synaug experiment NAME`, under ROOT/NAME/results.json) into
docs/results.md, between the markers `<!-- experiments:begin -->` and `<!-- experiments:end -->`:
per experiment its command, seeds and steps, wall time, the tables (mean ± sample std over seeds, the
paper's numbers after '|'), one line per claim with its family (paper or exploratory) and its verdict
(consistent, contradicted, equivalent, underpowered or not runnable here), and the rows not run; a
variant's folder (table1@ddpm: the experiment on the learned stand-in) has its own section. The
block's sections of experiments not under ROOT (run earlier, elsewhere) are kept as they are.

Every claim of every experiment is also one table (between `<!-- claims:begin -->` and `<!-- claims:end
-->`, before the sections): its family, margin delta, seeds, paired difference with its interval, p and
Holm p, TOST p, the difference detectable at 80 % power, the seeds that would detect delta, the verdict
and, when BUDGET (benchmarks/budget_check.py's --out) holds the experiment's NAME-budget.json, whether the
difference moved outside its interval at twice the steps. Rows of experiments not under ROOT are kept.

Usage: python benchmarks/experiments_markdown.py ROOT [docs/results.md] [BUDGET]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from synaug.experiments.experiment_report import format_result_text
from synaug.experiments.library import EXPERIMENTS
from synaug.fileio import atomic_write_text

BEGIN, END = "<!-- experiments:begin -->", "<!-- experiments:end -->"
CLAIMS_BEGIN, CLAIMS_END = "<!-- claims:begin -->", "<!-- claims:end -->"
CLAIMS_HEAD = ("| experiment | family | claim | test | delta | seeds | difference [95 % CI] | p (Holm) | TOST p (Holm) "
               "| detectable at 80 % | seeds for delta | verdict | at 2x steps |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
BUDGET_WORD = {True: "budget-sensitive", False: "stable", None: "undecided (no interval)"}


def budget_word(mark: dict | None, bold: bool = False) -> str:
    """How a test's difference moved at 2x steps (`synaug.experiments.budget`): "not checked" without a 2x
    run, "-" without a 1x difference (a row not run, a metric undefined), else its BUDGET_WORD."""
    if mark is None:
        return "not checked"
    if mark.get("diff_1x") is None:
        return "-"
    word = BUDGET_WORD[mark.get("sensitive")]
    return f"**{word}**" if bold and mark.get("sensitive") else word


def section(name: str, results: dict) -> str:
    """The section of the experiment whose results.json is in folder `name` (its name, or a variant's:
    table1@ddpm, the same experiment with other overrides)."""
    cfg = results["config"]
    seeds = ",".join(str(s) for s in cfg["seeds"])
    steps = cfg["train"].get("steps")
    imbalance = cfg.get("imbalance")  # the resolved config keeps it at the top level (default 100)
    command = (f"synaug experiment {results['experiment']} --seeds {seeds}" + (f" --steps {steps}" if steps else "")
               + (f" --imbalance {imbalance:g}" if imbalance not in (None, 100) else ""))
    gen = cfg.get("generate") or {}
    given = []  # the keys a variant sets, not every resolved default
    if name != results["experiment"] and gen.get("fit"):
        given.append("generate: " + json.dumps({k: v for k, v in gen.items()
                                                if k in ("generator", "fit") or (k == "options" and v)}))
    if name != results["experiment"] and cfg.get("options"):
        given.append("options: " + json.dumps(cfg["options"]))
    command += f" --config CONFIG ({'; '.join(given)})" if given else ""
    fit = f", fitted on the {gen['fit'].get('pool')} pool" if gen.get("fit") else ""
    options = ", ".join(f"{k} {v}" for k, v in (gen.get("options") or {}).items() if k != "model")
    generator = f"`{gen.get('generator')}` images{fit}" + (f" ({options})" if options else "") if gen else "no images"
    varied = ", ".join(cfg.get("vary") or ())
    own = EXPERIMENTS.get(results["experiment"])
    # an experiment on data of its own (fig5's 2-D Gaussians) uses neither the config's dataset nor its generator
    data = own.dataset if own is not None and own.draws_own_data else f"`{cfg['dataset']}`, {generator}"
    head = (f"### `{name}`: {results['title']}\n\n{results['paper']}\n\n"
            f"`{command}` on {data}; {len(cfg['seeds'])} seed(s) varying {varied or 'nothing'}, "
            f"{steps} stage-1 steps; {cost(results)}\n")
    return head + "\n```\n" + format_result_text(results) + "\n```\n"


def cost(results: dict) -> str:
    """What the section cost: its training time (the runs' own train_seconds) and, when the runs came
    from the run store, that this collection trained nothing (its wall time is then collection only)."""
    jobs = results.get("jobs") or {}
    train = sum(m.get("train_seconds") or 0 for row in results.get("rows", {}).values()
                for m in row.get("seeds", {}).values())
    spent = f"{train / 60:.0f} min of training on the 2-core machine, other work running" if train else ""
    if jobs and jobs.get("trained") == 0 and jobs.get("stored"):
        return (f"{jobs['stored']} runs read from the run store (results/store) and re-scored, none trained in this "
                f"collection" + (f"; they took {spent}" if spent else ""))
    if jobs and jobs.get("stored") and spent:  # a campaign resumed: part stored by an earlier call, part trained now
        return (f"{jobs['stored']} runs from the run store and {jobs.get('trained')} trained in the last call, all "
                f"re-scored from their records; they took {spent}")
    return f"{results['seconds'] / 60:.1f} min on the 2-core machine, other work running"


def number(value, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def seeds_for_delta(test: dict) -> str:
    """The seeds that would detect delta; None on a run test means more than the cap (10) would."""
    if test.get("seeds_needed"):
        return str(test["seeds_needed"])
    return "> 10" if test.get("n") and test.get("p") is not None else "-"


def comparison_label(test: dict) -> str:
    """What a claim's test compares: "shape, per seed" for a rule, else the metric against its rival."""
    if test.get("metric") == "rule":
        return "shape, per seed"
    return f"{test.get('metric')} vs {test.get('rival')}" if test.get("rival") else str(test.get("metric"))


def row_experiment(line: str) -> str | None:
    """The experiment a row of the claims table belongs to (its first cell, `NAME`), None for other lines."""
    match = re.match(r"\| `([^`]+)` \|", line)
    return match.group(1) if match else None


def claim_rows(name: str, results: dict, budget: dict | None = None) -> list[str]:
    """One table row per test of each of the experiment's claims (a claim over several metrics or rivals
    has several; its verdict is the claim's). `budget`: NAME-budget.json's marked findings, if any."""
    marks = {(f["claim"], t.get("metric"), t.get("rival")): t.get("budget")
             for f in (budget or {}).get("findings", []) for t in (f.get("test") or {}).get("tests", [])}
    rows = []
    for finding in results.get("findings", []):
        for t in (finding.get("test") or {}).get("tests", []):
            ci = t.get("ci95")
            diff = number(t.get("diff"), "+.3g") + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")
            p = "sign test " if t.get("metric") == "rule" or t.get("sign_test") else ""
            moved = budget_word(marks.get((finding["claim"], t.get("metric"), t.get("rival"))), bold=True)
            rows.append(f"| `{name}` | {t.get('family') or (finding.get('test') or {}).get('family')} | "
                        f"{finding['claim']} | {comparison_label(t)} | {number(t.get('delta'))} | {t.get('n')} | {diff} | "
                        f"{p}{number(t.get('p'))} ({number(t.get('p_holm'))}) | {number(t.get('tost_p'))} "
                        f"({number(t.get('tost_p_holm'))}) | {number(t.get('detectable'))} | "
                        f"{seeds_for_delta(t)} | "
                        f"{finding['status']} | {moved} |")
    return rows


def claims_table(doc: str, found: dict[str, dict], budget: Path | None) -> str:
    """The claims table of `found` experiments, with the rows of the others kept from `doc`'s table."""
    kept = []
    if CLAIMS_BEGIN in doc and CLAIMS_END in doc:
        old = doc[doc.index(CLAIMS_BEGIN) + len(CLAIMS_BEGIN):doc.index(CLAIMS_END)]
        kept = [line for line in old.splitlines() if row_experiment(line) not in (None, *found)]
    rows = list(kept)
    for name, results in found.items():
        path = None if budget is None else Path(budget) / f"{name}-budget.json"
        rows += claim_rows(name, results, json.loads(path.read_text()) if path and path.is_file() else None)
    rows.sort(key=row_experiment)
    return "\n".join([CLAIMS_BEGIN, CLAIMS_HEAD, *rows, CLAIMS_END])


def sections_in(block: str) -> dict[str, str]:
    """{experiment name: its section} of a block this script wrote (each section starts '### `NAME`')."""
    parts = re.split(r"(?m)^(?=### `)", block)
    return {re.match(r"### `([^`]+)`", p).group(1): p.rstrip("\n") + "\n" for p in parts if p.startswith("### `")}


def main(root: str, target: str = "docs/results.md", budget: str | None = None) -> None:
    """The sections of ROOT's experiments replace theirs in the block; the block's other sections
    (experiments run earlier, whose results.json are not under ROOT) are kept, all in name order. The
    claims table is rebuilt the same way, before the block."""
    results = {p.parent.name: json.loads(p.read_text()) for p in sorted(Path(root).glob("*/results.json"))}
    found = {name: section(name, r) for name, r in results.items()}
    doc = Path(target).read_text()
    table = claims_table(doc, results, None if budget is None else Path(budget))
    if CLAIMS_BEGIN in doc and CLAIMS_END in doc:
        doc = doc[:doc.index(CLAIMS_BEGIN)] + table + doc[doc.index(CLAIMS_END) + len(CLAIMS_END):]
    elif BEGIN in doc:
        doc = doc[:doc.index(BEGIN)] + "### Every claim in one table\n\n" + table + "\n\n" + doc[doc.index(BEGIN):]
    kept = sections_in(doc[doc.index(BEGIN) + len(BEGIN):doc.index(END)]) if BEGIN in doc and END in doc else {}
    merged = {**kept, **found}
    block = "\n".join([BEGIN, *(merged[k] for k in sorted(merged)), END])
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n## The paper's tables and figures (`synaug experiment`)\n\n" + block + "\n"
    atomic_write_text(Path(target), doc)
    print(f"{len(found)} experiment(s) written into {target}, {len(set(kept) - set(found))} kept as they were")


if __name__ == "__main__":
    main(*sys.argv[1:])
