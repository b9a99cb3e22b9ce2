"""Rungs on the path to a target (ablations/study/path.py): geometric in every shape setting, ending at the target."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ablations.study.path import PATH_SETTINGS, describe_path, parse_rung_range, path_rungs, target_config
from mainrun.config import TrainConfig
from mainrun.errors import ConfigError

START = TrainConfig.from_scale("cpu", d_model=128, n_head=2, n_layer=2, block_size=32, batch_size=16,
                               vocab_size=1000, num_titles=5000, epochs=1)
TARGET = TrainConfig.from_scale("mainrun")


def test_the_first_rung_is_the_start_and_the_last_is_the_target():
    rungs = path_rungs(START, TARGET, 8)
    assert rungs[0] == {name: START.get(name) for name in PATH_SETTINGS}
    assert rungs[-1] == {name: TARGET.get(name) for name in PATH_SETTINGS}
    assert rungs[-1] == {"d_model": 512, "n_head": 8, "n_layer": 6, "block_size": 128, "batch_size": 64,
                         "vocab_size": 16000, "num_titles": 100000, "epochs": 7}


def test_each_setting_moves_geometrically():
    rungs = path_rungs(START, TARGET, 8)
    # The fourth of eight rungs is 3/7 of the way in log space.
    t = 3 / 7
    assert rungs[3]["vocab_size"] == round(1000 * 16 ** t) and rungs[3]["block_size"] == round(32 * 4 ** t)
    assert rungs[3]["epochs"] == round(7 ** t) == 2 and rungs[3]["n_layer"] == round(2 * 3 ** t) == 3
    # The partners absorb the rounding: titles x epochs and layers x width^2 move geometrically.
    assert rungs[3]["num_titles"] == round(5000 * 140 ** t / 2)
    width = (2 * 128 ** 2 * (6 * 512 ** 2 / (2 * 128 ** 2)) ** t / 3) ** 0.5
    assert rungs[3]["n_head"] == 4 and rungs[3]["d_model"] == 4 * 2 * round(width / 4 / 2)
    for name in PATH_SETTINGS:
        values = [r[name] for r in rungs]
        assert values == sorted(values), name  # the start is below the target in every setting


@given(count=st.integers(2, 12), heads=st.integers(1, 8), head_dim=st.sampled_from([8, 16, 32, 64]))
def test_every_rung_is_a_valid_model_with_an_even_head_dimension(count, heads, head_dim):
    start = TrainConfig.from_scale("tiny", n_head=heads, d_model=heads * head_dim)
    for rung in path_rungs(start, TARGET, count) if start.get("d_model") != 512 or heads != 8 else []:
        assert rung["d_model"] % rung["n_head"] == 0 and (rung["d_model"] // rung["n_head"]) % 2 == 0
        START.with_values(**rung).validate()


def test_the_rungs_are_about_evenly_spaced_in_log_compute():
    # Compute ~ parameters x tokens ~ (d^2 L + vocab d) x titles x epochs, each factor geometric in t.
    def compute(r):
        return (12 * r["n_layer"] * r["d_model"] ** 2 + r["vocab_size"] * r["d_model"]) * r["num_titles"] * r["epochs"]

    logs = [math.log10(compute(r)) for r in path_rungs(START, TARGET, 8)]
    steps = [b - a for a, b in zip(logs, logs[1:])]
    assert all(step > 0 for step in steps)
    assert max(steps) < 1.2 * min(steps)  # the partners absorb the rounding of layers, heads and epochs


def test_a_path_too_fine_for_its_distance_is_refused():
    with pytest.raises(ConfigError) as caught:
        path_rungs(TrainConfig.from_scale("tiny"), TrainConfig.from_scale("tiny", block_size=33), 4)
    assert str(caught.value) == ("--rungs 4: rungs 1 and 2 would be the same model; ask for fewer rungs or start "
                                 "further from the target")
    with pytest.raises(ConfigError) as caught:
        path_rungs(START, TARGET, 1)
    assert str(caught.value) == "--rungs: a path needs at least two rungs (three to judge a trend)"


def test_a_start_of_several_epochs_and_single_rows_is_its_own_first_rung():
    """The titles move with titles x epochs from the start's own product, and a setting of 1 stays 1."""
    start = TrainConfig.from_scale("tiny", epochs=3, batch_size=1, num_titles=400)
    first, second = path_rungs(start, TARGET, 6)[:2]
    assert first == {name: start.get(name) for name in PATH_SETTINGS}
    assert first["batch_size"] == 1 and first["epochs"] == 3
    one_title = TrainConfig.from_scale("tiny", num_titles=1)
    assert path_rungs(one_title, TARGET, 6)[0]["num_titles"] == 1
    t = 1 / 5
    assert second["num_titles"] == round(400 * 3 * (100000 * 7 / (400 * 3)) ** t / second["epochs"])


def test_even_rounds_to_an_even_number_of_at_least_two():
    from ablations.study.path import even
    assert [even(v) for v in (0.2, 1.0, 2.9, 3.1, 5.2, 63.0)] == [2, 2, 2, 4, 6, 64]


def test_ladder_json_records_the_path_and_its_rule():
    rungs = path_rungs(START, TARGET, 3)
    assert describe_path(START, "mainrun", rungs) == {
        "toward": "mainrun", "start": rungs[0], "rungs": rungs,
        "rule": "geometric in every setting of the path; width = heads x an even head dimension"}


@pytest.mark.parametrize("spec, expected", [(None, [1, 2, 3, 4, 5]), ("1-4", [1, 2, 3, 4]), ("5", [5]),
                                            ("2-2", [2])])
def test_rung_ranges(spec, expected):
    assert parse_rung_range(spec, 5) == expected


@pytest.mark.parametrize("spec", ["0-2", "3-9", "4-2", "a-b", "1-x", "-3"])
def test_bad_rung_ranges_are_one_line(spec):
    with pytest.raises(ConfigError, match="--train-rungs"):
        parse_rung_range(spec, 5)


def test_an_unknown_target_is_one_line():
    with pytest.raises(ConfigError, match="--toward huge: unknown scale; valid: mainrun, cpu, tiny"):
        target_config("huge")
    assert describe_path(START, "mainrun", [])["start"]["d_model"] == 128
