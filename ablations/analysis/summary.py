"""What a results folder says, computed once: the rows, the metric and why, the deltas, the effects
with their verdicts, the design, the tuning, the failures, the curves. Every report (markdown, CSV,
JSON, plots, PDF, the console) is a writer that reads only this (`ablations.writers`).

    summary = summarise("runs/full-1a2b3c4d")
    summary.rows[0].label, summary.rows[0].mean(summary.metric), summary.effects[0].estimate

Reads `run.json` (which cells the grid has) and each cell's record; cells without a record yet (an
interrupted run) count as "not run". Nothing here depends on when it runs, so summarising the same
folder twice gives the same summary.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mainrun.cli import load_plugins
from mainrun.components import FAMILIES
from mainrun.errors import ConfigError
from mainrun.variant import Variant

from ..study.axes import Level, Point, level_text, same_level
from ..execution.cells import cell_key, read_records
from .effects import (Cells, Effect, Estimate, delta_vs, estimate_from_json, factorial_effects, holm, seeds_to_resolve,
                      verdict)
from ..study.grid import swap_label
from .metrics import choose_metric
from ..execution.store import ResultsDir
from ..study.study import ReportOptions
from ..study.tuning import Tune, with_setting


@dataclass
class Row:
    """One point of the grid (a variant and its setting-axis values), summarised over its seeds."""

    point: Point
    records: list[dict[str, Any]]  # one per seed that has a record
    missing: int  # seeds without a record yet
    metric: str = "val_loss"
    delta: Estimate | None = None
    is_reference: bool = False  # the row the deltas are measured from
    label: str = ""  # what it changes against the references: `opt=adamw, pos=rope`
    note: str = ""  # a tuned value's boundary alarm
    ok: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.ok = [r for r in self.records if r["status"] == "ok"]

    @property
    def variant(self) -> Variant:
        return self.point.variant

    def mean(self, key: str) -> float | None:
        values = [r[key] for r in self.ok if r.get(key) is not None]
        return statistics.fmean(values) if values else None

    @property
    def loss_sd(self) -> float | None:
        values = [r[self.metric] for r in self.ok if r.get(self.metric) is not None]
        return statistics.stdev(values) if len(values) >= 2 else None

    @property
    def params(self) -> int | None:
        return next((r["params"] for r in self.records if r.get("params") is not None), None)

    @property
    def status_counts(self) -> Counter:
        counts = Counter(r["status"] for r in self.records)
        counts["not run"] = self.missing
        return counts

    @property
    def sort_key(self) -> tuple:
        loss = self.mean(self.metric)
        return (loss is None, loss if loss is not None else 0.0, str(self.point))


@dataclass(frozen=True)
class Resolution:
    """How small an effect the table can tell from noise, and the seeds another size would need."""

    half_width: float | None  # the median half-width of the effects' 95% intervals
    seeds: int  # the most seeds any effect had
    target_effect: float | None = None
    target_seeds: int | None = None  # seeds that would resolve target_effect (None: more than 1000)
    spread: float | None = None  # the median sd of the per-seed contrasts


@dataclass
class Tuning:
    """A --tune run: each point's mean at each candidate on the tuning seeds, its pick and alarm, and the
    same table and effects at the shared default value for comparison."""

    tune: Tune
    metric: str  # what the pick ranked by
    means: dict[Point, dict[Level, float]]
    chosen: dict[Point, Level]
    alarms: dict[Point, str | None]
    default_label: str  # `lr (0.0003)`: the shared default value(s)
    default_rows: list[Row]
    default_effects: list[Effect] | None
    default_resolution: Resolution | None
    series: dict[str, dict[Any, list[float]]]  # label -> value -> per-seed metric, for the sensitivity plot
    extensions: dict[Point, tuple[Level, ...]] = field(default_factory=dict)  # the candidates each point added

    @property
    def values(self) -> list[Level]:
        """Every candidate any point tried, ascending: the initial grid and the extensions."""
        return sorted({v for by_value in self.series.values() for v in by_value} | set(self.tune.values))


@dataclass
class Summary:
    root: Path
    run: dict[str, Any]  # run.json
    options: ReportOptions
    metric: str
    metric_note: str  # why this metric, when it is not the reference's
    seeds: list[int]  # the seeds the table measures
    references: dict[str, Level]
    rows: list[Row]
    effects: list[Effect] | None  # None: the grid is not factorial
    resolution: Resolution | None
    records: list[dict[str, Any]]  # results.json
    curves: dict[str, list[tuple[int, float]]]  # cell key -> (step, val loss), cells that finished ok
    cells: int  # how many the folder's plan trains
    tuning: Tuning | None = None
    samples: dict[str, list[str]] = field(default_factory=dict)  # row label -> titles from its best.pt

    @property
    def reference(self) -> Row | None:
        return next((row for row in self.rows if row.is_reference), None)

    @property
    def best(self) -> Row | None:
        return next((row for row in self.rows if row.mean(self.metric) is not None), None)

    @property
    def reference_label(self) -> str:
        """`baseline` when the deltas are measured from the reference program, else `reference`."""
        return "baseline" if any(row.is_reference and row.point.is_baseline for row in self.rows) else "reference"

    @property
    def failures(self) -> list[tuple[str, str]]:
        """Every failed cell of the folder, a tuning cell's too (a cell tuned and measured is listed once)."""
        return list(dict.fromkeys((cell_key(record_point(r), r["seed"]), str(r["error"]).splitlines()[0])
                                  for r in self.records if r["status"] == "failed"))

    @property
    def code_hashes(self) -> list[str]:
        return sorted({r.get("code") or "unrecorded" for r in self.records})

    def verdict(self, effect: Effect) -> str:
        return verdict(effect.estimate, self.options.margin)

    def curve(self, point: Point, seed: int) -> list[tuple[int, float]]:
        return self.curves.get(cell_key(point, seed), [])


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


