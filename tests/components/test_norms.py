"""Properties of the norm components (mainrun/components/norms.py).

RMSNorm is checked against its formula and the invariants that make it a normaliser; LayerNorm
against torch's functional form. Inputs come from a seeded torch.Generator so every hypothesis
example is reproducible from the drawn seed alone.
"""
import math

import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from mainrun.components.norms import NORMS

# The documented value (README, Components), pinned here so that a change to the module shows up as a failure.
RMSNORM_EPS = 1e-8

seeds = st.integers(0, 2**31 - 1)
widths = st.integers(1, 96)
leading_shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3)
# Activations of very different magnitudes; log-uniform so tiny and huge scales are both drawn.
log10_scales = st.floats(-4.0, 4.0)


def randn(shape, seed, dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def rmsnorm_with_random_weight(d_model, seed):
    norm = NORMS.get("rmsnorm")(d_model)
    with torch.no_grad():
        norm.weight.copy_(randn(d_model, seed + 1))
    return norm


def mean_square(x):
    return x.double().pow(2).mean(-1)


@given(seed=seeds, d_model=widths, lead=leading_shapes, log10_scale=log10_scales)
def test_rmsnorm_matches_formula(seed, d_model, lead, log10_scale):
    x = randn((*lead, d_model), seed) * 10.0**log10_scale
    norm = rmsnorm_with_random_weight(d_model, seed)

    # The formula evaluated in float64, independently of torch's kernel.
    expected = x.double() * torch.rsqrt(mean_square(x).unsqueeze(-1) + RMSNORM_EPS) * norm.weight.double()

    torch.testing.assert_close(norm(x).double(), expected, rtol=1e-5, atol=1e-6)


@given(seed=seeds, d_model=widths, lead=leading_shapes, log10_scale=log10_scales, log10_factor=st.floats(-3.0, 3.0))
def test_rmsnorm_is_invariant_to_positive_rescaling(seed, d_model, lead, log10_scale, log10_factor):
    x = randn((*lead, d_model), seed) * 10.0**log10_scale
    factor = 10.0**log10_factor
    # Invariance only holds while eps is negligible against mean(x^2) for both x and factor * x;
    # below that the norm deliberately stops amplifying (near-)zero vectors.
    smallest_mean_square = mean_square(x).min().item() * min(1.0, factor) ** 2
    assume(smallest_mean_square > 1e4 * RMSNORM_EPS)
    norm = rmsnorm_with_random_weight(d_model, seed)

    torch.testing.assert_close(norm(x * factor), norm(x), rtol=1e-4, atol=1e-5)


@given(seed=seeds, d_model=widths, lead=leading_shapes, log10_scale=log10_scales)
def test_rmsnorm_output_has_unit_rms_with_unit_weight(seed, d_model, lead, log10_scale):
    x = randn((*lead, d_model), seed) * 10.0**log10_scale
    assume(mean_square(x).min().item() > 1e4 * RMSNORM_EPS)
    norm = NORMS.get("rmsnorm")(d_model)
    assert torch.equal(norm.weight, torch.ones(d_model)), "rmsnorm must start with unit weight"

    rms = mean_square(norm(x)).sqrt()

    torch.testing.assert_close(rms, torch.ones_like(rms), rtol=1e-4, atol=0.0)


@given(
    seed=seeds,
    d_model=widths,
    lead=leading_shapes,
    # Down to exact zeros (where eps alone keeps the gradient finite) and up to where x^2 nears
    # the float32 range.
    log10_scale=st.one_of(st.just(-math.inf), st.floats(-30.0, 15.0)),
)
def test_rmsnorm_gradients_are_finite(seed, d_model, lead, log10_scale):
    x = (randn((*lead, d_model), seed) * 10.0**log10_scale).requires_grad_()
    norm = rmsnorm_with_random_weight(d_model, seed)
    upstream = randn((*lead, d_model), seed + 2)

    (norm(x) * upstream).sum().backward()

    assert torch.isfinite(x.grad).all()
    assert torch.isfinite(norm.weight.grad).all()


@given(seed=seeds, d_model=st.integers(2, 96), lead=leading_shapes, log10_scale=log10_scales)
def test_layernorm_equals_functional_layer_norm(seed, d_model, lead, log10_scale):
    x = randn((*lead, d_model), seed) * 10.0**log10_scale
    norm = NORMS.get("layernorm")(d_model)
    # Random affine parameters, so a swapped or ignored weight/bias cannot hide behind 1 and 0.
    with torch.no_grad():
        norm.weight.copy_(randn(d_model, seed + 1))
        norm.bias.copy_(randn(d_model, seed + 2))

    expected = F.layer_norm(x, (d_model,), norm.weight, norm.bias, eps=1e-5)

    torch.testing.assert_close(norm(x), expected)


def test_rmsnorm_uses_the_documented_eps():
    assert NORMS.get("rmsnorm")(8).eps == RMSNORM_EPS
