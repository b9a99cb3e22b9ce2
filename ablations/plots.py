"""The report's PNGs: validation curves, effects with their intervals, and each recipe's lr schedule.

Imported only when matplotlib is installed (the `plot` extra); `report.plotting_available` has
already selected the non-interactive Agg backend.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from mainrun.components.optimizers import lr_curve

from .axes import Level, Point
from .cells import cell_key, seed_values
from .effects import DEFAULT_MARGIN, Effect, ordered, verdict
from .grid import swap_label
from .store import ResultsDir


def write_all(root: Path, run: dict[str, Any], points: list[Point], seeds: list[int],
              records: list[dict[str, Any]], effects: list[Effect],
              references: dict[str, Level] | None = None, margin: float = DEFAULT_MARGIN) -> list[tuple[str, str]]:
    """Write the PNGs into root; return (file name, title) for each, for results.md to link."""
    written = [("curves.png", "Validation loss curves")]
    plot_curves(root, points, seeds, root / "curves.png", references or {})
    if effects:
        plot_effects(ordered(effects), root / "effects.png", margin)
        written.append(("effects.png", "Effects with 95% intervals"))
    max_steps = next((r["max_steps"] for r in records if r["max_steps"]), None)
    if max_steps:
        # One curve per optimizer recipe and peak lr the grid trains with.
        schedules = list(dict.fromkeys((p.variant.opt, p.level("lr") if "lr" in p.axes() else run["config"]["lr"])
                                       for p in points))
        plot_lr_schedules(schedules, max_steps, root / "lr_schedule.png")
        written.append(("lr_schedule.png", "Learning-rate schedule of each optimizer recipe"))
    return written


def plot_curves(root: Path, points: list[Point], seeds: list[int], path: Path, references: dict[str, Level]) -> None:
    """One colour per variant, one line per seed (seeds split the data differently, so their
    evaluation steps differ and are not averaged)."""
    store = ResultsDir(root)
    fig, ax = plt.subplots(figsize=(10, 6))
    colours = plt.get_cmap("tab20")
    for i, point in enumerate(points):
        label = swap_label(point, references)
        style = (dict(color="black", linewidth=2.0, zorder=3) if label in ("baseline", "reference")
                 else dict(color=colours(i % 20), linewidth=1.0))
        labelled = False
        for seed in seeds:
            record = store.read_record(cell_key(point, seed))
            curve = store.read_curve(cell_key(point, seed))
            if record is None or record["status"] != "ok" or not curve:
                continue
            steps, losses = zip(*curve)
            ax.plot(steps, losses, label=None if labelled else label, **style)
            labelled = True
    ax.set_xlabel("step")
    ax.set_ylabel("val loss (reference metric)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_effects(effects: list[Effect], path: Path, margin: float = DEFAULT_MARGIN) -> None:
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(effects) + 1.5))
    names = [e.name for e in effects][::-1]
    values = [e.estimate.value for e in effects][::-1]
    half_widths = [e.estimate.half_width for e in effects][::-1]
    colours = ["tab:blue" if verdict(e.estimate, margin) == "beyond noise" else "tab:grey" for e in effects][::-1]
    has_intervals = any(h is not None for h in half_widths)
    ax.barh(names, values, color=colours, capsize=3,
            xerr=[h or 0.0 for h in half_widths] if has_intervals else None)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_title("95% intervals; blue: beyond noise (Holm), grey: within noise or negligible" if has_intervals
                 else "one seed: no intervals", fontsize=9)
    ax.set_xlabel("effect on val loss (negative = lower loss)")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_lr_schedules(schedules: list[tuple[str, float | None]], max_steps: int, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for recipe, lr in schedules:
        label = recipe if len(schedules) == len({r for r, _ in schedules}) else f"{recipe}, lr {lr!r}"
        ax.plot(range(max_steps), lr_curve(recipe, max_steps, lr), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sensitivity(path: Path, axis: str, series: dict[str, dict[Any, list[float]]], chosen: dict[str, Any],
                     ylabel: str) -> None:
    """The metric against a numeric hyperparameter: a line per variant through the means, error bars
    of one sd over seeds, the chosen value ringed. Log x for learning rates and weight decays."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.get_cmap("tab10")
    for i, (label, by_value) in enumerate(series.items()):
        values = sorted(v for v, losses in by_value.items() if losses)
        if not values:
            continue
        means = [statistics.fmean(by_value[v]) for v in values]
        sds = [statistics.stdev(by_value[v]) if len(by_value[v]) > 1 else 0.0 for v in values]
        colour = colours(i % 10)
        ax.errorbar(values, means, yerr=sds, marker="o", capsize=3, color=colour, label=label)
        if label in chosen and chosen[label] in by_value and by_value[chosen[label]]:
            ax.plot([chosen[label]], [statistics.fmean(by_value[chosen[label]])], marker="o", markersize=14,
                    markerfacecolor="none", markeredgecolor=colour, markeredgewidth=2)
    if axis in ("lr", "weight_decay") and all(v > 0 for by_value in series.values() for v in by_value):
        ax.set_xscale("log")
    ax.set_xlabel(axis.replace("_", "-"))
    ax.set_ylabel(ylabel)
    ax.set_title("mean ± sd over seeds; ringed: the chosen value", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    if any(series):  # one unnamed line (a sweep stage) needs no legend
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def grid_sensitivity(root: Path, run: dict[str, Any], points: list[Point], seeds: list[int],
                     references: dict[str, Level], metric: str, ylabel: str) -> list[tuple[str, str]]:
    """A sensitivity plot for each numeric axis of a grid with two or more values: a line per
    combination of the other axes, the best mean of each line ringed."""
    store = ResultsDir(root)
    written = []
    for axis, spec in run.get("axes", {}).items():
        levels = spec["levels"]
        if len(levels) < 2 or any(isinstance(v, str) for v in levels):
            continue
        series: dict[str, dict[Any, list[float]]] = {}
        for point in points:
            rest = Point(point.variant, tuple((a, v) for a, v in point.settings if a != axis))
            line = series.setdefault(swap_label(rest, references), {})
            line[point.level(axis)] = seed_values(store, point, seeds, metric)
        best = {label: min((v for v in line if line[v]), key=lambda v: statistics.fmean(line[v]))
                for label, line in series.items() if any(line.values())}
        name = f"sensitivity_{axis}.png"
        plot_sensitivity(root / name, axis, series, best, ylabel)
        written.append((name, f"Sensitivity: {ylabel} against {axis.replace('_', '-')}"))
    return written
