"""What a named experiment leaves behind: results.json (tables with mean, std and per-seed values, the
paper's numbers beside, curves, findings, skipped parts), one PNG per table, and report.html (one
section: the tables, the figures inlined, one line per finding with its status, and the stand-in
caveat). Works on plain dicts (dataclasses.asdict of the catalog's result) so it imports nothing of
the catalog."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np

from synaug.fileio import atomic_write_text, write_json
from synaug.plots import pyplot, save_png

STATUSES = ("reproduced", "not reproduced", "not runnable here")
STATUS_COLOUR = {"reproduced": "#2e7d32", "not reproduced": "#c62828", "not runnable here": "#777"}

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.6em 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right;
white-space:nowrap}th:first-child,td:first-child,td.paper{text-align:left}td.paper{color:#555;font-size:0.9em}
img{max-width:100%}.note{color:#555;font-size:0.92em}.status{font-weight:bold}"""


def as_dict(obj):
    return asdict(obj) if is_dataclass(obj) else dict(obj)


def cell_mean(value):
    """The number a table cell shows: a summary's mean, or a plain value."""
    return value.get("mean") if isinstance(value, dict) else value


def format_cell(value, fmt: str = "{:.2f}") -> str:
    """'mean ± std' (std only when more than one seed), a plain number, or '-'."""
    mean = cell_mean(value)
    if mean is None:
        return "-"
    if not isinstance(mean, (int, float)):
        return html.escape(str(mean))
    text = fmt.format(mean)
    if isinstance(value, dict) and len(value.get("seeds") or []) > 1 and value.get("std") is not None:
        text += f" ± {fmt.format(value['std'])}"
    return text


def stand_in_caveat(cfg: dict, paper: str) -> str:
    """Why the numbers here are not the paper's: other data, generator and model."""
    model = cfg["train"].get("model") or "small-cnn"
    return (f"Stand-in: these numbers come from <code>{html.escape(cfg['dataset'])}</code>, the "
            f"<code>{html.escape(cfg['generate']['generator'])}</code> generator and the "
            f"<code>{html.escape(model)}</code> model, trained {cfg['train'].get('steps')} steps; the paper's "
            f"({html.escape(paper)}) come from CIFAR100-LT / ImageNet100-LT / UTKFace / Waterbirds, Stable "
            "Diffusion images and ResNets. Compare directions (which row is higher), not values.")


