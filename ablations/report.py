"""The table and the report of a results folder: results.md, results.csv, results.json, plots.

    python -m ablations.report runs/full-1a2b3c4d          # re-render without training

Reads `run.json` (which cells the grid has) and each cell's record; cells without a record yet (an
interrupted run) count as "not run". Nothing here depends on when it runs, so rendering the same
folder twice writes the same results.md.
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from mainrun.cli import OneLineArgumentParser, load_plugins, run_cli
from mainrun.components import FAMILIES
from mainrun.variant import Variant
from mainrun.errors import ConfigError, writing

from .axes import Level, Point, axis_label, level_text, same_level
from .cells import cell_key, read_records
from .effects import (DEFAULT_MARGIN, Cells, Effect, Estimate, delta_vs, factorial_effects, holm, ordered,
                      seeds_to_resolve, verdict)
from .grid import count
from .metrics import METRICS, choose_metric
from .store import ResultsDir, to_json, write_atomic
from .study import ReportOptions
from .cli import add_report_arguments

STATUSES = ("ok", "diverged", "failed", "not run")
@dataclass
class Row:
    """One point of the grid (a variant and its hyperparameter-axis values), summarised over its seeds."""

    point: Point
    records: list[dict[str, Any]]  # one per seed that has a record
    missing: int  # seeds without a record yet
    delta: Estimate | None = None
    is_reference: bool = False  # the row the deltas are measured from
    ok: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.ok = [r for r in self.records if r["status"] == "ok"]

    @property
    def variant(self) -> Variant:
        return self.point.variant

    metric: str = "val_loss"

    def mean(self, key: str) -> float | None:
        values = [r[key] for r in self.ok if r.get(key) is not None]
        return statistics.fmean(values) if values else None

    @property
    def loss_sd(self) -> float | None:
        values = [r[self.metric] for r in self.ok if r.get(self.metric) is not None]
        return statistics.stdev(values) if len(values) >= 2 else None

    @property
    def params(self) -> int | None:
        return next((r["params"] for r in self.records if r["params"] is not None), None)

    @property
    def status_counts(self) -> Counter:
        counts = Counter(r["status"] for r in self.records)
        counts["not run"] = self.missing
        return counts

    @property
    def sort_key(self) -> tuple:
        loss = self.mean(self.metric)
        return (loss is None, loss if loss is not None else 0.0, str(self.point))


def load(root: Path) -> tuple[dict[str, Any], list[Point], list[int]]:
    """run.json, and the grid's points and seeds."""
    run = ResultsDir(root).read_run()
    if run is None:
        raise ConfigError(f"{root} is not an ablations results folder (no run.json)")
    load_plugins(run["plugins"])  # so that plugin component names parse
    return run, [Point.parse(v) for v in run["variants"]], list(run["seeds"])


def references_of(run: dict[str, Any]) -> dict[str, Level]:
    """Each axis's reference level as the run recorded it (folders from before axes: none)."""
    return {axis: spec["reference"] for axis, spec in run.get("axes", {}).items()}


def record_point(record: dict[str, Any]) -> Point:
    return Point.parse(record.get("point") or record["variant"])


def finished_losses(records: list[dict[str, Any]], metric: str = "val_loss") -> Cells:
    return {(record_point(r), r["seed"]): r[metric] for r in records
            if r["status"] == "ok" and r.get(metric) is not None and math.isfinite(r[metric])}


def reference_point(points: list[Point], references: dict[str, Level]) -> Point | None:
    """The point with every axis at its reference level: the baseline in a component grid."""
    for point in points:
        if all(same_level(point.level(axis), level) for axis, level in references.items()):
            if references or point.is_baseline:
                return point
    return None


def summarise(points: list[Point | Variant], seeds: list[int], records: list[dict[str, Any]],
              references: dict[str, Level] | None = None, metric: str = "val_loss") -> list[Row]:
    points = [p if isinstance(p, Point) else Point(p) for p in points]
    by_point: dict[Point, list[dict[str, Any]]] = {p: [] for p in points}
    for record in records:
        by_point[record_point(record)].append(record)
    losses = finished_losses(records, metric)
    reference = reference_point(points, references or {})
    rows = []
    for point in points:
        found = by_point[point]
        row = Row(point, found, missing=len(seeds) - len(found), is_reference=point == reference, metric=metric)
        if reference is not None and point != reference:
            row.delta = delta_vs(losses, point, reference, seeds)
        rows.append(row)
    return sorted(rows, key=lambda row: row.sort_key)


def family_columns(rows: list[Row]) -> list[str]:
    """The always-named families, and any other family some row takes off its reference member."""
    return [family for family, registry in FAMILIES.items()
            if registry.always_named or any(family in row.variant.departures() for row in rows)]


def hyperparameter_columns(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(field for row in rows for field, _ in row.point.settings))


