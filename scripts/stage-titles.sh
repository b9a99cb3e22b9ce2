#!/usr/bin/env bash
# Copy the real HN titles into .gpu-data/ (ignored by git), the folder a borrowed GPU machine receives
# with the working tree (name it in the device call's `carry`); scripts/gpu-figures.sh reads them there.
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
