"""The report's PNGs, drawn from the summary: validation curves (each variant against the reference,
small multiples), the reference against the best, effects with their intervals, each recipe's lr
schedule, and the metric against each numeric axis.

Imported only when matplotlib is installed (the `plot` extra); `plotting_available` selects the
non-interactive Agg backend first.
"""
from __future__ import annotations

import math
import statistics
import textwrap
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.layout_engine import ConstrainedLayoutEngine

from mainrun.components.optimizers import lr_curve

from ..study.axes import Point, axis_label
from ..analysis.effects import Effect, ordered
from ..study.grid import swap_label
from ..analysis.metrics import METRICS
from ..analysis.summary import Row, Summary

REFERENCE_GREY = "0.55"
# Line styles for many series: ten colours, then the same ten dashed, dotted, ..., each with its own
# marker, so that sixteen variants are sixteen distinct lines and not ten colours shared.
COLOURS = plt.get_cmap("tab10")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")
# Characters of a label per inch of width at 7 points (DejaVu Sans averages about 0.55 em a character).
CHARS_PER_INCH = 72 / (0.58 * 7)


def save(fig: Any, path: Path) -> None:
    if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def wrap_label(text: str, width: int) -> str:
    """`text` in lines of about `width` characters: an aliased effect (`a x b = c x d = ...`) breaks
    between its aliases, each new line starting `= `; anything else at spaces (after a variant's commas)."""
    lines: list[str] = []
    for i, part in enumerate(text.split(" = ")):
        part = part if i == 0 else "= " + part
        if lines and len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += " " + part
        else:
            lines.extend(textwrap.wrap(part, width, break_on_hyphens=False) or [part])
    return "\n".join(lines)


