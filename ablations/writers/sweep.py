"""sweep.md, and a sensitivity plot per numeric stage, from a sweep's summary."""
from __future__ import annotations

import json
from typing import Any

from tabulate import tabulate

from mainrun.components import FAMILIES

from ..study.axes import axis_label, level_text, same_level
from ..analysis.effects import Estimate, estimate_from_json
from ..analysis.metrics import METRICS
from ..analysis.stages import comparison_verdict
from ..analysis.summary import SweepSummary
from .text import count, estimate_text


def table(body: list[list[Any]], headers: list[str]) -> str:
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def stage_delta(stage: dict[str, Any]) -> Estimate | None:
    return estimate_from_json(stage.get("delta_best_vs_current"))


def config_text(values: dict[str, Any]) -> str:
    return ", ".join(f"{axis_label(a)} {level_text(v)}" for a, v in values.items())


def overview(summary: SweepSummary) -> list[str]:
    record, stages = summary.record, summary.stages
    chosen = {a: record["chosen"][a] for a in record["start"]}
    body = [[s["stage"], axis_label(s["axis"]), ", ".join(level_text(v) for v in s["levels"]), s["metric"],
             "" if s["best"] is None else level_text(s["best"]), estimate_text(stage_delta(s)), s["decision"],
             "; ".join(s["alarms"])] for s in stages]
    alarms = [a for s in stages for a in s["alarms"]]
    return [
        f"# Staged sweep of `{record['variant']}`: {count(len(stages), 'stage')}, seeds "
        f"{', '.join(map(str, record['seeds']))}", "",
        f"Command: `{record['command']}`", "",
        f"Start: {config_text(record['start'])}. Chosen: {config_text(chosen)}.", "",
        "Each stage trains its axis with the earlier choices fixed and ranks by the mean metric over the seeds. "
        "The best value replaces the current one only when their paired difference is beyond noise (its 95% "
        f"interval excludes 0) and not negligible (not inside ±{record['margin']:g}); a best value at the edge of "
        "its grid raises an alarm.", "",
        table(body, ["stage", "axis", "values", "metric", "best", "Δ best vs current (95% CI)", "decision", "alarm"]),
        "",
        *(["**Boundary alarms**: " + "; ".join(alarms) + ".", ""] if alarms else
          ["No boundary alarm: every best value lies inside its grid.", ""]),
    ]


def stage_section(stage: dict[str, Any], plot: str | None) -> list[str]:
    axis, winner, best = stage["axis"], stage["winner"], stage["best"]
    body = []
    for level in stage["levels"]:
        key = level_text(level)
        mean, sd = stage["means"].get(key), stage["sds"].get(key)
        marks = (" (chosen)" if winner is not None and same_level(level, winner) else "") + \
                (" (best)" if best is not None and same_level(level, best) and not same_level(level, winner) else "")
        body.append([f"{key}{marks}", "" if mean is None else f"{mean:.4f}" + ("" if sd is None else f" ± {sd:.4f}"),
                     stage["seeds_ok"].get(key, 0)])
    alarm = f" Alarm: {'; '.join(stage['alarms'])}." if stage["alarms"] else ""
    return [f"## Stage {stage['stage']}: {axis_label(axis)}", "",
            f"Results folder: [{stage['folder']}]({stage['folder']}/results.md). Current value "
            f"{level_text(stage['current'])}" + (" (added to the grid to compare against)." if stage["added_current"]
                                                 else "."), "",
            table(body, [axis_label(axis), f"{METRICS[stage['metric']]} (mean ± sd)", "seeds"]), "",
            f"Decision: {stage['decision']}.{alarm}", "",
            *([f"![sensitivity of stage {stage['stage']}]({plot})", ""] if plot else [])]


def final_section(summary: SweepSummary) -> list[str]:
    final, margin = summary.record.get("final"), summary.record["margin"]
    out = ["## Chosen against start, on held-out seeds", ""]
    if final is None:
        return out + ["Not run yet.", ""]
    if not final["changed"]:
        return out + [final["note"] + ".", ""]
    est, seeds = summary.final_estimate(), ", ".join(map(str, final["seeds"]))
    if est is None:
        return out + [f"No seed of {seeds} has both cells finished.", ""]
    verdict = comparison_verdict(est, margin) or "one seed: no interval"
    out += [f"Δ chosen − start = {estimate_text(est)} ({METRICS[final['metric']]}, {count(est.n_seeds, 'seed')}: "
            f"{seeds}; {verdict}). Results folder: [final](final/results.md).", ""]
    return out + ([final["metric_note"], ""] if final.get("metric_note") else [])


def chosen_section(summary: SweepSummary) -> list[str]:
    """The flags that train the chosen configuration: every chosen setting, --lr-scaling with it (a
    chosen lr is the value before scaling), and the sweep's whole variant with the chosen members."""
    chosen = summary.record["chosen"]
    flags = [f"--{axis_label(a)} {level_text(v)}" for a, v in chosen.items() if a not in FAMILIES and "." not in a]
    members = {a: v for a, v in chosen.items() if a in FAMILIES or "." in a}
    flags.append(f"--variant {chosen_variant(summary.record['variant'], members)}")  # every sweep.json has it
    return ["## Chosen configuration", "", f"`{' '.join(flags)}`", "",
            "```json", json.dumps(chosen, indent=1), "```", ""]


def chosen_variant(variant: str, members: dict[str, Any]) -> str:
    """The sweep's variant (`norm=layernorm,...,opt=adamw`) with the chosen members and member settings."""
    parts = dict(part.split("=", 1) for part in variant.split(",") if "=" in part)
    parts.update({axis: level_text(value) for axis, value in members.items()})
    return ",".join(f"{axis}={value}" for axis, value in parts.items()) or "baseline"


def sweep_md(summary: SweepSummary, plots: dict[int, str]) -> str:
    out = overview(summary)
    for stage in summary.stages:
        out += stage_section(stage, plots.get(stage["stage"]))
    return "\n".join(out + final_section(summary) + chosen_section(summary))


def write_sweep_plots(summary: SweepSummary) -> dict[int, str]:
    """A sensitivity plot per numeric stage: its values' means ± sd, the chosen value ringed."""
    from .plots import plot_sensitivity

    written = {}
    for stage in summary.stages:
        if stage["stage"] not in summary.series:
            continue
        name = f"sensitivity_stage{stage['stage']}_{axis_label(stage['axis'])}.png"
        plot_sensitivity(summary.root / name, stage["axis"], {"": summary.series[stage["stage"]]},
                         {"": stage["winner"]}, METRICS[stage["metric"]])
        written[stage["stage"]] = name
    return written
