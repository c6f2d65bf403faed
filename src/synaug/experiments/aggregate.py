"""Mean and spread over seeds, and the plain-text results table."""

from __future__ import annotations

import numpy as np


def mean_std(values) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def summarize(per_seed: dict, keys) -> dict:
    """{key: {"mean", "std", "n"}} over the seeds' metric dicts."""
    out = {}
    for k in keys:
        m, s = mean_std([r.get(k) for r in per_seed.values()])
        out[k] = {"mean": m, "std": s, "n": len(per_seed)}
    return out


def format_table(summary: dict, keys, labels=None, fmt=None) -> str:
    """One row per method, 'mean ± std' per column (sample std over seeds); with one seed the
    value alone, and a last line saying n = 1 (a '± 0.00' would read as no spread)."""
    labels = labels or keys
    fmt = fmt or ["{:.2f}"] * len(keys)
    one_seed = all(st[k].get("n", 2) == 1 for st in summary.values() for k in keys)
    cells_of = {m: [("-" if st[k]["mean"] is None else f.format(st[k]["mean"]) if one_seed else
                     f"{f.format(st[k]['mean'])} ± {f.format(st[k]['std'])}")
                    for k, f in zip(keys, fmt)] for m, st in summary.items()}
    widths = [max(len(lab), *(len(c[i]) for c in cells_of.values())) for i, lab in enumerate(labels)]
    name_w = max(8, *(len(m) for m in summary))
    head = f"{'method':<{name_w}}  " + "  ".join(f"{lab:>{w}}" for lab, w in zip(labels, widths))
    lines = [head, "-" * len(head)]
    for method, cells in cells_of.items():
        lines.append(f"{method:<{name_w}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    if one_seed:
        lines.append("(n = 1: one training seed, no spread; pass more seeds for mean ± std)")
    return "\n".join(lines)
