"""Properties of the init recipes (mainrun/components/inits.py), checked on whole models.

Standard deviations are compared with a tolerance of a few standard errors of the estimate, so the
check is as strict as the sample size allows: for n draws from N(0, sigma^2) the sample std has
standard error ~ sigma / sqrt(2n) and the sample mean sigma / sqrt(n).
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from mainrun.components import INITS, NORMS, POSITIONS
from mainrun.variant import Variant
from mainrun.model import GPT, GPTConfig

# Standard errors allowed. Every example checks ~20 tensors twice; at 5 SE a correct init fails one
# check with probability ~6e-7, while a wrong std (0.02 vs sqrt(2/64) = 0.18) is off by hundreds.
STANDARD_ERRORS = 5.0


@st.composite
def model_configs(draw, init):
    n_head = draw(st.sampled_from([1, 2, 4]))
    return GPTConfig(
        vocab_size=draw(st.integers(300, 1000)),
        block_size=draw(st.integers(8, 64)),
        n_layer=draw(st.integers(1, 2)),
        n_head=n_head,
        d_model=n_head * draw(st.sampled_from([8, 16, 32])),
        dropout=0.1,
        variant=Variant(norm=draw(st.sampled_from(NORMS.names())), pos=draw(st.sampled_from(POSITIONS.names())),
                        init=init),
    )


def build(cfg, seed):
    torch.manual_seed(seed)
    return GPT(cfg)


def weight_modules(model):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Embedding))]


def assert_normal_with_std(name, weight, std):
    n = weight.numel()
    sample_mean, sample_std = weight.double().mean().item(), weight.double().std().item()
    assert abs(sample_mean) <= STANDARD_ERRORS * std / math.sqrt(n), f"{name}: mean {sample_mean:.3g}"
    assert abs(sample_std - std) <= STANDARD_ERRORS * std / math.sqrt(2 * (n - 1)), (
        f"{name}: std {sample_std:.5g}, expected {std:.5g} (n={n})"
    )


def assert_linear_biases_zero(model):
    for name, module in weight_modules(model):
        if isinstance(module, nn.Linear) and module.bias is not None:
            assert torch.count_nonzero(module.bias) == 0, f"{name}.bias is not zero"


@given(cfg=model_configs("default"), seed=st.integers(0, 2**31 - 1))
def test_default_init_draws_std_002_weights_and_zero_biases(cfg, seed):
    model = build(cfg, seed)
    for name, module in weight_modules(model):
        assert_normal_with_std(name, module.weight, 0.02)
    assert_linear_biases_zero(model)


@given(cfg=model_configs("kaiming"), seed=st.integers(0, 2**31 - 1))
def test_kaiming_init_draws_std_sqrt_2_over_fan_in(cfg, seed):
    model = build(cfg, seed)
    for name, module in weight_modules(model):
        # Linear weights are (out, in); Embedding weights (vocab, d) are treated like a Linear
        # from d, so fan_in is dim 1 for both.
        fan_in = module.weight.shape[1]
        assert_normal_with_std(name, module.weight, math.sqrt(2.0 / fan_in))
    assert_linear_biases_zero(model)


@given(cfg=model_configs("scaled"), seed=st.integers(0, 2**31 - 1), mlp=st.sampled_from(["gelu", "swiglu"]))
def test_scaled_init_shrinks_only_the_residual_projections(cfg, seed, mlp):
    import dataclasses

    cfg = dataclasses.replace(cfg, variant=cfg.variant.replace(mlp=mlp))
    model = build(cfg, seed)
    residual_std = 0.02 / math.sqrt(2 * cfg.n_layer)
    flagged = 0
    for name, module in weight_modules(model):
        is_residual = getattr(module, "residual_projection", False)
        flagged += is_residual
        assert_normal_with_std(name, module.weight, residual_std if is_residual else 0.02)
    assert flagged == 2 * cfg.n_layer  # attention's proj and the feed-forward's output, in every block
    assert_linear_biases_zero(model)


def test_scaled_init_draws_the_reference_stream():
    """One pass in module order: with one layer of std 0.02 everywhere but the residual projections,
    every other weight equals the default init's, draw for draw."""
    cfg = GPTConfig(vocab_size=300, block_size=8, n_layer=2, n_head=2, d_model=16, variant=Variant(init="scaled"))
    scaled, default = build(cfg, seed=3), build(GPTConfig(vocab_size=300, block_size=8, n_layer=2, n_head=2,
                                                            d_model=16), seed=3)
    residual = 0.02 / math.sqrt(4) / 0.02
    for (name, a), (_, b) in zip(weight_modules(scaled), weight_modules(default)):
        factor = residual if getattr(a, "residual_projection", False) else 1.0
        assert torch.allclose(a.weight, b.weight * factor, atol=1e-7), name


@pytest.mark.parametrize("init", INITS.names())
def test_head_is_tied_to_token_embedding(init):
    model = build(GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=2, d_model=16, variant=Variant(init=init)), seed=0)
    assert model.head.weight is model.token_emb.weight


@pytest.mark.parametrize("init", ["default", "kaiming"])
def test_init_leaves_norms_and_learned_positions_at_construction_values(init):
    """The reference: norm weights 1, biases 0; the positional embedding starts (and stays) zero."""
    cfg = GPTConfig(vocab_size=300, block_size=8, n_layer=2, n_head=2, d_model=16,
                      variant=Variant(init=init))
    model = build(cfg, seed=0)
    assert torch.count_nonzero(model.positions.pos_emb) == 0
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2 * cfg.n_layer + 1
    for norm in norms:
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))
