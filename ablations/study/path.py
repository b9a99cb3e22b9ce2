"""Rungs on the path to a target run: every shape setting moves geometrically from the study's own
configuration (the first rung) to the target's (the last rung), together.

    python -m ablations.ladder --toward mainrun --rungs 8 --train-rungs 1-4 --scale cpu --d-model 128 ...

A ladder whose rungs only widen the model extrapolates along one axis while the target differs from
them in depth, window, vocabulary and data as well; then most of the distance to the target lies
along axes no rung varied. Here rung i of n sits at t = (i - 1) / (n - 1) of the way, in log space,
along every setting of `PATH_SETTINGS` at once:

    value_i = start^(1 - t) * target^t, rounded to an integer (at least 1)

Layers, heads and epochs are small integers, and rounding them alone would bunch the rungs (2 -> 3
layers is half as much again). So their partners absorb the rounding: the width is set so that
layers x width^2 moves geometrically, the titles so that titles x epochs does; the width is then
rounded to heads x an even head dimension (RoPE needs it even; d_model stays divisible by the
heads). Training compute is about parameters x tokens, so the rungs sit about evenly in log compute,
and the last rung is the target run itself. Every other setting (dropout, lr, evaluations, ...)
stays what the study sets it to.
"""
from __future__ import annotations

import math
from typing import Any

from mainrun.config import SCALES, TrainConfig
from mainrun.errors import ConfigError

# The settings a path moves: the model's shape, the window and batch, the vocabulary and the data.
PATH_SETTINGS = ("d_model", "n_head", "n_layer", "block_size", "batch_size", "vocab_size", "num_titles", "epochs")


def geometric(start: float, end: float, t: float) -> float:
    return start ** (1.0 - t) * end ** t


def even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def path_point(start: TrainConfig, target: TrainConfig, t: float) -> dict[str, int]:
    """The shape settings a fraction t of the way from `start` to `target`, in log space."""
    def at(name: str) -> float:
        return geometric(start.get(name), target.get(name), t)

    def product(cfg: TrainConfig, *names: str) -> float:
        return math.prod(cfg.get(n) ** (2 if n == "d_model" else 1) for n in names)

    coarse = {name: max(1, round(at(name))) for name in ("n_head", "n_layer", "epochs")}
    # The width absorbs the depth's rounding (layers x width^2 moves geometrically), the titles absorb the
    # epochs' (titles x epochs does): compute, about a product of the two, stays evenly spaced in log.
    width = math.sqrt(geometric(product(start, "n_layer", "d_model"), product(target, "n_layer", "d_model"), t)
                      / coarse["n_layer"])
    titles = geometric(product(start, "num_titles", "epochs"), product(target, "num_titles", "epochs"), t) / coarse["epochs"]
    fine = {name: max(1, round(at(name))) for name in ("block_size", "batch_size", "vocab_size")}
    return {"d_model": coarse["n_head"] * even(width / coarse["n_head"]), "n_head": coarse["n_head"],
            "n_layer": coarse["n_layer"], **{k: fine[k] for k in ("block_size", "batch_size", "vocab_size")},
            "num_titles": max(1, round(titles)), "epochs": coarse["epochs"]}


def path_rungs(start: TrainConfig, target: TrainConfig, count: int) -> list[dict[str, int]]:
    """`count` rungs from `start` (rung 1) to `target` (the last rung), each a dict of PATH_SETTINGS."""
    if count < 2:
        raise ConfigError("--rungs: a path needs at least two rungs (three to judge a trend)")
    rungs = [path_point(start, target, i / (count - 1)) for i in range(count)]
    for i, (lower, upper) in enumerate(zip(rungs, rungs[1:]), 1):
        if lower == upper:
            raise ConfigError(f"--rungs {count}: rungs {i} and {i + 1} would be the same model; ask for fewer rungs or "
                              "start further from the target")
    return rungs


def target_config(name: str) -> TrainConfig:
    if name not in SCALES:
        raise ConfigError(f"--toward {name}: unknown scale; valid: {', '.join(SCALES)}")
    return TrainConfig.from_scale(name)


def parse_rung_range(spec: str | None, count: int) -> list[int]:
    """`"1-4"` -> [1, 2, 3, 4]; `"5"` -> [5]; None -> every rung. Rungs are numbered from 1."""
    if spec is None:
        return list(range(1, count + 1))
    first, _, last = spec.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise ConfigError(f"--train-rungs {spec}: expected a rung or a range, e.g. 1-4") from None
    if not 1 <= low <= high <= count:
        raise ConfigError(f"--train-rungs {spec}: the path has rungs 1 to {count}")
    return list(range(low, high + 1))


def describe_path(start: TrainConfig, target_name: str, rungs: list[dict[str, Any]]) -> dict[str, Any]:
    """What ladder.json records of a path: where it starts, where it goes, the rule and every rung."""
    return {"toward": target_name, "start": {name: start.get(name) for name in PATH_SETTINGS},
            "rule": "geometric in every setting of the path; width = heads x an even head dimension",
            "rungs": rungs}
