"""Tuning a nuisance hyperparameter per variant, and the choice rules the staged sweep shares.

    python -m ablations.run --axes init=default,kaiming opt=adamw --tune lr=1e-4,3e-4,1e-3 --seeds 4

Every point of the grid is trained at each candidate value on the first `--tune-seeds` seeds; each
point's value is the one with the lowest mean metric there; the table and the effects then use the
other seeds only, each point at its own value, so the luck of the pick does not inflate the result
(the tuning playbook's rule: tune the nuisance hyperparameters separately for every setting of the
scientific ones). The same points at the shared default value are trained on those seeds too, so
the report sets the effects at the default next to the effects after tuning.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from mainrun.components import FAMILIES
from mainrun.errors import ConfigError

from .axes import Level, Point, axis_label, level_text, parse_axes, same_level
from .cells import cell_key, finished_value
from .metrics import choose_metric
from .store import ResultsDir


def with_setting(point: Point, axis: str, value: Level) -> Point:
    """The point with one more hyperparameter fixed (or its value replaced)."""
    settings = [(a, v) for a, v in point.settings if a != axis]
    return Point(point.variant, (*settings, (axis, value)))


def winner(means: dict[Any, float]) -> Any:
    """The level with the lowest mean metric (ties: the first listed)."""
    return min(means, key=lambda level: means[level])


def boundary_alarm(axis: str, levels: list[Level], best: Level) -> str | None:
    """An alarm when the best value of a numeric grid is its smallest or largest: the optimum may lie
    beyond it, so the grid should be extended before the value is trusted."""
    if isinstance(best, str) or len(levels) < 2:
        return None
    if same_level(best, max(levels)):
        return f"{axis_label(axis)}: best at the top of its grid ({level_text(best)}); extend it"
    if same_level(best, min(levels)):
        return f"{axis_label(axis)}: best at the bottom of its grid ({level_text(best)}); extend it"
    return None


@dataclass(frozen=True)
class Tune:
    axis: str  # a TrainConfig field
    values: tuple[Level, ...]
    tune_seeds: tuple[int, ...]
    eval_seeds: tuple[int, ...]
    metric: str = "auto"

    @property
    def axis_label(self) -> str:
        return axis_label(self.axis)

    def tuning_points(self, points: list[Point]) -> list[Point]:
        return [with_setting(p, self.axis, v) for p in points for v in self.values]

    def evaluation_points(self, points: list[Point], chosen: dict[Point, Level]) -> list[Point]:
        """Each point at its chosen value, then each at the shared default (the point as given)."""
        return [with_setting(p, self.axis, chosen[p]) for p in points if p in chosen] + list(points)

    def means(self, store: ResultsDir, points: list[Point]) -> tuple[dict[Point, dict[Level, float]], str]:
        """Each point's mean metric at each candidate over the tuning seeds (candidates with no ok
        cell left out), and the metric used."""
        cells = {(p, v, s): store.read_record(cell_key(with_setting(p, self.axis, v), s))
                 for p in points for v in self.values for s in self.tune_seeds}
        metric, _ = choose_metric([r for r in cells.values() if r is not None], self.metric)
        found: dict[Point, dict[Level, float]] = {}
        for p in points:
            by_value = {}
            for v in self.values:
                losses = [x for s in self.tune_seeds if (x := finished_value(cells[p, v, s], metric)) is not None]
                if losses:
                    by_value[v] = statistics.fmean(losses)
            found[p] = by_value
        return found, metric

    def choose(self, store: ResultsDir, points: list[Point]) -> dict[Point, Level]:
        """Each point's value: the lowest mean over the tuning seeds; a point with no finished
        candidate has none and is left out of what follows."""
        means, _ = self.means(store, points)
        return self.chosen_from(means)

    @staticmethod
    def chosen_from(means: dict[Point, dict[Level, float]]) -> dict[Point, Level]:
        return {p: winner(by_value) for p, by_value in means.items() if by_value}

    def describe(self) -> dict[str, Any]:
        return {"axis": self.axis, "values": list(self.values), "tune_seeds": list(self.tune_seeds),
                "eval_seeds": list(self.eval_seeds), "metric": self.metric}

    @classmethod
    def from_run(cls, spec: dict[str, Any]) -> "Tune":
        return cls(spec["axis"], tuple(spec["values"]), tuple(spec["tune_seeds"]), tuple(spec["eval_seeds"]),
                   spec.get("metric", "auto"))


def parse_tune(spec: str | None, tune_seeds: int, seeds: list[int], grid: Any, overrides: dict[str, Any],
               metric: str = "auto") -> Tune | None:
    if spec is None:
        return None
    (axis, values), = parse_axes([spec]).items()
    if axis in FAMILIES:
        raise ConfigError(f"--tune needs a numeric hyperparameter (e.g. lr=1e-4,3e-4,1e-3), not the family '{axis}'")
    if axis in grid.axes:
        raise ConfigError(f"{axis_label(axis)} is both an axis of the grid and tuned; drop one")
    if axis in overrides:
        raise ConfigError(f"{axis_label(axis)} is given both as --{axis_label(axis)} and as --tune; drop one")
    if len(values) < 2:
        raise ConfigError(f"--tune {axis_label(axis)} needs at least two values to choose from")
    if tune_seeds < 1:
        raise ConfigError(f"--tune-seeds must be positive, got {tune_seeds}")
    if len(seeds) <= tune_seeds:
        raise ConfigError(f"--tune uses the first {tune_seeds} of the {len(seeds)} seeds to choose and needs more "
                          f"to measure: pass --seeds {tune_seeds + 3} (or more)")
    return Tune(axis, tuple(values), tuple(seeds[:tune_seeds]), tuple(seeds[tune_seeds:]), metric)
