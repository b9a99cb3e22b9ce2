#!/usr/bin/env bash
# Copy the real HN titles into .gpu-data/ (ignored by git), for a run on a GPU machine: copy the
# working tree with .gpu-data/ to that machine, run `scripts/gpu-figures.sh OUT` there (it reads the
# titles from .gpu-data/), and bring OUT back.
#
#   scripts/stage-titles.sh [TITLES]      (default ../shared/data/hn_titles.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
source="${1:-../shared/data/hn_titles.txt}"
if [[ ! -f "$source" ]]; then
    echo "error: no titles at $source" >&2
    exit 2
fi
mkdir -p .gpu-data
cp "$source" .gpu-data/hn_titles.txt
echo "staged $(wc -l <.gpu-data/hn_titles.txt) titles ($(du -h .gpu-data/hn_titles.txt | cut -f1)) in .gpu-data/hn_titles.txt"
