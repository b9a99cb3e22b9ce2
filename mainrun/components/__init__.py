"""Component families, each a registry of named factories, and the family registry itself.

To add a component: write its factory in the family's module and decorate it with
`@REGISTRY.register("name")`. To add a family: make a `Registry(key, reference=..., slot=...)`,
register its members, then `register_family(registry)`. Either works from a module outside the
package loaded with `--plugin some.module`; the new name or family then works in `--variant`,
`--axes`, grids, tables, effects, the registry-wide tests and the benchmarks.

The slots, i.e. where a family plugs in, and what its factories take:

| slot | factory | families |
|---|---|---|
| `norm` | `(d_model) -> nn.Module`, every norm of the model | one: `norm` |
| `positions` | `(block_size, d_model, n_head) -> Positions` | one: `pos` |
| `mlp` | `(d_model, dropout) -> nn.Module`, each block's feed-forward | one: `mlp` |
| `mask` | `(eos_id) -> AttentionMask`: ids -> None (causal) or a (B, 1, T, T) bool mask | one: `mask` |
| `qknorm` | `(head_dim) -> nn.Module`, on q and on k before the positions | one: `qknorm` |
| `build` | `(model) -> None`: edits the built model in place (swap submodules), before init | any number |
| `init` | `(model) -> None`: re-initialises weights, before the head is tied | `init`, `param`, then others |
| `optimizer` | `(model, max_steps, lr=..., weight_decay=...) -> (optimizer, scheduler)` | one: `opt` |

Families in a shared slot run in registration order. A family's reference member must leave the
model exactly as the reference builds it (for `build`, usually a no-op), so that the baseline stays
the reference program weight for weight.
"""
from __future__ import annotations

from ..errors import ConfigError
from ..registry import Registry
from .inits import INITS
from .masks import MASKS
from .mlps import MLPS
from .norms import NORMS
from .optimizers import OPTIMIZERS
from .parametrizations import PARAMETRIZATIONS
from .positions import POSITIONS
from .qknorms import QKNORMS

SLOTS = ("norm", "positions", "mlp", "mask", "qknorm", "build", "init", "optimizer")
EXCLUSIVE_SLOTS = ("norm", "positions", "mlp", "mask", "qknorm", "optimizer")
# Words a variant or a grid axis already means something by.
RESERVED = {"variant", "seed", "seeds", "baseline", "reference", "design", "scale", "data",
            # Variant's own attributes
            "replace", "level", "departures", "parse", "as_dict", "is_baseline", "settings", "setting_defaults",
            "settings_of", "resolved_settings", "build", "build_slot", "check_setting"}

# Family key (as written in a variant) -> its registry, in registration order: the column order of
# tables and the order of parts in variant strings and cell keys.
FAMILIES: dict[str, Registry] = {}


def register_family(registry: Registry) -> Registry:
    """Make a registry a component family; validated so that a bad plugin fails at import, by name."""
    key = registry.family
    if FAMILIES.get(key) is registry:
        return registry
    if key in FAMILIES:
        raise ConfigError(f"component family '{key}' is already registered")
    if not key.isidentifier() or key.startswith("_"):
        raise ConfigError(f"bad component family key '{key}': use a lower-case identifier, e.g. act")
    if key in RESERVED or _is_setting(key):
        raise ConfigError(f"component family key '{key}' is taken by a hyperparameter or option; choose another")
    if registry.slot not in SLOTS:
        raise ConfigError(f"family '{key}': unknown slot '{registry.slot}'; valid: {', '.join(SLOTS)}")
    if registry.slot in EXCLUSIVE_SLOTS:
        holder = next((f for f, r in FAMILIES.items() if r.slot == registry.slot), None)
        if holder is not None:
            raise ConfigError(f"family '{key}': slot '{registry.slot}' is held by family '{holder}'")
    if registry.reference not in registry:
        raise ConfigError(f"family '{key}': its reference member '{registry.reference}' is not registered")
    FAMILIES[key] = registry
    return registry


def _is_setting(key: str) -> bool:
    """A training setting's name (lr, dropout): imported here, not above, because the config module
    imports this package. The built-in families register before it exists and need no check."""
    import sys

    config = sys.modules.get("mainrun.config")
    return config is not None and hasattr(config, "SETTINGS") and (key in config.SETTINGS or
                                                                    key in config.CONTEXT_SETTINGS)


def families_in_slot(slot: str) -> list[Registry]:
    return [registry for registry in FAMILIES.values() if registry.slot == slot]


for _builtin in (NORMS, POSITIONS, INITS, OPTIMIZERS, MLPS, MASKS, QKNORMS, PARAMETRIZATIONS):
    register_family(_builtin)

# The members each family had when the package was imported. A grid that names its levels (a
# study, `ablations.study.grid.STUDIES`) adds any member registered after this (by a plugin).
BUILTIN_MEMBERS = {family: tuple(registry.names()) for family, registry in FAMILIES.items()}

__all__ = ["BUILTIN_MEMBERS", "FAMILIES", "INITS", "MASKS", "MLPS", "NORMS", "OPTIMIZERS", "PARAMETRIZATIONS", "POSITIONS", "QKNORMS",
           "SLOTS", "families_in_slot", "register_family"]