def rows_of(points: list[Point | Variant], seeds: list[int], records: list[dict[str, Any]],
            references: dict[str, Level] | None = None, metric: str = "val_loss") -> list[Row]:
    """One row per point, sorted by its mean metric, with its delta against the reference point."""
    points = [p if isinstance(p, Point) else Point(p) for p in points]
    by_point: dict[Point, list[dict[str, Any]]] = {p: [] for p in points}
    for record in records:
        by_point[record_point(record)].append(record)
    losses = finished_losses(records, metric)
    reference = reference_point(points, references or {})
    rows = []
    for point in points:
        found = by_point[point]
        row = Row(point, found, missing=len(seeds) - len(found), metric=metric, is_reference=point == reference,
                  label=swap_label(point, references))
        if reference is not None and point != reference:
            row.delta = delta_vs(losses, point, reference, seeds)
        rows.append(row)
    # Every delta of the table is one claim of one family, as every effect is: Holm over them.
    compared = [row for row in rows if row.delta is not None]
    for row, adjusted in zip(compared, holm([row.delta for row in compared])):
        row.delta = adjusted
    return sorted(rows, key=lambda row: row.sort_key)


def effects_of(points: list[Point], losses: Cells, seeds: list[int], references: dict[str, Level]) -> list[Effect] | None:
    """The factorial effects, with Holm-adjusted p-values over the table (one family of tests)."""
    effects = factorial_effects(points, losses, seeds, references)
    if effects is None:
        return None
    adjusted = holm([e.estimate for e in effects])
    return [Effect(e.name, est, e.order) for e, est in zip(effects, adjusted)]


def resolution_of(effects: list[Effect] | None, options: ReportOptions) -> Resolution | None:
    if not effects:
        return None
    widths = [e.estimate.half_width for e in effects if e.estimate.half_width is not None]
    sds = [e.estimate.sd for e in effects if e.estimate.sd is not None]
    if not widths:
        return Resolution(None, max(e.estimate.n_seeds for e in effects))
    spread = statistics.median(sds) if sds else None
    target = options.target_effect if spread is not None else None
    return Resolution(statistics.median(widths), max(e.estimate.n_seeds for e in effects), target,
                      seeds_to_resolve(target, spread) if target is not None else None, spread)


