"""`report.pdf`: the summary as a document to hand a colleague.

Page 1 leads with the chart that answers the question (the effects, or each variant's delta when the
grid is not factorial) under three sentences: what ran, what came out best against the reference,
and which effects are beyond noise. Then the results as a typeset table on landscape pages (the best
row in bold, the reference row shaded, split across pages when long), the effects table, every
plot of the folder, titles sampled from the best and the reference, and the configuration.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages

from ..effects import ordered
from ..metrics import METRICS
from ..summary import Summary
from ..text import count, estimate_text, number, status_text
from .markdown import loss_text

PORTRAIT, LANDSCAPE = (8.27, 11.69), (11.69, 8.27)
ROWS_PER_PAGE = 28
BEST_COLOUR, REFERENCE_COLOUR = "#dbe9f6", "#eeeeee"


def sentences(summary: Summary) -> list[str]:
    """Three sentences: what ran; the best against the reference; what is beyond noise."""
    run, metric = summary.run, METRICS[summary.metric]
    ok = sum(len(row.ok) for row in summary.rows)
    out = [f"Grid `{run['grid']}`: {count(len(summary.rows), 'variant')} x {count(len(summary.seeds), 'seed')} at the "
           f"`{run['scale']}` scale on {run['data']}; {ok} of {summary.cells} cells finished ok, ranked by {metric}."]
    best, reference = summary.best, summary.reference
    if best is not None and reference is not None and best is not reference and best.delta is not None:
        out.append(f"Best: {best.label} at {best.mean(summary.metric):.4f}, {estimate_text(best.delta)} against the "
                   f"{summary.reference_label} ({reference.mean(summary.metric):.4f}; 95% interval over "
                   f"{count(best.delta.n_seeds, 'seed')}).")
    elif best is not None:
        out.append(f"Best: {best.label} at {best.mean(summary.metric):.4f}.")
    effects = ordered(summary.effects or [])
    beyond = [e for e in effects if summary.verdict(e) == "beyond noise"]
    if beyond:
        out.append("Beyond noise (Holm-adjusted p < 0.05): " + "; ".join(
            f"{e.name} {estimate_text(e.estimate)}" for e in beyond[:4]) + ("; ..." if len(beyond) > 4 else "") + ".")
    elif effects:
        out.append(f"No effect is beyond noise; the table resolves about ±{summary.resolution.half_width:.2g}"
                   if summary.resolution and summary.resolution.half_width else
                   "No effect can be told from noise: one seed gives no interval (run --seeds 3 or more).")
    return out


def first_page(pdf: PdfPages, summary: Summary) -> None:
    fig = plt.figure(figsize=PORTRAIT)
    fig.text(0.07, 0.95, f"Ablations: {summary.run['grid']}", fontsize=16, weight="bold", va="top")
    text = "\n\n".join(textwrap.fill(s, 92) for s in sentences(summary))
    fig.text(0.07, 0.91, text, fontsize=9.5, va="top", linespacing=1.4)
    ax = fig.add_axes((0.38, 0.08, 0.55, 0.6))
    if summary.effects:
        effects = ordered(summary.effects)[::-1][-18:]
        labels, values = [e.name for e in effects], [e.estimate.value for e in effects]
        errors = [e.estimate.half_width or 0.0 for e in effects]
        colours = ["tab:blue" if summary.verdict(e) == "beyond noise" else "0.6" for e in effects]
        ax.set_title("Effects on " + METRICS[summary.metric] + " (95% intervals; blue: beyond noise)", fontsize=9)
    else:
        rows = [row for row in summary.rows if row.delta is not None][::-1][-18:]
        labels, values = [row.label for row in rows], [row.delta.value for row in rows]
        errors = [row.delta.half_width or 0.0 for row in rows]
        colours = ["tab:blue"] * len(rows)
        ax.set_title(f"Δ against the {summary.reference_label} (95% intervals)", fontsize=9)
    ax.barh(labels, values, xerr=errors, color=colours, capsize=2)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("negative = lower loss", fontsize=8)
    pdf.savefig(fig)
    plt.close(fig)


def table_page(pdf: PdfPages, title: str, headers: list[str], body: list[list[str]], shades: dict[int, str],
               bold: set[int]) -> None:
    """A typeset table on landscape pages, `ROWS_PER_PAGE` rows each; `shades` and `bold` by body row."""
    for start in range(0, max(len(body), 1), ROWS_PER_PAGE):
        chunk = body[start:start + ROWS_PER_PAGE] or [[""] * len(headers)]
        fig = plt.figure(figsize=LANDSCAPE)
        fig.text(0.04, 0.95, title if start == 0 else f"{title} (continued)", fontsize=13, weight="bold", va="top")
        ax = fig.add_axes((0.03, 0.05, 0.94, 0.85))
        ax.axis("off")
        cells = ax.table(cellText=chunk, colLabels=headers, loc="upper center", cellLoc="left", colLoc="left")
        cells.auto_set_font_size(False)
        cells.set_fontsize(7)
        cells.auto_set_column_width(list(range(len(headers))))
        for (r, _), cell in cells.get_celld().items():
            cell.set_edgecolor("0.85")
            index = start + r - 1
            if r == 0:
                cell.set_text_props(weight="bold")
                cell.set_facecolor("0.92")
            elif index in shades:
                cell.set_facecolor(shades[index])
            if r > 0 and index in bold:
                cell.set_text_props(weight="bold")
        pdf.savefig(fig)
        plt.close(fig)


def results_table(pdf: PdfPages, summary: Summary) -> None:
    headers = ["variant", "params", METRICS[summary.metric], f"Δ vs {summary.reference_label} (95% CI)", "coverage",
               "tokens/s", "status", *(["note"] if summary.tuning else [])]
    body, shades, bold = [], {}, set()
    for i, row in enumerate(summary.rows):
        coverage = row.mean("val_coverage")
        body.append([row.label + (f" ({summary.reference_label})" if row.is_reference else ""),
                     number(row.params, ","), loss_text(row), estimate_text(row.delta),
                     "" if coverage is None else f"{100 * coverage:.1f}%", number(row.mean("tokens_per_s"), ",.0f"),
                     status_text(row.status_counts), *([row.note] if summary.tuning else [])])
        if row.is_reference:
            shades[i] = REFERENCE_COLOUR
        if row is summary.best:
            shades[i], bold = BEST_COLOUR, {i}
    table_page(pdf, "Results (best in bold, shaded blue; the reference shaded grey)", headers, body, shades, bold)
    if summary.effects:
        effects = ordered(summary.effects)
        table_page(pdf, "Effects", ["effect", "estimate ± 95% interval", "p (Holm)", "verdict"],
                   [[e.name, estimate_text(e.estimate), number(e.estimate.p_adjusted, ".2g"), summary.verdict(e)]
                    for e in effects], {}, {i for i, e in enumerate(effects) if summary.verdict(e) == "beyond noise"})


def image_page(pdf: PdfPages, title: str, path: Path) -> None:
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    fig = plt.figure(figsize=LANDSCAPE if width > height * 1.2 else PORTRAIT)
    fig.text(0.04, 0.96, title, fontsize=13, weight="bold", va="top")
    ax = fig.add_axes((0.04, 0.04, 0.92, 0.86))
    ax.imshow(image)
    ax.axis("off")
    pdf.savefig(fig)
    plt.close(fig)


def text_page(pdf: PdfPages, title: str, lines: list[str], monospace: bool = False) -> None:
    fig = plt.figure(figsize=PORTRAIT)
    fig.text(0.06, 0.96, title, fontsize=13, weight="bold", va="top")
    wrapped = [w for line in lines for w in (textwrap.wrap(line, 100, subsequent_indent="  ") or [""])]
    fig.text(0.06, 0.93, "\n".join(wrapped[:80]), va="top", family="monospace" if monospace else "sans-serif",
             fontsize=6.5 if monospace else 9, linespacing=1.35)
    pdf.savefig(fig)
    plt.close(fig)


def configuration(summary: Summary) -> list[str]:
    run = summary.run
    return [f"command: {run['command']}", f"backend: {run['backend']}, {run['workers']} workers x {run['threads']} "
            f"threads, device {run['device']}", f"torch {run.get('torch')}, code {json.dumps(run.get('code', 'unrecorded'))}",
            f"machine: {run.get('machine', 'unrecorded')}", "", *json.dumps(run["config"], indent=1).splitlines()]


def write_pdf(summary: Summary, plots: list[tuple[str, str]]) -> Path:
    path, tmp = summary.root / "report.pdf", summary.root / ".report.pdf.tmp"
    with PdfPages(tmp) as pdf:
        first_page(pdf, summary)
        results_table(pdf, summary)
        for name, title in plots:
            if (summary.root / name).exists():
                image_page(pdf, title, summary.root / name)
        samples = [line for label, titles in summary.samples.items()
                   for line in (f"{label}:", *(f"  {t}" for t in titles or ["(no best.pt kept)"]), "")]
        if samples:
            text_page(pdf, "Samples (temperature 0.8, top-k 50, seed 0)", samples)
        text_page(pdf, "Configuration and machine", configuration(summary), monospace=True)
    tmp.replace(path)
    return path
