"""A variant: one member of every component family, and any member settings that leave their defaults.

    Variant.parse("norm=rmsnorm,opt=adamw,norm.eps=1e-05")

A small frozen value of names, read like a dataclass (`variant.norm`, `variant.opt`) for every
registered family, the families a plugin adds included. Only what leaves the reference is stored
(members off their family's reference, settings off their member's default), so registering a new
family or giving a member a new setting changes no existing variant, string or cell key.
"""
from __future__ import annotations

from typing import Any

from .components import FAMILIES, families_in_slot
from .errors import ConfigError

Setting = tuple[str, str, Any]  # (family, setting, value)


def _restore(choices: tuple[tuple[str, str], ...], settings: tuple[Setting, ...] = ()) -> "Variant":
    """Unpickling: a worker process unpickles its cell before it imports the plugins that register
    the cell's families, so the variant is restored as it was, unchecked."""
    variant = Variant.__new__(Variant)
    object.__setattr__(variant, "_choices", choices)
    object.__setattr__(variant, "_settings", settings)
    return variant


def format_value(value: Any) -> str:
    """The shortest text that reads back as the same value: 0.001, 0.0003, 1e-05, 64."""
    return value if isinstance(value, str) else repr(value)


def parse_typed(text: str, like: Any, name: str) -> Any:
    """`text` as the type of `like` (a default): `1e-5` a float for eps, `64` an int."""
    kind = type(like)
    if kind is bool:
        if text.strip().lower() not in ("true", "false"):
            raise ConfigError(f"bad value '{text.strip()}' for {name}: expected true or false")
        return text.strip().lower() == "true"
    try:
        return kind(text.strip())
    except ValueError:
        expected = {int: "an integer", float: "a number"}.get(kind, kind.__name__)
        raise ConfigError(f"bad value '{text.strip()}' for {name}: expected {expected}") from None