def reference_label(rows: list[Row]) -> str:
    """`baseline` when the deltas are measured from the reference program, else `reference`."""
    return "baseline" if any(row.is_reference and row.point.is_baseline for row in rows) else "reference"


def _num(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _decimals(est: Estimate) -> int:
    """4 decimals, or more when the interval is narrower, so that it shows two significant digits:
    -0.000100 ± 0.000085 is beyond noise, where -0.0001 ± 0.0001 would look as if it were not."""
    if not est.half_width:
        return 4
    return max(4, 1 - math.floor(math.log10(est.half_width)))


def _estimate(est: Estimate | None) -> str:
    if est is None:
        return ""
    d = _decimals(est)
    if est.half_width is None:
        return f"{est.value:+.{d}f}"
    return f"{est.value:+.{d}f} ± {est.half_width:.{d}f}"


def _status(counts: Counter) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])


def variant_table(rows: list[Row], notes: dict[Point, str] | None = None) -> str:
    """The table of points; `notes` adds a last column (a tuned value's boundary alarm)."""
    families, hyper = family_columns(rows), hyperparameter_columns(rows)
    reference = reference_label(rows)
    metric = rows[0].metric if rows else "val_loss"
    extra = [] if metric == "val_loss" else ["val loss (reference)"]
    headers = ["", *families, *map(axis_label, hyper), "params", METRICS[metric], f"Δ vs {reference}", *extra,
               "loss/token", "coverage", "tokens/s", "wall s", "status", *(["note"] if notes is not None else [])]
    body = []
    for row in rows:
        loss = row.mean(metric)
        loss_text = ""
        if loss is not None:
            sd = f" ± {row.loss_sd:.4f}" if row.loss_sd is not None else ""
            loss_text = f"{loss:.4f}{sd} (n={len(row.ok)})"
        coverage = row.mean("val_coverage")
        body.append([
            reference if row.is_reference else "",
            *(getattr(row.variant, family) for family in families),
            *(level_text(row.point.level(field)) for field in hyper),
            _num(row.params, ","),
            loss_text,
            _estimate(row.delta),
            *([_num(row.mean("val_loss"), ".4f")] if extra else []),
            _num(row.mean("val_loss_per_token"), ".4f"),
            _num(None if coverage is None else 100 * coverage, ".1f") + ("%" if coverage is not None else ""),
            _num(row.mean("tokens_per_s"), ",.0f"),
            _num(row.mean("wall_s"), ".1f"),
            _status(row.status_counts),
            *([notes.get(row.point, "")] if notes is not None else []),
        ])
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def effects_table(effects: list[Effect], margin: float = DEFAULT_MARGIN) -> str:
    body = []
    for effect in effects:
        est = effect.estimate
        d = _decimals(est)
        interval = "n/a" if est.half_width is None else f"± {est.half_width:.{d}f}"
        p = "" if est.p_adjusted is None else f"{est.p_adjusted:.2g}"
        body.append([effect.name, f"{est.value:+.{d}f}", interval, p, est.n_seeds, verdict(est, margin)])
    return tabulate(body, headers=["effect", "estimate", "95% interval", "p (Holm)", "seeds", "verdict"],
                    tablefmt="github", disable_numparse=True)


def with_holm(effects: list[Effect]) -> list[Effect]:
    """The effects of one table with Holm-adjusted p-values: one family of tests per table."""
    adjusted = holm([e.estimate for e in effects])
    return [Effect(e.name, est, e.order) for e, est in zip(effects, adjusted)]


def resolution_lines(effects: list[Effect], options: ReportOptions) -> list[str]:
    """The smallest effect the table resolves, and (with --target-effect) the seeds another size needs."""
    widths = [e.estimate.half_width for e in effects if e.estimate.half_width is not None]
    sds = [e.estimate.sd for e in effects if e.estimate.sd is not None]
    if not widths:
        return ["With one seed there is no interval: no effect here can be told from noise (run --seeds 3 or more)."]
    n = max(e.estimate.n_seeds for e in effects)
    lines = [f"Smallest effect this table resolves: about ±{statistics.median(widths):.2g} (the median half-width of "
             f"its 95% intervals, {n} seeds); anything smaller reads as noise here."]
    if options.target_effect is not None and sds:
        sd = statistics.median(sds)
        needed = seeds_to_resolve(options.target_effect, sd)
        lines.append(f"To resolve an effect of {options.target_effect:g} (95% half-width below it) would take "
                     + (f"about {needed} seeds" if needed else "more than 1000 seeds")
                     + f", from the median spread of the per-seed contrasts measured here ({sd:.2g}).")
    return lines


