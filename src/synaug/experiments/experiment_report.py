"""What an experiment leaves behind, a named one or `synaug run` / `demo` (an experiment whose rows
are the config's methods): results.json (tables of Stats with the paper's numbers beside, per row its
runs, the chance level, curves, findings with their tests, skipped parts, and a run's own sections),
results.txt (the text table), one PNG per table, and report.html (one section: the tables, the
figures inlined, one line per finding with its verdict, the stand-in caveat; a run's data, synthetic
sets, audits and setup by `synaug.experiments.report`). The one report writer of synaug's results;
works on the result's plain dicts, so it imports nothing of the catalog."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np

from synaug.pages import figure_html, findings_html, list_html, table_html, write_page
from synaug.eval.chance import chance_note
from synaug.eval.metrics import split_text
from synaug.experiments import report
from synaug.experiments.stats import cell_mean
from synaug.experiments.table import numeric_columns, table_text
from synaug.experiments.tasks import TASKS
from synaug.fileio import atomic_write_text, write_json
from synaug.plots import pyplot, save_png

STATUSES = ("consistent", "contradicted", "equivalent", "underpowered", "not runnable here")


def as_dict(obj):
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return asdict(obj) if is_dataclass(obj) else dict(obj)


def stand_in_caveat(cfg: dict, paper: str) -> str:
    """Why the numbers here are not the paper's: other data, generator and model."""
    model = cfg["train"].get("model") or "small-cnn"
    return (f"Stand-in: these numbers come from <code>{html.escape(str(cfg['dataset']))}</code>, the "
            f"<code>{html.escape(cfg['generate']['generator'])}</code> generator and the "
            f"<code>{html.escape(model)}</code> model, trained {cfg['train'].get('steps')} steps; the paper's "
            f"({html.escape(paper)}) come from CIFAR100-LT / ImageNet100-LT / UTKFace / Waterbirds, Stable "
            "Diffusion images and ResNets. Compare directions (which row is higher), not values.")


