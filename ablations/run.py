"""Train every cell of a study (a grid, a tuned grid, or a sweep written as a study file), then say
what mattered.

    python -m ablations.run --grid full --seeds 3 --data ../shared/data/hn_titles.txt
    python -m ablations.run --study study.toml

Finished cells are kept in --out; running the same command again trains only what is missing.
"""
from __future__ import annotations

from mainrun.cli import OneLineArgumentParser, ensure_writable, run_cli

from .api import Outcome, run_study
from .cli import add_common_arguments, add_grid_arguments, command_line, study_from_args
from .analysis.summary import Summary
from .writers.console import console_summary, sweep_console


def finish(outcome: Outcome) -> int:
    """Print the few lines a person reads; the exit status (1 when a cell failed)."""
    if isinstance(outcome.summary, Summary):
        print(console_summary(outcome.summary, f"{outcome.root}/results.md (and results.csv, results.json"
                                               + (", report.pdf)" if (outcome.root / "report.pdf").exists() else ")")),
              end="", flush=True)
    else:
        print(sweep_console(outcome.summary, f"{outcome.root}/sweep.md (and sweep.json)"), end="", flush=True)
    if outcome.speedups:
        print("Speed-ups against the reference's budgets: " + "; ".join(
            f"{s.label} {s.text()}" for s in outcome.speedups if s.label) + f" ({outcome.root}/speedup.md)", flush=True)
    return 1 if outcome.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m ablations.run", description=" ".join(__doc__.split("\n\n")[0].split()))
    add_grid_arguments(parser)
    add_common_arguments(parser, "results folder (default runs/<grid>-<config hash>)")
    study = study_from_args(parser.parse_args(argv))
    if study.execution.out is not None:
        ensure_writable(study.execution.out, "--out", directory=True)
    return finish(run_study(study, command_line("ablations.run", argv)))


if __name__ == "__main__":
    run_cli(main)
