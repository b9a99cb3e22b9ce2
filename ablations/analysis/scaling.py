"""Which findings hold as the model grows: a ladder's rungs read from their folders, each predictor
backtested on them (`ablations.analysis.backtest`), and each finding predicted at the target compute by the
predictor that backtested best, with a verdict.

A rung is one results folder of the same study at one model size. Its compute is the training FLOPs
of one run (6N + 12 L T d per token, PaLM's appendix B, times the tokens trained), the median over its
finished cells. A finding is an effect, a row's delta, a sweep's final comparison or a log speed-up.

Verdicts at the target, from the chosen predictor's prediction there; "beyond noise" is a
Holm-adjusted p below 0.05 over every finding of the ladder (one family of claims, as each rung's
table is one):
- negligible: the whole 95% interval lies inside +/- the margin, whatever its sign;
- holds: beyond noise, with the sign measured at the largest rung, and not clearly larger or smaller;
- grows / shrinks: as holds, and the prediction differs from the largest rung's measurement beyond
  both their intervals (combined in quadrature), away from zero or towards it;
- flips sign: beyond noise, with the opposite sign to the largest rung's;
- fades: not beyond noise at the target, while the largest rung's was beyond its own interval and the
  prediction is clearly closer to zero;
- cannot tell: anything else; also wherever the finding rests on a tuned pick still at an end of its
  candidates (an optimum not found is no measurement of the variant).
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mainrun.training import model_flops_per_token

from .backtest import Rung, Score, backtest, choose, predict
from .effects import ALPHA, DEFAULT_MARGIN, Estimate, holm_adjust, t_critical_975
from ..study.grid import swap_label
from .predictors import BASELINE, PREDICTORS, Measured, Prediction

# The reference run: 27,172,864 parameters, 6 layers of width 512 over 128-token windows, 994 steps of
# 64 x 128 tokens (7 epochs of the hub's 100,000 titles; reference notes, sections 1, 3 and 4).
REFERENCE_RUN_FLOPS = model_flops_per_token(27_172_864, 6, 128, 512) * 994 * 64 * 128
VERDICTS = ("negligible", "holds", "grows", "shrinks", "flips sign", "fades", "cannot tell")


def tokens_trained(record: dict[str, Any]) -> int:
    """The tokens a cell's steps trained on: batch_size rows of block_size tokens per optimizer step
    (gradient accumulation splits those rows into micro-batches; it does not add any)."""
    return record["steps"] * record["batch_size"] * record["block_size"]


def run_flops(record: dict[str, Any]) -> float | None:
    """Training FLOPs of one cell: FLOPs per token times the tokens its steps trained on."""
    if not record.get("flops_per_token") or not record.get("steps"):
        return None
    return record["flops_per_token"] * tokens_trained(record)


def rung_compute(records: list[dict[str, Any]]) -> float | None:
    """A rung's compute: the median over its finished cells (variants differ a little in size)."""
    flops = [f for r in records if r.get("status") == "ok" and (f := run_flops(r)) is not None]
    return statistics.median(flops) if flops else None


def measured(estimate: Estimate | None) -> Measured | None:
    """A paired estimate as a predictor reads it; None without an interval (one seed)."""
    if estimate is None or estimate.half_width is None or estimate.n_seeds < 2:
        return None
    se = estimate.sd / math.sqrt(estimate.n_seeds) if estimate.sd is not None \
        else estimate.half_width / t_critical_975(estimate.n_seeds - 1)
    return Measured(estimate.value, se, estimate.n_seeds - 1)


@dataclass(frozen=True)
class Finding:
    name: str
    measured: list[Measured | None]  # per rung of the ladder
    predictions: dict[str, Prediction | None]  # at the target, by each predictor
    predictor: str  # the one the verdict uses
    p_adjusted: float | None  # Holm over the ladder's findings
    verdict: str

    @property
    def predicted(self) -> Prediction | None:
        return self.predictions.get(self.predictor)


