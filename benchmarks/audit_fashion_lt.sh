#!/usr/bin/env bash
# The audited recipe on fashion-lt against plain SYNAuG and class-balanced re-sampling, 3 seeds.
# Every choice (budget = audit-proportional, filter defaults) was fixed before any run; the audit
# only reads a validation split carved from the training data; the test set is read by evaluation.
# Usage: OUT=.bench-tmp/audit bash benchmarks/audit_fashion_lt.sh   (python: $PY, default python)
set -euo pipefail
PY=${PY:-python}
OUT=${OUT:-.bench-tmp/audit-fashion-lt}
STEPS=${STEPS:-600}
S="$PY -m synaug.cli"
mkdir -p "$OUT"
t0=$(date +%s)
$S plan --dataset fashion-lt --out "$OUT/plan.csv" > "$OUT/plan.txt"
$S generate --plan "$OUT/plan.csv" --out "$OUT/syn" --skip-undrawable > "$OUT/generate.txt" 2>&1
$S audit --dataset fashion-lt --synthetic "$OUT/syn" --out "$OUT/audit" --quiet | tee "$OUT/audit.txt"
$S plan --dataset fashion-lt --strategy "audit-proportional:$OUT/audit" --out "$OUT/plan-audit.csv" | tee "$OUT/plan-audit.txt"
$S generate --plan "$OUT/plan-audit.csv" --out "$OUT/syn-audit" --skip-undrawable > "$OUT/generate-audit.txt" 2>&1
# same base seed: the budgeted plan's images are the first ones of the audited folder, file for file
$S filter --synthetic "$OUT/syn-audit" --audit "$OUT/audit" | tee "$OUT/filter.txt"
t1=$(date +%s)
echo "audit + budget + filter: $((t1 - t0)) s" | tee "$OUT/timing.txt"
for seed in 0 1 2; do
  $S train --dataset fashion-lt --method ce-rs --seed $seed --steps $STEPS --out "$OUT/runs/ce-rs-$seed" > /dev/null
  $S train --dataset fashion-lt --method synaug --synthetic "$OUT/syn" --seed $seed --steps $STEPS --out "$OUT/runs/synaug-$seed" > /dev/null
  $S train --dataset fashion-lt --method synaug --synthetic "$OUT/syn-audit" --seed $seed --steps $STEPS --out "$OUT/runs/synaug-audit-$seed" > /dev/null
done
echo "training: $(( $(date +%s) - t1 )) s" | tee -a "$OUT/timing.txt"
$PY benchmarks/audit_summary.py "$OUT" | tee "$OUT/summary.txt"
