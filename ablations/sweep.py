"""The plan's staged hyperparameter search, as one command, with the checks a reviewer would ask for.

    python -m ablations.sweep --variant opt=adamw --stage lr=1e-4,3e-4,5e-4 \\
        --stage weight-decay=0.05,0.1,0.15 --stage dropout=0.05,0.1,0.15,0.2 --stage batch-size=32,64,128 \\
        --seeds 3 --out DIR

Stage k trains its axis over the seeds with every earlier stage's choice fixed. The best value is
the lowest mean metric; it replaces the current value only when the paired difference is beyond
noise (its 95% interval excludes 0) and not negligible (inside +/- --margin); otherwise the current
value is kept and the report says so. A best value on the edge of a numeric grid raises an alarm.
A last stage trains the starting and the chosen configurations on held-out seeds (by default as
many as the sweep used, numbered after them) and reports their difference with its interval, so the
luck of the search does not inflate it. Each stage is an ordinary results folder (DIR/stageK-AXIS,
DIR/final); the same command again resumes. DIR/sweep.json and DIR/sweep.md hold the decisions.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shlex
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mainrun.cli import OneLineArgumentParser, ensure_writable, run_cli, train_overrides
from mainrun.components import FAMILIES
from mainrun.components.optimizers import resolved_hyperparameters
from mainrun.config import TrainConfig, Variant
from mainrun.errors import ConfigError
from mainrun.hyperparameters import flag_name

from .axes import Level, Point, axis_label, check_no_flag_conflict, level_text, parse_axes, same_level
from .cells import read_records, seed_values
from .effects import Estimate, delta_vs
from .grid import REFERENCE_SEED, Grid, build_grid, count, parse_seeds
from .metrics import METRICS, choose_metric
from .report import _estimate, finished_losses, plotting_available, report_options
from .run import Session, add_common_arguments, config_hash, run_grid, start_session
from .store import ResultsDir, to_json, write_atomic
from .tuning import boundary_alarm, winner


@dataclass
class Stage:
    index: int
    axis: str
    levels: list[Level]  # as trained: the user's values, plus the current value when it was not listed
    current: Level
    added_current: bool
    folder: str = ""
    metric: str = "val_loss"
    means: dict[str, float] = field(default_factory=dict)  # level text -> mean over seeds
    sds: dict[str, float | None] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)
    best: Level | None = None
    chosen: Level | None = None
    delta: Estimate | None = None  # best minus current, paired by seed
    decision: str = ""
    alarm: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "stage": self.index, "axis": self.axis, "folder": self.folder, "levels": self.levels,
            "current": self.current, "added_current": self.added_current, "metric": self.metric,
            "means": self.means, "sds": self.sds, "seeds_ok": self.n, "best": self.best, "winner": self.chosen,
            "kept_current": self.chosen is not None and same_level(self.chosen, self.current)
                            and self.best is not None and not same_level(self.best, self.current),
            "delta_best_vs_current": None if self.delta is None else
            {"value": self.delta.value, "ci95_half_width": self.delta.half_width, "seeds": self.delta.n_seeds},
            "decision": self.decision, "alarms": [self.alarm] if self.alarm else [],
        }


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(prog="python -m ablations.sweep", description=__doc__.strip().splitlines()[0])
    plan = parser.add_argument_group("the search")
    plan.add_argument("--variant", help="the variant to tune, e.g. opt=adamw (default: the baseline)")
    plan.add_argument("--stage", action="append", required=True, metavar="AXIS=VALUES",
                      help="one stage, in order, e.g. --stage lr=1e-4,3e-4,5e-4 --stage dropout=0.05,0.1 "
                           "(a hyperparameter or a component family)")
    plan.add_argument("--seeds", default="3", help="seeds of every stage: a count or a list (default 3)")
    plan.add_argument("--final-seeds",
                      help="seeds of the last stage, start against chosen (default: as many as --seeds, numbered "
                           "after them, so the comparison is not on the seeds that chose)")
    add_common_arguments(parser, "sweep folder (default runs/sweep-<hash>)")
    return parser


def current_value(base: TrainConfig, axis: str) -> Level:
    """What the configuration uses before a stage changes it: the variant's member, the recipe's lr or
    weight decay (before any --lr-scaling), or the preset's (or flag's) value."""
    if axis in FAMILIES:
        return getattr(base.variant, axis)
    if axis in ("lr", "weight_decay"):
        return resolved_hyperparameters(base.variant.opt, base.lr, base.weight_decay)[axis]
    return getattr(base, axis)


def with_values(base: TrainConfig, values: dict[str, Level]) -> TrainConfig:
    return Point.at(values, base.variant).apply(base)


def parse_stages(specs: list[str], overrides: dict[str, Any]) -> list[tuple[str, list[Level]]]:
    stages: list[tuple[str, list[Level]]] = []
    for spec in specs:
        if "=" in spec and not spec.partition("=")[2].strip():
            raise ConfigError(f"stage '{spec}' is empty: list the values to try, e.g. lr=1e-4,3e-4")
        (axis, levels), = parse_axes([spec]).items()
        if any(axis == seen for seen, _ in stages):
            raise ConfigError(f"{axis_label(axis)} has two stages; give each axis one")
        check_no_flag_conflict([axis], overrides, role="a stage")
        stages.append((axis, levels))
    return stages


def stage_grid(variant: Variant, axis: str, levels: list[Level], base: TrainConfig, current: Level) -> Grid:
    fixed = [f"{family}={member}" for family, member in variant.departures().items() if family != axis]
    spec = f"{axis_label(axis)}={','.join(level_text(v) for v in levels)}"
    grid = build_grid(None, [*fixed, spec], base=base)
    grid.references[axis] = current  # the stage measures every value against the current one
    return grid


def decide(stage: Stage, store: ResultsDir, grid: Grid, seeds: list[int], requested_metric: str, margin: float) -> None:
    """Fill in the stage's means, best, chosen value, decision and alarm from its cells."""
    points = {level_text(p.level(stage.axis)): p for p in grid.points}
    records = read_records(store, grid.points, seeds)
    stage.metric, _ = choose_metric(records, requested_metric)
    losses = finished_losses(records, stage.metric)
    by_level: dict[Level, list[float]] = {}
    for level in stage.levels:
        values = [losses[points[level_text(level)], s] for s in seeds if (points[level_text(level)], s) in losses]
        stage.n[level_text(level)] = len(values)
        if values:
            by_level[level] = values
            stage.means[level_text(level)] = statistics.fmean(values)
            stage.sds[level_text(level)] = statistics.stdev(values) if len(values) > 1 else None
    label = axis_label(stage.axis)
    if not by_level:
        stage.chosen, stage.decision = stage.current, "no cell finished: the current value is kept"
        return
    stage.best = winner({level: statistics.fmean(v) for level, v in by_level.items()})
    stage.alarm = boundary_alarm(stage.axis, stage.levels, stage.best)
    best, current = level_text(stage.best), level_text(stage.current)
    if same_level(stage.best, stage.current):
        stage.chosen, stage.decision = stage.current, f"the current {label} {current} is the best: kept"
        return
    stage.delta = delta_vs(losses, points[best], points[current], seeds)
    shown = _estimate(stage.delta) if stage.delta else "n/a"
    verdict = comparison_verdict(stage.delta, margin) if stage.delta else None
    if verdict is None:
        stage.chosen = stage.best
        stage.decision = (f"best {label} {best} ({shown} against {current}) taken on one seed, without a noise test: "
                          "run more seeds to test it")
    elif verdict == "beyond noise":
        stage.chosen = stage.best
        stage.decision = f"best {label} {best}: {shown} against the current {current}, beyond noise: adopted"
    else:
        stage.chosen = stage.current
        stage.decision = f"best {label} {best} differs from the current {current} by {shown}: {verdict}, {current} kept"