@dataclass(frozen=True)
class LadderSummary:
    root: Path
    axes: list[str]  # the settings the rungs move
    rungs: list[Rung]  # the rungs whose folders exist, in ladder order
    planned: list[dict[str, Any]]  # every rung of the ladder: settings and folder, trained or not
    target: float
    metric: str
    margin: float
    findings: list[Finding]
    scores: dict[str, Score]
    choice: tuple[str, str]  # the predictor used at the target, and why
    path: dict[str, Any] | None = None  # with --toward: where the rungs walk from and to
    metric_note: str = ""  # why the metric, when it is not the reference's

    @property
    def compute(self) -> list[float | None]:
        return [r.compute for r in self.rungs]

    @property
    def tuned(self) -> dict[str, list[str | None]]:
        names = list(dict.fromkeys(name for rung in self.rungs for name in rung.tuned))
        return {name: [rung.tuned.get(name) for rung in self.rungs] for name in names}

    def spec(self) -> dict[str, Any]:
        """What `summarise_ladder` needs to compute this again from the folders."""
        return {"axes": self.axes, "rungs": self.planned, "target_flops": self.target, "path": self.path,
                "metric": self.metric, "metric_note": self.metric_note, "margin": self.margin}

    def as_dict(self) -> dict[str, Any]:
        def prediction(p: Prediction | None) -> dict[str, Any] | None:
            return None if p is None else {"value": p.value, "ci95": [p.low, p.high], "p_value": p.p_value}

        return {**self.spec(),
                "measured_rungs": [{"index": r.index, "settings": r.settings, "folder": r.folder, "flops": r.compute,
                                    "reference_loss": None if r.reference is None else r.reference.value}
                                   for r in self.rungs],
                "predictor": {"name": self.choice[0], "why": self.choice[1]},
                "backtest": {name: score.as_dict() for name, score in self.scores.items()},
                "findings": [{"name": f.name,
                              "estimates": [None if m is None else {"value": m.value, "ci95_half_width": m.half_width,
                                                                    "seeds": m.df + 1} for m in f.measured],
                              "at_target": {name: prediction(p) for name, p in f.predictions.items()},
                              "predictor": f.predictor, "p_adjusted": f.p_adjusted, "verdict": f.verdict}
                             for f in self.findings],
                "tuned": self.tuned}


def verdict(finding: Finding, largest: Measured | None, tainted: bool, margin: float) -> str:
    predicted = finding.predicted
    if predicted is None or largest is None:
        return "cannot tell"
    if tainted:
        return "cannot tell (a tuned pick at an end)"
    if -margin <= predicted.low and predicted.high <= margin:
        return "negligible"
    side = predicted.high - predicted.value if largest.value > predicted.value else predicted.value - predicted.low
    apart = abs(predicted.value - largest.value) > math.hypot(side, largest.half_width)
    farther = abs(predicted.value) > abs(largest.value)
    if finding.p_adjusted is not None and finding.p_adjusted < ALPHA:
        if math.copysign(1, predicted.value) != math.copysign(1, largest.value):
            return "flips sign"
        return ("grows" if farther else "shrinks") if apart else "holds"
    if abs(largest.value) > largest.half_width and apart and not farther:
        return "fades"
    return "cannot tell"


def findings_at_target(rungs: list[Rung], target: float, margin: float, chosen: str) -> list[Finding]:
    names = list(dict.fromkeys(name for rung in rungs for name in rung.findings))
    drafts = []
    for name in names:
        predictions = {predictor: predict(predictor, rungs, name, target) for predictor in PREDICTORS}
        # A predictor that cannot speak for this finding (too few rungs) leaves it to the largest rung.
        used = chosen if predictions.get(chosen) is not None else BASELINE
        drafts.append(Finding(name, [rung.findings.get(name) for rung in rungs], predictions, used, None, ""))
    adjusted = holm_adjust([None if f.predicted is None else f.predicted.p_value for f in drafts])
    found = []
    for draft, p in zip(drafts, adjusted):
        measured_at = [(rung, m) for rung, m in zip(rungs, draft.measured) if m is not None and rung.compute]
        measured_at.sort(key=lambda rm: rm[0].compute)
        largest = measured_at[-1][1] if measured_at else None
        used = measured_at[-1:] if draft.predictor == BASELINE else measured_at
        finding = replace(draft, p_adjusted=p)
        tainted_here = any(draft.name in rung.tainted for rung, _ in used)
        found.append(replace(finding, verdict=verdict(finding, largest, tainted_here, margin)))
    return found


