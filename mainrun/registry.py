"""A registry maps a component name to the factory that builds it.

One registry per component family (see `mainrun.components`). Names, not classes, travel through
configs, logs and result tables, so a variant stays serialisable and a new component shows up in
grids, tests and benchmarks as soon as it is registered.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

F = TypeVar("F", bound=Callable)


class Registry(Generic[F]):
    def __init__(self, family: str):
        self.family = family
        self._factories: dict[str, F] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: `@NORMS.register("rmsnorm")` above a factory function."""

        def add(factory: F) -> F:
            if name in self._factories and self._factories[name] is not factory:
                raise ConfigError(f"{self.family} '{name}' is already registered")
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

    def names(self) -> list[str]:
        return list(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}, {self.names()})"
