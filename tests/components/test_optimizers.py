"""Properties of the optimizer recipes (mainrun/components/optimizers.py).

The schedules are compared, step by step, with their closed forms; the recipe-specific constants
come from the module so a deliberate change of recipe shows up here only as a change of number.
"""
import copy
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mainrun.components import OPTIMIZERS
from mainrun.components.optimizers import (build_optimizer, decay_groups, lr_curve, recipe_defaults, warmup_cosine,
                                           warmup_steps)
from mainrun.errors import ConfigError
from mainrun.model import GPT, GPTConfig

# The documented values (README, Components; section 10 of the reference notes), pinned as literals
# so that a change to the module's constants fails here instead of moving the expectation with it.
SGD_DEFAULT_LR = 6e-3  # the reference program
ADAMW_DEFAULT_LR = 3e-4  # the plan's recipe
ADAMW_WARMUP_START = 0.01  # warmup from 1% of the peak
ADAMW_FLOOR = 0.1  # cosine down to 10% of the peak (3e-5 for 3e-4)

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
    opt, scheduler = build_optimizer("sgd", torch.nn.Linear(1, 1), max_steps)
    for _ in range(max_steps):
        opt.step()
        scheduler.step()
    assert abs(opt.param_groups[0]["lr"]) <= 1e-12 * SGD_DEFAULT_LR


@given(max_steps=step_counts, lr=lr_overrides)
def test_adamw_warms_up_linearly_then_follows_the_cosine_to_its_floor(max_steps, lr):
    peak = ADAMW_DEFAULT_LR if lr is None else lr
    floor = ADAMW_FLOOR * peak
    warmup = warmup_steps(max_steps, 0.1)
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
    optimizer, scheduler = build_optimizer(recipe, tiny_gpt(), 10, None, 0.042)
    assert hasattr(optimizer, "step") and hasattr(scheduler, "step")
    assert all(group["weight_decay"] == 0.042 for group in optimizer.param_groups)


def test_recipe_defaults_are_the_signature_defaults_and_overrides_replace_them():
    assert recipe_defaults("sgd") == {"lr": SGD_DEFAULT_LR, "weight_decay": 0.0}
    assert recipe_defaults("adamw") == {"lr": ADAMW_DEFAULT_LR, "weight_decay": 0.1}
    from mainrun.config import TrainConfig
    from mainrun.variant import Variant

    adamw = TrainConfig(variant=Variant(opt="adamw")).with_values(lr=1e-3).resolved().optim
    assert (adamw.lr, adamw.weight_decay) == (1e-3, 0.1)
    sgd = TrainConfig().with_values(weight_decay=0.05).resolved().optim
    assert (sgd.lr, sgd.weight_decay) == (SGD_DEFAULT_LR, 0.05)


@given(max_steps=st.integers(1, 20_000))
def test_the_warmup_fraction_is_the_plans_tenth_of_the_steps_exactly(max_steps):
    """`opt.warmup` is a fraction; at the plan's 0.1 it must give max_steps // 10 for every run length,
    so that the reference recipe's schedule is unchanged by its becoming a setting."""
    assert warmup_steps(max_steps, 0.1) == max(1, max_steps // 10)


def test_a_recipe_setting_moves_its_schedule():
    base, longer = lr_curve("adamw", 100), lr_curve("adamw", 100, warmup=0.3)
    assert base.index(max(base)) == 10 and longer.index(max(longer)) == 30
    assert lr_curve("adamw", 100, floor=0.5)[-1] == pytest.approx(0.5 * 3e-4, rel=0.01)


def test_a_recipe_without_defaults_is_refused_by_name():
    def bare(model, max_steps, lr, weight_decay):  # not registered: only its signature is read
        raise AssertionError("never called")

    OPTIMIZERS.register("bare-for-test")(bare)
    try:
        with pytest.raises(ConfigError, match="'bare-for-test' must take lr="):
            recipe_defaults("bare-for-test")
    finally:
        OPTIMIZERS._factories.pop("bare-for-test")


def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=300, block_size=8, n_layer=2, n_head=2, d_model=16))


def test_decay_groups_split_matrices_from_norms_biases_and_the_tied_embedding():
    model = tiny_gpt()
    decay, no_decay = decay_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    # Every parameter exactly once (the tied head is the embedding's tensor).
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert decayed == {n for n, p in model.named_parameters() if p.dim() == 2 and "token_emb" not in n
                       and n != "positions.pos_emb"}
    assert decayed and all(n.endswith(("qkv.weight", "proj.weight", "net.0.weight", "net.2.weight")) for n in decayed)
    assert "token_emb.weight" in kept and "positions.pos_emb" in kept
    assert all(n.endswith(".bias") or "ln" in n or n in ("token_emb.weight", "positions.pos_emb") for n in kept)


