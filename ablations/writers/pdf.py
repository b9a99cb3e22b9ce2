"""`report.pdf`: the summary as a document to hand a colleague.

Page 1 leads with the chart that answers the question (the effects, or each variant's delta when the
grid is not factorial) under a few sentences: what ran (and, for a tuned study, what each kind of
cell is), what came out best against the reference, and which effects are beyond noise. Then the
results as a typeset table on landscape pages (the best row in bold, the reference row shaded, split
across pages when long), the effects table, every plot of the folder, titles sampled from the best
and the reference when a best.pt was kept, and the configuration with the values each cell used.

Everything is laid out by measuring the text as matplotlib draws it: long labels (an aliased
interaction's name runs to 80 characters and more, a variant's to 90) wrap to the room they have,
table columns wrap and the font shrinks until the table fits its page, and text pages continue onto
the next page instead of being cut.
"""
from __future__ import annotations

import json
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextToPath

from ..study.axes import level_text
from ..analysis.effects import ordered
from ..analysis.metrics import METRICS
from ..analysis.summary import Summary
from .text import count, data_name, data_text, estimate_text, number, status_text
from ..study.tuning import with_setting
from .markdown import loss_text
from .plots import wrap_label

PORTRAIT, LANDSCAPE = (8.27, 11.69), (11.69, 8.27)
MARGIN = 0.5  # inches, every side of every page
BEST_COLOUR, REFERENCE_COLOUR, HEADER_COLOUR = "#dbe9f6", "#eeeeee", "#e3e3e3"
TABLE_SIZES = (7.5, 7, 6.5, 6, 5.5, 5)  # font sizes a table tries, largest first, until it fits its page
PAD_X, PAD_Y = 0.05, 0.025  # inches inside a table cell
SLACK = 1.02  # a little room beyond the fonts' own advances


# -- measuring -------------------------------------------------------------------------------------

