"""A verdict per cell, from the audit's own numbers (never the test set).

The audit's `transfer` is the recall, on a cell's real VALIDATION images (carved from training), of
a linear probe trained on synthetic images only; its `false_alarm` is the share of the OTHER cells'
validation images that the probe assigns to the cell. A probe that learned nothing about the cell
recalls it as often as it hands the cell to anything: at its false-alarm rate, or 1 / K by plain
guessing (K = cells the probe was trained on). With q the larger of the two and n the cell's
validation images:

- transfer at most q + 2 standard errors, q + 2 sqrt(q (1 - q) / n): "not recognised as its class:
  expect no gain from these images";
- above that but below one half: "partly recognised as its class: expect a small gain at most";
- one half or more: "recognised as its class: these images can help".

So a probe that calls every real image "astronaut" does not make the astronaut images recognised.
With few validation images (n < 5) the bound is wide and the verdict coarse, and it says so. The
domain gap (a real-vs-synthetic probe) is added as a remark when it is near-perfect (>= 95 %): the
images are then easy to tell from real ones, whatever their class.
"""

from __future__ import annotations

import math

NOT_RECOGNISED = "not recognised as its class: expect no gain from these images"
PARTLY = "partly recognised as its class: expect a small gain at most"
RECOGNISED = "recognised as its class: these images can help"
RULE = ("transfer = share of the cell's real validation images that a probe trained on synthetic images only "
        "assigns to the cell; 'not recognised' = at most what an uninformed probe scores (chance 1 / cells, or the "
        "share of other cells' images it assigns to the cell, if higher) + 2 standard errors; 'partly' = below "
        "50 %; 'recognised' = 50 % or more")


def baseline(cells: int, false_alarm: float | None) -> float:
    """What the probe's recall of a cell is without any knowledge of it: chance, or its false-alarm rate."""
    return max(1.0 / max(cells, 1), false_alarm or 0.0)


def chance_bound(cells: int, n_val: int, false_alarm: float | None = None) -> float:
    """The highest transfer an uninformed probe reaches by luck (its baseline + 2 standard errors)."""
    q = min(baseline(cells, false_alarm), 1.0)
    return q + 2 * math.sqrt(q * (1 - q) / max(n_val, 1))


def cell_verdict(row: dict, cells: int) -> str:
    """The verdict of one audit row (`synaug.audit.core.audit_cells`) among `cells` probed cells."""
    if not row.get("synthetic"):
        return "no synthetic images (none needed, or the generator cannot draw the cell)"
    if row.get("transfer") is None:
        return "not measured (the transfer probe needs synthetic images of at least two cells)"
    t, n, alarm = row["transfer"], int(row.get("real_val") or 0), row.get("false_alarm")
    text = NOT_RECOGNISED if t <= chance_bound(cells, n, alarm) else PARTLY if t < 0.5 else RECOGNISED
    notes = [f"transfer {100 * t:.0f} % on {n} validation image{'s' if n != 1 else ''}, chance {100 / cells:.0f} %"]
    if alarm is not None and alarm > 1.0 / cells:
        notes.append(f"the probe also gives this class to {100 * alarm:.0f} % of other cells' images")
    if n < 5:
        notes.append("few images: coarse")
    if (row.get("gap") or 0) >= 0.95:
        notes.append(f"told from real images {100 * row['gap']:.0f} % of the time")
    return f"{text} ({'; '.join(notes)})"


def add_verdicts(rows: list[dict]) -> list[dict]:
    """Every row with its `verdict`; K = the cells that have synthetic images (the probe's classes)."""
    cells = max(2, sum(1 for r in rows if r.get("synthetic")))
    for r in rows:
        r["verdict"] = cell_verdict(r, cells)
    return rows


def format_verdicts(rows: list[dict]) -> str:
    """The verdicts as text, the worst first, above the audit's table (CLI and logs)."""
    order = {NOT_RECOGNISED: 0, PARTLY: 1, RECOGNISED: 2}
    ranked = sorted(rows, key=lambda r: next((v for k, v in order.items() if r["verdict"].startswith(k)), 3))
    w = max(len("cell"), *(len(r["name"]) for r in rows))
    lines = ["audit verdict per cell (a probe trained on the synthetic images alone, tested on real validation "
             "images carved from training):"]
    lines += [f"  {r['name']:<{w}}  {r['verdict']}" for r in ranked]
    bad = sum(r["verdict"].startswith(NOT_RECOGNISED) for r in rows)
    if bad:
        lines.append(f"  => {bad} of {sum(1 for r in rows if r.get('synthetic'))} filled cells are not recognised: "
                     "their synthetic images are unlikely to help (see the audit's examples)")
    lines.append(f"  rule: {RULE}")
    return "\n".join(lines)
