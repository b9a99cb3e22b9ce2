"""ablations/analysis/speedup.py, pinned: tokens needed at every edge of the reference's budgets, each speed-up's
fields and text, and what the effects on log speed-up are handed."""
import math
from types import SimpleNamespace

import pytest

from ablations.analysis import speedup as S
from ablations.analysis.effects import Estimate, contrast
from ablations.analysis.speedup import (AT_LEAST, AT_MOST, EXACT, LOSS_TOLERANCE, SpeedUp, reference_curves,
                                        speedup_effects, speedups, tokens_needed)

CURVE = [(100.0, 3.0), (200.0, 2.8), (400.0, 2.7), (800.0, 2.65)]


def test_the_constants():
    assert (EXACT, AT_LEAST, AT_MOST) == ("exact", "at least", "at most")
    assert LOSS_TOLERANCE == 1e-12


def test_tokens_needed_at_and_just_beyond_each_edge():
    assert tokens_needed(CURVE, 3.0) == (100.0, EXACT)
    assert tokens_needed(CURVE, 3.0 + 5e-13) == (100.0, EXACT)  # within rounding of the smallest budget
    assert tokens_needed(CURVE, 3.0 - 5e-13) == (100.0, EXACT)
    assert tokens_needed(CURVE, 3.0 + 1e-9) == (100.0, AT_MOST)
    assert tokens_needed(CURVE, 2.8 + 5e-13) == (pytest.approx(200.0), EXACT)
    assert tokens_needed(CURVE, 2.65) == (pytest.approx(800.0), EXACT)
    assert tokens_needed(CURVE, 2.65 - 5e-13) == (pytest.approx(800.0), EXACT)  # reached, to rounding
    assert tokens_needed(CURVE, 2.65 - 1e-9) == (800.0, AT_LEAST)
    tokens, kind = tokens_needed(CURVE, 2.9)  # halfway from 100 to 200 in loss
    assert kind == EXACT and tokens == pytest.approx(math.sqrt(100 * 200), rel=1e-12)
    tokens, kind = tokens_needed(CURVE, 2.675)
    assert kind == EXACT and tokens == pytest.approx(math.sqrt(400 * 800), rel=1e-12)
    tokens, kind = tokens_needed(CURVE, 2.775)  # a quarter of the way from 200 to 400
    assert kind == EXACT and tokens == pytest.approx(200 * 2 ** 0.25, rel=1e-12)
    assert tokens_needed([(100.0, 3.0), (200.0, 2.5)], 2.5 + 5e-13) == (pytest.approx(200.0, rel=1e-9), EXACT)


def record(seed, loss, steps=10, status="ok", metric="val_loss"):
    return {"status": status, "seed": seed, metric: loss, "steps": steps, "batch_size": 2, "block_size": 5}


def test_the_reference_curves_keep_each_seeds_finished_finite_budgets_in_order_read():
    records = [record(1, 3.0, steps=10), record(2, 2.9, steps=10), record(1, 2.8, steps=20),
               record(1, 2.0, steps=40, status="failed"), record(2, math.nan, steps=20), record(2, None, steps=40),
               record(1, math.inf, steps=80), record(2, 2.7, steps=80), {"status": "ok", "seed": 1, "steps": 160,
                                                                         "batch_size": 2, "block_size": 5}]
    assert reference_curves(records, "val_loss") == {1: [(100, 3.0), (200, 2.8)], 2: [(100, 2.9), (800, 2.7)]}
    assert reference_curves([record(1, 3.0, metric="val_bpb")], "val_bpb") == {1: [(100, 3.0)]}
    assert reference_curves([], "val_loss") == {}


def row(label, point, records):
    return SimpleNamespace(label=label, point=point, ok=records)