class Measure:
    """Text extents in inches on one figure, as `fig.text` draws them. Widths are the fonts' own
    advances (what a PDF viewer draws): the screen renderer's hinted glyphs at small sizes run up to 7%
    narrower, enough for a cell's text to run into the next."""

    def __init__(self, fig: Any):
        self.fig, self.renderer = fig, fig.canvas.get_renderer()
        self.widths: dict[tuple, float] = {}
        self.steps: dict[tuple, tuple[float, float]] = {}
        self.paths = TextToPath()

    def extent(self, text: str, size: float, weight: str = "normal", family: str = "sans-serif",
               linespacing: float = 1.2) -> tuple[float, float]:
        t = self.fig.text(0, 0, text, linespacing=linespacing, fontsize=size, weight=weight, family=family)
        box = t.get_window_extent(self.renderer)
        t.remove()
        return box.width / self.fig.dpi, box.height / self.fig.dpi

    def width(self, text: str, size: float, weight: str = "normal", family: str = "sans-serif") -> float:
        """The widest line of `text`."""
        widest = 0.0
        for line in text.split("\n"):
            key = (line, size, weight, family)
            if key not in self.widths:
                font = FontProperties(family=family, weight=weight, size=size)
                points = self.paths.get_text_width_height_descent(line, font, ismath=False)[0] if line else 0.0
                self.widths[key] = points / 72 * SLACK
            widest = max(widest, self.widths[key])
        return widest

    def height(self, lines: int, size: float, weight: str = "normal", family: str = "sans-serif",
               linespacing: float = 1.2) -> float:
        """The height of `lines` lines: one line's, and a step for each more."""
        key = (size, weight, family, linespacing)
        if key not in self.steps:
            one = self.extent("Ag", size, weight, family, linespacing)[1]
            two = self.extent("Ag\nAg", size, weight, family, linespacing)[1]
            self.steps[key] = (one, two - one)
        one, step = self.steps[key]
        return one + (max(lines, 1) - 1) * step

    def wrap(self, text: str, width: float, size: float, weight: str = "normal", family: str = "sans-serif",
             wrap: Callable[[str, int], str] = wrap_label) -> str:
        """`text` wrapped (each of its lines) to at most `width` inches, fewest lines first."""
        out = []
        for line in text.split("\n"):
            chars = max(8, int(width * 72 / (0.45 * size)))
            wrapped = line
            while chars >= 4:
                wrapped = wrap(line, chars) if line else ""
                if self.width(wrapped, size, weight, family) <= width:
                    break
                chars -= max(1, chars // 12)
            out.append(wrapped)
        return "\n".join(out)


def lines_in(text: str) -> int:
    return text.count("\n") + 1


def paragraph(text: str, chars: int) -> str:
    return "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False) or [""])


def page(size: tuple[float, float]) -> tuple[Any, Measure]:
    fig = plt.figure(figsize=size)
    return fig, Measure(fig)


def title_of(fig: Any, measure: Measure, title: str, size: float = 13) -> float:
    """The page's title, top left, wrapped to the page; the height in inches it takes from the top."""
    width, height = fig.get_size_inches()
    text = measure.wrap(title, width - 2 * MARGIN, size, "bold", wrap=paragraph)
    fig.text(MARGIN / width, 1 - MARGIN / height, text, fontsize=size, weight="bold", va="top")
    return MARGIN + measure.height(lines_in(text), size, "bold") + 0.15


def save(pdf: PdfPages, fig: Any) -> None:
    pdf.savefig(fig)
    plt.close(fig)


# -- what the pages say ----------------------------------------------------------------------------

def design_text(run: dict[str, Any]) -> str:
    design = run.get("design") or {}
    if design.get("fraction", "full") == "full" or "runs" not in design:
        return ""
    return (f" (a {design['fraction']} fractional factorial of resolution {design.get('resolution', '?')}: effects "
            "named `a = b` are aliased, one estimate of them all)")


def cells_sentence(summary: Summary) -> str:
    """How many cells finished ok, and in a tuned study what each kind of cell is for."""
    metric, tuning = METRICS[summary.metric], summary.tuning
    ok = sum(len(row.ok) for row in summary.rows)
    if tuning is None:
        return f"{ok} of {summary.cells} cells finished ok, ranked by {metric}."
    tune, axis = tuning.tune, tuning.tune.axis_label
    measured = len(summary.run["variants"]) * len(summary.seeds)
    shared = measured if tune.shared_default else 0
    tuning_cells = summary.cells - measured - shared
    tuning_ok = sum(r["status"] == "ok" for r in summary.records if r["seed"] in tune.tune_seeds)
    candidates = ", ".join(level_text(v) for v in tuning.values)
    seeds = ", ".join(map(str, tune.tune_seeds))
    plural = "s" if len(tune.tune_seeds) > 1 else ""
    out = (f"The table measures {count(measured, 'cell')} (each variant at its own {axis} on the measuring seeds): "
           f"{ok} of {measured} finished ok, ranked by {metric}. The folder's other "
           f"{count(tuning_cells + shared, 'cell')} are not in it: {tuning_cells} tuning cells (each variant at each "
           f"{axis} candidate, {candidates}, on the tuning seed{plural} {seeds}; {tuning_ok} ok)")
    if tune.shared_default:
        default_ok = sum(len(row.ok) for row in tuning.default_rows)
        out += (f" and {shared} shared-default cells (each variant at the shared default {tuning.default_label} on "
                f"the measuring seeds, for comparison; {default_ok} ok)")
    return out + "."


def sentences(summary: Summary) -> list[str]:
    """What ran and which cells finished; the best against the reference; what is beyond noise."""
    run, seeds = summary.run, summary.seeds
    out = [f"Grid `{run['grid']}`{design_text(run)}: {count(len(summary.rows), 'variant')} x "
           f"{count(len(seeds), 'seed')} ({', '.join(map(str, seeds))}) at the `{run['scale']}` scale on "
           f"{data_text(run, summary.root)}. " + cells_sentence(summary)]
    best, reference = summary.best, summary.reference
    if best is not None and reference is not None and best is not reference and best.delta is not None:
        interval = (f"95% interval over {count(best.delta.n_seeds, 'seed')}" if best.delta.half_width is not None
                    else "one seed: no interval")
        out.append(f"Best: {best.label} at {best.mean(summary.metric):.4f}, {estimate_text(best.delta)} against the "
                   f"{summary.reference_label} ({reference.mean(summary.metric):.4f}; {interval}).")
    elif best is not None:
        out.append(f"Best: {best.label} at {best.mean(summary.metric):.4f}.")
    effects = ordered(summary.effects or [])
    beyond = [e for e in effects if summary.verdict(e) == "beyond noise"]
    if beyond:
        out.append("Beyond noise (Holm-adjusted p < 0.05): " + "; ".join(
            f"{e.name} {estimate_text(e.estimate)}" for e in beyond[:4])
            + (f"; and {len(beyond) - 4} more (the table lists them)" if len(beyond) > 4 else "") + ".")
    elif effects:
        out.append(f"No effect is beyond noise; the table resolves about ±{summary.resolution.half_width:.2g}."
                   if summary.resolution and summary.resolution.half_width else
                   ("No effect can be told from noise: one seed gives no interval (run --seeds 3 or more)."
                    if len(summary.seeds) < 2 else
                    "No effect can be told from noise: only one seed has every cell the effects need, and one seed "
                    "gives no interval (the table's status column shows the cells that failed or are missing)."))
    return out


# -- page 1 ----------------------------------------------------------------------------------------

def first_page(pdf: PdfPages, summary: Summary) -> None:
    fig, measure = page(PORTRAIT)
    width, height = PORTRAIT
    top = title_of(fig, measure, f"Ablations: {summary.run['grid']}", 16)
    text = "\n\n".join(measure.wrap(s, width - 2 * MARGIN, 9.5, wrap=paragraph)
                       for s in sentences(summary))
    fig.text(MARGIN / width, 1 - top / height, text, fontsize=9.5, va="top", linespacing=1.4)
    top += measure.height(lines_in(text), 9.5, linespacing=1.4) + 0.35
    if summary.effects:
        effects = ordered(summary.effects)[::-1][-18:]
        names, values = [e.name for e in effects], [e.estimate.value for e in effects]
        errors = [e.estimate.half_width or 0.0 for e in effects]
        colours = ["tab:blue" if summary.verdict(e) == "beyond noise" else "0.6" for e in effects]
        chart_title = ("Effects on " + METRICS[summary.metric] + (f", each variant at its own "
                       f"{summary.tuning.tune.axis_label}" if summary.tuning else "")
                       + " (95% intervals; blue: beyond noise)")
    else:
        rows = [row for row in summary.rows if row.delta is not None][::-1][-18:]
        names, values = [row.label for row in rows], [row.delta.value for row in rows]
        errors = [row.delta.half_width or 0.0 for row in rows]
        colours = ["tab:blue"] * len(rows)
        chart_title = f"Δ against the {summary.reference_label} (95% intervals)"
    if not names:
        save(pdf, fig)
        return
    # Labels take at most 40% of the page's width, wrapped (between aliases first) to fit it.
    labels = [measure.wrap(name, 0.4 * (width - 2 * MARGIN), 7) for name in names]
    label_width = max(measure.width(label, 7) for label in labels)
    left, right = MARGIN + label_width + 0.12, width - MARGIN - 0.1
    chart_title = measure.wrap(chart_title, right - MARGIN, 9, wrap=paragraph)
    top += measure.height(lines_in(chart_title), 9) + 0.1
    label_lines = sum(lines_in(label) for label in labels)
    bottom = MARGIN + 0.45  # the x tick labels and the x label below the axes
    chart = min(height - top - bottom, max(2.0, 0.16 * label_lines + 0.14 * len(labels) + 0.5))
    ax = fig.add_axes((left / width, (height - top - chart) / height, (right - left) / width, chart / height))
    positions = list(range(len(labels)))
    ax.barh(positions, values, xerr=errors, color=colours, capsize=2)
    ax.set_yticks(positions, labels)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.tick_params(labelsize=7)
    ax.set_title(chart_title, fontsize=9, loc="right")
    ax.set_xlabel("negative = lower loss", fontsize=8)
    save(pdf, fig)


# -- tables ----------------------------------------------------------------------------------------

def fit_columns(measure: Measure, headers: list[str], body: list[list[str]], bold: set[int], room: float,
                wrappable: set[int]) -> tuple[float, list[str], list[list[str]], list[float]]:
    """The font size, the wrapped headers and body, and each column's width (inches), so that the
    table is at most `room` wide: the widest wrappable column wraps narrower, then the font shrinks."""
    columns = len(headers)
    for size in TABLE_SIZES:
        limits: list[int | None] = [None] * columns
        while True:
            cells = [[wrap_label(cell, limits[c]) if limits[c] else cell for c, cell in enumerate(row)] for row in body]
            # A header wraps at spaces to its column's longest line, so that it never widens the column alone.
            longest = [max((len(line) for row in cells for line in row[c].split("\n")), default=0)
                       for c in range(columns)]
            heads = [paragraph(h, max(8, longest[c])) for c, h in enumerate(headers)]
            widths = [max([measure.width(heads[c], size, "bold")]
                          + [measure.width(row[c], size, "bold" if r in bold else "normal")
                             for r, row in enumerate(cells)]) + 2 * PAD_X for c in range(columns)]
            if sum(widths) <= room:
                return size, heads, cells, widths
            shrinkable = [c for c in wrappable if longest[c] > 14]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda c: widths[c])
            limits[widest] = max(12, int(longest[widest] * 0.85))
    return size, heads, cells, widths


