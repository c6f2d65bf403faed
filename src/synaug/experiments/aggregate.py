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


def format_table(summary: dict, keys, labels=None, method_descriptions=None) -> str:
    labels = labels or keys
    name_w = max(8, *(len(m) for m in summary))
    head = f"{'method':<{name_w}}  " + "  ".join(f"{lab:>14}" for lab in labels)
    lines = [head, "-" * len(head)]
    for method, stats in summary.items():
        cells = []
        for k in keys:
            m, s = stats[k]["mean"], stats[k]["std"]
            cells.append(f"{'-':>14}" if m is None else f"{m:>7.2f} ± {s:<5.2f}")
        lines.append(f"{method:<{name_w}}  " + "  ".join(cells))
    return "\n".join(lines)
