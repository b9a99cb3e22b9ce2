"""The GPU's rungs of a CPU ladder: the upper rungs of its path, for its strongest findings, trained
into a copy of the ladder; then what the CPU rungs predicted at each, beside what was measured.

    python -m benchmarks.gpu_ladder docs/ladder-path WORK/ladder --rungs 5-8 --data .gpu-data/hn_titles.txt

The CPU ladder must walk a path (`ablations.ladder --toward`). Its copy keeps the CPU rungs' records
(checkpoints left out); the upper rungs train there with the same path, the CPU study's fixed members
(param=mup, say) and the two levels of each of the `--findings` strongest main effects at its largest
rung, each variant's lr tuned between the lowest and the highest pick of that rung (one extension
allowed), on `--seeds` seeds. The same ladder folder then holds every rung, so its ladder.md
backtests across the CPU and GPU rungs alike; `gpu-check.md` holds the comparison the CPU ladder
could not make: each predictor, fitted on the CPU rungs only, at each GPU rung's compute.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ablations import ladder
from ablations.analysis.backtest import predict
from ablations.analysis.predictors import PREDICTORS
from ablations.analysis.scaling import LadderSummary, read_ladder
from ablations.study.study import read_toml
from ablations.writers.ladder import measured_text, prediction_text
from ablations.writers.markdown import table
from mainrun.config import SETTINGS
from mainrun.errors import ConfigError, MainrunError

CHECK = "gpu-check.md"


def strongest(summary: LadderSummary, count: int) -> list[str]:
    """The families of the `count` largest main effects at the ladder's largest measured rung."""
    top = max((r for r in summary.rungs if r.compute), key=lambda r: r.compute)
    mains = [(abs(m.value), name.split(":")[0]) for name, m in top.findings.items()
             if m is not None and ": " in name and " x " not in name]
    return [family for _, family in sorted(mains, reverse=True)[:count]]


def upper_args(summary: LadderSummary, families: list[str], rungs: str, seeds: int) -> list[str]:
    """The ladder command of the upper rungs: the CPU ladder's path and study, reduced to `families`."""
    if not summary.path:
        raise ConfigError(f"{summary.root} is not a path ladder (ablations.ladder --toward); nothing to extend")
    top = max((r for r in summary.rungs if r.compute), key=lambda r: r.compute)
    study = read_toml(Path(summary.root) / top.folder / "study.toml")
    axes = [a for a in study.get("axes", []) if "," not in a or a.split("=")[0] in families]
    picks = sorted({float(v.split()[0]) for v in top.tuned.values()})
    path = summary.path
    args = ["--toward", path["toward"], "--rungs", str(len(path["rungs"])), "--train-rungs", rungs, "--axes", *axes,
            "--seeds", str(seeds), "--scale", study.get("scale", "cpu")]
    if len(picks) >= 2:
        args += ["--tune", f"lr={picks[0]:g},{picks[-1]:g}", "--tune-extend", "1", "--no-shared-default"]
    elif picks:  # every variant picked the same value: they train at it
        args += ["--lr", f"{picks[0]:g}"]
    kept = {k: v for k, v in study.items() if k in SETTINGS and k not in path["start"] and k not in ("source", "lr")}
    for name, value in {**path["start"], **kept}.items():
        args += [f"--{SETTINGS[name].flag}", str(value)]
    return args


def check_md(summary: LadderSummary, cpu_rungs: list[int]) -> str:
    """Each predictor fitted on the CPU rungs only, at each upper rung's compute, against the measurement."""
    lower = [r for r in summary.rungs if r.index in cpu_rungs]
    upper = [r for r in summary.rungs if r.index not in cpu_rungs and r.compute]
    rows = []
    for rung in upper:
        for name, measured in rung.findings.items():
            if measured is None or not any(name in r.findings for r in lower):
                continue
            predictions = [predict(p, lower, name, rung.compute) for p in PREDICTORS]
            rows.append([name, str(rung.index), f"{rung.compute:.3g}", measured_text(measured),
                         *(prediction_text(p) + ("" if p is None else " ✓" if p.contains(measured) else " ✗")
                           for p in predictions)])
    head = (f"# The CPU ladder's predictions at the GPU's rungs\n\nEach predictor fitted on rungs "
            f"{', '.join(map(str, cpu_rungs))} only (the CPU's), at the compute of each rung trained here; ✓ where its "
            "95% interval, widened by the measurement's own, holds the measurement.\n\n")
    if not rows:
        return head + "No upper rung finished: nothing to compare yet.\n"
    return head + table(rows, ["finding", "rung", "FLOPs", "measured ± 95%", *PREDICTORS]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_ladder", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("ladder", type=Path, help="the CPU ladder's folder (a path ladder)")
    parser.add_argument("out", type=Path, help="where its copy, with the upper rungs, goes")
    parser.add_argument("--rungs", required=True, help="the upper rungs to train, e.g. 5-8")
    parser.add_argument("--findings", type=int, default=2, help="how many of the strongest main effects (default 2)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell: the first tunes (default 3)")
    args, passed = parser.parse_known_args(argv)  # the rest (--data, --device, --workers, ...) go to the ladder
    if not (args.out / "ladder.json").exists():
        shutil.copytree(args.ladder, args.out, ignore=shutil.ignore_patterns("*.pt", "*.png", "*.pdf"),
                        dirs_exist_ok=True)
    cpu = read_ladder(args.out)
    cpu_rungs = [r.index for r in cpu.rungs]
    families = strongest(cpu, args.findings)
    command = [*upper_args(cpu, families, args.rungs, args.seeds), *passed, "--out", str(args.out),
               "--allow-code-change"]
    print("python -m ablations.ladder " + " ".join(command), flush=True)
    try:
        status = ladder.main(command)
    except MainrunError as exc:  # one line, as the command itself would say it
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (args.out / CHECK).write_text(check_md(read_ladder(args.out), cpu_rungs), encoding="utf-8")
    print((args.out / CHECK).read_text(encoding="utf-8"), end="")
    return status


if __name__ == "__main__":
    sys.exit(main())