def table_pages(pdf: PdfPages, title: str, headers: list[str], body: list[list[str]], shades: dict[int, str],
                bold: set[int], wrappable: set[int], caption: str = "") -> None:
    """A typeset table on landscape pages; `shades` and `bold` by body row. Cells of the `wrappable`
    columns wrap and the font shrinks until the table fits the page's width; rows continue onto as
    many pages as they need, the header on each."""
    width, height = LANDSCAPE
    fig, measure = page(LANDSCAPE)
    size, heads, cells, widths = fit_columns(measure, headers, body, bold, width - 2 * MARGIN, wrappable)
    rows = [(heads, "bold", HEADER_COLOUR)] + [(row, "bold" if r in bold else "normal", shades.get(r))
                                               for r, row in enumerate(cells)]
    heights = [max(measure.height(lines_in(cell), size, weight) for cell in row) + 2 * PAD_Y
               for row, weight, _ in rows]
    first, start = True, 1
    while True:
        if not first:
            fig, measure = page(LANDSCAPE)
        top = title_of(fig, measure, title if first else f"{title} (continued)")
        if caption and first:
            text = measure.wrap(caption, width - 2 * MARGIN, 8, wrap=paragraph)
            fig.text(MARGIN / width, 1 - top / height, text, fontsize=8, va="top")
            top += measure.height(lines_in(text), 8) + 0.12
        y = height - top
        end = start
        while end < len(rows) and y - heights[0] - sum(heights[start:end + 1]) >= MARGIN:
            end += 1
        end = max(end, min(start + 1, len(rows)))  # a row taller than a page still goes on one
        for i in [0, *range(start, end)]:
            row, weight, shade = rows[i]
            if shade:
                fig.add_artist(Rectangle((MARGIN / width, (y - heights[i]) / height), sum(widths) / width,
                                         heights[i] / height, transform=fig.transFigure, facecolor=shade,
                                         edgecolor="none", zorder=0))
            x = MARGIN
            for c, cell in enumerate(row):
                fig.text((x + PAD_X) / width, (y - PAD_Y) / height, cell, fontsize=size, weight=weight, va="top")
                x += widths[c]
            y -= heights[i]
            fig.add_artist(Line2D([MARGIN / width, (MARGIN + sum(widths)) / width], [y / height] * 2,
                                  transform=fig.transFigure, color="0.8", linewidth=0.5))
        save(pdf, fig)
        first, start = False, end
        if start >= len(rows):
            return