def summarise_ladder(root: str | Path, spec: dict[str, Any]) -> LadderSummary:
    """The ladder in `root` as `spec` describes it (ladder.json's first keys): every rung whose folder
    exists, the backtest of every predictor on them, and each finding at the target."""
    root = Path(root)
    margin, requested = spec.get("margin", DEFAULT_MARGIN), spec.get("metric", "auto")
    summaries = {index: summary for index, planned in enumerate(spec["rungs"], 1)
                 if (summary := rung_summary(root / planned["folder"], requested, margin)) is not None}
    metric, note = ladder_metric(list(summaries.values()), requested)
    note = note or spec.get("metric_note", "")  # why, as chosen when the ladder ran (auto), kept by a re-render
    if metric != requested:
        summaries = {i: rung_summary(root / spec["rungs"][i - 1]["folder"], metric, margin) for i in summaries}
    rungs = [read_rung(index, spec["rungs"][index - 1], summary) for index, summary in summaries.items()]
    names = list(dict.fromkeys(name for rung in rungs for name in rung.findings))
    scores = backtest(rungs, names)
    choice = choose(scores)
    findings = findings_at_target(rungs, spec["target_flops"], margin, choice[0])
    if not scores[BASELINE].n:  # a ladder too short to backtest says so beside every verdict
        findings = [replace(f, verdict=f"{f.verdict} (not backtested: too few rungs)") for f in findings]
    return LadderSummary(root, spec["axes"], rungs, spec["rungs"], spec["target_flops"], metric, margin, findings,
                         scores, choice, spec.get("path"), note)


def ladder_metric(summaries: list[Any], requested: str) -> tuple[str, str]:
    """What every rung ranks by. Left to itself (auto), the reference metric, unless the rungs score
    different shares of their val text (the batch x block window changes along a path: section 11's
    trap, now between rungs), then val_loss_full, which scores every val token once."""
    if requested != "auto":
        return requested, ""
    coverages = [statistics.median(c) for s in summaries
                 if (c := [r["val_coverage"] for r in getattr(s, "records", []) if r.get("val_coverage") is not None])]
    records = [r for s in summaries for r in getattr(s, "records", []) if r["status"] == "ok"]
    if coverages and max(coverages) - min(coverages) > 1e-3 and all(r.get("val_loss_full") is not None
                                                                     for r in records):
        return "val_loss_full", (f"The rungs score {100 * min(coverages):.1f}% to {100 * max(coverages):.1f}% of their "
                                 "val text with the reference metric, so the ladder compares val_loss_full, which "
                                 "scores every val token once.")
    return next((s.metric for s in summaries if hasattr(s, "metric")), "val_loss"), ""


def read_ladder(root: str | Path, overrides: dict[str, Any] | None = None) -> LadderSummary:
    """A ladder folder summarised again from its ladder.json and its rungs' folders (`overrides`:
    another metric or margin)."""
    from mainrun.errors import ConfigError

    path = Path(root) / "ladder.json"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read ({type(exc).__name__})") from None
    if "rungs" not in spec or "target_flops" not in spec:
        raise ConfigError(f"{path} was written by an older ladder; run its ladder command again to rewrite it")
    overrides = overrides or {}
    if overrides.get("metric", spec.get("metric")) != spec.get("metric"):
        spec.pop("metric_note", None)  # it says why the metric now replaced
    return summarise_ladder(root, {**spec, **overrides})


