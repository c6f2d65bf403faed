"""Summary of benchmarks/audit_fashion_lt.sh (reads OUT/<dataset>/results.json of `synaug demo`):

(a) per dataset, every method's task metrics as mean ± sample std over seeds;
(b) per dataset and pooled over datasets, the Spearman rank correlation across cells between the
    audit's transfer score (of the uniform synthetic set synaug trains on; validation carved from
    the training data) and the per-cell test accuracy gain of synaug (mean over seeds) over
    - the re-sampling baseline (ce-rs; rs on class x group data): synthetic images vs re-sampling
      as the way to balance, the gain the audit is meant to predict;
    - plain training (ce; erm on class x group data).
Reporting only: nothing here is fed back into any choice."""

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

BASELINES = {"longtail": ("ce-rs", "ce")}  # grouped tasks: ("rs", "erm")


def table(results: dict) -> list[str]:
    main = results["tables"][0]
    keys = main["columns"][:4] if results.get("thresholds") else main["columns"]  # a long tail: All/Many/Medium/Few
    lines = [f"{'method':<14}" + "".join(f"{k:>18}" for k in keys)]
    for m, r in main["rows"].items():
        cells = []
        for k in keys:
            st = r[k]
            cells.append(f"{'-':>18}" if st["mean"] is None else
                         f"{st['mean']:>10.2f} ± {st['std'] or 0:5.2f}" if st["n"] > 1 else f"{st['mean']:>18.2f}")
        lines.append(f"{m:<14}" + "".join(cells))
    return lines


def per_cell(results: dict, method: str) -> dict:
    """{cell name: mean test accuracy over seeds} (classes, or class x group cells)."""
    r = results["rows"][method]
    if "per_cell_mean" in r:
        return dict(r["per_cell_mean"])
    return dict(zip(results["data"]["class_names"], r["per_class_mean"]))


def gains(results: dict) -> tuple[list, dict]:
    """Scored audit cells and {baseline: [gain per cell]} (points)."""
    audit = next(iter(results["audit"].values()))
    scored = [c for c in audit["cells"] if c["score"] is not None]
    synaug = per_cell(results, "synaug")
    out = {}
    for base in BASELINES.get(results["config"]["task"], ("rs", "erm")):
        if base in results["rows"]:
            b = per_cell(results, base)
            out[base] = [synaug[c["name"]] - b[c["name"]] for c in scored]
    return scored, out


def correlation(results: dict, name: str, pooled: dict) -> list[str]:
    if "audit" not in results or "synaug" not in results["rows"]:
        return [f"{name}: no audit or no synaug run: no correlation"]
    scored, by_base = gains(results)
    lines = [f"\n{name}: audit transfer (validation, %) vs synaug's per-cell test gain (points)"]
    lines.append(f"  {'cell':<24}{'transfer':>9}" + "".join(f"{'vs ' + b:>12}" for b in by_base))
    for i, c in enumerate(scored):
        lines.append(f"  {c['name']:<24}{100 * c['score']:>9.1f}" + "".join(f"{g[i]:>+12.2f}" for g in by_base.values()))
    for kind, (base, g) in zip(("balanced", "plain"), by_base.items()):
        rho, p = spearmanr([c["score"] for c in scored], g)
        lines.append(f"  Spearman vs {base}: rho = {rho:.2f} (p = {p:.2f}, {len(scored)} cells)")
        pooled.setdefault(kind, ([], []))
        pooled[kind][0].extend(c["score"] for c in scored)
        pooled[kind][1].extend(g)
    return lines


def main(out: Path) -> None:
    pooled = {}
    for f in sorted(out.glob("*/results.json")):
        results = json.loads(f.read_text())
        seeds = results["config"]["seeds"]
        print(f"\n== {f.parent.name} ({results['config']['task']}, seeds {seeds}; last training step)")
        print("\n".join(table(results)))
        print("\n".join(correlation(results, f.parent.name, pooled)))
    for kind, (s, g) in pooled.items():
        rho, p = spearmanr(s, g)
        base = "re-sampling (ce-rs / rs)" if kind == "balanced" else "plain (ce / erm)"
        print(f"\npooled over datasets, gain over {base}: Spearman rho = {rho:.2f} (p = {p:.2f}, {len(s)} cells)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
