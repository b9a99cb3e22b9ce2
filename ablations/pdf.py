"""`report.pdf`: the plan's final deliverable, a few pages a person can read without the folder.

A first page of sentences generated from the numbers (what was run; the baseline and the best
variant with the delta and its interval; which effects are beyond noise), then the table, every plot
of the folder (effects, curves of the baseline against the best and of all cells, lr schedules,
sensitivity), five titles sampled from the best cell and from the baseline, and the configuration
and machine. Imported only when matplotlib is installed.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages

from mainrun import checkpoint

from .cells import cell_key
from .effects import Effect, ordered, verdict
from .grid import count, swap_label
from .metrics import METRICS
from .report import _estimate as report_estimate

A4 = (8.27, 11.69)
LINES_PER_PAGE = 78


def _estimate(est: Any) -> str:
    # The table's digits (enough to show a narrow interval), and "n/a" where the table leaves a blank.
    return report_estimate(est) or "n/a"


def summary(run: dict[str, Any], rows: list[Any], effects: list[Effect] | None, metric: str, margin: float,
            references: dict[str, Any]) -> list[str]:
    """The first page, as sentences."""
    cells = sum(len(row.records) for row in rows)
    ok = sum(len(row.ok) for row in rows)
    name = METRICS[metric]
    out = [f"Grid `{run['grid']}`: {count(len(rows), 'variant')} x {count(len(run['seeds']), 'seed')} "
           f"({', '.join(map(str, run['seeds']))}) at the `{run['scale']}` scale, data {run['data']}, device "
           f"{run['device']}; {cells} cells have run, {ok} finished ok. The metric is the {name}."]
    reference = next((row for row in rows if row.is_reference), None)
    finished = [row for row in rows if row.mean(metric) is not None]
    if reference is not None and reference.mean(metric) is not None:
        label = "baseline" if reference.point.is_baseline else f"reference ({reference.point})"
        out.append(f"The {label} reached {reference.mean(metric):.4f}"
                   + (f" ± {reference.loss_sd:.4f} (sd over seeds)." if reference.loss_sd is not None else "."))
    if finished:
        best = finished[0]
        text = f"The best variant, {swap_label(best.point, references)}, reached {best.mean(metric):.4f}"
        if best.delta is not None:
            text += f": Δ {_estimate(best.delta)} (95% interval, {count(best.delta.n_seeds, 'seed')})"
        out.append(text + ".")
    if effects:
        groups: dict[str, list[str]] = {}
        for effect in ordered(effects):
            groups.setdefault(verdict(effect.estimate, margin).split(" (")[0], []).append(
                f"{effect.name} ({_estimate(effect.estimate)})")
        for label in ("beyond noise", "within noise", "negligible", "n/a: one seed, no interval"):
            if groups.get(label):
                out.append(f"{label.capitalize()}: " + "; ".join(groups[label]) + ".")
        out.append("Beyond noise means a Holm-adjusted p below 0.05 over every effect of the table; negligible, "
                   f"a whole 95% interval inside ±{margin:g}.")
    elif effects is None:
        out.append("The grid is not factorial, so only the deltas against the reference are estimated.")
    return out


def samples(root: Path, rows: list[Any], seeds: list[int], references: dict[str, Any]) -> list[str]:
    """Five titles from the best.pt of the best row and of the reference row (their first seed kept)."""
    from mainrun.sample import generate, load_model
    import torch

    finished = [row for row in rows if row.ok]
    chosen = [("best", finished[0])] if finished else []
    reference = next((row for row in rows if row.is_reference), None)
    if reference is not None and reference.ok and (not chosen or reference is not chosen[0][1]):
        chosen.append(("baseline" if reference.point.is_baseline else "reference", reference))
    out = []
    for label, row in chosen:
        path = next((root / "cells" / cell_key(row.point, s) / checkpoint.BEST for s in seeds
                     if (root / "cells" / cell_key(row.point, s) / checkpoint.BEST).exists()), None)
        out.append(f"{label}: {swap_label(row.point, references)}" + (f" ({path.parent.name})" if path else ""))
        if path is None:
            out += ["  (no best.pt kept for this variant)", ""]
            continue
        try:
            model, tokenizer, _ = load_model(str(path), torch.device("cpu"))
            titles = generate(model, tokenizer, num=5, seed=0)
        except checkpoint.CheckpointError as exc:
            titles = [f"({exc})"]
        out += [f"  {t}" for t in titles] + [""]
    return out


def _text_pages(pdf: PdfPages, title: str, lines: list[str], monospace: bool = False) -> None:
    wrapped = []
    for line in lines:
        wrapped += (textwrap.wrap(line, 100 if monospace else 95, subsequent_indent="  ") or [""]) if not monospace \
            else [line]
    for start in range(0, max(len(wrapped), 1), LINES_PER_PAGE):
        fig = plt.figure(figsize=A4)
        fig.text(0.06, 0.96, title if start == 0 else f"{title} (continued)", fontsize=13, weight="bold", va="top")
        fig.text(0.06, 0.93, "\n".join(wrapped[start:start + LINES_PER_PAGE]), va="top",
                 family="monospace" if monospace else "sans-serif", fontsize=6 if monospace else 9,
                 linespacing=1.35)
        pdf.savefig(fig)
        plt.close(fig)


def _image_page(pdf: PdfPages, title: str, path: Path) -> None:
    fig = plt.figure(figsize=A4)
    fig.text(0.06, 0.96, title, fontsize=13, weight="bold", va="top")
    ax = fig.add_axes((0.04, 0.08, 0.92, 0.84))
    ax.imshow(mpimg.imread(path))
    ax.axis("off")
    pdf.savefig(fig)
    plt.close(fig)


def write_pdf(root: Path, run: dict[str, Any], rows: list[Any], effects: list[Effect] | None, table: str,
              plots: list[tuple[str, str]], metric: str, margin: float, references: dict[str, Any]) -> Path:
    path = root / "report.pdf"
    tmp = root / ".report.pdf.tmp"
    with PdfPages(tmp) as pdf:
        _text_pages(pdf, f"Ablations: {run['grid']}", summary(run, rows, effects, metric, margin, references))
        _text_pages(pdf, "Results", table.splitlines(), monospace=True)
        for name, title in plots:
            if (root / name).exists():
                _image_page(pdf, title, root / name)
        _text_pages(pdf, "Samples (temperature 0.8, top-k 50, seed 0)", samples(root, rows, run["seeds"], references))
        config = [f"command: {run['command']}", f"backend: {run['backend']}, {run['workers']} workers x "
                  f"{run['threads']} threads, device {run['device']}", f"torch {run.get('torch')}, code "
                  f"{json.dumps(run.get('code', 'unrecorded'))}", f"machine: {run.get('machine', 'unrecorded')}", "",
                  *json.dumps(run["config"], indent=1).splitlines()]
        _text_pages(pdf, "Configuration and machine", config, monospace=True)
    tmp.replace(path)
    return path
