"""The training hyperparameters a user can set by flag, and sweep as axes of a grid.

One table, read by the CLIs (`--lr`, `--weight-decay`, ...), by `ablations` (`--axes lr=1e-4,3e-4`)
and by the family registry (a component family may not take a hyperparameter's name).
"""
from __future__ import annotations

from .errors import ConfigError

# TrainConfig field -> type. The scale preset supplies every value that is not given.
HYPERPARAMETERS: dict[str, type] = {
    "num_titles": int, "val_frac": float, "vocab_size": int, "block_size": int, "batch_size": int,
    "grad_accum": int, "n_layer": int, "n_head": int, "d_model": int, "dropout": float, "lr": float,
    "weight_decay": float, "epochs": int, "max_steps": int, "evals_per_epoch": int, "seed": int,
    "threads": int,
}

# What a grid can sweep: `seed` has its own option (--seeds), `threads` changes speed, not results.
AXIS_HYPERPARAMETERS = tuple(name for name in HYPERPARAMETERS if name not in ("seed", "threads"))


def flag_name(field: str) -> str:
    """`weight_decay` -> `weight-decay`, as written on the command line and in grid axes."""
    return field.replace("_", "-")


def field_name(name: str) -> str | None:
    """The TrainConfig field a sweepable hyperparameter name (flag or field spelling) refers to."""
    field = name.strip().replace("-", "_")
    return field if field in AXIS_HYPERPARAMETERS else None


def parse_value(field: str, text: str) -> int | float:
    """A value typed as its flag types it: `lr=1e-3` a float, `batch-size=32` an int."""
    kind = HYPERPARAMETERS[field]
    try:
        return kind(text.strip())
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise ConfigError(f"bad value '{text.strip()}' for {flag_name(field)}: expected {expected}") from None


def format_value(value: int | float) -> str:
    """The shortest text that reads back as the same value: 0.001, 0.0003, 1e-05, 64."""
    return repr(value)
