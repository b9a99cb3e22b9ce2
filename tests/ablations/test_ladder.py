"""The scale ladder (ablations/ladder.py) and its analysis (ablations/scaling.py)."""
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ablations import ladder
from ablations.effects import Estimate
from ablations.scaling import REFERENCE_RUN_FLOPS, run_flops
from mainrun.config import TrainConfig
from mainrun.errors import ConfigError
from tests.ablations.synthetic import install

SEED_NOISE = {1337: 0.004, 1338: -0.003, 1339: 0.001}


def weighted_line(x, y, se):
    """Weighted least squares from its normal equations: (X'WX)^-1 X'Wy and (X'WX)^-1."""
    X, W = np.column_stack([np.ones_like(x), x]), np.diag(1.0 / np.asarray(se) ** 2)
    inverse = np.linalg.inv(X.T @ W @ X)
    return inverse @ X.T @ W @ y, inverse


@given(values=st.lists(st.floats(-1, 1), min_size=2, max_size=2), errors=st.lists(st.floats(0.001, 0.1), min_size=2,
                                                                                   max_size=2))
def test_a_two_rung_fit_is_the_weighted_normal_equations(values, errors):
    compute = [1e9, 1e10]
    fit = fit_trend(compute, values, errors)
    beta, covariance = weighted_line(np.log10(compute), np.asarray(values), errors)
    assert (fit.intercept, fit.slope) == pytest.approx(tuple(beta), rel=1e-6, abs=1e-8)
    x0 = math.log10(REFERENCE_RUN_FLOPS)
    predicted, half = fit.at(REFERENCE_RUN_FLOPS)
    assert predicted == pytest.approx(beta[0] + beta[1] * x0, rel=1e-6, abs=1e-7)
    assert half == pytest.approx(1.959964 * math.sqrt(np.array([1, x0]) @ covariance @ np.array([1, x0])), rel=1e-5)


def test_rungs_scattered_beyond_their_errors_widen_the_interval():
    compute, errors = [1e9, 1e10, 1e11, 1e12], [0.01] * 4
    straight = fit_trend(compute, [0.0, 0.1, 0.2, 0.3], errors)
    scattered = fit_trend(compute, [0.0, 0.3, 0.0, 0.3], errors)
    _, covariance = weighted_line(np.log10(compute), np.zeros(4), errors)
    assert straight.slope_half_width == pytest.approx(1.959964 * math.sqrt(covariance[1, 1]), rel=1e-6)
    assert scattered.slope_half_width > 5 * straight.slope_half_width


def estimate(value, half=0.01, n=3):
    return Estimate(value, half, n, sd=half / 4.303 * math.sqrt(n))  # t(2) = 4.303


@pytest.mark.parametrize("values, expected", [
    ([-0.10, -0.10, -0.10], "holds"),
    ([-0.05, -0.10, -0.15], "grows"),
    ([-0.15, -0.10, -0.05], "flips sign"),  # linear in log compute, it crosses zero long before the target
    ([-0.06, -0.04, -0.02], "fades"),  # at 3e14 FLOPs the line reaches about zero
    ([0.001, -0.001, 0.0], "cannot tell"),
])
def test_verdicts(values, expected):
    compute = [1e13, 3e13, 1e14]
    t = trend("x", compute, [estimate(v, 0.002) for v in values], target=3e14 if expected == "fades" else 1e15)
    assert t.verdict == expected, (t.fit, t.predicted)


def test_without_two_rungs_with_an_interval_it_cannot_tell():
    one_seed = Estimate(-0.2, None, 1)
    t = trend("x", [1e9, 1e10, 1e11], [estimate(-0.1), one_seed, None], target=1e15)
    assert t.fit is None and t.verdict == "cannot tell" and t.predicted is None
    assert verdict(None, None, 1e15) == "cannot tell"
    assert isinstance(trend("x", [1e9, 2e9], [estimate(-0.1), estimate(-0.2)], 1e15).fit, Fit)


def test_a_runs_compute_is_its_flops_per_token_times_its_tokens_whatever_the_accumulation():
    record = {"flops_per_token": 1e6, "steps": 10, "batch_size": 8, "grad_accum": 2, "block_size": 32}
    assert run_flops(record) == 1e6 * 10 * 8 * 32  # accumulation splits the 8 rows, it does not add any
    assert run_flops({**record, "flops_per_token": None}) is None


@pytest.mark.parametrize("specs, message", [
    (["opt=sgd,adamw"], "a rung moves a setting"),
    (["d_model=16,32", "n_layer=1,2,3"], "as many values as the others"),
    (["d_model=16"], "at least two rungs"),
    (["width=1,2"], "unknown axis 'width'"),
])
def test_bad_rungs_are_one_line(specs, message):
    with pytest.raises(ConfigError, match=message):
        ladder.parse_rungs(specs)


def test_rungs_move_together():
    assert ladder.parse_rungs(["d_model=16,32", "n_layer=1,2"]) == [{"d_model": 16, "n_layer": 1},
                                                                     {"d_model": 32, "n_layer": 2}]


def scale_dependent_loss(cfg: TrainConfig) -> float:
    """AdamW helps more as the model widens; Kaiming's penalty shrinks towards zero."""
    doublings = math.log2(cfg.model.d_model / 16)
    adamw = -0.05 * (1 + doublings) if cfg.variant.opt == "adamw" else 0.0
    kaiming = 0.1 * 0.5 ** doublings if cfg.variant.init == "kaiming" else 0.0
    return 3.0 + adamw + kaiming + SEED_NOISE[cfg.training.seed] * (1 + (cfg.variant.opt == "adamw"))


