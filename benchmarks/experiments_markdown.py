"""Write the named experiments' results (`synaug experiment NAME`, under ROOT/NAME/results.json) into
docs/results.md, between the markers `<!-- experiments:begin -->` and `<!-- experiments:end -->`:
per experiment its command, seeds and steps, wall time, the tables (mean ± sample std over seeds, the
paper's numbers after '|'), one line per claim with its family (paper or exploratory) and its verdict
(consistent, contradicted, equivalent, underpowered or not runnable here), and the rows not run; a
variant's folder (table1@ddpm: the experiment on the learned stand-in) has its own section. The
block's sections of experiments not under ROOT (run earlier, elsewhere) are kept as they are.

Usage: python benchmarks/experiments_markdown.py ROOT [docs/results.md]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from synaug.experiments.experiment_report import format_result_text
from synaug.fileio import atomic_write_text

BEGIN, END = "<!-- experiments:begin -->", "<!-- experiments:end -->"


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
    if name != results["experiment"] and gen.get("fit"):  # the keys a variant sets, not every resolved default
        given = {k: v for k, v in gen.items() if k in ("generator", "fit") or (k == "options" and v)}
        command += f" --config CONFIG (generate: {json.dumps(given)})"
    fit = f", fitted on the {gen['fit'].get('pool')} pool" if gen.get("fit") else ""
    options = ", ".join(f"{k} {v}" for k, v in (gen.get("options") or {}).items() if k != "model")
    generator = f"`{gen.get('generator')}` images{fit}" + (f" ({options})" if options else "") if gen else "no images"
    varied = ", ".join(cfg.get("vary") or ())
    head = (f"### `{name}`: {results['title']}\n\n{results['paper']}\n\n"
            f"`{command}` on `{cfg['dataset']}`, {generator}; {len(cfg['seeds'])} seed(s) varying {varied or 'nothing'}, "
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


def sections_in(block: str) -> dict[str, str]:
    """{experiment name: its section} of a block this script wrote (each section starts '### `NAME`')."""
    parts = re.split(r"(?m)^(?=### `)", block)
    return {re.match(r"### `([^`]+)`", p).group(1): p.rstrip("\n") + "\n" for p in parts if p.startswith("### `")}


def main(root: str, target: str = "docs/results.md") -> None:
    """The sections of ROOT's experiments replace theirs in the block; the block's other sections
    (experiments run earlier, whose results.json are not under ROOT) are kept, all in name order."""
    found = {p.parent.name: section(p.parent.name, json.loads(p.read_text()))
             for p in sorted(Path(root).glob("*/results.json"))}
    doc = Path(target).read_text()
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
