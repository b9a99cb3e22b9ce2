"""Properties of the optimizer recipes (mainrun/components/optimizers.py).

The schedules are compared, step by step, with their closed forms; the recipe-specific constants
come from the module so a deliberate change of recipe shows up here only as a change of number.
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mainrun.components import OPTIMIZERS
from mainrun.components.optimizers import ADAMW_FLOOR, ADAMW_WARMUP_START, adamw_warmup_steps, lr_curve

SGD_DEFAULT_LR = 6e-3  # the reference program
ADAMW_DEFAULT_LR = 3e-4  # the plan's recipe

# Up to a bit beyond the reference run's 994 steps, from the degenerate one-step run.
step_counts = st.integers(1, 1200)
lr_overrides = st.one_of(st.none(), st.floats(1e-5, 1.0))


def close(actual, expected, peak):
    # Chained schedulers update lr multiplicatively step by step, so allow float64 round-off that
    # grows with the number of steps, relative to the peak.
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9 * peak)


def cosine(peak, floor, step, total):
    return floor + (peak - floor) * (1 + math.cos(math.pi * step / total)) / 2


@given(max_steps=step_counts, lr=lr_overrides)
def test_sgd_follows_the_cosine_from_peak_to_zero(max_steps, lr):
    peak = SGD_DEFAULT_LR if lr is None else lr
    curve = lr_curve("sgd", max_steps, lr)

    assert curve[0] == peak
    for step, value in enumerate(curve):
        assert close(value, cosine(peak, 0.0, step, max_steps), peak), f"step {step}: {value}"
    # The last step is one cosine increment above zero: lr * (1 - cos(pi / N)) / 2 <= lr * (pi/N)^2 / 4.
    assert curve[-1] <= peak * (math.pi / max_steps) ** 2 / 4 * (1 + 1e-9)


@pytest.mark.parametrize("max_steps", [1, 7, 994])
def test_sgd_schedule_reaches_zero_after_the_last_step(max_steps):
    param = torch.nn.Parameter(torch.zeros(1))
    opt, scheduler = OPTIMIZERS.get("sgd")([param], max_steps)
    for _ in range(max_steps):
        opt.step()
        scheduler.step()
    assert abs(opt.param_groups[0]["lr"]) <= 1e-12 * SGD_DEFAULT_LR


@given(max_steps=step_counts, lr=lr_overrides)
def test_adamw_warms_up_linearly_then_follows_the_cosine_to_its_floor(max_steps, lr):
    peak = ADAMW_DEFAULT_LR if lr is None else lr
    floor = ADAMW_FLOOR * peak
    warmup = adamw_warmup_steps(max_steps)
    curve = lr_curve("adamw", max_steps, lr)

    assert warmup == max(1, max_steps // 10)
    assert close(curve[0], ADAMW_WARMUP_START * peak, peak)
    if max_steps > warmup:
        assert close(curve[warmup], peak, peak), "the warmup must end exactly at the peak"
    for step, value in enumerate(curve):
        if step < warmup:
            expected = peak * (ADAMW_WARMUP_START + (1 - ADAMW_WARMUP_START) * step / warmup)
        else:
            expected = cosine(peak, floor, step - warmup, max_steps - warmup)
        assert close(value, expected, peak), f"step {step}: {value}, expected {expected}"
    assert min(curve) >= ADAMW_WARMUP_START * peak * (1 - 1e-9)
    assert all(value >= floor * (1 - 1e-9) for value in curve[warmup:])


@pytest.mark.parametrize("recipe", OPTIMIZERS.names())
@pytest.mark.parametrize("max_steps", [1, 2, 50])
def test_every_recipe_peaks_at_the_lr_override(recipe, max_steps):
    """`--lr` replaces the recipe's peak learning rate; no step may exceed it."""
    override = 0.0123
    curve = lr_curve(recipe, max_steps, lr=override)
    assert len(curve) == max_steps
    assert all(math.isfinite(v) and v > 0 for v in curve)
    assert max(curve) <= override * (1 + 1e-9)
    if max_steps > 1:  # a one-step run may still be inside a warmup
        assert math.isclose(max(curve), override, rel_tol=1e-9)


@pytest.mark.parametrize("recipe", OPTIMIZERS.names())
def test_every_recipe_applies_the_weight_decay_override(recipe):
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer, scheduler = OPTIMIZERS.get(recipe)([param], 10, None, 0.042)
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)
    assert all(group["weight_decay"] == 0.042 for group in optimizer.param_groups)
