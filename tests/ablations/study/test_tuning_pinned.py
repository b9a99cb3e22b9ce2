"""Pinned outputs of ablations/study/tuning.py: alarms, extensions, searches and errors, to the letter."""
import pytest

from ablations.execution.cells import cell_key
from ablations.execution.store import ResultsDir
from ablations.study.axes import Point
from ablations.study.grid import build_grid
from ablations.study.tuning import Search, Tune, boundary_alarm, extension, parse_tune, with_setting
from mainrun.config import TrainConfig
from mainrun.errors import ConfigError
from mainrun.variant import Variant

POINT = Point(Variant(opt="adamw"))


def write(store, point, seed, loss):
    record = {"point": str(point), "variant": str(point.variant), "seed": seed, "status": "ok",
              "val_loss": loss, "val_coverage": 0.9, "val_loss_full": loss}
    store.write_cell(cell_key(point, seed), record, [])


def test_boundary_alarms_to_the_letter():
    assert boundary_alarm("lr", [1e-3, 1e-2, 0.1], 1e-3, 1) == \
        "lr: best at the bottom of its grid (0.001) after 1 extension; extend it"
    assert boundary_alarm("batch_size", [4, 8], 8, 3) == \
        "batch-size: best at the top of its grid (8) after 3 extensions; extend it"
    assert boundary_alarm("lr", [1e-3], 1e-3) is None  # a single value has no end to extend
    assert Search((1e-3, 1e-2), {}).alarm("lr") is None and Search((1e-3, 1e-2), {}).best is None
    assert Search((1e-3, 1e-2), {1e-3: 2.0, 1e-2: 2.5}, (1e-3,)).alarm("lr") == \
        "lr: best at the bottom of its grid (0.001) after 1 extension; extend it"


def test_extensions_of_uneven_grids():
    assert extension([1, 1, 2], True) == 3  # sorted values whose first two are equal still have a step
    assert extension([2, 2], True) is None
    assert extension([0.1, 0.1], True) is None and extension([0.1, 0.1], False) is None  # no step at all
    assert extension([4, 8], False) == 2 and extension([2, 4], False) == 1
    assert extension([-1.0, 1.0], True) == 3.0 and extension([-1.0, 1.0], False) == -3.0
    assert extension([0, 2, 4], True) == 6 and extension([0, 2, 4], False) == -2  # integers through zero
    assert extension([1e-3, 1e-2], False) == 1e-4
    assert extension([0.2, 0.1], True) == 0.4  # sorted first


def test_the_search_extends_downwards_from_a_pick_at_the_bottom(tmp_path):
    store = ResultsDir(tmp_path)
    tune = Tune("lr", (1e-2, 1e-3), tune_seeds=(1, 2), eval_seeds=(3,), extend=1)
    for seed, shift in ((1, 0.0), (2, 0.2)):
        write(store, with_setting(POINT, "lr", 1e-3), seed, 2.0 + shift)
        write(store, with_setting(POINT, "lr", 1e-2), seed, 2.5 + shift)
    search = tune.search(store, [POINT])
    assert search == ({POINT: Search((1e-3, 1e-2), {1e-3: 2.1, 1e-2: 2.6}, (), 1e-4)}, "val_loss")
    write(store, with_setting(POINT, "lr", 1e-4), 1, 1.5)  # one tuning seed of two is not enough
    assert tune.search(store, [POINT])[0][POINT].pending == 1e-4
    write(store, with_setting(POINT, "lr", 1e-4), 2, 1.7)
    done = tune.search(store, [POINT])[0][POINT]
    assert done == Search((1e-4, 1e-3, 1e-2), {1e-4: 1.6, 1e-3: 2.1, 1e-2: 2.6}, (1e-4,), None)
    assert done.alarm("lr") == "lr: best at the bottom of its grid (0.0001) after 1 extension; extend it"
    assert tune.choose(store, [POINT]) == {POINT: 1e-4}


def test_tuning_and_evaluation_points_in_order():
    other = Point(Variant(opt="adamw", init="kaiming"))
    tune = Tune("lr", (1e-3, 1e-2), (1,), (2,))
    assert tune.axis_label == "lr" and Tune("weight_decay", (0.0, 0.1), (1,), (2,)).axis_label == "weight-decay"
    assert tune.tuning_points([POINT, other]) == [with_setting(POINT, "lr", 1e-3), with_setting(POINT, "lr", 1e-2),
                                                  with_setting(other, "lr", 1e-3), with_setting(other, "lr", 1e-2)]
    assert tune.evaluation_points([POINT, other], {other: 1e-2}) == [with_setting(other, "lr", 1e-2), POINT, other]
    alone = Tune("lr", (1e-3, 1e-2), (1,), (2,), shared_default=False)
    assert alone.evaluation_points([POINT, other], {POINT: 1e-3, other: 1e-2}) == \
        [with_setting(POINT, "lr", 1e-3), with_setting(other, "lr", 1e-2)]


def test_parse_tune_builds_the_whole_tune_and_refuses_in_exact_words():
    grid = build_grid(None, ["opt=sgd,adamw"], base=TrainConfig.from_scale("tiny"))
    assert parse_tune(None, 1, [1, 2], grid, {}) is None
    assert parse_tune("weight-decay=0.1,0.0", 1, [1, 2], grid, {}, "val_bpb", 3, False) == \
        Tune("weight_decay", (0.1, 0.0), (1,), (2,), "val_bpb", 3, False)
    assert parse_tune("lr=1e-3,1e-2", 2, [5, 6, 7, 8], grid, {}) == Tune("lr", (1e-3, 1e-2), (5, 6), (7, 8), "auto", 2, True)

    def message(spec, tune_seeds=1, seeds=(1, 2, 3), overrides=None, **kwargs):
        with pytest.raises(ConfigError) as caught:
            parse_tune(spec, tune_seeds, list(seeds), grid, overrides or {}, **kwargs)
        return str(caught.value)

    assert message("init=default,kaiming") == \
        "--tune needs a numeric hyperparameter (e.g. lr=1e-4,3e-4,1e-3), not the family 'init'"
    assert message("opt=sgd,adamw") == \
        "--tune needs a numeric hyperparameter (e.g. lr=1e-4,3e-4,1e-3), not the family 'opt'"
    lr_grid = build_grid(None, ["weight-decay=0.0,0.1"], base=TrainConfig.from_scale("tiny"))
    with pytest.raises(ConfigError) as caught:
        parse_tune("weight-decay=0.0,0.1", 1, [1, 2], lr_grid, {})
    assert str(caught.value) == "weight-decay is both an axis of the grid and tuned; drop one"
    assert message("weight-decay=0.0,0.1", overrides={"weight_decay": 0.1}) == \
        "weight-decay is given both as --weight-decay and as --tune; drop one"
    assert message("weight-decay=0.1") == "--tune weight-decay needs at least two values to choose from"
    assert message("lr=1e-3,1e-2", tune_seeds=0) == "--tune-seeds must be positive, got 0"
    assert message("lr=1e-3,1e-2", extend=-1) == "--tune-extend must be >= 0, got -1"
    assert message("lr=1e-3,1e-2", tune_seeds=2, seeds=(1, 2)) == \
        "--tune uses the first 2 of the 2 seeds to choose and needs more to measure: pass --seeds 5 (or more)"
    assert parse_tune("lr=1e-3,1e-2", 1, [1, 2], grid, {}, extend=0).extend == 0
