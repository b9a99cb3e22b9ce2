"""Per-variant tuning (ablations/study/tuning.py): the pick sees only the tuning seeds; boundary alarms; extensions."""
import math
import re

import pytest

from ablations.study.axes import Point
from ablations.execution.cells import cell_key
from ablations.study.grid import build_grid
from ablations.execution.store import ResultsDir
from ablations.study.tuning import Tune, boundary_alarm, extension, parse_tune, winner, with_setting
from mainrun.config import TrainConfig
from mainrun.variant import Variant
from mainrun.errors import ConfigError

POINTS = [Point(Variant(opt="adamw")), Point(Variant(opt="adamw", init="kaiming"))]


def write(store, point, seed, loss):
    record = {"point": str(point), "variant": str(point.variant), "seed": seed, "status": "ok",
              "val_loss": loss, "val_coverage": 0.9, "val_loss_full": loss}
    store.write_cell(cell_key(point, seed), record, [])


def test_the_pick_uses_only_the_tuning_seeds(tmp_path):
    store = ResultsDir(tmp_path)
    tune = Tune("lr", (1e-4, 1e-3), tune_seeds=(1,), eval_seeds=(2, 3))
    for point in POINTS:
        # On the tuning seed 1e-4 wins; on the evaluation seeds 1e-3 would win by far.
        write(store, with_setting(point, "lr", 1e-4), 1, 2.0)
        write(store, with_setting(point, "lr", 1e-3), 1, 2.1)
        for seed in (2, 3):
            write(store, with_setting(point, "lr", 1e-4), seed, 3.0)
            write(store, with_setting(point, "lr", 1e-3), seed, 1.0)
    assert tune.choose(store, POINTS) == {p: 1e-4 for p in POINTS}


def test_a_point_without_a_finished_candidate_is_left_out(tmp_path):
    store = ResultsDir(tmp_path)
    tune = Tune("lr", (1e-4, 1e-3), tune_seeds=(1,), eval_seeds=(2,))
    write(store, with_setting(POINTS[0], "lr", 1e-3), 1, 2.0)
    assert tune.choose(store, POINTS) == {POINTS[0]: 1e-3}
    assert tune.evaluation_points(POINTS, {POINTS[0]: 1e-3}) == [with_setting(POINTS[0], "lr", 1e-3), *POINTS]


def test_winner_and_boundary_alarms():
    assert winner({1e-4: 2.0, 3e-4: 1.9, 1e-3: 1.95}) == 3e-4
    assert boundary_alarm("lr", [1e-4, 3e-4, 1e-3], 3e-4) is None
    assert boundary_alarm("lr", [1e-4, 3e-4, 1e-3], 1e-3) == "lr: best at the top of its grid (0.001); extend it"
    assert boundary_alarm("weight_decay", [0.05, 0.1], 0.05) == \
        "weight-decay: best at the bottom of its grid (0.05); extend it"
    assert boundary_alarm("norm", ["layernorm", "rmsnorm"], "rmsnorm") is None


BAD_TUNES = {
    "a family": ("opt=sgd,adamw", 1, "4", "--tune needs a numeric hyperparameter"),
    "no seeds left to measure": ("lr=1e-4,1e-3", 1, "1", "needs more to measure: pass --seeds 4"),
    "one value": ("lr=1e-3", 1, "4", "needs at least two values"),
    "unknown axis": ("speed=1,2", 1, "4", "unknown axis 'speed'"),
    "zero tuning seeds": ("lr=1e-4,1e-3", 0, "4", "--tune-seeds must be positive"),
}


@pytest.mark.parametrize("case", list(BAD_TUNES))
def test_bad_tune_specs(case):
    spec, tune_seeds, seeds, message = BAD_TUNES[case]
    from ablations.study.grid import parse_seeds
    grid = build_grid(None, ["opt=adamw"], base=TrainConfig.from_scale("tiny"))
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_tune(spec, tune_seeds, parse_seeds(seeds), grid, {})


def test_tune_conflicts_with_an_axis_or_a_flag():
    grid = build_grid(None, ["lr=1e-3,1e-2"], base=TrainConfig.from_scale("tiny"))
    with pytest.raises(ConfigError, match="both an axis of the grid and tuned"):
        parse_tune("lr=1e-4,1e-3", 1, [1, 2], grid, {})
    grid = build_grid(None, ["opt=adamw"], base=TrainConfig.from_scale("tiny"))
    with pytest.raises(ConfigError, match="given both as --lr and as --tune"):
        parse_tune("lr=1e-4,1e-3", 1, [1, 2], grid, {"lr": 1e-3})


def test_with_setting_replaces_one_setting_and_keeps_the_others():
    point = Point(Variant(opt="adamw"), (("lr", 1e-3), ("dropout", 0.0)))
    assert with_setting(point, "lr", 1e-2).settings == (("dropout", 0.0), ("lr", 1e-2))
    assert with_setting(point, "batch_size", 16).settings == (("lr", 1e-3), ("dropout", 0.0), ("batch_size", 16))


