"""What a run prints when it ends: a few lines a person reads, not the whole report. What mattered,
by how much, and whether it is beyond noise; the best variant against the reference; where the
full report is."""
from __future__ import annotations

from ..axes import axis_label, level_text
from ..effects import ordered
from ..metrics import METRICS
from ..stages import comparison_verdict
from ..summary import Summary, SweepSummary
from ..text import count, estimate_text

SHOWN = 5


def console_summary(summary: Summary, written: str) -> str:
    lines = [f"{summary.run['grid']}: {count(len(summary.rows), 'variant')} x {count(len(summary.seeds), 'seed')}, "
             f"{METRICS[summary.metric]}" + (f" ({summary.metric_note.split('.')[0].lower()})" if summary.metric_note
                                             else "")]
    effects = ordered(summary.effects or [])
    if effects:
        lines.append("What mattered (main effects, 95% intervals over seeds):")
        mains = [e for e in effects if e.order == 1]
        for effect in mains[:SHOWN]:
            lines.append(f"  {effect.name:<34} {estimate_text(effect.estimate):<20} {summary.verdict(effect)}")
        if len(mains) > SHOWN:
            lines.append(f"  ... and {len(mains) - SHOWN} more")
        interactions = [e for e in effects if e.order == 2 and summary.verdict(e) == "beyond noise"]
        if interactions:
            lines.append("  interactions beyond noise: " + "; ".join(
                f"{e.name} {estimate_text(e.estimate)}" for e in interactions[:3]))
    best, reference = summary.best, summary.reference
    if best is not None and reference is not None and best is not reference:
        lines.append(f"Best: {best.label} at {best.mean(summary.metric):.4f}, {estimate_text(best.delta) or 'n/a'} "
                     f"against the {summary.reference_label} ({reference.mean(summary.metric):.4f})")
    if summary.resolution is not None and summary.resolution.half_width is None:
        lines.append("One seed: no interval, so nothing here can be told from noise; run --seeds 3 or more.")
    failed = len(summary.failures)
    if failed:
        lines.append(f"{count(failed, 'cell')} failed: see the report")
    lines.append(f"Full report: {written}")
    return "\n".join(lines) + "\n"


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
