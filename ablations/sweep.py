"""The plan's staged hyperparameter search, as one command, with the checks a reviewer would ask for.

    python -m ablations.sweep --variant opt=adamw --stage lr=1e-4,3e-4,5e-4 \\
        --stage weight-decay=0.05,0.1,0.15 --stage dropout=0.05,0.1,0.15,0.2 --stage batch-size=32,64,128 \\
        --seeds 3 --out DIR

Stage k trains its axis over the seeds with every earlier stage's choice fixed; the best value
replaces the current one only when the paired difference is beyond noise and not negligible
(`ablations.analysis.stages`); a best value on the edge of a numeric grid raises an alarm. A last stage trains
the starting and the chosen configurations on held-out seeds and reports their difference, so the
luck of the search does not inflate it. Each stage is an ordinary results folder (DIR/stageK-AXIS,
DIR/final); the same command again resumes. DIR/sweep.json and DIR/sweep.md hold the decisions.
"""
from __future__ import annotations

from mainrun.cli import OneLineArgumentParser, ensure_writable, run_cli

from .api import run_study
from .cli import add_common_arguments, command_line, study_from_args
from .run import finish


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m ablations.sweep", description=" ".join(__doc__.split("\n\n")[0].split()))
    plan = parser.add_argument_group("the search")
    plan.add_argument("--variant", help="the variant to tune, e.g. opt=adamw (default: the baseline)")
    plan.add_argument("--stage", action="append", metavar="AXIS=VALUES",
                      help="one stage, in order, e.g. --stage lr=1e-4,3e-4,5e-4 --stage dropout=0.05,0.1 "
                           "(a training setting, a member setting or a component family)")
    plan.add_argument("--seeds", help="seeds of every stage: a count or a list (default 3)")
    plan.add_argument("--final-seeds",
                      help="seeds of the last stage, start against chosen (default: as many as --seeds, numbered "
                           "after them, so the comparison is not on the seeds that chose)")
    add_common_arguments(parser, "sweep folder (default runs/sweep-<hash>)")
    args = parser.parse_args(argv)
    if not args.stage and not args.study:
        parser.error("the following arguments are required: --stage")
    study = study_from_args(args)
    if study.execution.out is not None:
        ensure_writable(study.execution.out, "--out", directory=True)
    return finish(run_study(study, command_line("ablations.sweep", argv)))


if __name__ == "__main__":
    run_cli(main)
