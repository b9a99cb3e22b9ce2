"""A registry maps a component name to the factory that builds it; a family is a registry.

Each component family (see `mainrun.components`) is one `Registry`: its key as written in a
variant (`norm`), its reference member (the reference program's choice, which every variant uses
unless told otherwise) and the slot where it plugs into the model or the training. Names, not
classes, travel through configs, logs and result tables, so a variant stays serialisable and a
new component shows up in grids, tests and benchmarks as soon as it is registered.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

F = TypeVar("F", bound=Callable)


class Registry(Generic[F]):
    def __init__(self, family: str, *, reference: str, slot: str, always_named: bool = False):
        """`always_named`: the family is written in variant strings and cell keys even at its reference
        member. Only the plan's four original families are, so that strings and result folders made
        before families became pluggable keep their names; a family added later appears in them only
        when it leaves its reference member."""
        self.family = family
        self.reference = reference
        self.slot = slot
        self.always_named = always_named
        self._factories: dict[str, F] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: `@NORMS.register("rmsnorm")` above a factory function."""

        def add(factory: F) -> F:
            if name in self._factories and self._factories[name] is not factory:
                raise ConfigError(f"{self.family} '{name}' is already registered")
            if not name or any(c in name for c in ",= /"):
                raise ConfigError(f"bad {self.family} name '{name}': no commas, '=', spaces or slashes")
            self._factories[name] = factory
            return factory

        return add

    def get(self, name: str) -> F:
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.family} '{name}'; valid: {', '.join(self.names())}"
            ) from None

    def settings(self, name: str) -> dict[str, Any]:
        """A member's own settings and their defaults: the factory's keyword-only parameters (`eps`
        of a norm, `base` of rope, `warmup` of a recipe). Each can be set in a variant
        (`norm=rmsnorm,norm.eps=1e-5`) and swept as an axis (`--axes norm.eps=1e-8,1e-5`)."""
        parameters = inspect.signature(self.get(name)).parameters.values()
        return {p.name: p.default for p in parameters
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty}

    def build(self, name: str, *args: Any, **settings: Any) -> Any:
        """The member's factory called with its arguments and the settings that leave its defaults."""
        return self.get(name)(*args, **settings)

    def names(self) -> list[str]:
        return list(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}, reference={self.reference!r}, slot={self.slot!r}, {self.names()})"
