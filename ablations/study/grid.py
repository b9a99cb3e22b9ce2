"""Which cells a run trains: the points of a grid (from a grid name or `--axes`) times its seeds.

Grids are products over axes, read when the grid is built, so a component or a whole family
registered by a plugin joins `--grid full` and `--grid single` with no edit here. `--design
fractional` keeps a regular resolution IV fraction of a product of two-level axes (ablations/study/design.py).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from mainrun.components import BUILTIN_MEMBERS, FAMILIES
from mainrun.config import TrainConfig
from mainrun.variant import Variant
from mainrun.errors import ConfigError

from .axes import Level, Point, axis_label, level_text, parse_axes, reference_levels, same_level
from .design import Design, fractional_design

# Named studies: products over named levels, so that a grid keeps its meaning as registries grow.
# `full` is the plan's question (four families, two members each: 16 cells); `modern` is the stack
# behind the best public results (section 9 of the reference notes), seven two-level axes, trained
# as a resolution IV fraction of 16 cells unless --design full. A member or family registered by a
# plugin joins `full` (and `single`); `modern` stays as named, since its fraction needs two levels.
STUDIES: dict[str, dict[str, list[str]]] = {
    "full": {"norm": ["layernorm", "rmsnorm"], "pos": ["learned", "rope"], "init": ["default", "kaiming"],
             "opt": ["sgd", "adamw"]},
    "modern": {"norm": ["layernorm", "rmsnorm"], "pos": ["learned", "rope"], "mlp": ["gelu", "swiglu"],
               "init": ["default", "scaled"], "opt": ["adamw", "muon"], "mask": ["causal", "title"],
               "qknorm": ["none", "rmsnorm"]},
}
DEFAULT_DESIGN = {"modern": "fractional"}
GRIDS = (*STUDIES, "single", "baseline")
DESIGNS = ("full", "fractional")
REFERENCE_SEED = 1337
# A count above this is almost certainly a seed typed without a comma (`--seeds 1337`).
MAX_SEED_COUNT = 100

__all__ = ["Grid", "build_grid", "full_grid", "parse_axes", "parse_seeds", "product", "single_grid", "swap_label"]


@dataclass
class Grid:
    name: str  # used in the default output folder
    axes: dict[str, list[Level]]  # axis -> levels as given; families and hyperparameters
    references: dict[str, Level]  # axis -> the level its effects are measured from
    points: list[Point]
    design: Design | None = None  # a fraction; None: every combination (or a non-factorial grid)
    around: str | None = None  # --grid single --around: the stack each point removes one part of

    @property
    def hyperparameters(self) -> list[str]:
        """The hyperparameter axes, in order."""
        return [axis for axis in self.axes if axis not in FAMILIES]

    def describe(self) -> dict[str, Any]:
        """The grid as run.json stores it."""
        return {
            "axes": {axis: {"levels": levels, "reference": self.references[axis]} for axis, levels in self.axes.items()},
            "design": self.design.describe() if self.design else {"fraction": "full"},
            **({"around": self.around} if self.around else {}),
        }


def product(levels: dict[str, list[str]]) -> list[Variant]:
    """Every combination of the given family levels; families not named stay at the baseline."""
    families = list(levels)
    return [Variant(**dict(zip(families, names))) for names in itertools.product(*levels.values())]


def study_axes(name: str) -> dict[str, list[str]]:
    """A study's levels; for `full`, plus every member and family a plugin registered."""
    axes = {family: list(levels) for family, levels in STUDIES[name].items()}
    if name == "full":
        for family, registry in FAMILIES.items():
            added = [m for m in registry.names() if m not in BUILTIN_MEMBERS.get(family, ())]
            if family in axes:
                axes[family] += added
            elif family not in BUILTIN_MEMBERS:
                axes[family] = registry.names()
    return axes


def full_grid() -> list[Variant]:
    return product(study_axes("full"))


def single_grid(around: Variant | None = None) -> list[Variant]:
    """Around the baseline: the baseline, then each variant that swaps exactly one family to another
    member. Around a stack: the stack, then each variant that reverts exactly one of its families
    to the reference member ("what does each part of the stack buy?")."""
    around = around or Variant()
    if around.is_baseline:
        swaps = [Variant(**{family: name})
                 for family, registry in FAMILIES.items()
                 for name in registry.names() if name != registry.reference]
    else:
        swaps = [around.replace(**{family: FAMILIES[family].reference}) for family in around.departures()]
    return [around, *swaps]


def point_product(axes: dict[str, list[Level]]) -> list[Point]:
    return [Point.at(dict(zip(axes, combo))) for combo in itertools.product(*axes.values())]


