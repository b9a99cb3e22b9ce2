"""Run the same study at several model sizes and say which findings hold as the model grows.

    python -m ablations.ladder --rungs d_model=64,128,256 --grid full --scale cpu --data ../shared/data/hn_titles.txt
    python -m ablations.ladder --toward mainrun --rungs 8 --train-rungs 1-4 --axes opt=adamw,muon --tune lr=...

With `--rungs SETTING=VALUES`, rung i takes the i-th value of every --rungs axis. With `--toward
SCALE --rungs N`, the rungs walk from the study's own configuration to that preset's in every shape
setting at once (`ablations.study.path`), the last rung being the target run itself; `--train-rungs`
trains a range of them (the CPU's lower rungs, a GPU's upper ones) into the same ladder folder.
Each rung is an ordinary results folder (OUT/rung<i>-<settings>), so the same command resumes a
ladder, and any study runs at each rung: a grid, a fraction, --tune, or a sweep's final comparison.
The ladder then reads every rung whose folder exists, backtests each predictor of a finding at the
target on the rungs themselves, and predicts with the one that backtested best (`ablations.analysis.scaling`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mainrun.cli import OneLineArgumentParser, ensure_writable, run_cli
from mainrun.components import FAMILIES
from mainrun.config import TrainConfig
from mainrun.errors import ConfigError

from .api import run_study
from .study.axes import level_text, parse_axes
from .cli import add_common_arguments, add_grid_arguments, command_line
from .execution.engine import data_spec
from .study.path import PATH_SETTINGS, describe_path, parse_rung_range, path_rungs, target_config
from .analysis.scaling import REFERENCE_RUN_FLOPS, LadderSummary, summarise_ladder
from .study.study import Study
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


def default_root(options: dict[str, Any], rungs: list[dict[str, Any]]) -> Path:
    text = json.dumps({"options": options, "rungs": rungs}, sort_keys=True, default=str)
    return Path("runs") / f"ladder-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def study_of(options: dict[str, Any]) -> Study:
    options = dict(options)
    study_file = options.pop("study", None)
    return Study.from_toml(study_file, **options) if study_file else Study.from_options(**options)


def rung_studies(options: dict[str, Any], rungs: list[dict[str, Any]], root: Path) -> list[Study]:
    """Every rung's study, validated before any cell trains."""
    for setting in rungs[0]:
        if options.get(setting) is not None:
            raise ConfigError(f"{setting} is given both as a flag and in --rungs; keep one")
    return [study_of({**options, **settings, "out": str(root / rung_folder(index, settings))})
            for index, settings in enumerate(rungs, 1)]


def toward(options: dict[str, Any], target: str, count: int) -> tuple[list[dict[str, Any]], dict[str, Any], dict]:
    """A path's rungs from the study's own configuration to the preset `target`; the options without
    the shape settings the path now sets, and the path as ladder.json records it."""
    start = study_of({k: v for k, v in options.items() if k != "out"}).base
    rungs = path_rungs(start, target_config(target), count)
    return rungs, {k: v for k, v in options.items() if k not in PATH_SETTINGS}, describe_path(start, target, rungs)


def planned_flops(cfg: TrainConfig, cache_dir: str | None = None) -> float:
    """The training FLOPs of one run of `cfg` before it trains: its parameters from the model built on
    the meta device (no memory), its steps from its data (the tokenizer is trained, and cached, now)."""
    import torch

    from mainrun import data
    from mainrun.data import sources
    from mainrun.model import GPT, GPTConfig
    from mainrun.training import batches_per_epoch, flops_per_token, run_steps

    cfg = cfg.resolved()
    d, t = cfg.data, cfg.training
    corpus = data.prepare(data_spec(sources.resolve(d.source), d.source), d.num_titles, d.val_frac, t.seed,
                          d.vocab_size, cache_dir)
    with torch.device("meta"):
        params = GPT(GPTConfig.of(cfg, corpus.info.vocab_size, corpus.eos_id)).num_params()
    steps = run_steps(cfg, batches_per_epoch(len(corpus.train_ids), cfg.model.block_size, t.batch_size))
    return flops_per_token(cfg, params) * steps * t.batch_size * cfg.model.block_size


