"""A study as data: what to train, how to report it, and where to run it, from the command line, a
TOML file or Python, validated as a whole before the first cell trains.

    python -m ablations.run --grid full --seeds 3 --scale cpu
    python -m ablations.run --study study.toml            # the same, written down
    Study.from_options(grid="full", seeds=3, scale="cpu")  # the same, from Python

Every option has one name in all three (the command line's flag with underscores; the data source,
`--data` on the command line, is `source` in [data] and in Python, where `data=` is accepted too) and
one place in a study file (a section of `SECTIONS`). Flags given on the command line override the
file's. A relative `out` in a study file is read relative to the file. A results folder keeps the
study it ran as `study.toml`, resolved (the preset expanded, the data source explicit, the seeds a
list, `out = "."`: the folder the file is in), so running that file again resumes it, wherever the
folder has been copied.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mainrun.cli import load_plugins
from mainrun.config import CONTEXT_SETTINGS, SETTINGS, RunContext, TrainConfig
from mainrun.errors import ConfigError
from mainrun.variant import Variant

from .axes import Level, Point, axis_label, check_no_flag_conflict, level_text, parse_axes
from ..analysis.effects import DEFAULT_MARGIN
from .grid import Grid, build_grid, parse_seeds
from ..analysis.metrics import METRIC_CHOICES
from .tuning import DEFAULT_EXTEND, Tune, parse_tune

BACKENDS = ("local", "submitit", "submitit-local")
DEFAULT_SEEDS = 3
# Long enough for a reference-scale cell on a slow GPU; submitit's own defaults (2 min local, 5 min
# Slurm) would kill most cells.
DEFAULT_TIMEOUT_MIN = 240

# Where each option goes in a study file; the training settings go to their config section.
STUDY = ("scale", "grid", "around", "axes", "design", "seeds", "tune", "tune_seeds", "tune_extend", "shared_default",
         "variant", "stage", "final_seeds", "plugin", "speedup")
REPORT = ("metric", "margin", "target_effect")
RUN = ("out", "plot", "backend", "workers", "partition", "gpus_per_job", "timeout_min", "mem_gb", "tensorboard",
       "allow_code_change", *(name for name, s in CONTEXT_SETTINGS.items() if s.command_line))
SECTIONS = {"study": STUDY, **{section: tuple(n for n, s in SETTINGS.items() if s.section == section)
                               for section in ("data", "model", "optim", "training")}, "report": REPORT, "run": RUN}
LISTS = ("axes", "stage", "plugin")  # options given as several values


@dataclass(frozen=True)
class ReportOptions:
    metric: str = "auto"  # auto: val_loss, or val_loss_full when the cells differ in coverage
    margin: float = DEFAULT_MARGIN  # effects whose whole interval is inside +/- margin are negligible
    target_effect: float | None = None  # say how many seeds would resolve an effect this size

    def __post_init__(self) -> None:
        if self.metric not in METRIC_CHOICES:
            raise ConfigError(f"unknown metric '{self.metric}'; valid: {', '.join(METRIC_CHOICES)}")
        if self.margin < 0:
            raise ConfigError(f"--margin must be >= 0, got {self.margin}")
        if self.target_effect is not None and not self.target_effect > 0:
            raise ConfigError(f"--target-effect must be positive, got {self.target_effect}")


@dataclass(frozen=True)
class Execution:
    """Where and how wide the cells run; nothing here changes a number of the results."""

    context: RunContext = RunContext()  # device, threads, cache, checkpoint cadence of every cell
    backend: str = "local"
    workers: int | None = None
    partition: str | None = None
    gpus_per_job: int | None = None
    timeout_min: int = DEFAULT_TIMEOUT_MIN
    mem_gb: int | None = None
    tensorboard: bool = False
    allow_code_change: bool = False
    plot: bool | None = None
    out: Path | None = None

    def cells_get_gpu(self) -> bool:
        """Whether cells train on a GPU: this machine's, with the local backend, or a job's."""
        import torch

        if self.backend == "local":
            return self.context.device.startswith("cuda") or (self.context.device == "auto"
                                                              and torch.cuda.is_available())
        gpus = self.gpus_per_job if self.gpus_per_job is not None else int(torch.cuda.is_available())
        return gpus > 0

    def __post_init__(self) -> None:
        self.context.validate()
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend '{self.backend}'; valid: {', '.join(BACKENDS)}")
        checks = [(self.workers, lambda v: v >= 1, "--workers must be positive"),
                  (self.gpus_per_job, lambda v: v >= 0, "--gpus-per-job must be >= 0"),
                  (self.timeout_min, lambda v: v >= 1, "--timeout-min must be positive"),
                  (self.mem_gb, lambda v: v >= 1, "--mem-gb must be positive")]
        for value, ok, message in checks:
            if value is not None and not ok(value):
                raise ConfigError(f"{message}, got {value}")
        for wanted, module, extra in ((self.plot, "matplotlib", "plot"), (self.tensorboard, "tensorboard",
                                                                           "tensorboard")):
            if wanted and not module_available(module):
                raise ConfigError(f"--{extra} needs the {extra} extra: pip install 'mainrun-ablations[{extra}]'")
        if self.gpus_per_job is not None and self.gpus_per_job > 1:
            raise ConfigError(f"--gpus-per-job {self.gpus_per_job}: a cell trains on one device, so all but one GPU "
                              "of each job would sit idle; use --gpus-per-job 1 (and --workers for more jobs at once)")


def parse_budgets(spec: Any) -> tuple[float, ...]:
    """`"0.5,1,2,4"` (or a list) -> (0.5, 1.0, 2.0, 4.0): at least two, each positive, sorted."""
    texts = spec if isinstance(spec, (list, tuple)) else str(spec).split(",")
    try:
        budgets = sorted({float(t) for t in texts})
    except ValueError:
        raise ConfigError(f"--speedup {spec}: expected budgets as multiples of the study's steps, e.g. "
                          "0.5,1,2,4") from None
    if len(budgets) < 2 or budgets[0] <= 0:
        raise ConfigError(f"--speedup {spec}: at least two positive budgets, e.g. 0.5,1,2,4")
    return tuple(budgets)


def module_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@dataclass(frozen=True)
class Stages:
    """A staged sweep: stage k trains its axis with every earlier choice fixed; then the start against
    the chosen configuration on held-out seeds."""

    variant: Variant
    stages: tuple[tuple[str, tuple[Level, ...]], ...]
    final_seeds: tuple[int, ...]


@dataclass(frozen=True)
class Study:
    options: dict[str, Any]  # as given, typed: what study.toml writes back
    base: TrainConfig  # the scale preset with the settings given; defaults resolve per cell
    seeds: tuple[int, ...]
    report: ReportOptions
    execution: Execution
    grid: Grid | None = None  # a grid study (None for a sweep)
    tune: Tune | None = None
    stages: Stages | None = None
    plugins: tuple[str, ...] = ()
    budgets: tuple[float, ...] = ()  # --speedup: the reference's token budgets, as multiples of the study's

    @property
    def kind(self) -> str:
        return "sweep" if self.stages else "tuned grid" if self.tune else "grid"

    @classmethod
    def from_options(cls, **options: Any) -> "Study":
        """Validate every option, the report's and the execution's included, before anything runs."""
        options = {("source" if name == "data" else name): value for name, value in options.items()
                   if value is not None and value != []}
        unknown = sorted(set(options) - {n for names in SECTIONS.values() for n in names})
        if unknown:
            raise ConfigError(f"unknown study option(s): {', '.join(unknown)}")
        if "seed" in options:
            raise ConfigError("seed: a study trains every cell on each of its seeds; set them with seeds ([study] "
                              "seeds = [4], or --seeds 4,), not seed")
        # One axis, stage or plugin written as a string rather than a list of one is that one.
        options.update({name: [options[name]] for name in LISTS if isinstance(options.get(name), str)})
        plugins = tuple(options.get("plugin", ()))
        load_plugins(list(plugins))
        execution = execution_of(options)
        base = base_config(options, execution)
        # Three seeds by default: with one, no effect has an interval and nothing can be told from noise.
        seeds = tuple(parse_seeds(seeds_spec(options.get("seeds", DEFAULT_SEEDS))))
        report = ReportOptions(**{k: options[k] for k in REPORT if k in options})
        budgets = parse_budgets(options["speedup"]) if "speedup" in options else ()
        if budgets and "budget" in options:
            raise ConfigError("--budget is what --speedup sets for each of the reference's budgets; drop --budget")
        if budgets and "stage" in options:
            raise ConfigError("--speedup measures a grid's variants at one budget against the reference's budgets; "
                              "it does not combine with --stage yet")
        common = dict(options=options, base=base, seeds=seeds, report=report, execution=execution, plugins=plugins,
                      budgets=budgets)
        if "stage" in options:
            return cls(**common, stages=stages_of(options, base, seeds))
        loose = [name for name in ("tune_seeds", "tune_extend", "shared_default") if name in options and "tune" not in options]
        if loose:
            raise ConfigError(f"--{loose[0].replace('_', '-')} goes with --tune, which is not given")
        grid = build_grid(options.get("grid"), options.get("axes"), options.get("design"), base, options.get("around"))
        settings = settings_given(options)
        check_no_flag_conflict(grid.axes, settings)
        tune = parse_tune(options.get("tune"), options.get("tune_seeds", 1), list(seeds), grid, settings,
                          report.metric, options.get("tune_extend", DEFAULT_EXTEND), options.get("shared_default", True))
        for point in tune.tuning_points(grid.points) if tune else grid.points:
            point.apply(base).resolved().validate()  # e.g. rope needs an even head dimension: fail now
        return cls(**common, grid=grid, tune=tune)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> "Study":
        """A study file; `overrides` (the flags given beside --study) replace its values."""
        return cls.from_options(**{**read_toml(path), **overrides})

    def to_toml(self, data: str | None = None, out: Path | None = None) -> str:
        """The study resolved: the preset's settings written out, the data source as resolved, the seeds
        as a list and the results folder; the settings an axis, a tuned value or a stage sweeps are left
        out, as the command line must leave them."""
        swept = {*(self.grid.axes if self.grid else ()), *([self.tune.axis] if self.tune else ()),
                 *(axis for axis, _ in (self.stages.stages if self.stages else ()))}
        values = {**self.options, "scale": self.base.scale,
                  **{name: self.base.get(name) for name in SETTINGS
                     if name not in swept and name != "seed" and self.base.get(name) is not None},
                  "seeds": list(self.seeds)}
        for name in swept:  # a swept setting given as a flag too is refused; its preset value is no setting
            values.pop(name, None)
        values.update({k: v for k, v in (("source", data), ("out", str(out) if out else None)) if v is not None})
        return write_toml(values)


def seeds_spec(value: Any) -> str:
    """--seeds as text: a count (3), a comma list (1337,42), or a study file's list ([1337, 42]; [4] is
    the one seed 4, never a count)."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) + ("," if len(value) == 1 else "")
    return str(value)