def results_table(pdf: PdfPages, summary: Summary) -> None:
    tuning = summary.tuning
    headers = ["variant", "params", METRICS[summary.metric], f"Δ vs {summary.reference_label} (95% CI)", "coverage",
               "tokens/s", "status", *(["note"] if tuning else [])]
    body, shades, bold = [], {}, set()
    for i, row in enumerate(summary.rows):
        coverage = row.mean("val_coverage")
        body.append([row.label + (f" ({summary.reference_label})" if row.is_reference and row.label != summary.reference_label
                                  else ""),
                     number(row.params, ","), loss_text(row), estimate_text(row.delta),
                     "" if coverage is None else f"{100 * coverage:.1f}%", number(row.mean("tokens_per_s"), ",.0f"),
                     status_text(row.status_counts), *([row.note] if tuning else [])])
        if row.is_reference:
            shades[i] = REFERENCE_COLOUR
        if row is summary.best:
            shades[i], bold = BEST_COLOUR, {i}
    caption = ""
    if tuning is not None:
        caption = (f"Each variant at its own {tuning.tune.axis_label} (in its name), picked on the tuning seed"
                   f"{'s' if len(tuning.tune.tune_seeds) > 1 else ''} {', '.join(map(str, tuning.tune.tune_seeds))} "
                   f"from {', '.join(level_text(v) for v in tuning.values)}; measured on the seeds "
                   f"{', '.join(map(str, summary.seeds))}. A note marks a pick at an end of its candidates.")
    table_pages(pdf, "Results (best in bold, shaded blue; the reference shaded grey)", headers, body, shades, bold,
                {0, 6, 7}, caption)
    if summary.effects:
        effects = ordered(summary.effects)
        table_pages(pdf, "Effects", ["effect", "estimate ± 95% interval", "p (Holm)", "verdict"],
                    [[e.name, estimate_text(e.estimate), number(e.estimate.p_adjusted, ".2g"), summary.verdict(e)]
                     for e in effects], {}, {i for i, e in enumerate(effects) if summary.verdict(e) == "beyond noise"},
                    {0, 3})


