"""Which cells a run trains: a list of variants (from a grid name or `--axes`) times a list of seeds.

Grids are products over registry names, read when the grid is built, so a component registered by
a plugin joins `--grid full` and `--grid single` with no edit here.
"""
from __future__ import annotations

import itertools

from mainrun.components import FAMILIES
from mainrun.config import Variant
from mainrun.errors import ConfigError

GRIDS = ("full", "single", "baseline")
REFERENCE_SEED = 1337
# A count above this is almost certainly a seed typed without a comma (`--seeds 1337`).
MAX_SEED_COUNT = 100


def product(levels: dict[str, list[str]]) -> list[Variant]:
    """Every combination of the given levels; families not named stay at the baseline."""
    families = list(levels)
    return [Variant(**dict(zip(families, names))) for names in itertools.product(*levels.values())]


def full_grid() -> list[Variant]:
    return product({family: registry.names() for family, registry in FAMILIES.items()})


def single_grid() -> list[Variant]:
    """The baseline, then each variant that differs from it in exactly one family."""
    baseline = Variant()
    swaps = [Variant(**{family: name})
             for family, registry in FAMILIES.items()
             for name in registry.names() if name != getattr(baseline, family)]
    return [baseline, *swaps]


def parse_axes(specs: list[str]) -> dict[str, list[str]]:
    """`["norm=layernorm,rmsnorm", "pos=rope"]` -> {"norm": [...], "pos": [...]}, validated."""
    levels: dict[str, list[str]] = {}
    for spec in specs:
        family, sep, names_part = (s.strip() for s in spec.partition("="))
        if not sep:
            raise ConfigError(f"bad axis '{spec}': expected family=name[,name...], e.g. norm=layernorm,rmsnorm")
        if family not in FAMILIES:
            raise ConfigError(f"unknown component family '{family}'; valid: {', '.join(FAMILIES)}")
        if family in levels:
            raise ConfigError(f"axis '{family}' is given twice")
        valid = ", ".join(FAMILIES[family].names())
        if not names_part:
            raise ConfigError(f"axis '{family}' is empty; name at least one of: {valid}")
        names = [n.strip() for n in names_part.split(",")]
        if "" in names:
            raise ConfigError(f"axis '{family}' has an empty name (a stray comma?); valid: {valid}")
        for name in names:
            FAMILIES[family].get(name)  # raises ConfigError listing the valid names
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"axis '{family}' names {', '.join(duplicates)} more than once")
        levels[family] = names
    return levels


def build_grid(grid: str | None, axes: list[str] | None) -> tuple[str, list[Variant]]:
    """The grid's name (used in the default output folder) and its variants."""
    if grid is not None and axes:
        raise ConfigError("give either --grid or --axes, not both")
    if axes:
        return "axes", product(parse_axes(axes))
    grid = grid or "full"
    if grid == "full":
        return grid, full_grid()
    if grid == "single":
        return grid, single_grid()
    if grid == "baseline":
        return grid, [Variant()]
    raise ConfigError(f"unknown grid '{grid}'; valid: {', '.join(GRIDS)}, or --axes family=name,...")


def swap_label(variant: Variant) -> str:
    """What a variant changes relative to the baseline, e.g. `norm=rmsnorm, opt=adamw`."""
    baseline = Variant()
    swaps = [f"{f}={getattr(variant, f)}" for f in FAMILIES if getattr(variant, f) != getattr(baseline, f)]
    return ", ".join(swaps) or "baseline"


def count(n: int, noun: str) -> str:
    """`count(1, "seed")` -> "1 seed", `count(3, "seed")` -> "3 seeds"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


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
