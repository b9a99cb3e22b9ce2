"""Pinned outputs of ablations/study/path.py: rung ranges and their errors, to the letter."""
import pytest

from ablations.study.path import describe_path, geometric, parse_rung_range, target_config
from mainrun.config import TrainConfig
from mainrun.errors import ConfigError


@pytest.mark.parametrize("spec, text", [
    ("a-b", "--train-rungs a-b: expected a rung or a range, e.g. 1-4"),
    ("1-x", "--train-rungs 1-x: expected a rung or a range, e.g. 1-4"),
    ("0-2", "--train-rungs 0-2: the path has rungs 1 to 5"),
    ("3-6", "--train-rungs 3-6: the path has rungs 1 to 5"),
    ("4-2", "--train-rungs 4-2: the path has rungs 1 to 5"),
])
def test_bad_rung_ranges_to_the_letter(spec, text):
    with pytest.raises(ConfigError) as caught:
        parse_rung_range(spec, 5)
    assert str(caught.value) == text


def test_rung_ranges_at_the_edges():
    assert parse_rung_range("1-5", 5) == [1, 2, 3, 4, 5] and parse_rung_range("5-5", 5) == [5]
    assert parse_rung_range("1", 1) == [1] and parse_rung_range(None, 2) == [1, 2]


def test_targets_and_the_recorded_path():
    assert target_config("tiny") == TrainConfig.from_scale("tiny")
    with pytest.raises(ConfigError) as caught:
        target_config("huge")
    assert str(caught.value) == "--toward huge: unknown scale; valid: mainrun, cpu, tiny"
    start = TrainConfig.from_scale("tiny")
    assert describe_path(start, "cpu", [{"d_model": 1}]) == {
        "toward": "cpu", "rungs": [{"d_model": 1}],
        "start": {"d_model": 32, "n_head": 2, "n_layer": 1, "block_size": 32, "batch_size": 8, "vocab_size": 300,
                  "num_titles": 2000, "epochs": 1},
        "rule": "geometric in every setting of the path; width = heads x an even head dimension"}
    assert geometric(2.0, 8.0, 0.5) == pytest.approx(4.0) and geometric(2.0, 8.0, 0.0) == 2.0
