"""The options of the commands that train studies (`ablations.run`, `ablations.sweep`), and the study
they describe. Every option defaults to None ("not given"), so that a study file's value stands
unless a flag replaces it."""
from __future__ import annotations

import argparse
import shlex
import sys

from mainrun.cli import add_train_arguments

from .study.grid import DESIGNS, GRIDS
from .analysis.metrics import METRIC_CHOICES
from .study.study import BACKENDS, DEFAULT_TIMEOUT_MIN, Study


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    grid = parser.add_argument_group("the grid")
    grid.add_argument("--grid", help=f"{', '.join(GRIDS)} (default full: the plan's 16 combinations, plus what "
                                     "plugins register; modern: the best public stack's seven axes in 16 cells)")
    grid.add_argument("--around", metavar="VARIANT",
                      help="with --grid single: VARIANT and each variant reverting one of its families to the "
                           "reference, with deltas against VARIANT")
    grid.add_argument("--axes", nargs="+", metavar="AXIS=VALUES",
                      help="custom grid over families, member settings and training settings, e.g. --axes opt=adamw "
                           "lr=1e-4,3e-4 norm.eps=1e-8,1e-5 (families not named stay at the baseline, settings at the "
                           "preset)")
    grid.add_argument("--design", choices=DESIGNS,
                      help="full (default, but fractional for --grid modern): every combination; fractional: the "
                           "smallest regular resolution IV fraction of the two-level axes (5 axes -> 16 cells, 7 -> 16)")
    grid.add_argument("--seeds", help="a count (3 = seeds 1337,1338,1339) or a list (1337,42); default 3")
    grid.add_argument("--tune", metavar="AXIS=VALUES",
                      help="tune a numeric setting per variant, e.g. --tune lr=1e-4,3e-4,1e-3: every variant at each "
                           "value on the first --tune-seeds seeds, then at its own best on the other seeds")
    grid.add_argument("--speedup", metavar="BUDGETS",
                      help="also train the reference point at these multiples of the study's steps (each its own "
                           "run, e.g. 0.5,1,2,4) and give each variant's speed-up: the tokens the reference needs to "
                           "reach its loss over the tokens it used (speedup.md)")
    grid.add_argument("--tune-seeds", type=int, metavar="N",
                      help="how many of the seeds pick the tuned value (default 1); the rest measure")
    grid.add_argument("--tune-extend", type=int, metavar="N",
                      help="with --tune: when a variant's pick is at an end of the candidates, try the next value "
                           "beyond it by the grid's own ratio, up to N new values per variant (default 2; 0: never)")
    grid.add_argument("--shared-default", action=argparse.BooleanOptionalAction, default=None,
                      help="with --tune: also train every variant at the shared default value on the measuring seeds, "
                           "for the tuned-against-default comparison (default: yes; --no-shared-default saves a "
                           "third of a tuned study's cells)")


def add_common_arguments(parser: argparse.ArgumentParser, out_help: str) -> None:
    """Results, execution, report and training options: every command that trains studies takes them."""
    parser.add_argument("--study", metavar="FILE", help="a study file (TOML); flags given beside it replace its values")
    out = parser.add_argument_group("results")
    out.add_argument("--out", help=out_help)
    out.add_argument("--plot", action=argparse.BooleanOptionalAction, default=None,
                     help="write PNG plots and report.pdf (default: when matplotlib is installed)")
    out.add_argument("--tensorboard", action="store_true", default=None,
                     help="write each cell's train loss, validation metrics, lr and tokens/s as TensorBoard events "
                          "under OUT/tensorboard/<cell> (needs the tensorboard extra)")
    run = parser.add_argument_group("execution")
    run.add_argument("--backend", choices=BACKENDS,
                     help="local process pool (default); submitit: a job per cell (Slurm when sbatch exists); "
                          "submitit-local: submitit's local subprocess jobs")
    run.add_argument("--workers", type=int, help="cells at a time (default: one per GPU, else one per CPU core; "
                                                 "Slurm: the whole grid)")
    run.add_argument("--partition", help="Slurm partition")
    run.add_argument("--gpus-per-job", type=int,
                     help="GPUs per submitit job: 0 or 1, a cell trains on one device (default 1 if this machine has "
                          "CUDA, else 0); with 1 the cells train on cuda, and a job without a GPU fails in one line")
    run.add_argument("--timeout-min", type=int, help=f"submitit job time limit in minutes (default {DEFAULT_TIMEOUT_MIN})")
    run.add_argument("--mem-gb", type=int, help="host memory per submitit job in GB (default 16 for jobs with a GPU, "
                                                "else the partition's default)")
    run.add_argument("--allow-code-change", action="store_true", default=None,
                     help="add to a results folder made by other code (recorded in run.json; the report says so)")
    add_report_arguments(parser)
    add_train_arguments(parser, seed=False)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the report")
    group.add_argument("--metric", choices=METRIC_CHOICES,
                       help="what tables and effects rank by: val_loss (the reference metric), val_loss_full (every "
                            "val token once), val_bpb (bits per byte); auto (default): val_loss, or val_loss_full "
                            "when the cells differ in coverage")
    group.add_argument("--margin", type=float,
                       help="effects whose whole 95%% interval lies inside +/- this are negligible (default 0.003, "
                            "the rerun noise of this task)")
    group.add_argument("--target-effect", type=float, metavar="X",
                       help="also say how many seeds would resolve an effect of size X")


def study_from_args(args: argparse.Namespace) -> Study:
    """The study the flags describe; with --study, its file's, the flags given replacing its values."""
    options = {name: value for name, value in vars(args).items() if name != "study"}
    if args.study:
        return Study.from_toml(args.study, **{k: v for k, v in options.items() if v is not None and v != []})
    return Study.from_options(**options)


def command_line(prog: str, argv: list[str] | None) -> str:
    return f"python -m {prog} " + shlex.join(sys.argv[1:] if argv is None else argv)
