"""Re-render a results folder's reports without training: results.md/.csv/.json, the plots and
report.pdf (a grid's), sweep.md (a sweep's), or ladder.md/.json/.png (a ladder's, from its rungs).

    python -m ablations.report runs/full-1a2b3c4d
    python -m ablations.report runs/ladder-1a2b3c4d

Nothing here depends on when it runs, so rendering the same folder twice writes the same results.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mainrun.cli import OneLineArgumentParser, run_cli

from .cli import add_report_arguments
from .study.study import ReportOptions
from .analysis.summary import summarise, summarise_sweep
from .writers import write_results, write_sweep


def write_report(root: str | Path, plot: bool | None = None, options: ReportOptions = ReportOptions()) -> str:
    """Summarise the folder and write every report of it; the markdown."""
    root = Path(root)
    if (root / "ladder.json").exists() and not (root / "run.json").exists():
        from .analysis.scaling import read_ladder
        from .writers import plotting_available
        from .writers.ladder import write_ladder

        spec = ladder_spec(root, options)
        return write_ladder(read_ladder(root, spec), plotting_available(plot)[0])
    if (root / "sweep.json").exists() and not (root / "run.json").exists():
        return write_sweep(summarise_sweep(root), plot)
    return write_results(summarise(root, options), plot)


def ladder_spec(root: Path, options: ReportOptions) -> dict | None:
    """The report options given on the command line replace a ladder's own (its metric and margin)."""
    given = {k: v for k, v in (("metric", options.metric), ("margin", options.margin)) if v != getattr(
        ReportOptions(), k)}
    return given or None


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m ablations.report", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("dir", help="a results folder (of ablations.run), a sweep's or a ladder's folder")
    parser.add_argument("--plot", action=argparse.BooleanOptionalAction, default=None,
                        help="write PNG plots and report.pdf (default: when matplotlib is installed)")
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    options = ReportOptions(**{k: v for k, v in vars(args).items() if k in ("metric", "margin", "target_effect")
                               and v is not None})
    print(write_report(args.dir, args.plot, options), end="")
    return 0


if __name__ == "__main__":
    run_cli(main)
