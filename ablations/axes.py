"""The experiment space: a cell is a point on a set of axes, and an axis is a component family or
a training hyperparameter.

    --axes opt=adamw lr=1e-4,3e-4,1e-3 weight-decay=0.05,0.1 dropout=0.0,0.1

A family axis lists registered members; a hyperparameter axis lists values typed as its flag types
them (`mainrun.hyperparameters`). A `Point` is a `Variant` (one member per family) plus the values
of the grid's hyperparameter axes; everything not on an axis comes from the scale preset and flags.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Union

from mainrun.components import FAMILIES
from mainrun.components.optimizers import recipe_defaults
from mainrun.config import TrainConfig, Variant
from mainrun.errors import ConfigError
from mainrun.hyperparameters import field_name, flag_name, format_value, parse_value

Level = Union[str, int, float]


def axis_label(axis: str) -> str:
    """An axis as the user writes it: a family key, or a hyperparameter's flag name (`weight-decay`)."""
    return axis if axis in FAMILIES else flag_name(axis)


def level_text(level: Level) -> str:
    return level if isinstance(level, str) else format_value(level)


def same_level(a: Level, b: Level) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


@dataclass(frozen=True)
class Point:
    """One cell of a grid, seed aside: a variant and the values of the hyperparameter axes."""

    variant: Variant = Variant()
    settings: tuple[tuple[str, int | float], ...] = ()  # (TrainConfig field, value), in axis order

    def level(self, axis: str) -> Level:
        if axis in FAMILIES:
            return getattr(self.variant, axis)
        for field, value in self.settings:
            if field == axis:
                return value
        raise KeyError(f"point {self} has no axis '{axis}'")

    def axes(self) -> list[str]:
        return [*FAMILIES, *(field for field, _ in self.settings)]

    def apply(self, base: TrainConfig) -> TrainConfig:
        return dataclasses.replace(base, variant=self.variant, **dict(self.settings))

    def __str__(self) -> str:
        """`norm=layernorm,pos=learned,init=default,opt=adamw,lr=0.001`; parsed back by `parse`."""
        return ",".join([str(self.variant), *(f"{flag_name(f)}={format_value(v)}" for f, v in self.settings)])

    @classmethod
    def parse(cls, spec: str) -> "Point":
        """The inverse of `str`; a plain variant string (every results folder before hyperparameter
        axes) is a point without settings."""
        families, settings = [], []
        for part in spec.split(","):
            key, _, value = part.partition("=")
            field = field_name(key) if key.strip() not in FAMILIES else None
            if field is None:
                families.append(part)
            else:
                settings.append((field, parse_value(field, value)))
        return cls(Variant.parse(",".join(families)), tuple(settings))

    @property
    def is_baseline(self) -> bool:
        return self.variant.is_baseline and not self.settings

    @classmethod
    def at(cls, levels: dict[str, Level], base: Variant | None = None) -> "Point":
        """The point at these axis levels: family levels replace `base`'s members (the baseline's by
        default), the others become its hyperparameter settings, in the order given."""
        families = {axis: str(level) for axis, level in levels.items() if axis in FAMILIES}
        return cls((base or Variant()).replace(**families),
                   tuple((axis, level) for axis, level in levels.items() if axis not in FAMILIES))


def parse_axes(specs: list[str]) -> dict[str, list[Level]]:
    """`["norm=layernorm,rmsnorm", "lr=1e-4,3e-4"]` -> {"norm": [...], "lr": [...]}: validated, typed,
    in the order given. Keys are family keys and TrainConfig field names."""
    levels: dict[str, list[Level]] = {}
    for spec in specs:
        name, sep, values_part = (s.strip() for s in spec.partition("="))
        example = "norm=layernorm,rmsnorm or lr=1e-4,3e-4"
        if not sep:
            raise ConfigError(f"bad axis '{spec}': expected NAME=VALUE[,VALUE...], e.g. {example}")
        axis = name if name in FAMILIES else field_name(name)
        if axis is None:
            raise ConfigError(f"unknown axis '{name}': not a component family ({', '.join(FAMILIES)}) "
                              f"nor a hyperparameter (e.g. lr, weight-decay, dropout, batch-size)")
        if axis in levels:
            raise ConfigError(f"axis '{name}' is given twice")
        valid = f"; valid: {', '.join(FAMILIES[axis].names())}" if axis in FAMILIES else ""
        if not values_part:
            raise ConfigError(f"axis '{name}' is empty{valid}")
        texts = [v.strip() for v in values_part.split(",")]
        if "" in texts:
            raise ConfigError(f"axis '{name}' has an empty value (a stray comma?){valid}")
        if axis in FAMILIES:
            for text in texts:
                FAMILIES[axis].get(text)  # raises ConfigError listing the valid names
            values: list[Level] = texts
        else:
            values = [parse_value(axis, text) for text in texts]
        repeated = sorted({level_text(v) for i, v in enumerate(values)
                           if any(same_level(v, w) for w in values[:i])})
        if repeated:
            raise ConfigError(f"axis '{name}' names {', '.join(repeated)} more than once")
        levels[axis] = values
    return levels


def reference_levels(axes: dict[str, list[Level]], base: TrainConfig) -> dict[str, Level]:
    """The level every effect of an axis is measured from: the family's reference member, or the
    preset's (or the recipe's, for lr and weight decay) value, when listed; else the first listed."""
    references: dict[str, Level] = {}
    # Families first: the reference optimizer recipe decides the usual lr and weight decay.
    for axis in sorted(axes, key=lambda a: a not in FAMILIES):
        levels = axes[axis]
        if axis in FAMILIES:
            usual: Level = FAMILIES[axis].reference
        elif axis in ("lr", "weight_decay"):
            usual = recipe_defaults(str(references.get("opt", base.variant.opt)))[axis]
        else:
            usual = getattr(base, axis)
        references[axis] = next((level for level in levels if usual is not None and same_level(level, usual)),
                                levels[0])
    return {axis: references[axis] for axis in axes}


def check_no_flag_conflict(axes: dict[str, list[Level]] | list[str], overrides: dict[str, object],
                           role: str = "an axis") -> None:
    for axis in axes:
        if axis in overrides:
            raise ConfigError(f"{axis_label(axis)} is given both as --{axis_label(axis)} and as {role}; drop one")
