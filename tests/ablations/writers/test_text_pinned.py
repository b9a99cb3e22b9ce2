"""writers.text pinned whole: the digits an estimate shows, the corpus names, counts and statuses."""
from collections import Counter

import pytest

from ablations.analysis.effects import Estimate
from ablations.writers.text import (MAX_DECIMALS, STATUSES, count, data_name, data_text, decimals, estimate_text,
                                    number, status_text)


def test_the_statuses_and_the_most_decimals():
    assert STATUSES == ("ok", "diverged", "failed", "not run")
    assert MAX_DECIMALS == 8


@pytest.mark.parametrize("half_width, expected", [
    (None, 4), (0.0, 4), (5.0, 4), (0.5, 4), (0.0213, 4), (0.001, 4), (0.00099, 5), (0.0009, 5),
    (0.0001, 5), (0.000085, 6), (1e-6, 7), (1e-7, 8), (7.1e-16, 8), (1e-30, 8)])
def test_decimals_show_two_significant_digits_of_the_interval_between_four_and_eight(half_width, expected):
    assert decimals(Estimate(0.5, half_width, 3)) == expected


def test_an_estimate_reads_signed_with_its_interval_or_alone_or_not_at_all():
    assert estimate_text(None) == ""
    assert estimate_text(Estimate(-0.4254052, 0.0212694, 3)) == "-0.4254 ± 0.0213"
    assert estimate_text(Estimate(0.4254052, 0.0212694, 3)) == "+0.4254 ± 0.0213"
    assert estimate_text(Estimate(0.0123, None, 1)) == "+0.0123"
    assert estimate_text(Estimate(-0.0123, 0.0, 2)) == "-0.0123 ± 0.0000"
    assert estimate_text(Estimate(0.0001234, 0.0000456, 3)) == "+0.000123 ± 0.000046"
    assert estimate_text(Estimate(1.0, 1e-12, 3)) == "+1.00000000 ± 0.00000000"


def test_the_corpus_is_named_as_a_reader_can_find_it(tmp_path):
    assert data_name({}, tmp_path) == "unrecorded"
    assert data_name({"data": None}, tmp_path) == "None"
    assert data_name({"data": "embedded"}, tmp_path) == "the embedded synthetic corpus"
    assert data_name({"data": "hub:roneneldan/TinyStories"}, tmp_path) == "hub:roneneldan/TinyStories"
    assert data_name({"data": "/abs/file:x.txt"}, tmp_path) == "/abs/file:x.txt"
    assert data_name({"data": "file:/elsewhere/deep/titles.txt"}, tmp_path) == "titles.txt"
    assert data_name({"data": f"file:{tmp_path.resolve()}/data/sub/t.txt"}, tmp_path) == "data/sub/t.txt"
    assert data_name({"data": "file:relative/dir/t.txt"}, tmp_path) == "t.txt"


def test_the_corpus_text_adds_its_fingerprint_only_when_it_has_one(tmp_path):
    assert data_text({"data": "embedded", "fingerprint": "emb-123"}, tmp_path) == \
        "the embedded synthetic corpus (fingerprint emb-123)"
    assert data_text({"data": "embedded"}, tmp_path) == "the embedded synthetic corpus"
    assert data_text({"data": "embedded", "fingerprint": ""}, tmp_path) == "the embedded synthetic corpus"
    assert data_text({"data": "embedded", "fingerprint": None}, tmp_path) == "the embedded synthetic corpus"
    assert data_text({"data": "file:/x/y/titles.txt", "fingerprint": "file-9"}, tmp_path) == \
        "titles.txt (fingerprint file-9)"


def test_numbers_counts_and_statuses():
    assert number(None, ".2f") == ""
    assert number(1.23456, ".2f") == "1.23"
    assert number(0.0, ".3g") == "0"
    assert number(12345.0, ",.0f") == "12,345"
    assert status_text(Counter()) == ""
    assert status_text(Counter({"ok": 3})) == "3 ok"
    assert status_text(Counter({"not run": 1, "ok": 0, "failed": 2, "diverged": 1})) == "1 diverged, 2 failed, 1 not run"
    assert status_text(Counter({"ok": 2, "diverged": 1, "failed": 1, "not run": 4, "other": 9})) == \
        "2 ok, 1 diverged, 1 failed, 4 not run"
    assert count(0, "seed") == "0 seeds"
    assert count(1, "seed") == "1 seed"
    assert count(2, "seed") == "2 seeds"
    assert count(-1, "cell") == "-1 cells"