def test_a_ladder_runs_the_study_at_each_rung_fits_each_effect_and_resumes(tmp_path, monkeypatch, capsys):
    backend = install(monkeypatch, scale_dependent_loss)
    argv = ["--rungs", "d_model=16,32,64", "--axes", "opt=sgd,adamw", "init=default,kaiming", "--scale", "tiny",
            "--data", "embedded", "--no-plot", "--out", str(tmp_path / "lad"), "--target-flops", "1e12"]
    assert ladder.main(argv) == 0
    assert len(backend.trained) == 3 * 4 * 3
    report = json.loads((tmp_path / "lad" / "ladder.json").read_text())
    assert [r["folder"] for r in report["rungs"]] == ["rung1-d_model=16", "rung2-d_model=32", "rung3-d_model=64"]
    flops = [r["flops"] for r in report["rungs"]]
    assert flops == sorted(flops) and report["target_flops"] == 1e12
    found = {f["name"]: f for f in report["findings"]}
    adamw = found["opt: sgd -> adamw"]
    # AdamW's seed noise is twice SGD's, so its mean (0.002/3) adds to the effect.
    assert [e["value"] for e in adamw["estimates"]] == pytest.approx([v + 0.002 / 3 for v in (-0.05, -0.10, -0.15)])
    assert adamw["verdict"] == "grows" and adamw["fit"]["slope_per_decade"] < 0
    assert found["init: default -> kaiming"]["estimates"][0]["value"] == pytest.approx(0.1, abs=1e-9)
    assert (tmp_path / "lad" / "rung2-d_model=32" / "results.md").exists()
    [line] = [line for line in (tmp_path / "lad" / "ladder.md").read_text().splitlines()
              if line.startswith("| opt: sgd -> adamw")]
    assert "(extrapolated)" in line and line.rstrip(" |").endswith("grows")
    assert "opt: sgd -> adamw" in capsys.readouterr().out
    assert ladder.main(argv) == 0 and len(backend.trained) == 36  # every rung resumes: nothing trains again


def test_a_rung_setting_given_as_a_flag_too_is_refused_before_training(tmp_path, monkeypatch):
    backend = install(monkeypatch, scale_dependent_loss)
    with pytest.raises(ConfigError, match="d_model is given both as a flag and in --rungs"):
        ladder.main(["--rungs", "d_model=16,32", "--d-model", "64", "--scale", "tiny", "--data", "embedded",
                     "--out", str(tmp_path / "x")])
    with pytest.raises(ConfigError, match="rope"):  # rung 2's odd head dimension fails before rung 1 trains
        ladder.main(["--rungs", "d_model=16,18", "--axes", "pos=learned,rope", "--scale", "tiny", "--data",
                     "embedded", "--out", str(tmp_path / "y")])
    assert backend.trained == []


def test_a_ladder_follows_speed_ups_too(tmp_path, monkeypatch):
    def loss(cfg: TrainConfig) -> float:  # AdamW worth a doubling of steps at every width
        steps = cfg.training.max_steps or 10
        return 3.0 - 0.1 * math.log2(steps / 10) - 0.1 * (cfg.variant.opt == "adamw") \
            + SEED_NOISE[cfg.training.seed] * (1 + 2 * (cfg.variant.opt == "adamw"))

    install(monkeypatch, loss)
    assert ladder.main(["--rungs", "d_model=16,32,64", "--axes", "opt=sgd,adamw", "--speedup", "0.5,1,2,4",
                        "--scale", "tiny", "--data", "embedded", "--no-plot", "--out", str(tmp_path / "lad")]) == 0
    found = {f["name"]: f for f in json.loads((tmp_path / "lad" / "ladder.json").read_text())["findings"]}
    speedup = found["log speed-up: opt=adamw"]
    assert all(math.exp(e["value"]) == pytest.approx(2.0, rel=0.1) for e in speedup["estimates"])
    assert speedup["verdict"] == "holds"


def test_a_tuned_ladder_says_which_variants_kept_their_value_at_every_rung(tmp_path, monkeypatch):
    def loss(cfg: TrainConfig) -> float:
        # SGD's best lr is 1e-3 at every width; AdamW's moves from 1e-3 at width 16 to 1e-2 beyond it.
        best = 1e-2 if cfg.variant.opt == "adamw" and cfg.model.d_model > 16 else 1e-3
        return 3.0 + abs(math.log10(cfg.optim.lr / best)) + SEED_NOISE[cfg.training.seed]

    install(monkeypatch, loss)
    assert ladder.main(["--rungs", "d_model=16,32,64", "--axes", "opt=sgd,adamw", "--tune", "lr=1e-3,1e-2",
                        "--seeds", "3", "--scale", "tiny", "--data", "embedded", "--no-plot",
                        "--out", str(tmp_path / "lad")]) == 0
    tuned = json.loads((tmp_path / "lad" / "ladder.json").read_text())["tuned"]
    assert tuned == {"baseline": ["0.001 (edge)"] * 3, "opt=adamw": ["0.001 (edge)", "0.01 (edge)", "0.01 (edge)"]}
    text = (tmp_path / "lad" / "ladder.md").read_text()
    assert "1 of 2 chose the same value at every rung" in text
    assert "| opt=adamw | 0.001 (edge) | 0.01 (edge)  | 0.01 (edge)  |" in text