def rung_summary(folder: Path, metric: str, margin: float) -> Any:
    """A rung's results folder summarised; None when it holds no results yet."""
    from ..study.study import ReportOptions
    from .summary import summarise, summarise_sweep

    if (folder / "run.json").exists():
        return summarise(folder, ReportOptions(metric=metric, margin=margin))
    if (folder / "sweep.json").exists():
        return summarise_sweep(folder)
    return None


def read_rung(index: int, planned: dict[str, Any], summary: Any) -> Rung:
    """What the ladder reads from one rung's summary: its compute, findings, reference loss, picks."""
    from .summary import Summary

    if not isinstance(summary, Summary):
        final = summary.final_estimate()
        return Rung(index, planned["settings"], planned["folder"], None,
                    {"sweep: chosen vs start": measured(final)} if final is not None else {})
    found = {name: measured(e) for name, e in differences_of(summary).items()}
    found.update({name: measured(e) for name, e in speedups_of(summary.root).items()})
    return Rung(index, planned["settings"], planned["folder"], rung_compute(summary.records), found,
                reference_loss(summary), tainted(summary, list(found)), tuned_values(summary), summary.metric)


def differences_of(summary: Any) -> dict[str, Estimate]:
    """What a rung found: its effects (a factorial study), else each row's delta against the reference."""
    if summary.effects:
        return {effect.name: effect.estimate for effect in summary.effects}
    return {f"{row.label} vs {summary.reference_label}": row.delta for row in summary.rows if row.delta is not None}


def speedups_of(folder: Path) -> dict[str, Estimate]:
    """With --speedup: each variant's log speed-up, from the folder's speedup.json."""
    path = folder / "speedup.json"
    if not path.exists():
        return {}
    found = json.loads(path.read_text(encoding="utf-8"))["speedups"]
    return {f"log speed-up: {s['label']}": Estimate(s["log_speedup"]["value"], s["log_speedup"]["ci95_half_width"],
                                                     s["log_speedup"]["seeds"])
            for s in found if s["label"] and s.get("log_speedup")}


def reference_loss(summary: Any) -> Measured | None:
    """The reference's loss over the measuring seeds: the reference row's, or where the design has no
    reference point, the mean over every row, seed by seed (seeds where every row finished)."""
    metric, row = summary.metric, summary.reference
    if row is not None:
        values = [r[metric] for r in row.ok if r.get(metric) is not None and math.isfinite(r[metric])]
    else:
        per_seed = {s: [r[metric] for row_ in summary.rows for r in row_.ok if r["seed"] == s and r.get(metric) is not None]
                    for s in summary.seeds}
        values = [statistics.fmean(v) for v in per_seed.values() if len(v) == len(summary.rows)]
    if len(values) < 2:
        return None
    return Measured(statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values)), len(values) - 1)


def tainted(summary: Any, names: list[str]) -> frozenset[str]:
    """The findings that rest on a tuned pick still at an end of its candidates: every effect when any
    point is (a two-level effect's contrast weighs every point), else the deltas and speed-ups of those
    points and, through the reference, of every row."""
    tuning = summary.tuning
    edge = {p for p, alarm in (tuning.alarms.items() if tuning else []) if alarm}
    if not edge:
        return frozenset()
    if summary.effects or any(p == (summary.reference.point if summary.reference else None) for p in edge):
        return frozenset(names)
    labels = {swap_label(p, summary.references) for p in edge}
    return frozenset(n for n in names if any(n.startswith(f"{label} vs") or n == f"log speed-up: {label}"
                                             for label in labels))


def tuned_values(summary: Any) -> dict[str, str]:
    """With --tune: each variant's pick, `(edge)` where it is still at an end of its candidates."""
    from ..study.axes import level_text

    tuning = summary.tuning
    if tuning is None:
        return {}
    return {swap_label(p, summary.references): level_text(v) + (" (edge)" if tuning.alarms.get(p) else "")
            for p, v in tuning.chosen.items()}


__all__ = ["REFERENCE_RUN_FLOPS", "VERDICTS", "Finding", "LadderSummary", "Rung", "read_ladder", "rung_compute",
           "run_flops", "summarise_ladder", "tokens_trained"]