def test_a_recipe_receives_the_model_and_can_group_its_parameters():
    """The interface a plugin recipe uses: named parameters in, groups with their own decay out."""
    def grouped_adamw(model, max_steps, lr=1e-3, weight_decay=0.1, *, warmup=0.1):
        opt = torch.optim.AdamW(decay_groups(model, weight_decay), lr=lr)
        return opt, warmup_cosine(opt, max_steps, warmup, warmup_start=0.01, floor=0.1)

    model = tiny_gpt()
    norm_weight = model.blocks[0].ln1.weight
    before = norm_weight.detach().clone()
    opt, scheduler = grouped_adamw(model, 10)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    for _ in range(3):
        opt.step()
        scheduler.step()
    # With zero gradients only weight decay moves a weight: the norm weight, in the no-decay group, stays.
    assert torch.equal(norm_weight, before)
    assert not torch.equal(model.blocks[0].attn.qkv.weight, torch.zeros_like(model.blocks[0].attn.qkv.weight))
    assert [g["lr"] for g in opt.param_groups][0] == opt.param_groups[1]["lr"]


def test_muon_orthogonalises_the_block_matrices_and_adamw_takes_the_rest():
    model = tiny_gpt()
    optimizer, scheduler = build_optimizer("muon", model, 20)
    muon, adamw = optimizer.members
    assert isinstance(muon, torch.optim.Muon) and isinstance(adamw, torch.optim.AdamW)
    names = {id(p): n for n, p in model.named_parameters()}
    in_muon = {names[id(p)] for g in muon.param_groups for p in g["params"]}
    in_adamw = {names[id(p)] for g in adamw.param_groups for p in g["params"]}
    assert in_muon == {n for n, p in model.named_parameters() if n.startswith("blocks.") and p.dim() == 2}
    assert in_muon.isdisjoint(in_adamw) and len(in_muon) + len(in_adamw) == len(list(model.parameters()))
    assert "token_emb.weight" in in_adamw and muon.param_groups[0]["adjust_lr_fn"] == "match_rms_adamw"
    # One schedule shape drives both: their lrs move together, step for step.
    x = torch.randint(300, (2, 8), generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        before = [p.detach().clone() for p in model.parameters()]
        loss = model.loss(x, x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        assert muon.param_groups[0]["lr"] == pytest.approx(adamw.param_groups[0]["lr"])
        assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()) if b.grad is not None
                   and b.grad.abs().sum() > 0)
    assert lr_curve("muon", 50) == pytest.approx(lr_curve("adamw", 50))


@given(n_layer=st.integers(1, 3), n_head=st.sampled_from([1, 2]), width=st.sampled_from([8, 16]))
def test_muon_split_covers_every_parameter_once_whatever_the_shape(n_layer, n_head, width):
    from mainrun.components.optimizers import block_matrices
    from mainrun.variant import Variant

    for mlp in ("gelu", "swiglu"):
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=300, block_size=8, n_layer=n_layer, n_head=n_head, d_model=width * n_head,
                                variant=Variant(mlp=mlp, qknorm="rmsnorm")))
        matrices, rest = block_matrices(model)
        ids = [id(p) for p in matrices + rest]
        assert len(ids) == len(set(ids)) == len(list(model.parameters()))
        assert all(p.dim() == 2 for p in matrices) and model.token_emb.weight in rest
        # Every 2-D weight of the blocks, and nothing of the embedding, head or norms.
        assert len(matrices) == sum(1 for p in model.blocks.parameters() if p.dim() == 2)


def test_a_split_recipe_resumes_both_optimizers_and_their_schedules_exactly():
    """Muon + AdamW saved as one (a checkpoint holds both members' states): loaded into a fresh pair, the
    next steps give the uninterrupted run's weights, bit for bit."""
    x = torch.randint(300, (2, 8), generator=torch.Generator().manual_seed(0))

    def train(model, optimizer, scheduler, steps):
        for _ in range(steps):
            optimizer.zero_grad()
            model.loss(x, x).backward()
            optimizer.step()
            scheduler.step()

    model = tiny_gpt()
    optimizer, scheduler = build_optimizer("muon", model, 20)
    train(model, optimizer, scheduler, 3)
    # Deep copies: a state dict holds the live moment tensors, which a checkpoint writes to disk.
    saved = copy.deepcopy((model.state_dict(), optimizer.state_dict(), scheduler.state_dict()))
    rng = torch.get_rng_state()  # dropout's stream, as a checkpoint keeps it
    train(model, optimizer, scheduler, 3)

    resumed = tiny_gpt()
    resumed.load_state_dict(saved[0])
    optimizer2, scheduler2 = build_optimizer("muon", resumed, 20)
    optimizer2.load_state_dict(saved[1])
    scheduler2.load_state_dict(saved[2])
    torch.set_rng_state(rng)
    train(resumed, optimizer2, scheduler2, 3)
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert [g["lr"] for g in optimizer2.param_groups] == [g["lr"] for g in optimizer.param_groups]