def fractional_points(axes: dict[str, list[Level]], references: dict[str, Level]) -> tuple[list[Point], Design]:
    too_many = [f"{axis_label(a)} ({len(levels)})" for a, levels in axes.items() if len(levels) > 2]
    if too_many:
        raise ConfigError(f"--design fractional needs two-level axes; these have more: {', '.join(too_many)}")
    factors = [a for a, levels in axes.items() if len(levels) == 2]
    design = fractional_design(factors)
    fixed = {a: levels[0] for a, levels in axes.items() if len(levels) == 1}
    other = {a: next(level for level in axes[a] if not same_level(level, references[a])) for a in factors}
    points = []
    for row in design.rows():
        chosen = {**fixed, **{a: (other[a] if code > 0 else references[a]) for a, code in zip(factors, row)}}
        points.append(Point.at({a: chosen[a] for a in axes}))
    return points, design


def build_grid(grid: str | None, axes_specs: list[str] | None, design: str | None = None,
               base: TrainConfig | None = None, around: str | None = None) -> Grid:
    """The grid's points, its axes with their reference levels, and the design."""
    base = base or TrainConfig()
    if grid is not None and axes_specs:
        raise ConfigError("give either --grid or --axes, not both")
    name = "axes" if axes_specs else (grid or "full")
    design = design or DEFAULT_DESIGN.get(name, "full")
    if design not in DESIGNS:
        raise ConfigError(f"unknown design '{design}'; valid: {', '.join(DESIGNS)}")
    if around is not None and name != "single":
        raise ConfigError("--around goes with --grid single (leave-one-out around a stack)")
    if axes_specs:
        axes = parse_axes(axes_specs)
    elif name in STUDIES:
        axes = study_axes(name)
    elif name in ("single", "baseline"):
        if design != "full":
            raise ConfigError(f"--design {design} needs a product grid (--grid full or --axes), not --grid {name}")
        center = Variant.parse(around) if around is not None else Variant()
        variants = single_grid(center) if name == "single" else [Variant()]
        axes = {family: list(dict.fromkeys(v.level(family) for v in variants)) for family in FAMILIES}
        axes = {family: levels for family, levels in axes.items() if len(levels) > 1}
        # Around a stack, every delta is measured from the stack.
        references = {family: center.level(family) for family in axes} if around else reference_levels(axes, base)
        return Grid(name, axes, references, [Point(v) for v in variants], around=str(center) if around else None)
    else:
        raise ConfigError(f"unknown grid '{grid}'; valid: {', '.join(GRIDS)}, or --axes NAME=VALUES ...")
    references = reference_levels(axes, base)
    if design == "fractional":
        points, chosen = fractional_points(axes, references)
        if chosen.p == 0:
            chosen = None  # too few axes to fraction: the full product is the smallest resolution IV design
        return Grid(name, axes, references, points, chosen)
    return Grid(name, axes, references, point_product(axes))


def swap_label(point: Point | Variant, references: dict[str, Level] | None = None) -> str:
    """What a point changes relative to the baseline (or to the given reference levels), e.g.
    `norm=rmsnorm, opt=adamw` or `lr=0.001`."""
    if isinstance(point, Variant):
        point = Point(point)
    references = references or {}
    swaps = []
    for axis in point.axes():
        level = point.level(axis)
        usual = references.get(axis, FAMILIES[axis].reference if axis in FAMILIES else None)
        if usual is None or not same_level(level, usual):
            swaps.append(f"{axis_label(axis)}={level_text(level)}")
    return ", ".join(swaps) or ("baseline" if point.is_baseline else "reference")


def parse_seeds(spec: str) -> list[int]:
    """`3` -> three seeds counting up from the reference seed 1337; `1337,42` -> exactly those;
    `42,` -> the one seed 42 (a lone number is a count)."""
    spec = spec.strip()
    named = "," in spec
    # One trailing comma names a single seed; any other empty item is a typo worth an error.
    parts = [p.strip() for p in (spec[:-1] if spec.endswith(",") else spec).split(",")]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"bad --seeds '{spec}': expected a count (3) or a comma list of integers (1337,42)") from None
    if not named:
        count = numbers[0]
        if not 1 <= count <= MAX_SEED_COUNT:
            raise ConfigError(
                f"--seeds {count} is a count of seeds and must be in 1..{MAX_SEED_COUNT}; "
                "to name seeds, list them with commas (1337,42, or 42, for one)"
            )
        return list(range(REFERENCE_SEED, REFERENCE_SEED + count))
    negative = [n for n in numbers if n < 0]
    if negative:
        raise ConfigError(f"--seeds must be non-negative, got {negative[0]}")
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise ConfigError(f"--seeds names {', '.join(map(str, duplicates))} more than once")
    return numbers