# -- plots, samples, configuration -----------------------------------------------------------------

def image_page(pdf: PdfPages, title: str, path: Path) -> None:
    """The image on the page, portrait or landscape, that shows it larger."""
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    size = max((LANDSCAPE, PORTRAIT), key=lambda size: min((size[0] - 2 * MARGIN) / width,
                                                          (size[1] - 2 * MARGIN - 0.5) / height))
    fig, measure = page(size)
    top = title_of(fig, measure, title)
    ax = fig.add_axes((MARGIN / size[0], MARGIN / size[1], 1 - 2 * MARGIN / size[0], 1 - (top + MARGIN) / size[1]))
    ax.imshow(image)
    ax.axis("off")
    save(pdf, fig)


def text_pages(pdf: PdfPages, title: str, lines: list[str], monospace: bool = False) -> None:
    """Lines on portrait pages, each wrapped to the page's width, continued onto as many pages as they take."""
    width, height = PORTRAIT
    family, size, spacing = ("monospace", 6.5, 1.35) if monospace else ("sans-serif", 9, 1.35)
    fig, measure = page(PORTRAIT)
    indent = lambda text, n: "\n".join(textwrap.wrap(text, n, subsequent_indent="    ", break_on_hyphens=False,
                                                     drop_whitespace=False) or [""])
    wrapped = [w for line in lines for w in measure.wrap(line, width - 2 * MARGIN, size, family=family,
                                                         wrap=indent).split("\n")]
    first = True
    while first or wrapped:
        if not first:
            fig, measure = page(PORTRAIT)
        top = title_of(fig, measure, title if first else f"{title} (continued)")
        room = height - top - MARGIN
        n = 1
        while n < len(wrapped) and measure.height(n + 1, size, family=family, linespacing=spacing) <= room:
            n += 1
        fig.text(MARGIN / width, 1 - top / height, "\n".join(wrapped[:n]), va="top", family=family, fontsize=size,
                 linespacing=spacing)
        save(pdf, fig)
        wrapped, first = wrapped[n:], False


def used_values(summary: Summary, name: str) -> str | None:
    """What a setting the config leaves to the recipe (`lr`, `weight_decay`: null) was in the cells: the
    tuned value per variant, an axis's levels, or each recipe's own value."""
    tuning, axes = summary.tuning, summary.run.get("axes", {})
    if tuning is not None and tuning.tune.axis == name:
        return (f"tuned per variant from {', '.join(level_text(v) for v in tuning.values)} (below); the shared "
                f"default {tuning.default_label}" if tuning.tune.shared_default else
                f"tuned per variant from {', '.join(level_text(v) for v in tuning.values)} (below)")
    if name in axes:
        return f"an axis of the grid: {', '.join(level_text(v) for v in axes[name]['levels'])}"
    by_recipe: dict[str, set] = defaultdict(set)
    for record in summary.records:
        if record.get(name) is not None:
            by_recipe[str(record.get("opt", "?"))].add(record[name])
    if not by_recipe:
        return None
    return "each recipe's own: " + ", ".join(f"{recipe} {' or '.join(level_text(v) for v in sorted(values))}"
                                             for recipe, values in sorted(by_recipe.items()))