def test_a_tune_round_trips_through_run_json():
    tune = Tune("lr", (1e-4, 1e-3), (1337,), (1338, 1339), "val_bpb", extend=2, shared_default=False)
    assert tune.describe() == {"axis": "lr", "values": [1e-4, 1e-3], "tune_seeds": [1337],
                               "eval_seeds": [1338, 1339], "metric": "val_bpb", "extend": 2, "shared_default": False}
    assert Tune.from_run(tune.describe()) == tune
    older = {k: v for k, v in tune.describe().items() if k not in ("metric", "extend", "shared_default")}
    # run.json before --metric and extensions existed: picks by the table's metric, never extended, and the
    # shared default trained.
    assert (Tune.from_run(older).metric, Tune.from_run(older).extend, Tune.from_run(older).shared_default) == \
        ("auto", 0, True)


@pytest.mark.parametrize("levels, top, expected", [
    ([1e-3, 3.16e-3, 1e-2], True, 0.0316),  # the grid's own geometric ratio, 3 significant digits
    ([1e-3, 3.16e-3, 1e-2], False, 0.000316),
    ([1e-4, 1e-3], True, 1e-2),
    ([0.0, 0.1, 0.2], True, 0.30000000000000004),  # a grid through zero steps arithmetically
    ([0.0, 0.1, 0.2], False, -0.1),
    ([16, 32, 64], True, 128),  # integers stay integers
    ([1, 2], False, None),  # half of 1 rounds to 0: no smaller batch
    ([1e-3], True, None),
])
def test_the_next_candidate_beyond_an_end_follows_the_grid(levels, top, expected):
    value = extension(levels, top)
    assert value == pytest.approx(expected) if expected is not None else value is None
    assert type(value) is type(expected) or expected is None


def tuned(store, point, losses):
    for lr, loss in losses.items():
        write(store, with_setting(point, "lr", lr), 1, loss)


def test_the_search_extends_a_pick_at_an_end_while_its_cells_exist_up_to_the_bound(tmp_path):
    store, point = ResultsDir(tmp_path), POINTS[0]
    tune = Tune("lr", (1e-3, 1e-2), tune_seeds=(1,), eval_seeds=(2,), extend=2)
    tuned(store, point, {1e-3: 2.0, 1e-2: 1.9})
    first = tune.search(store, [point])[0][point]
    assert (first.tried, first.pending, first.best) == ((1e-3, 1e-2), 0.1, 1e-2)
    tuned(store, point, {0.1: 1.8})
    second = tune.search(store, [point])[0][point]
    assert (second.tried, second.extensions, second.pending) == ((1e-3, 1e-2, 0.1), (0.1,), 1.0)
    tuned(store, point, {1.0: 1.7})
    bound = tune.search(store, [point])[0][point]
    assert (bound.extensions, bound.pending, bound.best) == ((0.1, 1.0), None, 1.0)
    assert bound.alarm("lr") == "lr: best at the top of its grid (1.0) after 2 extensions; extend it"


def test_an_extension_that_diverged_makes_the_pick_interior(tmp_path):
    store, point = ResultsDir(tmp_path), POINTS[0]
    tune = Tune("lr", (1e-3, 1e-2), tune_seeds=(1,), eval_seeds=(2,), extend=2)
    tuned(store, point, {1e-3: 2.0, 1e-2: 1.9})
    diverged = {"point": str(with_setting(point, "lr", 0.1)), "variant": str(point.variant), "seed": 1,
                "status": "diverged", "val_loss": None}
    store.write_cell(cell_key(with_setting(point, "lr", 0.1), 1), diverged, [])
    search = tune.search(store, [point])[0][point]
    assert (search.best, search.pending, search.alarm("lr")) == (1e-2, None, None)
    assert tune.choose(store, [point]) == {point: 1e-2}


def test_without_extensions_the_pick_stays_at_the_end_with_its_alarm(tmp_path):
    store, point = ResultsDir(tmp_path), POINTS[0]
    tune = Tune("lr", (1e-3, 1e-2), tune_seeds=(1,), eval_seeds=(2,))
    tuned(store, point, {1e-3: 2.0, 1e-2: 1.9})
    search = tune.search(store, [point])[0][point]
    assert search.pending is None and search.alarm("lr") == "lr: best at the top of its grid (0.01); extend it"