def curves_of(store: ResultsDir, records: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    keys = [cell_key(record_point(r), r["seed"]) for r in records if r["status"] == "ok"]
    return {key: curve for key in keys if (curve := store.read_curve(key))}


def summarise(root: str | Path, options: ReportOptions = ReportOptions()) -> Summary:
    """The summary of a results folder, a grid's or a tuned grid's."""
    root = Path(root)
    run, points, seeds = load(root)
    if "tune" in run:
        return summarise_tuned(root, run, points, options)
    store, references = ResultsDir(root), references_of(run)
    records = read_records(store, points, seeds)
    metric, note = choose_metric(records, options.metric)
    effects = effects_of(points, finished_losses(records, metric), seeds, references)
    return Summary(root, run, options, metric, note, seeds, references, rows_of(points, seeds, records, references,
                   metric), effects, resolution_of(effects, options), records, curves_of(store, records),
                   len(points) * len(seeds))


def summarise_tuned(root: Path, run: dict[str, Any], points: list[Point], options: ReportOptions) -> Summary:
    """A --tune folder: the table and effects at each point's own value on the held-out seeds; the
    tuning itself and the same points at the shared default in `tuning`."""
    store, references, tune = ResultsDir(root), references_of(run), Tune.from_run(run["tune"])
    searches, tune_metric = tune.search(store, points)
    chosen = {p: s.best for p, s in searches.items() if s.best is not None}
    eval_seeds = list(tune.eval_seeds)
    tried = [with_setting(p, tune.axis, v) for p, s in searches.items() for v in s.tried]
    tuning_records = read_records(store, tried, tune.tune_seeds)
    tuned_points = [with_setting(p, tune.axis, chosen[p]) for p in points if p in chosen]
    tuned_records = read_records(store, tuned_points, eval_seeds)
    default_records = read_records(store, points, eval_seeds) if tune.shared_default else []
    metric, note = choose_metric(tuned_records + default_records, options.metric)
    alarms = {p: searches[p].alarm(tune.axis) for p in chosen}
    rows = rows_of(tuned_points, eval_seeds, tuned_records, references, metric)
    for row in rows:
        grid_point = next(p for p, v in chosen.items() if with_setting(p, tune.axis, v) == row.point)
        row.note = alarms[grid_point] or ""
    back = {with_setting(p, tune.axis, v): p for p, v in chosen.items()}  # tuned point -> grid point
    tuned_losses = {(back[p], s): loss for (p, s), loss in finished_losses(tuned_records, metric).items()}
    effects = effects_of(points, tuned_losses, eval_seeds, references)
    shared = sorted({level_text(r[tune.axis]) for r in default_records if r.get(tune.axis) is not None})
    series = {swap_label(p, references): {v: [r[tune_metric] for s in tune.tune_seeds
                                              if (r := store.read_record(cell_key(with_setting(p, tune.axis, v), s)))
                                              and r["status"] == "ok" and r.get(tune_metric) is not None]
                                          for v in searches[p].tried} for p in points}
    default_effects = effects_of(points, finished_losses(default_records, metric), eval_seeds, references) \
        if tune.shared_default else None
    tuning = Tuning(tune, tune_metric, {p: s.means for p, s in searches.items()}, chosen, alarms,
                    f"{tune.axis_label} ({', '.join(shared)})" if shared else tune.axis_label,
                    rows_of(points, eval_seeds, default_records, references, metric) if tune.shared_default else [],
                    default_effects, resolution_of(default_effects, options), series,
                    {p: s.extensions for p, s in searches.items() if s.extensions})
    records = tuning_records + tuned_records + default_records
    cells = len(tried) * len(tune.tune_seeds) + len(points) * len(eval_seeds) * (2 if tune.shared_default else 1)
    return Summary(root, run, options, metric, note, eval_seeds, references, rows, effects,
                   resolution_of(effects, options), records, curves_of(store, tuned_records), cells, tuning)


def with_samples(summary: Summary, num: int = 5) -> Summary:
    """Titles from the best.pt of the best row and of the reference row (their first seed that kept
    one), for the PDF. Loads the models: done only when a report asks for it."""
    import torch

    from mainrun import checkpoint
    from mainrun.sample import generate, load_model

    chosen = {row.label: row for row in (summary.best, summary.reference) if row is not None and row.ok}
    for label, row in chosen.items():
        path = next((p for s in summary.seeds
                     if (p := summary.root / "cells" / cell_key(row.point, s) / checkpoint.BEST).exists()), None)
        if path is None:
            summary.samples[label] = []
            continue
        try:
            model, tokenizer, _ = load_model(str(path), torch.device("cpu"))
            summary.samples[label] = generate(model, tokenizer, num=num, seed=0)
        except checkpoint.CheckpointError as exc:
            summary.samples[label] = [f"({exc})"]
    return summary


__all__ = ["FAMILIES", "Resolution", "Row", "Summary", "Tuning", "finished_losses", "load", "record_point",
           "references_of", "rows_of", "summarise", "with_samples"]


@dataclass
class SweepSummary:
    """A sweep folder: its decisions (sweep.json) and, per numeric stage, each value's per-seed metric."""

    root: Path
    record: dict[str, Any]  # sweep.json: each stage's levels, means, decision and alarm; chosen; final
    series: dict[int, dict[Any, list[float]]]  # stage number -> level -> per-seed metric

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.record["stages"]

    def final_estimate(self) -> Estimate | None:
        return estimate_from_json((self.record.get("final") or {}).get("delta"))


def summarise_sweep(root: str | Path) -> SweepSummary:
    """The summary of a sweep's top folder, from its sweep.json and its stage folders."""
    import json

    root = Path(root)
    try:
        record = json.loads((root / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{root}/sweep.json cannot be read ({type(exc).__name__})") from None
    series = {}
    for stage in record["stages"]:
        if any(isinstance(level, str) for level in stage["levels"]) or not stage.get("folder"):
            continue
        run, points, seeds = load(root / stage["folder"])
        store = ResultsDir(root / stage["folder"])
        series[stage["stage"]] = {p.level(stage["axis"]): [r[stage["metric"]] for r in read_records(store, [p], seeds)
                                                          if r["status"] == "ok" and r.get(stage["metric"]) is not None]
                                  for p in points}
    return SweepSummary(root, record, series)