def style(i: int) -> dict[str, Any]:
    """The i-th series' colour, line style and marker: distinct for the first 24 x 6 series."""
    return {"color": COLOURS(i % 10), "linestyle": LINESTYLES[(i // 10) % len(LINESTYLES)],
            "marker": MARKERS[(i // 10) % len(MARKERS)]}


def legend_columns(labels: list[str], width_in: float, fontsize: float) -> tuple[int, int]:
    """How many columns a legend of these labels takes across `width_in` inches, and the characters
    a label may have in one before it wraps."""
    chars = CHARS_PER_INCH * 7 / fontsize * (width_in - 0.4)
    longest = max((len(label) for label in labels), default=0)
    columns = max(1, min(4, len(labels), int(chars // (min(longest, 70) + 8))))
    return columns, int(chars / columns) - 8


def legend_below(fig: Any, ax: Any, width_in: float, fontsize: float = 7) -> None:
    """The axes' legend under it, outside the data, in as many columns as its labels allow; labels
    longer than a column wrap. Constrained layout makes room for it below the axes."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    columns, chars = legend_columns(labels, width_in, fontsize)
    fig.legend(handles, [wrap_label(label, chars) for label in labels], loc="outside lower center", ncol=columns,
               fontsize=fontsize, frameon=False)


def seed_curves(summary: Summary, point: Point) -> list[tuple[list[int], list[float]]]:
    return [tuple(zip(*curve)) for seed in summary.seeds if (curve := summary.curve(point, seed))]


def plot_curves(summary: Summary, path: Path) -> None:
    """One small panel per variant: its seeds' curves in colour over the reference's in grey, on shared
    axes, so that sixteen variants read as sixteen comparisons instead of one tangle."""
    rows = [row for row in summary.rows if row.ok]
    reference = summary.reference
    columns = min(4, max(1, len(rows)))
    lines = math.ceil(len(rows) / columns) if rows else 1
    # A variant's label runs to 90 characters: wrapped to its panel's width, over its own panel.
    # The reference's panel says it is the reference, once: a row labelled by its role is not named twice.
    titles = [wrap_label(row.label if row is not reference or row.label == summary.reference_label
                         else f"{row.label} ({summary.reference_label})", 42)
              for row in rows]
    title_lines = max((t.count("\n") + 1 for t in titles), default=1)
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, (1.9 + 0.15 * title_lines) * lines + 0.4),
                             sharex=True, sharey=True, squeeze=False, layout="constrained")
    for ax, row, title in zip(axes.flat, rows, titles):
        if reference is not None and row is not reference:
            for steps, losses in seed_curves(summary, reference.point):
                ax.plot(steps, losses, color=REFERENCE_GREY, linewidth=1.0)
        colour = "black" if row is reference else "tab:blue"
        for steps, losses in seed_curves(summary, row.point):
            ax.plot(steps, losses, color=colour, linewidth=1.2)
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    fig.suptitle(f"Validation loss against step; grey: the {summary.reference_label}", fontsize=9)
    fig.supxlabel("step", fontsize=8)
    fig.supylabel("val loss (reference metric)", fontsize=8)
    save(fig, path)


def plot_pair(summary: Summary, rows: list[Row], path: Path) -> None:
    """The reference and the best variant, every seed, on one plot."""
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for row, colour in zip(rows, ("black", "tab:blue")):
        for i, (steps, losses) in enumerate(seed_curves(summary, row.point)):
            ax.plot(steps, losses, color=colour, linewidth=1.5, label=None if i else row.label)
    ax.set_xlabel("step")
    ax.set_ylabel("val loss (reference metric)")
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax, 8, fontsize=8)
    save(fig, path)


def plot_effects(summary: Summary, effects: list[Effect], path: Path) -> None:
    # An aliased interaction's name runs to 80 characters and more: wrapped between its aliases, so
    # that the bars keep the width of the figure.
    names = [wrap_label(e.name, 56) for e in effects][::-1]
    lines = sum(name.count("\n") + 1 for name in names)
    fig, ax = plt.subplots(figsize=(9, 0.16 * lines + 0.22 * len(effects) + 1.6), layout="constrained")
    values = [e.estimate.value for e in effects][::-1]
    half_widths = [e.estimate.half_width for e in effects][::-1]
    colours = ["tab:blue" if summary.verdict(e) == "beyond noise" else "tab:grey" for e in effects][::-1]
    has_intervals = any(h is not None for h in half_widths)
    ax.barh(names, values, color=colours, capsize=3, xerr=[h or 0.0 for h in half_widths] if has_intervals else None)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_title("95% intervals; blue: beyond noise (Holm), grey: within noise or negligible" if has_intervals
                 else "one seed: no intervals", fontsize=9, loc="right")
    ax.set_xlabel("effect on val loss (negative = lower loss)")
    ax.tick_params(axis="y", labelsize=7)
    ax.margins(y=0.5 / max(len(effects), 1))
    save(fig, path)


def schedules(summary: Summary) -> dict[str, list[float]]:
    """Each distinct lr schedule of the grid, named after every (recipe, lr) that follows it: recipes
    with one schedule (adamw and muon share theirs) are one line, `adamw = muon`, not one hidden under
    the other."""
    max_steps = next((r["max_steps"] for r in summary.records if r.get("max_steps")), None)
    if not max_steps:
        return {}
    points = [row.point for row in summary.rows]
    pairs = list(dict.fromkeys((p.variant.opt, p.level("lr") if "lr" in p.axes() else summary.run["config"]["lr"])
                               for p in points))
    named_lr = len(pairs) != len({recipe for recipe, _ in pairs})
    found: dict[tuple[float, ...], list[str]] = {}
    for recipe, lr in pairs:
        curve = lr_curve(recipe, max_steps, lr)
        found.setdefault(tuple(round(v, 15) for v in curve), []).append(f"{recipe}, lr {lr!r}" if named_lr else recipe)
    return {" = ".join(names): list(curve) for curve, names in found.items()}


def plot_lr_schedules(lines: dict[str, list[float]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    for i, (label, curve) in enumerate(lines.items()):  # colour and dash both change: distinct for 20 lines
        ax.plot(range(len(curve)), curve, label=label, linewidth=1.6, color=COLOURS(i % 10),
                linestyle=LINESTYLES[i % len(LINESTYLES)])
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    legend_below(fig, ax, 8, fontsize=8)
    save(fig, path)


def plot_sensitivity(path: Path, axis: str, series: dict[str, dict[Any, list[float]]], chosen: dict[str, Any],
                     ylabel: str) -> None:
    """The metric against a numeric axis: a line per variant through the means, error bars of one sd
    over seeds, the chosen value ringed. Log x for learning rates and weight decays."""
    named = len(series) > 1 or any(series)  # one unnamed line (a sweep stage) needs no legend
    width = 9.0 if named else 7.0
    # Sixteen variants are sixteen lines of distinct style, their legend under the axes, not over the data.
    legend_rows = math.ceil(len(series) / legend_columns(list(series), width, 8)[0]) if named else 0
    fig, ax = plt.subplots(figsize=(width, 4.2 + 0.2 * legend_rows), layout="constrained")
    for i, (label, by_value) in enumerate(series.items()):
        values = sorted(v for v, losses in by_value.items() if losses)
        if not values:
            continue
        means = [statistics.fmean(by_value[v]) for v in values]
        sds = [statistics.stdev(by_value[v]) if len(by_value[v]) > 1 else 0.0 for v in values]
        line = style(i)
        colour = line["color"]
        ax.errorbar(values, means, yerr=sds, capsize=3, label=label, markersize=5, **line)
        if label in chosen and chosen[label] in by_value and by_value[chosen[label]]:
            ax.plot([chosen[label]], [statistics.fmean(by_value[chosen[label]])], marker="o", markersize=14,
                    markerfacecolor="none", markeredgecolor=colour, markeredgewidth=2)
    if axis in ("lr", "weight_decay") and all(v > 0 for by_value in series.values() for v in by_value):
        ax.set_xscale("log")
    ax.set_xlabel(axis_label(axis) if "." in axis or axis in ("lr", "weight_decay") else axis.replace("_", "-"))
    ax.set_ylabel(ylabel)
    ax.set_title("mean ± sd over seeds; ringed: the chosen value", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    if named:
        legend_below(fig, ax, width, fontsize=8)
    save(fig, path)


def grid_sensitivity(summary: Summary) -> dict[str, tuple[dict[str, dict[Any, list[float]]], dict[str, Any]]]:
    """For each numeric axis with two or more values: a line per combination of the other axes, and
    each line's best value."""
    found = {}
    for axis, spec in summary.run.get("axes", {}).items():
        levels = spec["levels"]
        if len(levels) < 2 or any(isinstance(v, str) for v in levels):
            continue
        series: dict[str, dict[Any, list[float]]] = {}
        for row in summary.rows:
            rest = Point(row.variant, tuple((a, v) for a, v in row.point.settings if a != axis))
            series.setdefault(swap_label(rest, summary.references), {})[row.point.level(axis)] = \
                [r[summary.metric] for r in row.ok if r.get(summary.metric) is not None]
        best = {label: min((v for v in line if line[v]), key=lambda v: statistics.fmean(line[v]))
                for label, line in series.items() if any(line.values())}
        found[axis] = (series, best)
    return found


def write_plots(summary: Summary) -> list[tuple[str, str]]:
    """Write the PNGs into the folder; (file name, title) for each, in the order results.md links them."""
    root, written = summary.root, [("curves.png", "Validation loss curves")]
    plot_curves(summary, root / "curves.png")
    reference, best = summary.reference, summary.best
    if summary.tuning is None and reference is not None and reference.ok and best is not None and best is not reference:
        plot_pair(summary, [reference, best], root / "curves_best.png")
        written.append(("curves_best.png", f"Validation curves: {summary.reference_label} against the best variant"))
    if summary.effects:
        plot_effects(summary, ordered(summary.effects), root / "effects.png")
        written.append(("effects.png", "Effects with 95% intervals"))
    lines = schedules(summary)
    if lines:
        plot_lr_schedules(lines, root / "lr_schedule.png")
        written.append(("lr_schedule.png", "Learning-rate schedule of each optimizer recipe"))
    if summary.tuning is None:
        for axis, (series, best_values) in grid_sensitivity(summary).items():
            name = f"sensitivity_{axis}.png"
            plot_sensitivity(root / name, axis, series, best_values, METRICS[summary.metric])
            written.append((name, f"Sensitivity: {METRICS[summary.metric]} against {axis.replace('_', '-')}"))
    else:
        tuning = summary.tuning
        name = f"sensitivity_{tuning.tune.axis}.png"
        chosen = {swap_label(p, summary.references): v for p, v in tuning.chosen.items()}
        plot_sensitivity(root / name, tuning.tune.axis, tuning.series, chosen, METRICS[tuning.metric])
        written.append((name, f"Tuning: {METRICS[tuning.metric]} against {tuning.tune.axis_label}, chosen values "
                              "marked"))
    return written