def comparison_verdict(delta: Estimate, margin: float) -> str | None:
    """One comparison's verdict (no multiple-testing adjustment: a stage tests one difference);
    None without an interval."""
    if delta.half_width is None:
        return None
    if delta.within_noise:
        return "within noise"
    if delta.negligible(margin):
        return f"negligible (inside ±{margin:g})"
    return "beyond noise"


def final_seeds_for(spec: str | None, seeds: list[int]) -> list[int]:
    if spec is not None:
        return parse_seeds(spec)
    after = max(max(seeds) + 1, REFERENCE_SEED)
    return list(range(after, after + len(seeds)))


def configuration_point(variant: Variant, values: dict[str, Level], axes: list[str]) -> Point:
    return Point.at({axis: values[axis] for axis in axes}, variant)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = "python -m ablations.sweep " + shlex.join(sys.argv[1:] if argv is None else argv)
    session = start_session(args, command)
    variant = Variant.parse(args.variant or "baseline")
    base = dataclasses.replace(session.base, variant=variant)
    base.validate()
    overrides = train_overrides(args)
    stages_spec = parse_stages(args.stage, overrides)
    seeds = parse_seeds(args.seeds)
    final_seeds = final_seeds_for(args.final_seeds, seeds)
    options = report_options(args)
    identity = json.dumps({"variant": str(variant), "stages": args.stage, "seeds": seeds,
                           "config": config_hash(base, session.source.fingerprint)}, sort_keys=True)
    out = Path(args.out) if args.out else Path("runs") / f"sweep-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"
    ensure_writable(out, "--out", directory=True)
    start = {axis: current_value(base, axis) for axis, _ in stages_spec}
    for axis, levels in stages_spec:  # every value of every stage valid now, not after hours of earlier stages
        for level in levels:
            with_values(base, {axis: level}).validate()
    chosen = dict(start)
    print(f"sweep: {count(len(stages_spec), 'stage')} of {str(variant)} over {count(len(seeds), 'seed')}, then start "
          f"against chosen on {count(len(final_seeds), 'held-out seed')}; results in {out}", flush=True)

    stages: list[Stage] = []
    for index, (axis, levels) in enumerate(stages_spec, 1):
        current = chosen[axis]
        added = not any(same_level(current, level) for level in levels)
        trained = [*levels, current] if added else list(levels)
        if added and not any(isinstance(v, str) for v in trained):
            trained.sort()
        stage = Stage(index, axis, trained, current, added)
        stage_base = with_values(base, {a: v for a, v in chosen.items() if a != axis})
        grid = stage_grid(variant, axis, stage.levels, stage_base, current)
        stage.folder = f"stage{index}-{flag_name(axis)}"
        digest = config_hash(stage_base, session.source.fingerprint, [axis] if axis not in FAMILIES else [])
        print(f"stage {index}: {axis_label(axis)} over {', '.join(level_text(v) for v in stage.levels)}"
              + (f" (the current {level_text(current)} added to compare against)" if added else ""), flush=True)
        failed = run_grid(dataclasses.replace(session, base=stage_base), grid, seeds, out / stage.folder, digest,
                          echo=False)
        if failed is None:
            return 130
        decide(stage, ResultsDir(out / stage.folder), grid, seeds, args.metric, options.margin)
        print(f"stage {index}: {stage.decision}" + (f"; ALARM {stage.alarm}" if stage.alarm else ""), flush=True)
        chosen[axis] = stage.chosen
        stages.append(stage)
        write_sweep(out, command, variant, seeds, final_seeds, start, chosen, stages, None, args, options)

    final = run_final(session, base, variant, start, chosen, final_seeds, out, args)
    if final is None:
        return 130
    text = write_sweep(out, command, variant, seeds, final_seeds, start, chosen, stages, final, args, options)
    print(text, end="", flush=True)
    print(f"written: {out}/sweep.md, sweep.json", flush=True)
    return 0


