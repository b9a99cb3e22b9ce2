"""choose_metric (ablations/analysis/metrics.py): every return value and every error message, pinned."""
import pytest

from ablations.analysis.metrics import METRIC_CHOICES, METRICS, choose_metric
from mainrun.data import BPB_SEPARATOR_BYTES
from mainrun.errors import ConfigError


def cell(seed=1, coverage=0.9, status="ok", **fields):
    return {"seed": seed, "status": status, "val_coverage": coverage, "val_loss": 2.0, "val_loss_full": 2.1,
            "val_bpb": 1.0, "bpb_separator_bytes": BPB_SEPARATOR_BYTES, **fields}


def test_the_choices_and_their_titles():
    assert METRICS == {"val_loss": "val loss", "val_loss_full": "val loss (full coverage)",
                       "val_bpb": "val bits/byte"}
    assert METRIC_CHOICES == ("auto", "val_loss", "val_loss_full", "val_bpb")


def test_an_unknown_metric_names_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        choose_metric([cell()], "loss")
    assert str(info.value) == "unknown metric 'loss'; valid: auto, val_loss, val_loss_full, val_bpb"


def test_auto_on_one_coverage_is_val_loss_without_a_note():
    assert choose_metric([cell(1), cell(1), cell(2, 0.8), cell(2, 0.8)]) == ("val_loss", "")
    assert choose_metric([cell(1), cell(1)], "auto") == ("val_loss", "")
    assert choose_metric([]) == ("val_loss", "")


def test_auto_on_differing_coverage_ranks_by_val_loss_full_and_says_the_span():
    records = [cell(1, 0.8), cell(1, 0.9), cell(1, 0.7), cell(2, 0.95), cell(2, 0.95)]
    assert choose_metric(records) == (
        "val_loss_full",
        "The cells differ in how much of the val text the reference metric scores (70.0% to 95.0%), so this "
        "table ranks by val_loss_full, which scores every val token once.")


def test_auto_on_differing_coverage_without_val_loss_full_keeps_val_loss_and_warns():
    records = [cell(1, 0.8), cell(1, 0.9, val_loss_full=None)]
    assert choose_metric(records) == (
        "val_loss", "The cells differ in coverage, and some predate val_loss_full: the val loss column is not "
                    "comparable across them.")
    without_field = [cell(1, 0.8), {k: v for k, v in cell(1, 0.9).items() if k != "val_loss_full"}]
    assert choose_metric(without_field)[0] == "val_loss"


def test_coverage_is_compared_within_a_seed_only_and_among_finished_cells_only():
    assert choose_metric([cell(1, 0.8), cell(2, 0.9)]) == ("val_loss", "")  # across seeds: not a difference
    assert choose_metric([cell(1, 0.8), cell(1, 0.9, status="failed")]) == ("val_loss", "")
    assert choose_metric([cell(1, 0.8), cell(1, None)]) == ("val_loss", "")  # no coverage recorded
    assert choose_metric([cell(1, 0.9), cell(1, 0.9 + 2e-10)]) == ("val_loss", "")  # rounded to 9 places
    # a failed cell without val_loss_full does not stop the switch
    assert choose_metric([cell(1, 0.8), cell(1, 0.9), cell(1, 0.5, status="failed", val_loss_full=None)])[0] \
        == "val_loss_full"


@pytest.mark.parametrize("metric", ["val_loss", "val_loss_full", "val_bpb"])
def test_a_requested_metric_is_taken_as_asked_without_a_note(metric):
    assert choose_metric([cell(1, 0.8), cell(1, 0.9)], metric) == (metric, "")
    assert choose_metric([cell(1, 0.8, status="failed", **{metric: None})], metric) == (metric, "")
    assert choose_metric([], metric) == (metric, "")


def test_a_requested_metric_some_cells_lack_is_refused():
    with pytest.raises(ConfigError) as info:
        choose_metric([cell(1), cell(2, val_loss_full=None)], "val_loss_full")
    assert str(info.value) == ("--metric val_loss_full: some cells of this folder have no val_loss_full (trained "
                               "before it was recorded); use val_loss")


def test_val_bpb_counted_the_old_way_is_refused():
    message = ("--metric val_bpb: some cells of this folder counted <eos> as five bytes (trained before 2026-11-28); "
               "convert them with python scripts/migrate_bpb.py FOLDER")
    for old in ({"bpb_separator_bytes": 5}, {"bpb_separator_bytes": None}):
        with pytest.raises(ConfigError) as info:
            choose_metric([cell(1), cell(2, **old)], "val_bpb")
        assert str(info.value) == message
    # only val_bpb cares; a failed cell's count does not matter
    assert choose_metric([cell(1, bpb_separator_bytes=5)], "val_loss") == ("val_loss", "")
    assert choose_metric([cell(1), cell(2, status="failed", bpb_separator_bytes=5)], "val_bpb") == ("val_bpb", "")
