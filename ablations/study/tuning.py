"""Tuning a nuisance hyperparameter per variant, and the choice rules the staged sweep shares.

    python -m ablations.run --axes init=default,kaiming opt=adamw --tune lr=1e-4,3e-4,1e-3 --seeds 4

Every point of the grid is trained at each candidate value on the first `--tune-seeds` seeds; each
point's value is the one with the lowest mean metric there; the table and the effects then use the
other seeds only, each point at its own value, so the luck of the pick does not inflate the result
(the tuning playbook's rule: tune the nuisance hyperparameters separately for every setting of the
scientific ones). The same points at the shared default value are trained on those seeds too, so
the report sets the effects at the default next to the effects after tuning.

A pick at an end of the candidates is not an optimum: the best may lie beyond. Such a point's
candidates are extended by the grid's own ratio (1e-3, 3e-3, 1e-2 -> 3.16e-2 -> 1e-1), those cells
trained, and the pick made again, up to `extend` new values per point (`--tune-extend`, default 2).
The extensions are a function of the cells, replayed the same way by the plan and by the summary
(`Tune.search`), so a resumed or re-rendered folder finds the same ones. A pick still at an end after
the bound keeps its alarm, and the tables mark it.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from mainrun.components import FAMILIES
from mainrun.errors import ConfigError

from .axes import Level, Point, axis_label, level_text, parse_axes, same_level
from ..execution.cells import cell_key, finished_value
from ..analysis.metrics import choose_metric
from ..execution.store import ResultsDir

# New candidates per point at most when a pick is at an end of the grid (--tune-extend).
DEFAULT_EXTEND = 2


def with_setting(point: Point, axis: str, value: Level) -> Point:
    """The point with one more hyperparameter fixed (or its value replaced)."""
    settings = [(a, v) for a, v in point.settings if a != axis]
    return Point(point.variant, (*settings, (axis, value)))


def winner(means: dict[Any, float]) -> Any:
    """The level with the lowest mean metric (ties: the first listed)."""
    return min(means, key=lambda level: means[level])


def boundary_alarm(axis: str, levels: list[Level], best: Level, extensions: int = 0) -> str | None:
    """An alarm when the best value of a numeric grid is its smallest or largest: the optimum may lie
    beyond it, so the grid should be extended before the value is trusted."""
    if isinstance(best, str) or len(levels) < 2:
        return None
    after = f" after {extensions} extension{'s' if extensions != 1 else ''}" if extensions else ""
    if same_level(best, max(levels)):
        return f"{axis_label(axis)}: best at the top of its grid ({level_text(best)}){after}; extend it"
    if same_level(best, min(levels)):
        return f"{axis_label(axis)}: best at the bottom of its grid ({level_text(best)}){after}; extend it"
    return None


def round_significant(value: float, digits: int = 3) -> float:
    return float(f"{value:.{digits}g}")


def extension(levels: list[Level], top: bool) -> Level | None:
    """The next candidate beyond an end of a numeric grid, by the grid's own step: its geometric ratio
    (3 significant digits) when every value is positive, else its arithmetic step; None when there is
    none (a single value, or an integer step that rounds to the end itself)."""
    values = sorted(float(v) for v in levels)
    if len(values) < 2 or values[0] == values[-1]:
        return None
    edge = values[-1] if top else values[0]
    if values[0] > 0:
        ratio = (values[-1] / values[0]) ** (1.0 / (len(values) - 1))
        value: float = round_significant(edge * ratio if top else edge / ratio)
    else:
        step = (values[-1] - values[0]) / (len(values) - 1)
        value = edge + step if top else edge - step
    if all(isinstance(v, int) and not isinstance(v, bool) for v in levels):
        value = round(value)
        return None if value == edge or (values[0] > 0 and value < 1) else int(value)
    return value


@dataclass(frozen=True)
class Search:
    """One point's tuning: the candidates tried (ascending), each one's mean metric over the tuning
    seeds where a cell finished ok, the extensions made, and the next candidate to train (None: done)."""

    tried: tuple[Level, ...]
    means: dict[Level, float]
    extensions: tuple[Level, ...] = ()
    pending: Level | None = None

    @property
    def best(self) -> Level | None:
        return winner(self.means) if self.means else None

    def alarm(self, axis: str) -> str | None:
        best = self.best
        return None if best is None else boundary_alarm(axis, list(self.tried), best, len(self.extensions))


@dataclass(frozen=True)
class Tune:
    axis: str  # a TrainConfig field
    values: tuple[Level, ...]
    tune_seeds: tuple[int, ...]
    eval_seeds: tuple[int, ...]
    metric: str = "auto"
    extend: int = 0  # new candidates per point at most, when its pick is at an end
    shared_default: bool = True  # also train every point at the shared default on the measuring seeds

    @property
    def axis_label(self) -> str:
        return axis_label(self.axis)

    def tuning_points(self, points: list[Point]) -> list[Point]:
        return [with_setting(p, self.axis, v) for p in points for v in self.values]

    def evaluation_points(self, points: list[Point], chosen: dict[Point, Level]) -> list[Point]:
        """Each point at its chosen value, then each at the shared default (the point as given)."""
        tuned = [with_setting(p, self.axis, chosen[p]) for p in points if p in chosen]
        return tuned + (list(points) if self.shared_default else [])

    def metric_of(self, store: ResultsDir, points: list[Point]) -> str:
        """The metric the picks rank by: `choose_metric` over the initial candidates' cells."""
        records = [r for p in points for v in self.values for s in self.tune_seeds
                   if (r := store.read_record(cell_key(with_setting(p, self.axis, v), s))) is not None]
        return choose_metric(records, self.metric)[0]

    def search(self, store: ResultsDir, points: list[Point]) -> tuple[dict[Point, Search], str]:
        """Each point's search, replayed from the cells: the initial candidates, then while the best is at
        an end and fewer than `extend` were added, the next candidate beyond it, for as long as its cells
        exist; the first missing one is `pending`. And the metric used."""
        metric = self.metric_of(store, points)
        return {p: self.search_point(store, p, metric) for p in points}, metric

    def search_point(self, store: ResultsDir, point: Point, metric: str) -> Search:
        tried, extensions = sorted(self.values), []
        means = self.means_at(store, point, tried, metric)
        while len(extensions) < self.extend and means:
            best = winner(means)
            top, bottom = same_level(best, tried[-1]), same_level(best, tried[0])
            if not (top or bottom) or isinstance(best, str):
                break
            following = extension(tried, top)
            if following is None:
                break
            if not all(store.read_record(cell_key(with_setting(point, self.axis, following), s)) is not None
                       for s in self.tune_seeds):
                return Search(tuple(tried), means, tuple(extensions), following)
            tried, extensions = sorted([*tried, following]), [*extensions, following]
            means = self.means_at(store, point, tried, metric)
        return Search(tuple(tried), means, tuple(extensions))

    def means_at(self, store: ResultsDir, point: Point, values: list[Level], metric: str) -> dict[Level, float]:
        """The point's mean metric at each value over the tuning seeds (values with no ok cell left out)."""
        found = {}
        for v in values:
            losses = [x for s in self.tune_seeds
                      if (x := finished_value(store.read_record(cell_key(with_setting(point, self.axis, v), s)), metric))
                      is not None]
            if losses:
                found[v] = statistics.fmean(losses)
        return found

    def choose(self, store: ResultsDir, points: list[Point]) -> dict[Point, Level]:
        """Each point's value: the lowest mean over the tuning seeds among every candidate tried; a point
        with no finished candidate has none and is left out of what follows."""
        searches, _ = self.search(store, points)
        return {p: s.best for p, s in searches.items() if s.best is not None}

    def describe(self) -> dict[str, Any]:
        return {"axis": self.axis, "values": list(self.values), "tune_seeds": list(self.tune_seeds),
                "eval_seeds": list(self.eval_seeds), "metric": self.metric, "extend": self.extend,
                "shared_default": self.shared_default}

    @classmethod
    def from_run(cls, spec: dict[str, Any]) -> "Tune":
        """From run.json; a folder tuned before extensions existed had none (and trained the shared default)."""
        return cls(spec["axis"], tuple(spec["values"]), tuple(spec["tune_seeds"]), tuple(spec["eval_seeds"]),
                   spec.get("metric", "auto"), spec.get("extend", 0), spec.get("shared_default", True))


def parse_tune(spec: str | None, tune_seeds: int, seeds: list[int], grid: Any, overrides: dict[str, Any],
               metric: str = "auto", extend: int = DEFAULT_EXTEND, shared_default: bool = True) -> Tune | None:
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
    if extend < 0:
        raise ConfigError(f"--tune-extend must be >= 0, got {extend}")
    if len(seeds) <= tune_seeds:
        raise ConfigError(f"--tune uses the first {tune_seeds} of the {len(seeds)} seeds to choose and needs more "
                          f"to measure: pass --seeds {tune_seeds + 3} (or more)")
    return Tune(axis, tuple(values), tuple(seeds[:tune_seeds]), tuple(seeds[tune_seeds:]), metric, extend,
                shared_default)