def code_note(run: dict[str, Any], rows: list[Row]) -> list[str]:
    """Say so when the cells of this table come from more than one version of the code."""
    hashes = sorted({r.get("code") or "unrecorded" for row in rows for r in row.records})
    if len(hashes) <= 1 and not run.get("code_changes"):
        return []
    return [f"**Mixed code**: these cells come from {count(len(hashes), 'version')} of the code (source hashes "
            f"{', '.join(hashes)}), added with --allow-code-change; compare them knowing that.", ""]


def header_lines(run: dict[str, Any], rows: list[Row], done: int, cells: int, seeds: list[int],
                 title_extra: str = "") -> list[str]:
    return [
        f"# Ablations: grid `{run['grid']}`, {count(len(run['variants']), 'variant')} x {count(len(seeds), 'seed')} "
        f"({', '.join(map(str, seeds))}){title_extra}",
        "",
        f"Command: `{run['command']}`",
        "",
        f"Scale `{run['scale']}`; data `{run['data']}` (fingerprint `{run['fingerprint']}`); device `{run['device']}`; "
        f"{done} of {cells} cells have run.",
        "",
        "Val loss is the reference metric (summed token cross-entropy over the characters of the val text) at the "
        f"last evaluation: mean ± sd over the seeds that finished ok (n). Δ vs {reference_label(rows)} is paired by "
        "seed, ± its 95% interval. Loss/token divides the same sum by the tokens scored instead; coverage is the share of val tokens "
        "the metric scores. A seed sets the data split, the tokenizer, the initial weights and dropout, as in the "
        "reference.",
        "",
        *code_note(run, rows),
    ]


def effects_section(effects: list[Effect] | None, run: dict[str, Any], options: ReportOptions,
                    title: str = "Effects") -> list[str]:
    if effects is None:
        return []
    return [
        f"## {title}",
        "",
        "Main effect of a swap: mean loss of the cells with it minus the mean of the cells without it, over all "
        "levels of the other families. Interaction: half of (the effect of one swap with the other swap made) "
        "minus (the effect with it not made). 95% intervals are Student t intervals over per-seed estimates "
        "(the estimator is described in ablations/effects.py). Verdicts: negligible when the whole interval lies "
        f"inside ±{options.margin:g} (--margin, the rerun noise of this task); else beyond noise when the "
        "p-value, adjusted by Holm's procedure over every effect in this table, is below 0.05; else within "
        "noise. Negative lowers the loss." + (
            " In a fraction, effects that share a column of the design are one estimate, named after all of "
            "them (a = b): the data cannot tell them apart." if run.get("design", {}).get("generators") else ""),
        "",
        effects_table(ordered(effects), options.margin) if effects else "No effect can be estimated yet: "
        "no seed has every cell finished ok.",
        "",
        *(line for text in (resolution_lines(effects, options) if effects else []) for line in (text, "")),
    ]


def failures_and_plots(rows: list[Row], plots: list[tuple[str, str]], plot_note: str) -> list[str]:
    out = []
    failures = [r for row in rows for r in row.records if r["status"] == "failed"]
    if failures:
        out += ["## Failed cells", ""]
        out += [f"- `{cell_key(record_point(r), r['seed'])}`: {str(r['error']).splitlines()[0]}"
                for r in failures]
        out.append("")
    out += ["## Plots", ""]
    out += [f"![{title}]({name})" for name, title in plots] or [plot_note]
    return out


def markdown(run: dict[str, Any], rows: list[Row], effects: list[Effect] | None, plots: list[tuple[str, str]],
             plot_note: str, options: ReportOptions = ReportOptions(), metric_note: str = "") -> str:
    done = sum(len(row.records) for row in rows)
    out = header_lines(run, rows, done, len(run["variants"]) * len(run["seeds"]), run["seeds"])
    out += [*([metric_note, ""] if metric_note else []), variant_table(rows), ""]
    out += design_section(run)
    out += effects_section(effects, run, options)
    out += failures_and_plots(rows, plots, plot_note)
    return "\n".join(out) + "\n"


def design_section(run: dict[str, Any]) -> list[str]:
    """The fraction, its resolution, generators and alias structure, for a fractional grid."""
    design = run.get("design") or {}
    if not design.get("generators"):
        return []
    legend = ", ".join(f"{letter} = {axis_label(axis)}"
                       for letter, axis in design["factors"].items())
    return [
        "## Design",
        "",
        f"A {design['fraction']} fractional factorial, {design['runs']} cells per seed, resolution "
        f"{design['resolution']}: no main effect is aliased with another main effect or a two-factor interaction. "
        "Generators from Box, Hunter & Hunter (2005) Table 6.22 (ablations/design.py), signs chosen so that the "
        "all-reference cell is in the fraction.",
        "",
        f"Factors: {legend}. Generators: {', '.join(design['generators'])}. Defining relation: "
        f"{design['defining_relation']}.",
        "",
        "Alias structure (each effect with its aliases of up to three factors; longer ones omitted):",
        "",
        *(f"- {line}" for line in design["aliases"]),
        "",
    ]


