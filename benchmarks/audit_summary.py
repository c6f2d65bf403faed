"""Table of benchmarks/audit_fashion_lt.sh: mean +- std over seeds, and the rank correlation between
the audit's per-cell transfer score and the per-class test gain of SYNAuG over ce-rs (reporting only)."""

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from synaug.data import load_dataset

out = Path(sys.argv[1])
test = load_dataset("fashion-lt").test
keys = ("accuracy", "many", "medium", "few")
recalls = {}
print(f"{'method':<14}" + "".join(f"{k:>16}" for k in keys))
for method in ("ce-rs", "synaug", "synaug-audit"):
    files = [out / "runs" / f"{method}-{s}" / "metrics.json" for s in (0, 1, 2)]
    runs = [json.loads(f.read_text()) for f in files if f.is_file()]
    if len(runs) < 2:
        print(f"{method:<14}  {len(runs)} run(s): " + " ".join(f"All {r['accuracy']:.2f} Few {r['few']:.2f}" for r in runs))
        continue
    print(f"{method:<14}" + "".join(f"{np.mean([r[k] for r in runs]):>9.2f} ± {np.std([r[k] for r in runs], ddof=1):4.2f}"
                                    for k in keys))
    preds = [np.asarray(r["predictions"]) for r in runs]
    recalls[method] = np.mean([[(p[test.labels == c] == c).mean() for c in range(10)] for p in preds], axis=0)
if not {"synaug", "ce-rs"} <= set(recalls):
    sys.exit(0)
audit = json.loads((out / "audit" / "audit.json").read_text())
scored = [c for c in audit["cells"] if c["transfer"] is not None]
gain = [100 * (recalls["synaug"][c["cell"]] - recalls["ce-rs"][c["cell"]]) for c in scored]
rho, p = spearmanr([c["transfer"] for c in scored], gain)
print("\nper class: audit transfer (validation) vs test recall gain of synaug over ce-rs (points)")
for c, g in zip(scored, gain):
    print(f"  {c['name']:<12} transfer {100 * c['transfer']:5.1f}   gain {g:+6.2f}")
print(f"Spearman rank correlation over {len(scored)} classes: {rho:.2f} (p = {p:.2f})")
