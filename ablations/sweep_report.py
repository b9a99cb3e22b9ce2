"""A sweep's own outputs: `sweep.json` (each stage's decision, the chosen configuration, the final
comparison) and `sweep.md`, with a sensitivity plot per numeric stage."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mainrun.components import FAMILIES
from mainrun.config import SETTINGS

from .axes import Level, Point, axis_label, level_text, same_level
from .cells import seed_values
from .grid import count
from .metrics import METRICS
from .report import _estimate, plotting_available
from .stages import Stage, comparison_verdict
from .store import ResultsDir, to_json, write_atomic


def chosen_fields(chosen: dict[str, Level], lr_scaling: str | None) -> dict[str, Any]:
    """The final configuration as training fields, e.g. {"lr": 0.0005, "weight_decay": 0.1, ...}."""
    fields = dict(chosen)
    if lr_scaling:
        fields["lr_scaling"] = lr_scaling
    return fields


def write_sweep(plan: Any) -> str:
    """sweep.json and sweep.md of a `SweepPlan` as far as it has come; the markdown."""
    study, out, stages, final = plan.study, plan.root, plan.stages, plan.final
    options = study.report
    record = {
        "command": plan.runner.command, "variant": str(plan.variant), "seeds": list(study.seeds),
        "final_seeds": list(study.stages.final_seeds), "metric": options.metric, "margin": options.margin,
        "start": plan.start, "stages": [s.describe() for s in stages],
        "chosen": chosen_fields(plan.chosen, study.options.get("lr_scaling")),
        "final": None if final is None else {k: v for k, v in final.items() if k != "estimate"},
        "complete": final is not None,
    }
    write_atomic(out / "sweep.json", to_json(record))
    plots = sensitivity_plots(out, stages, study.execution.plot) if final is not None else {}
    text = sweep_markdown(record, stages, final, plots, options)
    write_atomic(out / "sweep.md", text)
    return text


def sensitivity_plots(out: Path, stages: list[Stage], plot: bool | None) -> dict[int, str]:
    make, _ = plotting_available(plot)
    if not make:
        return {}
    from . import plots as plotting

    written = {}
    for stage in stages:
        if any(isinstance(level, str) for level in stage.levels):
            continue
        store = ResultsDir(out / stage.folder)
        run = store.read_run()
        points = [Point.parse(v) for v in run["variants"]]
        series = {"": {p.level(stage.axis): seed_values(store, p, run["seeds"], stage.metric) for p in points}}
        name = f"sensitivity_stage{stage.index}_{axis_label(stage.axis)}.png"
        plotting.plot_sensitivity(out / name, stage.axis, series, {"": stage.chosen}, METRICS[stage.metric])
        written[stage.index] = name
    return written


def sweep_markdown(record: dict[str, Any], stages: list[Stage], final: dict[str, Any] | None, plots: dict[int, str],
                   options: Any) -> str:
    def config_text(values: dict[str, Level]) -> str:
        return ", ".join(f"{axis_label(a)} {level_text(v)}" for a, v in values.items())

    out = [
        f"# Staged sweep of `{record['variant']}`: {count(len(stages), 'stage')}, seeds "
        f"{', '.join(map(str, record['seeds']))}",
        "",
        f"Command: `{record['command']}`",
        "",
        f"Start: {config_text(record['start'])}. Chosen: {config_text({a: record['chosen'][a] for a in record['start']})}.",
        "",
        "Each stage trains its axis with the earlier choices fixed and ranks by the mean metric over the seeds. "
        "The best value replaces the current one only when their paired difference is beyond noise (its 95% "
        f"interval excludes 0) and not negligible (not inside ±{options.margin:g}); a best value at the edge of "
        "its grid raises an alarm.",
        "",
        "| stage | axis | values | metric | best | Δ best vs current (95% CI) | decision | alarm |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in stages:
        out.append(f"| {s.index} | {axis_label(s.axis)} | {', '.join(level_text(v) for v in s.levels)} | "
                   f"{s.metric} | {'' if s.best is None else level_text(s.best)} | "
                   f"{_estimate(s.delta) if s.delta else ''} | {s.decision} | {s.alarm or ''} |")
    out.append("")
    alarms = [s.alarm for s in stages if s.alarm]
    out += (["**Boundary alarms**: " + "; ".join(alarms) + ".", ""] if alarms else
            ["No boundary alarm: every best value lies inside its grid.", ""])
    for s in stages:
        out += [f"## Stage {s.index}: {axis_label(s.axis)}", "",
                f"Results folder: [{s.folder}]({s.folder}/results.md). Current value "
                f"{level_text(s.current)}" + (" (added to the grid to compare against)." if s.added_current else "."),
                "", f"| {axis_label(s.axis)} | {METRICS[s.metric]} (mean ± sd) | seeds |", "|---|---|---|"]
        for level in s.levels:
            key = level_text(level)
            mean, sd = s.means.get(key), s.sds.get(key)
            text = "" if mean is None else f"{mean:.4f}" + ("" if sd is None else f" ± {sd:.4f}")
            marks = (" (chosen)" if s.chosen is not None and same_level(level, s.chosen) else "") + \
                    (" (best)" if s.best is not None and same_level(level, s.best) and not same_level(level, s.chosen) else "")
            out.append(f"| {key}{marks} | {text} | {s.n.get(key, 0)} |")
        out += ["", f"Decision: {s.decision}." + (f" Alarm: {s.alarm}." if s.alarm else ""), ""]
        if s.index in plots:
            out += [f"![sensitivity of stage {s.index}]({plots[s.index]})", ""]
    out += ["## Chosen against start, on held-out seeds", ""]
    if final is None:
        out += ["Not run yet.", ""]
    elif not final["changed"]:
        out += [final["note"] + ".", ""]
    else:
        est = final["estimate"]
        seeds = ", ".join(map(str, final["seeds"]))
        if est is None:
            out += [f"No seed of {seeds} has both cells finished.", ""]
        else:
            verdict = comparison_verdict(est, options.margin) or "one seed: no interval"
            out += [f"Δ chosen − start = {_estimate(est)} ({METRICS[final['metric']]}, {count(est.n_seeds, 'seed')}: "
                    f"{seeds}; {verdict}). Results folder: [final](final/results.md).", ""]
            if final.get("metric_note"):
                out += [final["metric_note"], ""]
    flags = " ".join(f"--{axis_label(a)} {level_text(v)}" for a, v in record["chosen"].items()
                     if a not in FAMILIES and a != "lr_scaling")
    families = ",".join(f"{a}={v}" for a, v in record["chosen"].items() if a in FAMILIES)
    out += ["## Chosen configuration", "", f"`{flags}`" + (f" with `--variant {families}`" if families else ""), "",
            "```json", json.dumps(record["chosen"], indent=1), "```", ""]
    return "\n".join(out)