def table_figure(table: dict, path: Path) -> Path | None:
    """Grouped bars, one group per column measured in % (fractions such as DP stay in the table),
    one bar per row with its std over seeds as an error bar."""
    cols = [i for i, k in enumerate(table["columns"])
            if any(isinstance(cell_mean(r.get(k)), (int, float)) and cell_mean(r.get(k)) > 1.0
                   for r in table["rows"].values())]
    if not cols or not table["rows"]:
        return None
    plt = pyplot()
    labels = table.get("labels") or table["columns"]
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
    ax.set_xticks(x, [labels[i] for i in cols])
    ax.set_ylabel("%")
    ax.set_title(table["title"], fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_png(fig, path)


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def table_html(table: dict) -> str:
    labels = table.get("labels") or table["columns"]
    fmts = table.get("fmt") or ["{:.2f}"] * len(table["columns"])
    has_paper = bool(table.get("paper"))
    head = ("<tr><th>row</th>" + "".join(f"<th>{html.escape(str(lab))}</th>" for lab in labels)
            + ("<th>paper</th>" if has_paper else "") + "</tr>")
    lines = [head]
    for name, row in table["rows"].items():
        cells = "".join(f"<td>{format_cell(row.get(k), f)}</td>" for k, f in zip(table["columns"], fmts))
        paper = table.get("paper", {}).get(name) or {}
        ptext = ", ".join(f"{labels[table['columns'].index(k)] if k in table['columns'] else k} {v}"
                          for k, v in paper.items())
        lines.append(f"<tr><td><b>{html.escape(name)}</b></td>{cells}"
                     + (f"<td class=paper>{html.escape(ptext) or '-'}</td>" if has_paper else "") + "</tr>")
    notes = [table.get("note") or "", ("Paper column: " + table["paper_source"]) if table.get("paper_source") else ""]
    return (f"<h3>{html.escape(table['title'])}</h3><table>{''.join(lines)}</table>"
            + "".join(f"<p class=note>{html.escape(n)}</p>" for n in notes if n))


def section_html(results: dict, out: Path) -> str:
    """One experiment's HTML section: title, setting, tables, figures, findings, skipped parts."""
    cfg = results["config"]
    seeds = cfg["seeds"]
    body = [f"<section id='{html.escape(results['experiment'])}'><h2>{html.escape(results['experiment'])}: "
            f"{html.escape(results['title'])}</h2>",
            f"<p>Paper: {html.escape(results['paper'])}. Data: <code>{html.escape(cfg['dataset'])}</code>"
            + (f", imbalance factor {cfg['imbalance']:g}" if cfg["task"] == "longtail" else "")
            + f"; seeds {', '.join(map(str, seeds))}: "
            + ("mean ± sample std over seeds" if len(seeds) > 1 else "one seed (n = 1, no spread)")
            + "; metrics at the last training step (nothing selected on the test set).</p>"]
    for table in results["tables"]:
        body.append(table_html(table))
    for fig in results["figures"]:
        path = out / fig["file"]
        if path.is_file():
            body.append(f"<figure><img src='{png_data_uri(path)}'><figcaption class=note>"
                        f"{html.escape(fig['caption'])} (<code>{html.escape(fig['file'])}</code>)"
                        "</figcaption></figure>")
    if results["findings"]:
        body.append("<h3>Findings</h3><ul>" + "".join(
            f"<li><span class=status style='color:{STATUS_COLOUR.get(f['status'], '#222')}'>"
            f"{html.escape(f['status'])}</span>: {html.escape(f['claim'])} <span class=note>"
            f"({html.escape(f['evidence'])})</span></li>" for f in results["findings"]) + "</ul>")
    if results["skipped"]:
        body.append("<h3>Not run here</h3><ul class=note>"
                    + "".join(f"<li>{html.escape(s)}</li>" for s in results["skipped"]) + "</ul>")
    body.append(f"<p class=note>{results['caveat']}</p>")
    body.append(f"<p class=note>Run time {results['seconds']:.0f} s; per-run metrics and checkpoints under "
                "<code>runs/</code>; numbers in <code>results.json</code>.</p></section>")
    return "\n".join(body)


def write_result(experiment, cfg: dict, out: Path, result, seconds: float, index: bool = False) -> dict:
    """results.json, one PNG per table and report.html for one experiment's `result` (with `index`,
    the experiments.html of the folder above, gathering every experiment's section); returns the
    results dict written to results.json."""
    out = Path(out)
    res = as_dict(result)
    tables = [as_dict(t) for t in res["tables"]]
    figures = [{"file": f, "caption": c} for f, c in res["figures"]]
    for i, table in enumerate(tables):
        png = table_figure(table, out / f"{experiment.name}-table{i + 1}.png")
        if png is not None:
            figures.append({"file": png.name, "caption": f"{table['title']}: mean over seeds, error bars one std"})
    findings = [as_dict(f) for f in res["findings"]]
    for f in findings:  # the seam's first docstring said "not runnable": one spelling in the results
        f["status"] = "not runnable here" if f["status"] == "not runnable" else f["status"]
    results = {"experiment": experiment.name, "title": experiment.title, "paper": experiment.paper,
               "config": cfg, "seconds": seconds, "tables": tables, "curves": res["curves"], "figures": figures,
               "findings": findings, "skipped": res["skipped"], "caveat": stand_in_caveat(cfg, experiment.paper),
               "selection": "last training step (no test-set selection)"}
    write_json(out / "results.json", results)
    section = section_html(results, out)
    atomic_write_text(out / "section.html", section)
    atomic_write_text(out / "report.html", page(f"synaug experiment {experiment.name}", section))
    if index:  # runs/experiments/experiments.html: one page for every experiment of the default root
        write_index(out.parent)
    return results


def page(title: str, body: str) -> str:
    return f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{CSS}</style>\n{body}"


def write_index(folder: Path) -> Path:
    """FOLDER/experiments.html: the sections of every experiment run under FOLDER (each
    NAME/section.html), in name order, so the default runs/experiments/ has one page for all."""
    parts = sorted(p for p in Path(folder).glob("*/section.html") if (p.parent / "results.json").is_file())
    names = [json.loads((p.parent / "results.json").read_text()).get("experiment", "") for p in parts]
    links = " · ".join(f"<a href='#{html.escape(n)}'>{html.escape(n)}</a> (<code>{html.escape(p.parent.name)}</code>)"
                       for n, p in zip(names, parts))
    body = [f"<h1>synaug experiments</h1><p>{links}</p>"] + [p.read_text() for p in parts]
    path = Path(folder) / "experiments.html"
    atomic_write_text(path, page("synaug experiments", "\n".join(body)))
    return path


def format_result_text(results: dict) -> str:
    """The tables (mean ± std, paper numbers after '|'), findings and skipped rows as plain text."""
    lines = []
    for table in results["tables"]:
        labels = table.get("labels") or table["columns"]
        fmts = table.get("fmt") or ["{:.2f}"] * len(table["columns"])
        cells = {n: [format_cell(r.get(k), f) for k, f in zip(table["columns"], fmts)]
                 for n, r in table["rows"].items()}
        widths = [max([len(lab)] + [len(c[i]) for c in cells.values()]) for i, lab in enumerate(labels)]
        name_w = max([8] + [len(n) for n in cells])
        head = f"{'row':<{name_w}}  " + "  ".join(f"{lab:>{w}}" for lab, w in zip(labels, widths))
        lines += [table["title"], head, "-" * len(head)]
        for name, row_cells in cells.items():
            paper = table.get("paper", {}).get(name)
            named = dict(zip(table["columns"], labels))
            tail = ("  | paper: " + ", ".join(f"{named.get(k, k)} {v}" for k, v in paper.items())) if paper else ""
            lines.append(f"{name:<{name_w}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(row_cells, widths)) + tail)
        lines.append("")
    lines += [f"[{f['status']}] {f['claim']}: {f['evidence']}" for f in results["findings"]]
    lines += [f"skipped: {s}" for s in results["skipped"]]
    return "\n".join(lines)