def test_a_tuned_study_trains_the_extensions_then_measures_each_pick(tmp_path, monkeypatch, capsys):
    from ablations import run
    from tests.ablations.synthetic import install

    # SGD's best lr is 0.1, past the grid's top; AdamW's 1e-3, inside it.
    backend = install(monkeypatch, lambda cfg: 3.0 + abs(math.log10(cfg.optim.lr / (0.1 if cfg.variant.opt == "sgd"
                                                                                     else 1e-3))))
    argv = ["--axes", "opt=sgd,adamw", "--tune", "lr=1e-4,1e-3,1e-2", "--seeds", "3", "--no-shared-default",
            "--scale", "tiny", "--data", "embedded", "--no-plot", "--out", str(tmp_path / "study")]
    assert run.main(argv) == 0
    lrs = [(c.variant.opt, c.config.optim.lr, c.seed) for c in backend.trained]
    assert ("sgd", 0.1, 1337) in lrs and ("sgd", 1.0, 1337) in lrs  # extended twice: 0.1 wins, 1.0 is past it
    assert {(opt, lr) for opt, lr, seed in lrs if seed != 1337} == {("sgd", 0.1), ("adamw", 1e-3)}
    assert len(backend.trained) == 2 * 3 + 2 + 2 * 2  # the grid, two extensions, each pick on two seeds
    out = capsys.readouterr().out
    assert "extending lr where the pick is at an end: baseline -> 0.1" in out
    assert "\ntuned lr: baseline -> 0.1; opt=adamw -> 0.001\n" in out  # the picks, before they are measured
    text = (tmp_path / "study" / "results.md").read_text()
    assert "up to 2 new value(s) per variant: baseline (0.1, 1.0)" in text and "shared default" not in text
    assert "| lr=1.0 " in text  # the tuning table has a column for every candidate tried
    trained = len(backend.trained)
    assert run.main(argv) == 0 and len(backend.trained) == trained  # the replay finds the same extensions


def test_a_pick_left_at_an_end_is_announced_so_before_it_is_measured(tmp_path, monkeypatch, capsys):
    from ablations import run
    from tests.ablations.synthetic import install

    install(monkeypatch, lambda cfg: 3.0 + abs(math.log10(cfg.optim.lr / (0.1 if cfg.variant.opt == "sgd" else 1e-3))))
    assert run.main(["--axes", "opt=sgd,adamw", "--tune", "lr=1e-4,1e-3,1e-2", "--tune-extend", "0", "--seeds", "2",
                     "--no-shared-default", "--scale", "tiny", "--data", "embedded", "--no-plot",
                     "--out", str(tmp_path / "study")]) == 0
    assert "\ntuned lr: baseline -> 0.01 (still at an end); opt=adamw -> 0.001\n" in capsys.readouterr().out
    text = (tmp_path / "study" / "results.md").read_text()
    assert "\n## Tuning: lr per variant, on seed 1337\n" in text  # one seed, named so


def test_tune_options_without_tune_are_refused():
    from ablations.study.study import Study

    for option in ({"tune_extend": 1}, {"shared_default": False}, {"tune_seeds": 2}):
        with pytest.raises(ConfigError, match="goes with --tune, which is not given"):
            Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", data="embedded", **option)
    with pytest.raises(ConfigError, match="--tune-extend must be >= 0"):
        Study.from_options(axes=["opt=sgd,adamw"], tune="lr=1e-3,1e-2", tune_extend=-1, scale="tiny", data="embedded")


def test_parse_tune_takes_the_metric_it_is_given():
    grid = build_grid(None, ["opt=adamw"], base=TrainConfig.from_scale("tiny"))
    assert parse_tune("lr=1e-4,1e-3", 1, [1, 2, 3], grid, {}).metric == "auto"
    tune = parse_tune("lr=1e-4,1e-3", 2, [1, 2, 3], grid, {}, "val_loss_full")
    assert (tune.metric, tune.tune_seeds, tune.eval_seeds, tune.values) == ("val_loss_full", (1, 2), (3,), (1e-4, 1e-3))


def test_a_resumed_tuned_study_measures_as_wide_as_its_cells_left_not_its_finished_tuning(tmp_path, monkeypatch):
    import ablations.execution.engine
    from ablations import run
    from tests.ablations.synthetic import Synthetic

    backend, widths = Synthetic(lambda cfg: 3.0 + cfg.optim.lr), []
    monkeypatch.setattr(ablations.execution.engine, "usable_cores", lambda: 4)
    monkeypatch.setattr(ablations.execution.engine, "Local", lambda workers, **_: widths.append(workers) or backend)
    argv = ["--axes", "opt=sgd,adamw", "--tune", "lr=1e-3,1e-2", "--scale", "tiny", "--data", "embedded",
            "--no-plot", "--out", str(tmp_path / "study")]
    assert run.main([*argv, "--seeds", "2"]) == 0
    widths.clear()
    # A third seed: the tuning phase has nothing left, the measuring phase 4 cells (2 points, tuned and default).
    assert run.main([*argv, "--seeds", "3"]) == 0
    assert widths[-1] == 4  # the measuring phase's pool (the tuning phase's, with nothing to run, is 1 wide)
