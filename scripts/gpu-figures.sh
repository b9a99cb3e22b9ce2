#!/usr/bin/env bash
# The GPU figures the README's Speed section still lacks, in one run on one GPU:
#   1. training throughput and MFU at the reference scale in fp32, TF32 and bf16, each against the
#      GPU's own measured matmul peak in that precision;
#   2. `ablations.run --grid full` at the reference scale, one seed, default GPU settings, with
#      WORKERS cells sharing the one GPU; wall time per cell and in all.
#
#   scripts/gpu-figures.sh [OUT]          (default OUT: gpu-figures)
#   SCALE=tiny DEVICE=cpu scripts/gpu-figures.sh /tmp/dry-run    a dry run of the same steps on CPU
#
# Everything it measures is written under OUT (summary.md gathers it), so a run cut off by a time
# limit still leaves what it finished.
set -euo pipefail

OUT="${1:-gpu-figures}"
SCALE="${SCALE:-mainrun}"
DEVICE="${DEVICE:-cuda}"
WORKERS="${WORKERS:-4}"
STEPS="${STEPS:-10}"
PYTHON="${PYTHON:-.venv/bin/python}"
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
summary="$OUT/summary.md"
: >"$summary"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"; } \
    >"$OUT/gpu.txt" 2>&1
echo "# GPU figures ($(date -u +%Y-%m-%dT%H:%MZ), $(cat "$OUT/gpu.txt"))" >>"$summary"

precisions=(fp32 tf32 bf16)
[[ "$DEVICE" == cpu ]] && precisions=(fp32)  # tf32 and bf16 are CUDA only
for precision in "${precisions[@]}"; do
    "$PYTHON" -m benchmarks.throughput --scale "$SCALE" --variants single --steps "$STEPS" --warmup 3 \
        --device "$DEVICE" --precision "$precision" --out "$OUT/throughput-$precision.md" \
        2>&1 | tee "$OUT/throughput-$precision.log"
    { echo; echo "## Throughput, $precision"; echo; cat "$OUT/throughput-$precision.md"; } >>"$summary"
done

start=$(date +%s)
"$PYTHON" -m ablations.run --grid full --seeds 1 --scale "$SCALE" --device "$DEVICE" --workers "$WORKERS" \
    --no-plot --out "$OUT/full" 2>&1 | tee "$OUT/full.log"
wall=$(($(date +%s) - start))
{
    echo
    echo "## ablations.run --grid full --scale $SCALE, $WORKERS cells at a time on one device: ${wall} s in all"
    echo
    "$PYTHON" - "$OUT/full/results.json" <<'EOF'
import json, sys
from tabulate import tabulate
cells = json.load(open(sys.argv[1]))
rows = [(c["variant"], c["status"], c["val_loss"], c["wall_s"], c["tokens_per_s"]) for c in cells]
print(tabulate(rows, headers=["cell", "status", "val loss", "wall s", "tokens/s"], tablefmt="github",
               floatfmt=(".4f", "", ".4f", ".1f", ",.0f")))
EOF
} >>"$summary"
cat "$summary"