def test_speedups_per_seed_and_the_estimate_over_them():
    curves = {1: [(100, 3.0), (200, 2.8), (400, 2.7)], 2: [(100, 3.1), (200, 2.9), (400, 2.8)], 3: [(100, 3.0)]}
    rows = [row("a", "A", [record(1, 2.8, steps=10), record(2, 2.8, steps=20), record(3, 2.0), record(4, 2.0),
                          record(1, math.nan, steps=5) | {"seed": 5}, record(6, None)]),
            row("b", "B", [record(1, 3.5), record(2, 2.9, steps=10)]),
            row("c", "C", [record(1, 2.0, steps=20)]),
            row("d", "D", [])]
    found = speedups(rows, curves, "val_loss", [1, 2, 3, 4])
    a, b, c, d = found
    assert a == SpeedUp("a", "A", {1: (pytest.approx(2.0), EXACT), 2: (pytest.approx(2.0), EXACT)},
                        contrast({("A", 1): math.log(a.per_seed[1][0]), ("A", 2): math.log(a.per_seed[2][0])},
                                 {"A": 1.0}, [1, 2, 3, 4]))
    assert a.estimate.value == pytest.approx(math.log(2)) and a.estimate.n_seeds == 2
    assert b == SpeedUp("b", "B", {1: (1.0, AT_MOST), 2: (pytest.approx(2.0), EXACT)}, None)
    assert c == SpeedUp("c", "C", {1: (2.0, AT_LEAST)}, None)
    assert d == SpeedUp("d", "D", {}, None)


def test_speedups_read_the_metric_asked_for_and_pass_the_seeds_on(monkeypatch):
    calls = []
    monkeypatch.setattr(S, "contrast", lambda logs, weights, seeds: calls.append((logs, weights, seeds)) or "EST")
    curves = {7: [(100, 3.0), (200, 2.8)]}
    rec = {"status": "ok", "seed": 7, "val_bpb": 2.8, "val_loss": 3.0, "steps": 5, "batch_size": 2, "block_size": 5}
    found = speedups([row("x", ("P", 1), [rec])], curves, "val_bpb", [7, 8])
    assert found == [SpeedUp("x", ("P", 1), {7: (pytest.approx(4.0), EXACT)}, "EST")]
    assert calls == [({(("P", 1), 7): pytest.approx(math.log(4.0))}, {("P", 1): 1.0}, [7, 8])]


def test_the_bound_and_text_of_a_speedup():
    est = Estimate(math.log(2.0), math.log(1.5), 3)
    assert SpeedUp("a", "A", {}, None).bound is None and SpeedUp("a", "A", {}, None).text() == "n/a"
    exact = SpeedUp("a", "A", {1: (2.0, EXACT), 2: (2.0, EXACT)}, est)
    assert exact.bound is None and exact.text() == "2.00x (1.33-3.00)"
    assert SpeedUp("a", "A", {1: (2.0, EXACT)}, Estimate(math.log(2.5), None, 1)).text() == "2.50x"
    least = SpeedUp("a", "A", {1: (4.0, AT_LEAST), 2: (2.0, AT_LEAST), 3: (3.0, EXACT), 4: (1.0, EXACT)}, None)
    assert least.bound == AT_LEAST and least.text() == "at least 1.00x"
    assert SpeedUp("a", "A", {1: (4.0, AT_LEAST), 2: (2.0, AT_LEAST)}, None).text() == "at least 2.00x"
    most = SpeedUp("a", "A", {1: (0.5, AT_MOST), 2: (0.25, AT_MOST), 3: (0.75, EXACT)}, None)
    assert most.bound == AT_MOST and most.text() == "at most 0.75x"
    assert SpeedUp("a", "A", {1: (0.5, AT_MOST), 2: (0.25, AT_MOST)}, None).text() == "at most 0.50x"
    both = SpeedUp("a", "A", {1: (4.0, AT_LEAST), 2: (0.25, AT_MOST), 3: (1.0, EXACT)}, None)
    assert both.bound == "outside the budgets" and both.text() == "outside the budgets"


def test_effects_on_log_speedup_need_every_estimate_and_pass_every_seeds_log_on(monkeypatch):
    calls = []
    monkeypatch.setattr(S, "effects_of", lambda points, logs, seeds, references:
                        calls.append((points, logs, seeds, references)) or ["EFFECT"])
    est = Estimate(0.0, 0.1, 2)
    found = [SpeedUp("", "R", {1: (1.0, EXACT), 2: (1.0, EXACT)}, est),
             SpeedUp("a", "A", {1: (2.0, EXACT), 2: (4.0, EXACT)}, est)]
    assert speedup_effects(["R", "A"], found, [1, 2], {"opt": "sgd"}) == ["EFFECT"]
    assert calls == [(["R", "A"], {("R", 1): 0.0, ("R", 2): 0.0, ("A", 1): pytest.approx(math.log(2)),
                                   ("A", 2): pytest.approx(math.log(4))}, [1, 2], {"opt": "sgd"})]
    assert speedup_effects(["R", "A"], [found[0], SpeedUp("a", "A", {1: (2.0, AT_LEAST)}, None)], [1, 2], {}) is None
    assert len(calls) == 1