def commands_lines(run: dict[str, Any]) -> list[str]:
    """The command that trained the folder's cells, and its resumes: run.json's `command` is the one that
    made the folder and `resumed` each later run (a `commands` list, first to last, reads the same). A
    folder from before either kept only its latest run's command, and says so when it was run again."""
    commands = [str(c) for c in run.get("commands") or []]
    resumed = [f"{r['command']} ({r['at']})" if isinstance(r, dict) else str(r) for r in run.get("resumed") or []]
    first = commands[0] if commands else run["command"]
    resumed = resumed or commands[1:]
    if resumed:
        return [f"command (made the folder and trained its first cells): {first}",
                f"run {count(len(resumed), 'more time')} since (resumed); the latest: {resumed[-1]}"]
    if "resumed" not in run and "commands" not in run and run.get("code_changes"):
        return [f"command: {first} (the folder's latest run: it was run again after its first cells, see the code "
                "changes below, and run.json then kept no earlier command)"]
    return [f"command: {first}"]


def configuration(summary: Summary) -> list[str]:
    run, root = summary.run, summary.root
    command = commands_lines(run)
    config = dict(run["config"])
    if str(run.get("data", "")).startswith("file:") and config.get("data"):
        config["data"] = data_name(run, root)
    for name in ("lr", "weight_decay"):
        if name in config and config[name] is None:
            config[name] = used_values(summary, name) or "the optimizer recipe's own"
    lines = [*command, f"data: {data_text(run, root)}",
             f"backend: {run['backend']}, {run['workers']} workers x {run['threads']} threads, device {run['device']}",
             f"torch {run.get('torch', 'unrecorded')}, code {json.dumps(run.get('code', 'unrecorded'))}",
             *([f"code changed {count(len(run['code_changes']), 'time')} while the folder filled "
                f"(--allow-code-change): "
                + "; ".join(f"{c['from']} -> {c['to']} at {c['at']}" for c in run["code_changes"])]
               if run.get("code_changes") else []),
             f"machine: {run.get('machine', 'unrecorded')}", "", *json.dumps(config, indent=1).splitlines()]
    tuning = summary.tuning
    if tuning is not None and tuning.chosen:
        by_value: dict[Any, list[str]] = defaultdict(list)
        labels = {row.point: row.label for row in summary.rows}
        for point, value in tuning.chosen.items():
            by_value[value].append(labels.get(with_setting(point, tuning.tune.axis, value), str(point)))
        lines += ["", f"{tuning.tune.axis_label} used by each variant (tuned; the value is also in its name):"]
        for value in sorted(by_value, key=lambda v: (isinstance(v, str), str(v) if isinstance(v, str) else v)):
            lines += [f"  {level_text(value)}: {count(len(by_value[value]), 'variant')}",
                      *(f"    {label}" for label in by_value[value])]
    return lines


def samples_lines(summary: Summary) -> tuple[list[str], str]:
    """The sampled titles by row, and a line for the rows that kept no best.pt ("" when none)."""
    kept = {label: titles for label, titles in summary.samples.items() if titles}
    lines = [line for label, titles in kept.items() for line in (f"{label}:", *(f"  {t}" for t in titles), "")]
    roles = {row.label: role for role, row in (("the reference", summary.reference), ("the best", summary.best))
             if row is not None}
    # "the reference (reference)" says it twice: a row labelled by its role is named once.
    missing = [(roles[label] if label in roles[label] else f"{roles[label]} ({label})") if label in roles else label
               for label, titles in summary.samples.items() if not titles]
    return lines, ("Samples: no best.pt was kept for " + " or ".join(missing) + "." if missing else "")


def write_pdf(summary: Summary, plots: list[tuple[str, str]]) -> Path:
    path, tmp = summary.root / "report.pdf", summary.root / ".report.pdf.tmp"
    with PdfPages(tmp) as pdf:
        first_page(pdf, summary)
        results_table(pdf, summary)
        for name, title in plots:
            if (summary.root / name).exists():
                image_page(pdf, title, summary.root / name)
        samples, missing = samples_lines(summary)
        if samples:
            text_pages(pdf, "Samples (temperature 0.8, top-k 50, seed 0)", samples + ([missing] if missing else []))
        text_pages(pdf, "Configuration and machine",
                   configuration(summary) + (["", missing] if missing and not samples else []), monospace=True)
    tmp.replace(path)
    return path