def csv_fields(rows: list[Row]) -> list[str]:
    return ["baseline", *family_columns(rows), *hyperparameter_columns(rows), "params", "val_loss_mean",
            "val_loss_sd", "seeds_ok", "delta_vs_baseline", "delta_ci95_half_width", "val_loss_per_token",
            "val_coverage", "tokens_per_s", "wall_s", *(s.replace(" ", "_") for s in STATUSES)]


def csv_text(rows: list[Row]) -> str:
    """One line per point. `baseline` marks the row the deltas are measured from (the grid's reference
    point when the baseline is not in it); hyperparameter columns are named like TrainConfig fields."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_fields(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        counts = row.status_counts
        writer.writerow({
            "baseline": row.is_reference, **{f: getattr(row.variant, f) for f in family_columns(rows)},
            **{f: row.point.level(f) for f in hyperparameter_columns(rows)}, "params": row.params,
            "val_loss_mean": row.mean("val_loss"), "val_loss_sd": row.loss_sd, "seeds_ok": len(row.ok),
            "delta_vs_baseline": row.delta.value if row.delta else None,
            "delta_ci95_half_width": row.delta.half_width if row.delta else None,
            "val_loss_per_token": row.mean("val_loss_per_token"), "val_coverage": row.mean("val_coverage"),
            "tokens_per_s": row.mean("tokens_per_s"), "wall_s": row.mean("wall_s"),
            **{s.replace(" ", "_"): counts[s] for s in STATUSES},
        })
    return buffer.getvalue()


def plotting_available(plot: bool | None) -> tuple[bool, str]:
    """Whether to plot, and what results.md says when it does not."""
    if plot is False:
        return False, "Plots were not requested (--no-plot)."
    try:
        import matplotlib
    except ImportError:
        if plot:
            raise ConfigError("--plot needs matplotlib: pip install 'mainrun-ablations[plot]'") from None
        return False, "No plots: matplotlib is not installed (pip install 'mainrun-ablations[plot]')."
    matplotlib.use("Agg")
    return True, ""


def best_against_reference(root: Path, rows: list[Row], seeds: list[int],
                           references: dict[str, Level]) -> list[tuple[str, str]]:
    """The validation curves of the reference (the baseline) and the best variant, on their own."""
    from . import plots as plotting

    reference = next((row for row in rows if row.is_reference and row.ok), None)
    best = next((row for row in rows if row.ok), None)
    if reference is None or best is None or best is reference:
        return []
    plotting.plot_curves(root, [reference.point, best.point], seeds, root / "curves_best.png", references)
    return [("curves_best.png", f"Validation curves: {reference_label(rows)} against the best variant")]


def write_report(root: str | Path, plot: bool | None = None, options: ReportOptions = ReportOptions()) -> str:
    """Write results.md/.csv/.json (and plots) into the folder; return the markdown."""
    root = Path(root)
    run, points, seeds = load(root)
    references = references_of(run)
    if "tune" in run:  # it reads the cells it shows itself
        from .tuned_report import write_tuned_report

        return write_tuned_report(root, run, points, references, plot, options)
    records = read_records(ResultsDir(root), points, seeds)
    metric, metric_note = choose_metric(records, options.metric)
    rows = summarise(points, seeds, records, references, metric)
    effects = factorial_effects(points, finished_losses(records, metric), seeds, references)
    effects = with_holm(effects) if effects is not None else None
    make_plots, plot_note = plotting_available(plot)
    plots = []
    if make_plots:
        from . import plots as plotting

        with writing(root / "*.png"):
            plots = plotting.write_all(root, run, points, seeds, records, effects or [], references, options.margin)
            plots[1:1] = best_against_reference(root, rows, seeds, references)
            plots += plotting.grid_sensitivity(root, run, points, seeds, references, metric, METRICS[metric])
    text = markdown(run, rows, effects, plots, plot_note, options, metric_note)
    if make_plots:
        from .pdf import write_pdf

        with writing(root / "report.pdf"):
            write_pdf(root, run, rows, effects, variant_table(rows), plots, metric, options.margin, references)
    write_atomic(root / "results.json", to_json(records))
    write_atomic(root / "results.csv", csv_text(rows))
    write_atomic(root / "results.md", text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m ablations.report", description=__doc__.strip().splitlines()[0])
    parser.add_argument("dir", help="a results folder written by python -m ablations.run")
    parser.add_argument("--plot", action=argparse.BooleanOptionalAction, default=None,
                        help="write PNG plots (default: when matplotlib is installed)")
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    options = ReportOptions(**{k: v for k, v in vars(args).items() if k in ("metric", "margin", "target_effect")
                               and v is not None})
    print(write_report(args.dir, args.plot, options), end="")
    return 0


if __name__ == "__main__":
    run_cli(main)
