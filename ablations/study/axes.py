"""The experiment space: a cell is a point on a set of axes, and an axis is a component family, a
member's own setting, or a training setting.

    --axes opt=adamw lr=1e-4,3e-4,1e-3 norm=rmsnorm norm.eps=1e-8,1e-5 opt.warmup=0.05,0.1

A family axis lists registered members; a member-setting axis (`family.setting`) lists values of
a keyword the family's members take; a setting axis lists values typed as its flag types them
(`mainrun.config.SETTINGS`). A `Point` is a `Variant` (one member per family, member settings
included) plus the values of the grid's setting axes; everything not on an axis comes from the
scale preset and flags.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

from mainrun.components import FAMILIES
from mainrun.config import AXIS_SETTINGS, SETTINGS, TrainConfig, setting_named
from mainrun.errors import ConfigError
from mainrun.variant import Variant, format_value, parse_typed

Level = Union[str, int, float]


def is_member_setting(axis: str) -> bool:
    return "." in axis and axis.split(".", 1)[0] in FAMILIES


def axis_label(axis: str) -> str:
    """An axis as the user writes it: a family key, `family.setting`, or a setting's flag (`weight-decay`)."""
    return axis if axis in FAMILIES or is_member_setting(axis) else SETTINGS[axis].flag


def level_text(level: Level) -> str:
    return format_value(level)


def same_level(a: Level, b: Level) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


@dataclass(frozen=True)
class Point:
    """One cell of a grid, seed aside: a variant and the values of the setting axes."""

    variant: Variant = Variant()
    settings: tuple[tuple[str, int | float], ...] = ()  # (setting name, value), in axis order

    def level(self, axis: str) -> Level:
        if axis in FAMILIES or is_member_setting(axis):
            return self.variant.level(axis)
        for name, value in self.settings:
            if name == axis:
                return value
        raise KeyError(f"point {self} has no axis '{axis}'")

    def axes(self) -> list[str]:
        return [*FAMILIES, *self.variant.settings(), *(name for name, _ in self.settings)]

    def apply(self, base: TrainConfig) -> TrainConfig:
        return base.with_values(variant=self.variant, **dict(self.settings))

    def __str__(self) -> str:
        """`norm=layernorm,pos=learned,init=default,opt=adamw,lr=0.001`; parsed back by `parse`."""
        return ",".join([str(self.variant), *(f"{SETTINGS[n].flag}={format_value(v)}" for n, v in self.settings)])

    @classmethod
    def parse(cls, spec: str) -> "Point":
        """The inverse of `str`; a plain variant string (every results folder before setting axes) is a
        point without settings."""
        variant_parts, settings = [], []
        for part in spec.split(","):
            key = part.partition("=")[0].strip()
            setting = setting_named(key) if key not in FAMILIES and not is_member_setting(key) else None
            if setting is None:
                variant_parts.append(part)
            else:
                settings.append((setting.name, setting.parse(part.partition("=")[2])))
        return cls(Variant.parse(",".join(variant_parts)), tuple(settings))

    @property
    def is_baseline(self) -> bool:
        return self.variant.is_baseline and not self.settings

    @classmethod
    def at(cls, levels: dict[str, Level], base: Variant | None = None) -> "Point":
        """The point at these axis levels: family and member-setting levels replace `base`'s (the
        baseline's by default), the others become its setting values, in the order given."""
        variant_levels = {axis: level for axis, level in levels.items() if axis in FAMILIES or is_member_setting(axis)}
        return cls((base or Variant()).replace(**variant_levels),
                   tuple((axis, level) for axis, level in levels.items() if axis not in variant_levels))


def axis_name(name: str) -> str:
    """The axis a name refers to: a family, `family.setting`, or a sweepable setting (by field name)."""
    name = name.strip()
    if name in FAMILIES:
        return name
    if "." in name:
        family, setting = name.split(".", 1)
        if family in FAMILIES:
            member_setting_default(family, setting)  # raises unless some member has it
            return name
    setting = setting_named(name)
    if setting is None or not setting.axis:
        raise ConfigError(f"unknown axis '{name}': not a component family ({', '.join(FAMILIES)}), a member "
                          f"setting (e.g. norm.eps, opt.warmup) nor a training setting (e.g. lr, weight-decay, "
                          f"dropout, batch-size)")
    return setting.name