def run_final(session: Session, base: TrainConfig, variant: Variant, start: dict[str, Level],
              chosen: dict[str, Level], seeds: list[int], out: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """Train the start and the chosen configurations on the held-out seeds; their paired difference."""
    changed = [axis for axis in start if not same_level(start[axis], chosen[axis])]
    if not changed:
        return {"folder": None, "changed": [], "note": "every stage kept its current value: nothing to compare"}
    start_point = configuration_point(variant, start, changed)
    chosen_point = configuration_point(variant, chosen, changed)
    axes = {axis: [start[axis], chosen[axis]] for axis in changed}
    grid = Grid("final", axes, dict(start), [start_point, chosen_point])
    digest = config_hash(base, session.source.fingerprint, grid.hyperparameters)
    print(f"final: start against chosen ({', '.join(f'{axis_label(a)} {level_text(start[a])} -> {level_text(chosen[a])}' for a in changed)})",
          flush=True)
    failed = run_grid(dataclasses.replace(session, base=base), grid, seeds, out / "final", digest, echo=False)
    if failed is None:
        return None
    store = ResultsDir(out / "final")
    records = read_records(store, grid.points, seeds)
    metric, note = choose_metric(records, args.metric)
    delta = delta_vs(finished_losses(records, metric), chosen_point, start_point, seeds)
    return {"folder": "final", "changed": changed, "metric": metric, "metric_note": note, "seeds": seeds,
            "delta": None if delta is None else {"value": delta.value, "ci95_half_width": delta.half_width,
                                                 "seeds": delta.n_seeds},
            "estimate": delta}


def chosen_fields(chosen: dict[str, Level], args: argparse.Namespace) -> dict[str, Any]:
    """The final configuration as training fields, e.g. {"lr": 0.0005, "weight_decay": 0.1, ...}."""
    fields = dict(chosen)
    if getattr(args, "lr_scaling", None):
        fields["lr_scaling"] = args.lr_scaling
    return fields


def write_sweep(out: Path, command: str, variant: Variant, seeds: list[int], final_seeds: list[int],
                start: dict[str, Level], chosen: dict[str, Level], stages: list[Stage], final: dict[str, Any] | None,
                args: argparse.Namespace, options: Any) -> str:
    record = {
        "command": command, "variant": str(variant), "seeds": seeds, "final_seeds": final_seeds,
        "metric": args.metric, "margin": options.margin,
        "start": start, "stages": [s.describe() for s in stages], "chosen": chosen_fields(chosen, args),
        "final": None if final is None else {k: v for k, v in final.items() if k != "estimate"},
        "complete": final is not None,
    }
    write_atomic(out / "sweep.json", to_json(record))
    plots = sensitivity_plots(out, stages, args.plot) if final is not None else {}
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
        name = f"sensitivity_stage{stage.index}_{flag_name(stage.axis)}.png"
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
    flags = " ".join(f"--{flag_name(a)} {level_text(v)}" for a, v in record["chosen"].items()
                     if a not in FAMILIES and a != "lr_scaling")
    families = ",".join(f"{a}={v}" for a, v in record["chosen"].items() if a in FAMILIES)
    out += ["## Chosen configuration", "", f"`{flags}`" + (f" with `--variant {families}`" if families else ""), "",
            "```json", json.dumps(record["chosen"], indent=1), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    run_cli(main)
