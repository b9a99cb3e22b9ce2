"""The staged sweep's decisions (ablations/sweep.py) on synthetic cells, and its bad input."""
import re

import pytest

from ablations.cells import cell_key
from ablations.store import ResultsDir
from ablations.sweep import Stage, current_value, decide, final_seeds_for, parse_stages, stage_grid, with_values
from mainrun.config import TrainConfig, Variant
from mainrun.errors import ConfigError

SEEDS = [1, 2, 3]
BASE = TrainConfig.from_scale("tiny", variant=Variant(opt="adamw"))


def stage_with(tmp_path, losses_by_level, current=3e-4, axis="lr"):
    """A stage folder whose cells have the given per-seed losses."""
    levels = list(losses_by_level)
    grid = stage_grid(BASE.variant, axis, levels, BASE, current)
    store = ResultsDir(tmp_path)
    for point in grid.points:
        for seed, loss in zip(SEEDS, losses_by_level[point.level(axis)]):
            store.write_cell(cell_key(point, seed), {"point": str(point), "variant": str(point.variant),
                                                     "seed": seed, "status": "ok", "val_loss": loss,
                                                     "val_coverage": 0.9, "val_loss_full": loss}, [])
    stage = Stage(1, axis, levels, current, added_current=False)
    decide(stage, store, grid, SEEDS, "auto", margin=0.003)
    return stage


def test_a_winner_beyond_noise_replaces_the_current_value(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.2, 2.31, 2.39]})
    assert stage.best == 5e-4 and stage.chosen == 5e-4 and "beyond noise: adopted" in stage.decision
    assert stage.delta.value == pytest.approx(-0.1, abs=1e-9)
    assert stage.alarm == "lr: best at the top of its grid (0.0005); extend it"


def test_a_winner_within_noise_keeps_the_current_value(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.35, 2.3, 2.5]})
    assert stage.best == 5e-4 and stage.chosen == 3e-4
    assert "within noise, 0.0003 kept" in stage.decision


def test_a_negligible_winner_keeps_the_current_value(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.299, 2.399, 2.4995]})
    assert stage.best == 5e-4 and stage.chosen == 3e-4 and "negligible (inside ±0.003)" in stage.decision


def test_the_current_value_winning_inside_the_grid_raises_no_alarm(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.4, 2.5, 2.6]})
    assert stage.chosen == 3e-4 and stage.alarm is None and "is the best: kept" in stage.decision


def test_current_values_come_from_the_recipe_and_the_preset():
    assert current_value(BASE, "lr") == 3e-4 and current_value(BASE, "weight_decay") == 0.1
    assert current_value(BASE, "batch_size") == 8 and current_value(BASE, "opt") == "adamw"
    moved = with_values(BASE, {"lr": 1e-3, "init": "kaiming"})
    assert moved.lr == 1e-3 and moved.variant == Variant(opt="adamw", init="kaiming")


def test_final_seeds_are_held_out_by_default():
    assert final_seeds_for(None, [1337, 1338, 1339]) == [1340, 1341, 1342]
    assert final_seeds_for("1337,1338,", [1337, 1338]) == [1337, 1338]


@pytest.mark.parametrize("specs, overrides, message", [
    (["speed=1,2"], {}, "unknown axis 'speed'"),
    (["lr="], {}, "stage 'lr=' is empty"),
    (["lr=1e-3", "lr=1e-2"], {}, "lr has two stages"),
    (["dropout=0.1,0.2"], {"dropout": 0.1}, "dropout is given both as --dropout and as a stage"),
])
def test_bad_stages(specs, overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_stages(specs, overrides)
