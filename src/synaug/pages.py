"""The one HTML writer of synaug's reports (demo / run reports, experiment sections, the experiments
index): a page with one stylesheet, tables of `Stat`s with the paper's numbers beside, inlined PNG
figures, findings coloured by verdict."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from synaug.experiments.stats import bounds_of, format_intervals, format_stat
from synaug.fileio import atomic_write_text

# the main table fits a 1,280 px page: numbers on one line, text columns wrap inside a bounded width,
# intervals in a hover title and a details row, and a wider table scrolls in its own box, not the page
CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.6em 0}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right;
white-space:nowrap}th:first-child,td:first-child,td.text,th.text{text-align:left}td.text{white-space:normal;
min-width:10em;max-width:22em}.scroll{max-width:100%;overflow-x:auto}details.intervals{margin:0 0 1em}
td.paper{color:#555;font-size:0.9em;text-align:left;white-space:normal;max-width:16em}img{max-width:100%}
.note{color:#555;font-size:0.92em}
.status{font-weight:bold}.warn{color:#c62828;font-weight:bold}.ok{color:#2e7d32}"""

STATUS_COLOUR = {"consistent": "#2e7d32", "reproduced": "#2e7d32", "contradicted": "#c62828",
                 "not reproduced": "#c62828", "underpowered": "#a66a00", "equivalent": "#1565c0",
                 "not runnable here": "#777"}

esc = html.escape


def page(title: str, body: str) -> str:
    return f"<!doctype html><meta charset=utf-8><title>{esc(title)}</title><style>{CSS}</style>\n{body}"


def write_page(path: Path, title: str, body: str) -> Path:
    atomic_write_text(Path(path), page(title, body))
    return Path(path)


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def figure_html(src: str, caption: str = "") -> str:
    """A figure from a data URI (or a PNG file path, inlined)."""
    uri = src if src.startswith("data:") else png_data_uri(Path(src))
    cap = f"<figcaption class=note>{caption}</figcaption>" if caption else ""
    return f"<figure><img src='{uri}'>{cap}</figure>"


# what a reader looks at first, in this order, where a table has them; the other columns follow
HEADLINE = ("few", "worst_group", "balanced_accuracy", "accuracy")


def headline_first(columns: list) -> list[int]:
    """Column positions with the headline metrics first (`HEADLINE`), the rest in the table's order."""
    first = [columns.index(k) for k in HEADLINE if k in columns]
    return first + [i for i in range(len(columns)) if i not in first]


def table_html(table: dict, extra: dict | None = None, extra_title: str = "", flagged: dict | None = None) -> str:
    """A results.json table: one row per label, 'mean ± std' cells (headline metrics first), the
    paper's numbers in a last column when the table has any; `extra` {row: text} adds a text column
    (e.g. what a method is); `flagged` {row: label} marks rows in red (e.g. "at chance"). The 95 %
    intervals are each cell's hover title and a details row under the table, never inline."""
    order = headline_first(list(table["columns"]))
    columns = [table["columns"][i] for i in order]
    labels, fmts = [table["labels"][i] for i in order], [table["fmt"][i] for i in order]
    paper = table.get("paper") or {}
    head = ("<tr><th>row</th>" + "".join(f"<th>{esc(str(lab))}</th>" for lab in labels)
            + (f"<th class=text>{esc(extra_title)}</th>" if extra else "") + ("<th>paper</th>" if paper else "")
            + "</tr>")
    lines, intervals = [head], []
    named = dict(zip(columns, labels))
    for name, row in table["rows"].items():
        texts = [format_intervals(row.get(k), f, bounds_of(k)) for k, f in zip(columns, fmts)]
        cells = "".join(f"<td{_title(iv)}>{esc(format_stat(row.get(k), f))}</td>"
                        for k, f, iv in zip(columns, fmts, texts))
        intervals += [f"{name}, {lab}: {iv}" for lab, iv in zip(labels, texts) if iv]
        ptext = ", ".join(f"{named.get(k, k)} {v}" for k, v in (paper.get(name) or {}).items())
        flag = f" <span class=warn>{esc(flagged[name])}</span>" if name in (flagged or {}) else ""
        lines.append(f"<tr><td><b>{esc(name)}</b>{flag}</td>{cells}"
                     + (f"<td class=text>{esc((extra or {}).get(name, ''))}</td>" if extra else "")
                     + (f"<td class=paper>{esc(ptext) or '-'}</td>" if paper else "") + "</tr>")
    notes = [table.get("note") or "", ("Paper column: " + table["paper_source"]) if table.get("paper_source") else ""]
    return (f"<h3>{esc(table['title'])}</h3><div class=scroll><table>{''.join(lines)}</table></div>"
            + intervals_html(intervals) + "".join(f"<p class=note>{esc(n)}</p>" for n in notes if n))


def _title(text: str) -> str:
    return f" title='{esc(text)}'" if text else ""


def intervals_html(lines: list[str]) -> str:
    """The table's 95 % intervals, folded under it (over seeds: t-interval, from 3 seeds on; over test
    images: bootstrap)."""
    if not lines:
        return ""
    return ("<details class=intervals><summary class=note>95 % intervals of the means (over seeds: t-interval, "
            "from 3 seeds on; over test images: bootstrap)</summary><ul class=note>"
            + "".join(f"<li>{esc(t)}</li>" for t in lines) + "</ul></details>")


def findings_html(findings: list[dict]) -> str:
    if not findings:
        return ""
    return "<h3>Findings</h3><ul>" + "".join(
        f"<li><span class=status style='color:{STATUS_COLOUR.get(f['status'], '#222')}'>{esc(f['status'])}</span>: "
        f"{esc(f['claim'])} <span class=note>({esc(f['evidence'])})</span></li>" for f in findings) + "</ul>"


def list_html(title: str, items: list[str]) -> str:
    return f"<h3>{esc(title)}</h3><ul class=note>" + "".join(f"<li>{esc(s)}</li>" for s in items) + "</ul>" \
        if items else ""