def table_figure(table: dict, path: Path) -> Path | None:
    """Grouped bars, one group per column measured in % (fractions such as DP stay in the table),
    one bar per row with its std over seeds as an error bar."""
    cols = numeric_columns(table)
    if not cols or not table["rows"]:
        return None
    plt = pyplot()
    rows = list(table["rows"].items())
    x = np.arange(len(cols))
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cols) * max(1, len(rows)) / 3), 3.6))
    for j, (name, row) in enumerate(rows):
        vals = [row.get(table["columns"][i]) for i in cols]
        means = [np.nan if cell_mean(v) is None else cell_mean(v) for v in vals]
        errs = [(v.get("std") or 0.0) if isinstance(v, dict) else 0.0 for v in vals]
        ax.bar(x + (j - (len(rows) - 1) / 2) * width, means, width, yerr=errs if any(errs) else None, capsize=2,
               label=name)
    ax.set_xticks(x, [table["labels"][i] for i in cols])
    ax.set_ylabel("%")
    ax.set_title(table["title"], fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_png(fig, path)


def section_html(results: dict, out: Path) -> str:
    """One experiment's HTML section: title, setting, tables, figures, findings, skipped parts, and a
    run's own sections where results.json has them (`synaug.experiments.report`)."""
    cfg, seeds = results["config"], results["config"]["seeds"]
    paper = f"Paper: {html.escape(results['paper'])}. " if results.get("paper") else ""
    body = [f"<section id='{html.escape(results['experiment'])}'><h2>{html.escape(results['experiment'])}: "
            f"{html.escape(results['title'])}</h2>",
            f"<p>{paper}Data: <code>{html.escape(str(cfg['dataset']))}</code>"
            + (f", imbalance factor {cfg['imbalance']:g}" if TASKS[cfg["task"]].shot_groups and cfg.get("imbalance")
               else "")
            + f"; seeds {', '.join(map(str, seeds))}: "
            + ("mean ± sample std over seeds" if len(seeds) > 1 else "one seed (n = 1, no spread)")
            + "; metrics at the last training step (nothing selected on the test set)."
            + (f" {html.escape(split_text(results['thresholds']))}." if results.get("thresholds") else "") + "</p>",
            report.run_header_html(results)]
    rows = results.get("rows") or {}
    described = {name: r["description"] for name, r in rows.items() if r.get("description")}
    flagged = {name: "at chance" for name in results.get("at_chance") or []}
    body += [table_html(t, described or None, "what it is", flagged) for t in results["tables"]]
    body += [report.chance_html(results), report.run_notes_html(results)]
    for fig in results["figures"]:
        if (out / fig["file"]).is_file():
            body.append(figure_html(str(out / fig["file"]), f"{html.escape(fig['caption'])} "
                                    f"(<code>{html.escape(fig['file'])}</code>)"))
    body.append(report.run_sets_html(results, out))
    body.append(findings_html(results["findings"]))
    body.append(list_html("Not run here", results["skipped"]))
    if results.get("caveat"):
        body.append(f"<p class=note>{results['caveat']}</p>")
    jobs = results.get("jobs") or {}
    reuse = (f" {jobs.get('distinct')} distinct job(s): {jobs.get('stored')} found in the run store, "
             f"{jobs.get('trained')} trained now;" if jobs else "")
    body.append(f"<p class=note>Run time {results['seconds']:.0f} s;{html.escape(reuse)} every run re-scored from its "
                f"record (predictions) in the run store <code>{html.escape(str(jobs.get('store', 'store/')))}</code>; "
                "numbers in <code>results.json</code>, per run under <code>runs/</code>.</p></section>")
    return "\n".join(b for b in body if b)


def write_result(experiment, cfg: dict, out: Path, result, seconds: float, index: bool = False,
                 thresholds: dict | None = None, jobs: dict | None = None, seeds_rule: dict | None = None) -> dict:
    """results.json, one PNG per table and report.html for one experiment's `result` (with `index`,
    the experiments.html of the folder above, gathering every experiment's section); returns the
    results dict written to results.json."""
    out = Path(out)
    tables = [as_dict(t) for t in result.tables]
    figures = [{"file": f, "caption": c} for f, c in result.figures]
    for i, table in enumerate(tables):
        png = table_figure(table, out / f"{experiment.name}-table{i + 1}.png")
        if png is not None:
            figures.append({"file": png.name, "caption": f"{table['title']}: mean over seeds, error bars one std"})
    results = {"experiment": experiment.name, "title": experiment.title, "paper": experiment.paper,
               "config": cfg, "seconds": seconds, "tables": tables, "rows": result.rows, "chance": result.chance,
               "at_chance": result.at_chance, "curves": result.curves, "figures": figures,
               "findings": [as_dict(f) for f in result.findings], "skipped": result.skipped,
               "caveat": stand_in_caveat(cfg, experiment.paper) if experiment.paper else "",
               "selection": "last training step (no test-set selection)", "thresholds": thresholds,
               "jobs": jobs or {}, **({"seeds_rule": seeds_rule} if seeds_rule else {}), **result.sections}
    write_json(out / "results.json", results)
    atomic_write_text(out / "results.txt", format_result_text(results) + "\n")
    section = section_html(results, out)
    atomic_write_text(out / "section.html", section)
    write_page(out / "report.html", f"synaug experiment {experiment.name}" if experiment.paper else
               f"synaug {experiment.name}: {experiment.title}", section)
    if index:  # runs/experiments/experiments.html: one page for every experiment of the default root
        write_index(out.parent)
    return results


def write_index(folder: Path) -> Path:
    """FOLDER/experiments.html: the sections of every experiment run under FOLDER (each
    NAME/section.html), in name order, so the default runs/experiments/ has one page for all."""
    parts = sorted(p for p in Path(folder).glob("*/section.html") if (p.parent / "results.json").is_file())
    names = [json.loads((p.parent / "results.json").read_text()).get("experiment", "") for p in parts]
    links = " · ".join(f"<a href='#{html.escape(n)}'>{html.escape(n)}</a> (<code>{html.escape(p.parent.name)}</code>)"
                       for n, p in zip(names, parts))
    body = [f"<h1>synaug experiments</h1><p>{links}</p>"] + [p.read_text() for p in parts]
    return write_page(Path(folder) / "experiments.html", "synaug experiments", "\n".join(body))


def finding_family(finding: dict) -> str:
    """'(paper) ' or '(exploratory) ': the Holm family a finding was decided in ('' for older results)."""
    family = (finding.get("test") or {}).get("family")
    return f"({family}) " if family else ""


def format_result_text(results: dict) -> str:
    """The tables (mean ± std, paper numbers after '|'), the rows at chance, findings and skipped rows as
    plain text: what `synaug experiment`, `run` and `demo` print and results.txt keeps."""
    lines = [split_text(results["thresholds"]), ""] if results.get("thresholds") else []
    for table in results["tables"]:
        lines += [table_text(table), ""]
    chance = results.get("chance")
    lines += [chance_note(f"row {name}", results["rows"][name]["accuracy_mean"], chance)
              for name in results.get("at_chance") or []]
    lines += [f"[{f['status']}] {finding_family(f)}{f['claim']}: {f['evidence']}" for f in results["findings"]]
    lines += [f"skipped: {s}" for s in results["skipped"]]
    return "\n".join(lines)
