"""What a run prints when it ends: a few lines a person reads, not the whole report. What mattered,
by how much, and whether it is beyond noise; the best variant against the reference; where the
full report is."""
from __future__ import annotations

import re

from ..study.axes import axis_label, level_text
from ..analysis.effects import ordered, verdict
from ..study.grid import swap_label
from ..analysis.metrics import METRICS
from ..analysis.stages import comparison_verdict
from ..analysis.summary import Summary, SweepSummary
from .text import count, estimate_text

SHOWN = 5


def first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence (one a space or the end follows), not one inside a
    number ("80.0%")."""
    return re.split(r"\.(?=\s|$)", text, maxsplit=1)[0]


def console_summary(summary: Summary, written: str) -> str:
    lines = [f"{summary.run['grid']}: {count(len(summary.rows), 'variant')} x {count(len(summary.seeds), 'seed')}, "
             f"{METRICS[summary.metric]}" + (f" ({first_sentence(summary.metric_note).lower()})" if summary.metric_note
                                             else "")]
    lines += effects_lines(summary) or deltas_lines(summary)
    lines += tuning_lines(summary)
    best, reference = summary.best, summary.reference
    if best is not None and reference is not None and best is not reference:
        lines.append(f"Best: {best.label} at {best.mean(summary.metric):.4f}, {estimate_text(best.delta) or 'n/a'} "
                     f"against the {summary.reference_label} ({reference.mean(summary.metric):.4f})")
    elif best is None:
        lines.append("No cell finished ok: nothing to compare (the report lists the failures)")
    resolution = summary.resolution
    if resolution is not None and resolution.half_width is None:
        lines.append("One seed: no interval, so nothing here can be told from noise; run --seeds 3 or more.")
    elif resolution is not None and resolution.target_effect is not None:
        seeds = f"about {resolution.target_seeds} seeds" if resolution.target_seeds else "more than 1000 seeds"
        lines.append(f"To tell an effect of {resolution.target_effect:g} from noise would take {seeds} (this table: "
                     f"±{resolution.half_width:.4f} with {count(resolution.seeds, 'seed')})")
    failed = len(summary.failures)
    if failed:
        lines.append(f"{count(failed, 'cell')} failed: see the report")
    if summary.run.get("data") == "embedded":
        lines.append("Data: the embedded synthetic corpus (no real titles were reachable or given), so these numbers "
                     "test the harness, not a finding about Hacker News titles; pass --data FILE for real titles")
    lines.append(f"Full report: {written}")
    return "\n".join(lines) + "\n"


def effects_lines(summary: Summary) -> list[str]:
    effects = ordered(summary.effects or [])
    if not effects:
        return []
    lines = ["What mattered (main effects, 95% intervals over seeds):"]
    mains = [e for e in effects if e.order == 1]
    for effect in mains[:SHOWN]:
        lines.append(f"  {effect.name:<34} {estimate_text(effect.estimate):<20} {summary.verdict(effect)}")
    if len(mains) > SHOWN:
        lines.append(f"  ... and {len(mains) - SHOWN} more")
    interactions = [e for e in effects if e.order == 2 and summary.verdict(e) == "beyond noise"]
    if interactions:
        lines.append("  interactions beyond noise: " + "; ".join(
            f"{e.name} {estimate_text(e.estimate)}" for e in interactions[:3]))
    return lines


def deltas_lines(summary: Summary) -> list[str]:
    """A grid that is not factorial: each row against the reference, largest first; around a stack,
    what removing each part costs."""
    rows = sorted((row for row in summary.rows if row.delta is not None), key=lambda row: -abs(row.delta.value))
    if not rows:
        return []
    around = summary.run.get("around")
    lines = [f"Removing each part of {around} (Δ: without the part minus the whole stack, 95% intervals; positive: "
             "the part helped):" if around else
             f"Each variant against the {summary.reference_label} (Δ, 95% intervals over seeds):"]
    for row in rows[:SHOWN]:
        lines.append(f"  {row.label:<34} {estimate_text(row.delta):<20} {verdict(row.delta, summary.options.margin)}")
    if len(rows) > SHOWN:
        lines.append(f"  ... and {len(rows) - SHOWN} more")
    return lines


def tuning_lines(summary: Summary) -> list[str]:
    """Each variant's pick, and those still at an end of their candidates after extending them."""
    tuning = summary.tuning
    if tuning is None:
        return []
    label = tuning.tune.axis_label
    picks = "; ".join(f"{swap_label(p, summary.references)} {level_text(v)}" for p, v in tuning.chosen.items())
    lines = [f"Tuned {label} (on seed{'s' if len(tuning.tune.tune_seeds) > 1 else ''} "
             f"{', '.join(map(str, tuning.tune.tune_seeds))}): {picks}"]
    edges = [f"{swap_label(p, summary.references)} {level_text(tuning.chosen[p])}"
             for p, alarm in tuning.alarms.items() if alarm]
    if edges:
        lines.append(f"  ALARM: at an end of the {label} candidates" + (" even after extending them" if tuning.tune.extend
                                                                          else "") + f" (the optimum may lie beyond): "
                     + "; ".join(edges))
    return lines


def sweep_console(summary: SweepSummary, written: str) -> str:
    record = summary.record
    lines = [f"sweep of {record['variant']}: {count(len(summary.stages), 'stage')} over seeds "
             f"{', '.join(map(str, record['seeds']))}"]
    for stage in summary.stages:
        alarm = f" ALARM: {'; '.join(stage['alarms'])}" if stage["alarms"] else ""
        lines.append(f"  stage {stage['stage']} {axis_label(stage['axis'])}: {stage['decision']}{alarm}")
    final, estimate = record.get("final") or {}, summary.final_estimate()
    if estimate is not None:
        lines.append(f"Chosen against start on held-out seeds {', '.join(map(str, final['seeds']))}: "
                     f"{estimate_text(estimate)} ({comparison_verdict(estimate, record['margin']) or 'one seed'})")
    elif final.get("note"):
        lines.append(final["note"])
    lines.append("Chosen: " + ", ".join(f"{axis_label(a)} {level_text(v)}" for a, v in record["chosen"].items()))
    lines.append(f"Full report: {written}")
    return "\n".join(lines) + "\n"