def settings_given(options: dict[str, Any]) -> dict[str, Any]:
    return {name: options[name] for name in SETTINGS if name in options}


def base_config(options: dict[str, Any], execution: Execution) -> TrainConfig:
    """The preset with the settings given. Without --scale: the reference scale when cells get a GPU,
    else the `cpu` preset (the reference scale takes hours per cell on a CPU)."""
    scale = options.get("scale") or ("mainrun" if execution.cells_get_gpu() else "cpu")
    return TrainConfig.from_scale(scale, **settings_given(options))


def execution_of(options: dict[str, Any]) -> Execution:
    context = RunContext(**{name: options[name] for name in CONTEXT_SETTINGS if name in options})
    fields = {f.name for f in dataclasses.fields(Execution)} - {"context", "out"}
    out = Path(options["out"]) if "out" in options else None
    return Execution(context=context, out=out, **{name: options[name] for name in fields if name in options})


def stages_of(options: dict[str, Any], base: TrainConfig, seeds: tuple[int, ...]) -> Stages:
    if options.get("grid") or options.get("axes") or options.get("tune"):
        raise ConfigError("a sweep (--stage) takes no --grid, --axes or --tune: each stage is its own grid")
    stages: list[tuple[str, tuple[Level, ...]]] = []
    for spec in options["stage"]:
        if "=" in spec and not spec.partition("=")[2].strip():
            raise ConfigError(f"stage '{spec}' is empty: list the values to try, e.g. lr=1e-4,3e-4")
        (axis, levels), = parse_axes([spec]).items()
        if any(axis == seen for seen, _ in stages):
            raise ConfigError(f"{axis_label(axis)} has two stages; give each axis one")
        check_no_flag_conflict([axis], settings_given(options), role="a stage")
        stages.append((axis, tuple(levels)))
    variant = Variant.parse(options.get("variant") or "baseline")
    for axis, levels in stages:  # every value of every stage valid now, not after hours of earlier stages
        for level in levels:
            Point.at({axis: level}, variant).apply(base).validate()
    final = options.get("final_seeds")
    return Stages(variant, tuple(stages), tuple(parse_seeds(final) if final else held_out(seeds)))