def member_setting_default(family: str, setting: str) -> Level:
    """The default of a member setting, from the first of the family's members that takes it."""
    for member in FAMILIES[family].names():
        defaults = FAMILIES[family].settings(member)
        if setting in defaults:
            return defaults[setting]
    takers = {m: list(FAMILIES[family].settings(m)) for m in FAMILIES[family].names()}
    known = "; ".join(f"{m}: {', '.join(s)}" for m, s in takers.items() if s) or "none"
    raise ConfigError(f"no {family} member has a setting '{setting}' (settings: {known})")


def parse_values(axis: str, texts: list[str]) -> list[Level]:
    if axis in FAMILIES:
        for text in texts:
            FAMILIES[axis].get(text)  # raises ConfigError listing the valid names
        return list(texts)
    if is_member_setting(axis):
        family, setting = axis.split(".", 1)
        return [parse_typed(text, member_setting_default(family, setting), axis) for text in texts]
    return [SETTINGS[axis].parse(text) for text in texts]


def parse_axes(specs: list[str]) -> dict[str, list[Level]]:
    """`["norm=layernorm,rmsnorm", "lr=1e-4,3e-4"]` -> {"norm": [...], "lr": [...]}: validated, typed,
    in the order given. Keys are family keys, `family.setting`s and setting names."""
    levels: dict[str, list[Level]] = {}
    for spec in specs:
        name, sep, values_part = (s.strip() for s in spec.partition("="))
        if not sep:
            raise ConfigError(f"bad axis '{spec}': expected NAME=VALUE[,VALUE...], e.g. norm=layernorm,rmsnorm "
                              "or lr=1e-4,3e-4")
        axis = axis_name(name)
        if axis in levels:
            raise ConfigError(f"axis '{name}' is given twice")
        valid = f"; valid: {', '.join(FAMILIES[axis].names())}" if axis in FAMILIES else ""
        if not values_part:
            raise ConfigError(f"axis '{name}' is empty{valid}")
        texts = [v.strip() for v in values_part.split(",")]
        if "" in texts:
            raise ConfigError(f"axis '{name}' has an empty value (a stray comma?){valid}")
        values = parse_values(axis, texts)
        repeated = sorted({level_text(v) for i, v in enumerate(values) if any(same_level(v, w) for w in values[:i])})
        if repeated:
            raise ConfigError(f"axis '{name}' names {', '.join(repeated)} more than once")
        levels[axis] = values
    return levels


def usual_level(axis: str, references: dict[str, Level], base: TrainConfig) -> Level | None:
    """What an axis is at when nothing moves it: a family's reference member, the default of a member
    setting at the grid's reference member, or the base config's resolved value of a setting (the
    lr and weight decay of the grid's reference optimizer recipe)."""
    if axis in FAMILIES:
        return FAMILIES[axis].reference
    variant = base.variant.replace(**{f: references[f] for f in FAMILIES if f in references})
    if is_member_setting(axis):
        family, setting = axis.split(".", 1)
        return variant.settings_of(family).get(setting)
    return base.with_values(variant=variant).resolved().get(axis)


def reference_levels(axes: dict[str, list[Level]], base: TrainConfig) -> dict[str, Level]:
    """The level every effect of an axis is measured from: its usual level (`usual_level`) when it is
    listed, else the first level listed. Families first: they decide the others' usual levels."""
    references: dict[str, Level] = {}
    for axis in sorted(axes, key=lambda a: a not in FAMILIES):
        usual = usual_level(axis, references, base)
        references[axis] = next((level for level in axes[axis] if usual is not None and same_level(level, usual)),
                                axes[axis][0])
    return {axis: references[axis] for axis in axes}


def check_no_flag_conflict(axes: dict[str, list[Level]] | list[str], overrides: dict[str, object],
                           role: str = "an axis") -> None:
    for axis in axes:
        if axis in overrides:
            raise ConfigError(f"{axis_label(axis)} is given both as --{axis_label(axis)} and as {role}; drop one")


__all__ = ["AXIS_SETTINGS", "Level", "Point", "axis_label", "axis_name", "check_no_flag_conflict", "is_member_setting",
           "level_text", "parse_axes", "reference_levels", "same_level"]
