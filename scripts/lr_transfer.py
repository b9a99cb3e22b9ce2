"""Does the best learning rate move with width? The μP paper's Figure 1 from a results folder.

Reads a folder trained over `param`, `d_model` and `lr` (and any seeds), for example

    python -m ablations.run --axes param=standard,mup d_model=64,128,256,512 \
        lr=3e-4,1e-3,3e-3,1e-2,3e-2 opt=adamw --seeds 1 --scale cpu --data titles.txt --out DIR
    python scripts/lr_transfer.py DIR            # DIR/lr_transfer.png and a table of each width's best lr

and draws final validation loss against lr, one curve per width, one panel per parametrization.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate


def losses(folder: Path) -> dict[str, dict[int, dict[float, float]]]:
    """param -> d_model -> lr -> mean final val_loss over the seeds that finished."""
    runs: dict[str, dict[int, dict[float, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for path in sorted(folder.glob("cells/*/record.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        if r["status"] == "ok":
            runs[r.get("param", "standard")][r["d_model"]][r["lr"]].append(r["val_loss"])
    return {p: {w: {lr: statistics.fmean(v) for lr, v in sorted(by_lr.items())} for w, by_lr in sorted(by_w.items())}
            for p, by_w in sorted(runs.items())}


def best_lrs(table: dict[str, dict[int, dict[float, float]]]) -> list[list]:
    rows = []
    for param, by_width in table.items():
        for width, by_lr in by_width.items():
            lr = min(by_lr, key=by_lr.get)
            rows.append([param, width, f"{lr:g}", f"{by_lr[lr]:.4f}"])
    return rows


def plot(table: dict[str, dict[int, dict[float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(5 * len(table), 3.8), sharey=True, squeeze=False)
    for ax, (param, by_width) in zip(axes[0], table.items()):
        colours = plt.cm.viridis([i / max(1, len(by_width) - 1) for i in range(len(by_width))])
        for colour, (width, by_lr) in zip(colours, by_width.items()):
            lrs = list(by_lr)
            ax.plot(lrs, [by_lr[lr] for lr in lrs], "o-", color=colour, label=f"width {width}")
            best = min(by_lr, key=by_lr.get)
            ax.plot([best], [by_lr[best]], "*", color=colour, markersize=12)
        ax.set_xscale("log")
        ax.set_title(param)
        ax.set_xlabel("learning rate (AdamW peak)")
    axes[0][0].set_ylabel("final validation loss")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    table = losses(args.folder)
    if not table:
        print(f"error: no finished cells in {args.folder}", file=sys.stderr)
        return 2
    print(tabulate(best_lrs(table), headers=["param", "width", "best lr", "its loss"], tablefmt="github"))
    plot(table, args.folder / "lr_transfer.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
