"""Run the same study at several model sizes and say which findings hold as the model grows.

    python -m ablations.ladder --rungs d_model=64,128,256 --grid full --scale cpu --data titles.txt
    python -m ablations.ladder --rungs d_model=64,128,256 --rungs n_layer=1,2,4 --axes opt=adamw,muon --tune lr=...

Rung i takes the i-th value of every --rungs axis. Each rung is an ordinary results folder
(OUT/rung<i>-<settings>), so the same command resumes a ladder, and any study runs at each rung: a
grid, a fraction, --tune, or a sweep's final comparison. Every rung trains on the same data for the
preset's epochs: the ladder asks whether a finding made on this data holds in a larger model trained
on it, as the reference run trains 7 epochs whatever its width. Then each finding's estimates are
fitted against log compute and extrapolated to --target-flops (default: the reference run's), see
`ablations.scaling`.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mainrun.cli import OneLineArgumentParser, ensure_writable, run_cli
from mainrun.components import FAMILIES
from mainrun.errors import ConfigError

from .api import run_study
from .axes import level_text, parse_axes
from .cli import add_common_arguments, add_grid_arguments, command_line
from .effects import Estimate
from .grid import swap_label
from .scaling import REFERENCE_RUN_FLOPS, LadderSummary, rung_compute, trends
from .speedup import SpeedUp
from .study import Study
from .summary import Summary, SweepSummary
from .writers import plotting_available
from .writers.ladder import ladder_console, write_ladder


def parse_rungs(specs: list[str]) -> list[dict[str, Any]]:
    """`["d_model=64,128", "n_layer=1,2"]` -> [{"d_model": 64, "n_layer": 1}, {"d_model": 128, "n_layer": 2}]."""
    axes = parse_axes(specs)
    families = [axis for axis in axes if axis in FAMILIES]
    if families:
        raise ConfigError(f"--rungs {families[0]}: a rung moves a setting (d_model, n_layer, ...), not a component "
                          "family; put families in the study (--axes, --grid)")
    counts = {len(values) for values in axes.values()}
    if len(counts) != 1:
        raise ConfigError("--rungs: every axis needs as many values as the others (rung i takes the i-th of each)")
    if counts.pop() < 2:
        raise ConfigError("--rungs: a ladder needs at least two rungs (three to judge a trend)")
    return [dict(zip(axes, values)) for values in zip(*axes.values())]


def rung_folder(index: int, settings: dict[str, Any]) -> str:
    return f"rung{index}-" + "-".join(f"{k}={level_text(v)}" for k, v in settings.items())


def findings_of(summary: Summary | SweepSummary, speedups: list[SpeedUp] | None = None) -> dict[str, Estimate]:
    """What a rung found: its effects (a factorial study), else each row's delta, else a sweep's final
    comparison; and with --speedup each variant's log speed-up."""
    found = {f"log speed-up: {s.label}": s.estimate for s in speedups or [] if s.label and s.estimate is not None}
    return {**differences_of(summary), **found}


def differences_of(summary: Summary | SweepSummary) -> dict[str, Estimate]:
    if isinstance(summary, SweepSummary):
        final = summary.final_estimate()
        return {"sweep: chosen vs start": final} if final is not None else {}
    if summary.effects:
        return {effect.name: effect.estimate for effect in summary.effects}
    return {f"{row.label} vs {summary.reference_label}": row.delta for row in summary.rows if row.delta is not None}


def tuned_values(summaries: list[Summary | SweepSummary]) -> dict[str, list[str | None]]:
    """With --tune: each variant's chosen value at each rung, `(edge)` when it is at the end of the
    candidates. Under μP a variant should keep its value as the width grows; where it moves, the
    rungs did not share an optimum."""
    per_rung = []
    for summary in summaries:
        tuning = summary.tuning if isinstance(summary, Summary) else None
        per_rung.append({} if tuning is None else {
            swap_label(point, summary.references): level_text(value) + (" (edge)" if tuning.alarms.get(point) else "")
            for point, value in tuning.chosen.items()})
    names = list(dict.fromkeys(name for chosen in per_rung for name in chosen))
    return {name: [chosen.get(name) for chosen in per_rung] for name in names}


def default_root(options: dict[str, Any], rungs: list[dict[str, Any]]) -> Path:
    text = json.dumps({"options": options, "rungs": rungs}, sort_keys=True, default=str)
    return Path("runs") / f"ladder-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def rung_studies(options: dict[str, Any], rungs: list[dict[str, Any]], root: Path) -> list[Study]:
    """Every rung's study, validated before any cell trains."""
    for setting in rungs[0]:
        if options.get(setting) is not None:
            raise ConfigError(f"{setting} is given both as a flag and in --rungs; keep one")
    study_file = options.pop("study", None)
    studies = []
    for index, settings in enumerate(rungs, 1):
        rung_options = {**options, **settings, "out": str(root / rung_folder(index, settings))}
        studies.append(Study.from_toml(study_file, **rung_options) if study_file else Study.from_options(**rung_options))
    return studies


def run_ladder(options: dict[str, Any], rungs: list[dict[str, Any]], target: float, command: str) -> tuple[LadderSummary, bool]:
    """Train every rung (each resumes), then fit each finding's trend; (the summary, whether any cell failed)."""
    given = {k: v for k, v in options.items() if v is not None and v != []}
    root = Path(given.pop("out", None) or default_root(given, rungs))
    studies = rung_studies(dict(given), rungs, root)
    outcomes = [run_study(study, f"{command}  # rung {i}") for i, study in enumerate(studies, 1)]
    summaries = [outcome.summary for outcome in outcomes]
    compute = [rung_compute(s.records) if isinstance(s, Summary) else None for s in summaries]
    metric = next((s.metric for s in summaries if isinstance(s, Summary)), "val_loss")
    ladder = LadderSummary(root, list(rungs[0]), rungs, [rung_folder(i, s) for i, s in enumerate(rungs, 1)], compute,
                           trends(compute, [findings_of(o.summary, o.speedups) for o in outcomes], target), target, metric,
                           tuned_values(summaries))
    return ladder, any(outcome.failed for outcome in outcomes)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m ablations.ladder", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--rungs", action="append", required=True, metavar="SETTING=VALUES",
                        help="a setting and its value at each rung, e.g. d_model=64,128,256; several --rungs move "
                             "together")
    parser.add_argument("--target-flops", type=float, default=REFERENCE_RUN_FLOPS,
                        help=f"training compute to extrapolate to (default {REFERENCE_RUN_FLOPS:.3g}: the reference "
                             "run, 27M parameters, 7 epochs of 100,000 titles)")
    add_grid_arguments(parser)
    add_common_arguments(parser, "the ladder's folder, one results folder per rung inside (default runs/ladder-<hash>)")
    args = parser.parse_args(argv)
    if args.target_flops <= 0:
        raise ConfigError("--target-flops must be positive")
    rungs = parse_rungs(args.rungs)
    options = {k: v for k, v in vars(args).items() if k not in ("rungs", "target_flops")}
    if options.get("out") is not None:
        ensure_writable(options["out"], "--out", directory=True)
    ladder, failed = run_ladder(options, rungs, args.target_flops, command_line("ablations.ladder", argv))
    plotted = plotting_available(args.plot)[0]
    write_ladder(ladder, plotted)
    print(ladder_console(ladder, plotted), end="", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    run_cli(main)
