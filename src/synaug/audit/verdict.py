"""A verdict per cell, from the audit's own numbers (never the test set).

The audit's `transfer` is the recall, on a cell's real VALIDATION images (carved from training), of
a linear probe trained on synthetic images only; its `false_alarm` is the share of the OTHER cells'
validation images that the probe assigns to the cell. A probe that learned nothing about the cell
recalls it as often as it hands the cell to anything else, so the evidence is the difference
transfer - false alarm (Youden's J for that cell), and its uncertainty comes from BOTH sample sizes:
the cell's n validation images and the m other validation images. We take the 95 % Newcombe hybrid
score interval of that difference (`statsmodels.stats.proportion.confint_proportions_2indep`,
method "newcomb"; exact enough for n of a few images, never outside [-1, 1]) and read it as:

- lower bound above MARGIN (0.25) and transfer at least one half: "recognised as its class";
- lower bound above 0: "partly recognised" (better than the probe's false alarms, but not by a
  margin we can vouch for);
- upper bound below MARGIN: "not recognised" (confidently no useful gain over the false alarms);
- otherwise the interval spans both 0 and MARGIN: "too few images to tell".

So a probe that calls every real image "astronaut" does not make the astronaut images recognised:
10 of 10 recalled against 62 % false alarms on 150 images is a difference in [0.09, 0.46], "partly".
Without a measured false-alarm rate (an old audit.json) the baseline is plain guessing, 1 / K
(K = cells the probe was trained on). The domain gap (a real-vs-synthetic probe) is added as a
remark when it is near-perfect (>= 95 %): the images are then easy to tell from real ones.
"""

from __future__ import annotations

import warnings

from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

MARGIN = 0.25  # the least gain of transfer over false alarms that "recognised" must show, at 95 %
NOT_RECOGNISED = "not recognised as its class: expect no gain from these images"
TOO_FEW = "too few images to tell whether recognised as its class"
PARTLY = "partly recognised as its class: expect a small gain at most"
RECOGNISED = "recognised as its class: these images can help"
RULE = ("transfer = share of the cell's real validation images that a probe trained on synthetic images only "
        "assigns to the cell; false alarm = share of the other cells' validation images it assigns to the cell; "
        f"95 % interval of transfer - false alarm (Newcombe, both sample sizes): 'recognised' = lower bound above "
        f"{MARGIN:.2f} and transfer >= 50 %; 'partly' = lower bound above 0; 'not recognised' = upper bound below "
        f"{MARGIN:.2f}; otherwise 'too few images to tell'")


def difference_interval(recalled: int, n: int, alarms: int, m: int) -> tuple[float, float]:
    """95 % interval of recalled / n - alarms / m (Newcombe's hybrid score interval); with no other
    images (m = 0) the Wilson interval of recalled / n less the fixed baseline alarms (a share)."""
    with warnings.catch_warnings():  # statsmodels warns on 0 / n and n / n, which its interval handles
        warnings.simplefilter("ignore", RuntimeWarning)
        if m == 0:
            low, high = proportion_confint(recalled, n, method="wilson")
            return float(low - alarms), float(high - alarms)
        low, high = confint_proportions_2indep(recalled, n, alarms, m, method="newcomb", compare="diff")
    return float(low), float(high)


def classify(transfer: float, low: float, high: float) -> str:
    """The verdict's headline from the interval of transfer - false alarm (the rule in `RULE`)."""
    if low > MARGIN and transfer >= 0.5:
        return RECOGNISED
    if low > 0:
        return PARTLY
    if high < MARGIN:
        return NOT_RECOGNISED
    return TOO_FEW


def _baseline(row: dict, cells: int, others: int) -> tuple[int, int, float]:
    """(false alarms, other images, rate): the measured false alarms, or guessing (1 / cells) without them."""
    alarm = row.get("false_alarm")
    if alarm is None:
        return round(others / cells), others, 1.0 / cells
    return round(alarm * others), others, float(alarm)


def cell_verdict(row: dict, cells: int, others: int = 0) -> str:
    """The verdict of one audit row (`synaug.audit.core.audit_cells`) among `cells` probed cells;
    `others` = the validation images of every other cell (the false alarms' denominator)."""
    if not row.get("synthetic"):
        return "no synthetic images (none needed, or the generator cannot draw the cell)"
    if row.get("transfer") is None:
        return "not measured (the transfer probe needs synthetic images of at least two cells)"
    t, n = row["transfer"], int(row.get("real_val") or 0)
    alarms, m, rate = _baseline(row, cells, others)
    if n == 0:
        text, interval = TOO_FEW, "no validation image"
    else:
        low, high = difference_interval(round(t * n), n, alarms, m)
        text, interval = classify(t, low, high), f"transfer - false alarm in [{100 * low:.0f}, {100 * high:.0f}] points"
    notes = [f"transfer {100 * t:.0f} % on {n} validation image{'s' if n != 1 else ''}",
             f"the probe also gives this class to {100 * rate:.0f} % of {m} other cells' images"
             if row.get("false_alarm") is not None else f"chance {100 / cells:.0f} %", interval]
    if (row.get("gap") or 0) >= 0.95:
        notes.append(f"told from real images {100 * row['gap']:.0f} % of the time")
    return f"{text} ({'; '.join(notes)})"


def add_verdicts(rows: list[dict]) -> list[dict]:
    """Every row with its `verdict`; K = the cells that have synthetic images (the probe's classes)."""
    cells = max(2, sum(1 for r in rows if r.get("synthetic")))
    total_val = sum(int(r.get("real_val") or 0) for r in rows)
    for r in rows:
        r["verdict"] = cell_verdict(r, cells, total_val - int(r.get("real_val") or 0))
    return rows


def format_verdicts(rows: list[dict]) -> str:
    """The verdicts as text, the worst first, above the audit's table (CLI and logs)."""
    order = {NOT_RECOGNISED: 0, TOO_FEW: 1, PARTLY: 2, RECOGNISED: 3}
    ranked = sorted(rows, key=lambda r: next((v for k, v in order.items() if r["verdict"].startswith(k)), 4))
    w = max(len("cell"), *(len(r["name"]) for r in rows))
    lines = ["audit verdict per cell (a probe trained on the synthetic images alone, tested on real validation "
             "images carved from training):"]
    lines += [f"  {r['name']:<{w}}  {r['verdict']}" for r in ranked]
    filled = sum(1 for r in rows if r.get("synthetic"))
    bad = sum(r["verdict"].startswith(NOT_RECOGNISED) for r in rows)
    if bad:
        lines.append(f"  => {bad} of {filled} filled cells are not recognised: "
                     "their synthetic images are unlikely to help (see the audit's examples)")
    unsure = sum(r["verdict"].startswith(TOO_FEW) for r in rows)
    if unsure:
        lines.append(f"  => {unsure} of {filled} filled cells have too few validation images to tell "
                     "(raise --val-fraction or add real images)")
    lines.append(f"  rule: {RULE}")
    return "\n".join(lines)