def target_flops(given: float | None, toward_scale: str | None, last_rung: Study) -> float:
    """--target-flops; else, toward the reference run, its compute as published (section 1's 994 steps,
    which §9's figures were measured at); else the compute the path's last rung will take."""
    if given is not None:
        if given <= 0:
            raise ConfigError("--target-flops must be positive")
        return given
    if toward_scale is None or toward_scale == "mainrun":
        return REFERENCE_RUN_FLOPS
    return planned_flops(last_rung.base.with_values(seed=last_rung.seeds[0]), last_rung.execution.context.cache_dir)


def run_ladder(options: dict[str, Any], rungs: list[dict[str, Any]], target: float | None, command: str,
               train: list[int] | None = None, path: dict | None = None) -> tuple[LadderSummary, bool]:
    """Train the rungs asked for (each resumes; all by default), then summarise every rung whose folder
    exists; (the summary, whether any cell failed). `target` None: `target_flops`'s default."""
    given = {k: v for k, v in options.items() if v is not None and v != []}
    root = Path(given.pop("out", None) or default_root(given, rungs))
    studies = rung_studies(dict(given), rungs, root)
    target = target_flops(target, path["toward"] if path else None, studies[-1])
    train = train or list(range(1, len(rungs) + 1))
    failed = False
    for index in train:
        failed |= bool(run_study(studies[index - 1], f"{command}  # rung {index}").failed)
    folders = [rung_folder(i, s) for i, s in enumerate(rungs, 1)]
    spec = {"axes": list(rungs[0]), "rungs": [{"settings": s, "folder": f} for s, f in zip(rungs, folders)],
            "target_flops": target, "path": path, "margin": studies[0].report.margin,
            "metric": studies[0].report.metric}
    return summarise_ladder(root, spec), failed


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m ablations.ladder", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--rungs", action="append", required=True, metavar="SETTING=VALUES",
                        help="a setting and its value at each rung, e.g. d_model=64,128,256 (several --rungs move "
                             "together); with --toward, the number of rungs on the path")
    parser.add_argument("--toward", metavar="SCALE",
                        help="walk every shape setting geometrically from the study's configuration (rung 1) to this "
                             "preset's (the last rung), e.g. --toward mainrun --rungs 8")
    parser.add_argument("--train-rungs", metavar="RANGE",
                        help="train only these rungs, e.g. 1-4 (default: every rung); rungs trained before, or "
                             "elsewhere and copied into the folder, join the ladder")
    parser.add_argument("--target-flops", type=float,
                        help=f"training compute to predict at (default {REFERENCE_RUN_FLOPS:.3g}: the reference run, "
                             "27M parameters, 7 epochs of 100,000 titles; with --toward another preset, that run's)")
    add_grid_arguments(parser)
    add_common_arguments(parser, "the ladder's folder, one results folder per rung inside (default runs/ladder-<hash>)")
    args = parser.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("rungs", "target_flops", "toward", "train_rungs")}
    path = None
    if args.toward is not None:
        if len(args.rungs) != 1 or not args.rungs[0].isdigit():
            raise ConfigError("--toward takes the number of rungs, e.g. --toward mainrun --rungs 8")
        rungs, options, path = toward(options, args.toward, int(args.rungs[0]))
    else:
        rungs = parse_rungs(args.rungs)
    train = parse_rung_range(args.train_rungs, len(rungs))
    if options.get("out") is not None:
        ensure_writable(options["out"], "--out", directory=True)
    ladder, failed = run_ladder(options, rungs, args.target_flops, command_line("ablations.ladder", argv), train, path)
    plotted = plotting_available(args.plot)[0]
    write_ladder(ladder, plotted)
    print(ladder_console(ladder, plotted), end="", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    run_cli(main)
