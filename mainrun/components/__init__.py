"""The four component families a variant chooses from, one registry each.

To add a component: write its factory in the family's module and decorate it with
`@REGISTRY.register("name")`. It then appears in `Variant` validation, grids, tests and
benchmarks. Components from outside the package register the same way from a module loaded with
`--plugin some.module`.
"""
from .inits import INITS
from .norms import NORMS
from .optimizers import OPTIMIZERS
from .positions import POSITIONS

# Family key (as written in a variant string) -> registry. The order is the column order of tables.
FAMILIES = {"norm": NORMS, "pos": POSITIONS, "init": INITS, "opt": OPTIMIZERS}

__all__ = ["FAMILIES", "INITS", "NORMS", "OPTIMIZERS", "POSITIONS"]
