#!/usr/bin/env bash
# The audited recipe (method synaug-audit: audit -> filter -> audit-proportional budget of the shared
# uniform synthetic set, synaug.audit.recipe) against plain SYNAuG and the baselines, 3 seeds:
#   (a) fashion-lt: ce-rs vs synaug vs synaug-audit (All / Many / Medium / Few, mean ± std);
#   (b) over the cells of every dataset run: Spearman rank correlation between the audit's transfer
#       score and the per-cell test gain of synaug over the re-sampling baseline (ce-rs, or rs for
#       grouped data) and over plain training (ce / erm).
# Every choice (budget, filter defaults) was fixed before any run; the audit reads only a validation
# part carved from the training data; the test set is read by evaluation alone.
# Usage: OUT=.bench-tmp/audit bash benchmarks/audit_fashion_lt.sh
#   PY (default python), SEEDS (0,1,2), STEPS (600, the demo's), LONGTAIL ("fashion-lt mnist-lt"),
#   GROUPED ("mnist-fair:fairness fashion-spurious:spurious"; "" to skip)
set -euo pipefail
PY=${PY:-python}
OUT=${OUT:-.bench-tmp/audit}
SEEDS=${SEEDS:-0,1,2}
STEPS=${STEPS:-600}
LONGTAIL=${LONGTAIL:-fashion-lt mnist-lt}
GROUPED=${GROUPED-mnist-fair:fairness fashion-spurious:spurious}
S="$PY -m synaug.cli"
mkdir -p "$OUT"
t0=$(date +%s)
for ds in $LONGTAIL; do
  $S demo --task longtail --dataset "$ds" --methods ce,ce-rs,synaug,synaug-audit --seeds "$SEEDS" \
     --steps "$STEPS" --out "$OUT/$ds" --quiet > "$OUT/$ds.txt" 2>&1
  echo "$ds: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/timing.txt"
done
for pair in $GROUPED; do
  ds=${pair%%:*}; task=${pair##*:}
  $S demo --task "$task" --dataset "$ds" --methods erm,rs,synaug,synaug-audit --seeds "$SEEDS" \
     --steps "$STEPS" --out "$OUT/$ds" --quiet > "$OUT/$ds.txt" 2>&1
  echo "$ds: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/timing.txt"
done
$PY benchmarks/audit_summary.py "$OUT" | tee "$OUT/summary.txt"
