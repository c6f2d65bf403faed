"""The one table type of demos, runs and experiments: rows of `Stat`s (or plain values) under columns
that are metric keys (labels and formats from `synaug.eval.specs`), with the paper's numbers beside
a row where the paper has them. Written to results.json as a dict, printed as text, drawn as HTML
(`synaug.pages`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from synaug.eval.specs import metric
from synaug.experiments.stats import Stat, bounds_of, cell_mean, format_intervals, format_stat


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: dict[str, dict] = field(default_factory=dict)    # row label -> {column: Stat or value}
    paper: dict[str, dict] = field(default_factory=dict)   # row label -> {column: the paper's number}
    note: str = ""
    paper_source: str = ""                                  # where the paper's numbers come from

    def to_dict(self) -> dict:
        rows = {r: {k: v.to_dict() if isinstance(v, Stat) else v for k, v in cells.items()}
                for r, cells in self.rows.items()}
        return {"title": self.title, "columns": list(self.columns), "labels": [metric(k).label for k in self.columns],
                "fmt": [metric(k).fmt for k in self.columns], "rows": rows, "paper": self.paper, "note": self.note,
                "paper_source": self.paper_source}


def table_text(table: dict) -> str:
    """A results.json table as plain text: mean ± std per column, the paper's numbers after '|'."""
    labels, fmts = table["labels"], table["fmt"]
    cells = {n: [format_stat(r.get(k), f) for k, f in zip(table["columns"], fmts)] for n, r in table["rows"].items()}
    widths = [max([len(lab)] + [len(c[i]) for c in cells.values()]) for i, lab in enumerate(labels)]
    name_w = max([8] + [len(n) for n in cells])
    head = f"{'row':<{name_w}}  " + "  ".join(f"{lab:>{w}}" for lab, w in zip(labels, widths))
    lines = [table["title"], head, "-" * len(head)]
    named = dict(zip(table["columns"], labels))
    for name, row_cells in cells.items():
        paper = (table.get("paper") or {}).get(name)
        tail = ("  | paper: " + ", ".join(f"{named.get(k, k)} {v}" for k, v in paper.items())) if paper else ""
        lines.append(f"{name:<{name_w}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(row_cells, widths)) + tail)
    # per-seed statistics only: a table of plain values (counts) has no seeds to spread over
    seeds = [len((r.get(k) or {}).get("values") or []) for r in table["rows"].values()
             for k in table["columns"] if isinstance(r.get(k), dict)]
    if seeds and max(seeds) <= 1:
        lines.append("(n = 1: one seed, no spread; pass more seeds for mean ± std)")
    intervals = [(name, [f"{lab} {iv}" for k, lab, f in zip(table["columns"], labels, fmts)
                         if (iv := format_intervals(r.get(k), f, bounds_of(k)))]) for name, r in table["rows"].items()]
    if any(parts for _, parts in intervals):
        lines.append("95 % intervals of the mean (over seeds: t-interval; over test images: bootstrap):")
        lines += [f"  {name}: " + "; ".join(parts) for name, parts in intervals if parts]
    return "\n".join(lines)


def numeric_columns(table: dict) -> list[int]:
    """Columns measured in % (fractions such as DP stay out of bar charts)."""
    return [i for i, k in enumerate(table["columns"])
            if any(isinstance(cell_mean(r.get(k)), (int, float)) and cell_mean(r.get(k)) > 1.0
                   for r in table["rows"].values())]