def held_out(seeds: tuple[int, ...]) -> list[int]:
    """As many seeds as the sweep used, numbered after them: the final comparison is not measured on
    the seeds that chose."""
    after = max(max(seeds) + 1, 1337)
    return list(range(after, after + len(seeds)))


def read_toml(path: str | Path) -> dict[str, Any]:
    """A study file's options, flattened from its sections; each key must sit in its own section."""
    path = Path(path)
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no study file at {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"study file {path} cannot be read: {exc}") from None
    options: dict[str, Any] = {}
    out = tables.get("run", {}).get("out") if isinstance(tables.get("run"), dict) else None
    if isinstance(out, str) and not Path(out).expanduser().is_absolute():
        # Relative to the file, so that a results folder's own study.toml (out = ".") goes with the folder.
        tables["run"]["out"] = str(path.parent / out)
    for section, values in tables.items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise ConfigError(f"study file {path}: unknown section [{section}]; valid: "
                              f"{', '.join(f'[{s}]' for s in SECTIONS)}")
        for key, value in values.items():
            if key not in SECTIONS[section]:
                where = next((f"[{s}]" for s, names in SECTIONS.items() if key in names), None)
                hint = f" (it belongs in {where})" if where else ""
                raise ConfigError(f"study file {path}: unknown key '{key}' in [{section}]{hint}")
            options[key] = value
    return options


def write_toml(values: dict[str, Any]) -> str:
    """The options as a study file, one section each. Written here rather than with a TOML library:
    the values are only strings, numbers, booleans and lists of strings, and the GPU machines this
    runs on carry no TOML writer."""
    out = ["# An ablations study: python -m ablations.run --study THIS_FILE (flags given beside it win)", ""]
    for section, names in SECTIONS.items():
        lines = [f"{name} = {toml_value(values[name])}" for name in names if values.get(name) is not None]
        if lines:
            out += [f"[{section}]", *lines, ""]
    return "\n".join(out)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


__all__ = ["BACKENDS", "Execution", "ReportOptions", "SECTIONS", "Stages", "Study", "level_text", "read_toml"]
