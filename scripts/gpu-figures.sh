#!/usr/bin/env bash
# The GPU figures, in one run on one borrowed GPU machine that has python3 with a CUDA torch and no
# network, no virtual environment, no submitit and no datasets. Runs from the repository root as is.
#
#   scripts/stage-titles.sh                  # once, here: the real titles into .gpu-data/ (ignored)
#   scripts/gpu-figures.sh OUT               # there; OUT is the folder that comes back
#   SCALE=tiny DEVICE=cpu scripts/gpu-figures.sh /tmp/dry-run     # the same stages, on CPU, in about a minute
#
# Stages, each under its own time limit and all of them under BUDGET_S:
#   machine      GPU, driver, torch, CUDA and cuDNN versions, packages, disk write speed
#   smoke        CUDA smoke checks at the tiny scale (benchmarks/gpu_smoke.py)
#   ladder       the upper rungs of the CPU ladder LADDER's path (LADDER_RUNGS, up to the reference run),
#                for its strongest findings, in a copy of it; then each predictor fitted on the CPU rungs
#                against each GPU rung's measurement (benchmarks/gpu_ladder.py)
#   throughput   tokens/s and MFU at SCALE in each of PRECISIONS, against a warmed matmul peak
#   grid         `ablations.run --grid full` at SCALE in GRID_PRECISION, WORKERS cells sharing the GPU,
#                on the real titles, without resume checkpoints (--checkpoint-every 0)
# A stage that fails or runs out of time is recorded and the next one starts (the exit status is 1
# when any did, 0 when all passed). After every stage
# OUT holds exactly two files, summary.md and gpu-figures.tar.gz (everything else, checkpoints left
# out), so a run cut off still returns what it finished, within what a borrowed machine returns.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT="${1:-gpu-figures}"
PYTHON="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
SCALE="${SCALE:-mainrun}"
SMOKE_SCALE="${SMOKE_SCALE:-tiny}"
DATA="${DATA:-.gpu-data/hn_titles.txt}"
PRECISIONS="${PRECISIONS:-fp32 tf32 bf16}"
GRID_PRECISION="${GRID_PRECISION:-bf16}"
WORKERS="${WORKERS:-4}"
STEPS="${STEPS:-10}"
WARM_S="${WARM_S:-1}"
LADDER="${LADDER:-docs/ladder-path}"
LADDER_RUNGS="${LADDER_RUNGS:-5-8}"
LADDER_SEEDS="${LADDER_SEEDS:-3}"
LADDER_PRECISION="${LADDER_PRECISION:-$([[ $DEVICE == cpu ]] && echo fp32 || echo tf32)}"
STAGES="${STAGES:-machine smoke ladder throughput grid}"
BUDGET_S="${BUDGET_S:-540}"
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu-figures.XXXXXX")}"
export PYTHONUNBUFFERED=1 MAINRUN_CACHE="$WORK/cache"

if [[ "$DATA" != embedded && ! -f "$DATA" ]]; then
    echo "error: no titles at $DATA: run scripts/stage-titles.sh first (or set DATA=path, or DATA=embedded for a dry run)" >&2
    exit 2
fi
mkdir -p "$OUT" "$WORK" || exit 2
started=$(date +%s)
status=0

# stage NAME LIMIT COMMAND...: run it under min(LIMIT, what is left of BUDGET_S), log it, record it,
# and rewrite OUT's summary and tarball.
stage() {
    local name=$1 limit=$2
    shift 2
    local left=$((BUDGET_S - ($(date +%s) - started)))
    ((limit > left)) && limit=$left
    local t0 rc
    t0=$(date +%s)
    if ((limit < 10)); then
        rc=-1
        echo "== $name: skipped, ${left}s of the budget left"
    else
        echo "== $name (at most ${limit}s)"
        timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$WORK/$name.log"
        rc=${PIPESTATUS[0]}
    fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - t0))" "$limit" >>"$WORK/stages.tsv"
    ((rc == 0)) || status=1
    "$PYTHON" -m benchmarks.gpu_figures report "$WORK" "$OUT" || echo "warning: the summary could not be written" >&2
}

wants() { [[ " $STAGES " == *" $1 "* ]]; }

wants machine && stage machine 60 "$PYTHON" -m benchmarks.gpu_figures machine "$WORK"
wants smoke && stage smoke 180 "$PYTHON" -m benchmarks.gpu_smoke --device "$DEVICE" --data "$DATA" \
    --scale "$SMOKE_SCALE" --full-scale "$SCALE" --precisions "${PRECISIONS// /,}" --out "$WORK/smoke"
wants ladder && stage ladder 240 "$PYTHON" -m benchmarks.gpu_ladder "$LADDER" "$WORK/ladder" --rungs "$LADDER_RUNGS" \
    --seeds "$LADDER_SEEDS" --data "$DATA" --device "$DEVICE" --precision "$LADDER_PRECISION" --workers "$WORKERS" \
    --checkpoint-every 0 --no-plot
if wants throughput; then
    for precision in $PRECISIONS; do
        stage "throughput-$precision" 120 "$PYTHON" -m benchmarks.throughput --scale "$SCALE" --variants single \
            --steps "$STEPS" --warmup 3 --warm-s "$WARM_S" --device "$DEVICE" --precision "$precision" \
            --out "$WORK/throughput-$precision.md" --json "$WORK/throughput-$precision.json"
    done
fi
wants grid && stage grid 360 "$PYTHON" -m ablations.run --grid full --seeds 1 --scale "$SCALE" --device "$DEVICE" \
    --precision "$GRID_PRECISION" --workers "$WORKERS" --checkpoint-every 0 --no-plot --data "$DATA" --out "$WORK/grid"

echo "== done in $(($(date +%s) - started))s; $OUT/summary.md:"
cat "$OUT/summary.md"
exit "$status"