class Variant:
    __slots__ = ("_choices", "_settings")

    def __init__(self, **choices: Any):
        """`Variant(norm="rmsnorm", **{"norm.eps": 1e-5})`: members by family, settings by `family.name`."""
        members = {k: v for k, v in choices.items() if "." not in k}
        for family, name in members.items():
            if family not in FAMILIES:
                raise ConfigError(f"unknown component family '{family}'; valid: {', '.join(FAMILIES)}")
            FAMILIES[family].get(name)  # raises ConfigError listing the valid names
        object.__setattr__(self, "_choices", tuple(
            (family, members[family]) for family, registry in FAMILIES.items()
            if family in members and members[family] != registry.reference))
        settings = []
        for key, value in choices.items():
            if "." in key:
                family, setting = key.split(".", 1)
                default = self.setting_defaults(family).get(setting)
                if default is None or value != default:
                    settings.append((family, setting, value))
        object.__setattr__(self, "_settings", tuple(sorted(settings, key=self._setting_order)))
        for family, setting, _ in self._settings:
            self.check_setting(family, setting)

    @staticmethod
    def _setting_order(item: Setting) -> tuple[int, str]:
        family, setting, _ = item
        return list(FAMILIES).index(family) if family in FAMILIES else len(FAMILIES), setting

    def check_setting(self, family: str, setting: str) -> None:
        if family not in FAMILIES:
            raise ConfigError(f"unknown component family '{family}' in '{family}.{setting}'; valid: "
                              f"{', '.join(FAMILIES)}")
        known = self.setting_defaults(family)
        if setting not in known:
            member = getattr(self, family)
            valid = f"its settings: {', '.join(known)}" if known else "it has no settings"
            raise ConfigError(f"{family} '{member}' has no setting '{setting}'; {valid}")

    def __getattr__(self, family: str) -> str:
        if family.startswith("_"):
            raise AttributeError(family)
        for key, name in self._choices:
            if key == family:
                return name
        if family in FAMILIES:
            return FAMILIES[family].reference
        raise AttributeError(f"no component family '{family}'; registered: {', '.join(FAMILIES)}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Variant is frozen; use variant.replace(family=name)")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Variant) and dict(self._choices) == dict(other._choices)
                and set(self._settings) == set(other._settings))

    def __hash__(self) -> int:
        return hash((frozenset(self._choices), frozenset(self._settings)))

    def __reduce__(self):
        return _restore, (self._choices, self._settings)

    def __repr__(self) -> str:
        parts = [f"{f}={n!r}" for f, n in self._choices] + [f"{f}.{s}={v!r}" for f, s, v in self._settings]
        return f"Variant({', '.join(parts)})"

    def replace(self, **changes: Any) -> "Variant":
        return Variant(**{**dict(self._choices), **self.settings(), **changes})

    def level(self, axis: str) -> Any:
        """The variant's level on a family axis (its member) or a setting axis (`norm.eps`: its value)."""
        if "." in axis:
            family, setting = axis.split(".", 1)
            return self.settings_of(family)[setting]
        return getattr(self, axis)

    def departures(self) -> dict[str, str]:
        """{family: member} for the families that leave their reference member."""
        return dict(self._choices)

    def settings(self) -> dict[str, Any]:
        """{"family.setting": value} for the settings that leave their member's default."""
        return {f"{family}.{setting}": value for family, setting, value in self._settings}

    def setting_defaults(self, family: str) -> dict[str, Any]:
        return FAMILIES[family].settings(getattr(self, family)) if family in FAMILIES else {}

    def settings_of(self, family: str) -> dict[str, Any]:
        """Every setting of the family's member: its defaults, with this variant's values."""
        given = {setting: value for f, setting, value in self._settings if f == family}
        return {**self.setting_defaults(family), **given}

    def resolved_settings(self) -> dict[str, Any]:
        """{"family.setting": value} for every setting of every chosen member: what a record states."""
        return {f"{family}.{setting}": value for family in FAMILIES
                for setting, value in self.settings_of(family).items()}

    def build(self, family: str, *args: Any) -> Any:
        """The family's member, built with its settings."""
        given = {setting: value for f, setting, value in self._settings if f == family}
        return FAMILIES[family].build(getattr(self, family), *args, **given)

    def build_slot(self, slot: str, *args: Any) -> Any:
        """The member of the one family plugged into an exclusive slot (`norm`, `positions`, ...)."""
        [registry] = families_in_slot(slot)
        return self.build(registry.family, *args)

    @classmethod
    def parse(cls, spec: str) -> "Variant":
        """`baseline`, or `norm=rmsnorm,pos=rope,norm.eps=1e-05,...`; families left out stay at the baseline."""
        spec = spec.strip()
        if spec in ("", "baseline"):
            return cls()
        members: dict[str, str] = {}
        texts: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, value = (s.strip() for s in part.partition("="))
            if not sep or not value:
                raise ConfigError(f"bad variant part '{part}': expected family=name, e.g. norm=rmsnorm")
            if key in members or key in texts:
                raise ConfigError(f"variant names '{key}' twice")
            (texts if "." in key else members)[key] = value
        variant = cls(**members)
        settings = {}
        for key, text in texts.items():
            family, setting = key.split(".", 1)
            variant.check_setting(family, setting)
            settings[key] = parse_typed(text, variant.setting_defaults(family)[setting], key)
        return cls(**members, **settings)

    def __str__(self) -> str:
        """`norm=layernorm,pos=learned,init=default,opt=sgd`, plus any other family it changes, then
        the settings it changes (`norm.eps=1e-05`)."""
        departures = dict(self._choices)
        parts = [f"{family}={getattr(self, family)}" for family, registry in FAMILIES.items()
                 if registry.always_named or family in departures]
        return ",".join(parts + [f"{f}.{s}={format_value(v)}" for f, s, v in self._settings])

    @property
    def is_baseline(self) -> bool:
        return not self._choices and not self._settings

    def as_dict(self) -> dict[str, str]:
        """Every registered family's member, in registration order."""
        return {family: getattr(self, family) for family in FAMILIES}
