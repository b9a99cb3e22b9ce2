"""Properties of the position schemes (mainrun/components/positions.py).

RoPE is checked through the registered factory (what the model uses) and through the table
helpers with a drawn base: rotations preserve norms, make scores depend only on relative position,
leave position 0 alone, invert with the opposite angle, and equal an independent complex-number
implementation of the documented pairing (dim i with i + hd/2, angle pos * base^(-2i/hd)).
Computations run in float64 so tolerances reflect the float32 tables, not accumulated rounding.
"""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mainrun.components.positions import POSITIONS, apply_rope, rope_cos_sin

ROPE_BASE = 10_000.0  # the documented base (README, Components), pinned as a literal

seeds = st.integers(0, 2**31 - 1)
batch_sizes = st.integers(1, 3)
head_counts = st.integers(1, 4)
half_head_dims = st.integers(1, 32)  # rope needs an even head dimension
block_sizes = st.integers(1, 256)
bases = st.sampled_from([ROPE_BASE, 100.0, 500_000.0])


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def registered_rope(block_size, n_head, head_dim):
    return POSITIONS.get("rope")(block_size, n_head * head_dim, n_head)


@st.composite
def rope_inputs(draw):
    """A rope module and q, k of shape (B, H, T, hd) with T <= block_size."""
    block_size = draw(block_sizes)
    n_head, head_dim = draw(head_counts), 2 * draw(half_head_dims)
    T = draw(st.integers(1, block_size))
    B, seed = draw(batch_sizes), draw(seeds)
    shape = (B, n_head, T, head_dim)
    return registered_rope(block_size, n_head, head_dim), randn(shape, seed), randn(shape, seed + 1)


@given(rope_inputs())
def test_rope_preserves_the_norm_of_every_head_vector(inputs):
    rope, q, k = inputs
    q_rot, k_rot = rope.rotate(q, k)
    torch.testing.assert_close(q_rot.norm(dim=-1), q.norm(dim=-1), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(k_rot.norm(dim=-1), k.norm(dim=-1), rtol=1e-6, atol=1e-9)


@given(rope_inputs())
def test_rope_leaves_position_zero_unchanged(inputs):
    rope, q, k = inputs
    q_rot, k_rot = rope.rotate(q, k)
    assert torch.equal(q_rot[..., 0, :], q[..., 0, :])
    assert torch.equal(k_rot[..., 0, :], k[..., 0, :])


@given(seed=seeds, block_size=st.integers(2, 256), half_head_dim=half_head_dims, data=st.data())
def test_rope_scores_depend_only_on_relative_position(seed, block_size, half_head_dim, data):
    """<R_m q, R_n k> == <R_(m+s) q, R_(n+s) k> for every m, n, s in the block."""
    head_dim = 2 * half_head_dim
    rope = registered_rope(block_size, 1, head_dim)
    # The same q (and k) at every position, so row m of the rotated tensor is R_m q.
    q = randn(head_dim, seed).expand(1, 1, block_size, head_dim)
    k = randn(head_dim, seed + 1).expand(1, 1, block_size, head_dim)
    q_rot, k_rot = rope.rotate(q, k)
    scores = (q_rot @ k_rot.transpose(-2, -1))[0, 0]  # scores[m, n] = <R_m q, R_n k>

    m = data.draw(st.integers(0, block_size - 1), label="m")
    n = data.draw(st.integers(0, block_size - 1), label="n")
    s = data.draw(st.integers(-min(m, n), block_size - 1 - max(m, n)), label="shift")
    scale = q[0, 0, 0].norm() * k[0, 0, 0].norm()
    assert abs(scores[m, n] - scores[m + s, n + s]) <= 1e-5 * scale

    # Every diagonal of the score matrix is constant: the same property over all (m, n, s) at once.
    for offset in range(-block_size + 1, block_size):
        diagonal = scores.diagonal(offset)
        torch.testing.assert_close(diagonal, diagonal[:1].expand_as(diagonal), rtol=0, atol=1e-5 * scale.item())


@given(seed=seeds, block_size=block_sizes, half_head_dim=half_head_dims, base=bases)
def test_rope_inverse_rotation_recovers_the_input(seed, block_size, half_head_dim, base):
    head_dim = 2 * half_head_dim
    cos, sin = (t.double() for t in rope_cos_sin(block_size, head_dim, base))
    x = randn((2, 3, block_size, head_dim), seed)

    recovered = apply_rope(apply_rope(x, cos, sin), cos, -sin)

    torch.testing.assert_close(recovered, x, rtol=1e-6, atol=1e-6)


def complex_rope(x, base):
    """RoPE written independently with complex numbers: pair (x_i, x_(i+hd/2)) is the complex
    number x_i + j x_(i+hd/2), multiplied by exp(j * pos * base^(-2i/hd))."""
    T, head_dim = x.shape[-2], x.shape[-1]
    half = head_dim // 2
    frequencies = 1.0 / base ** (torch.arange(half, dtype=torch.float64) * 2 / head_dim)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * frequencies[None, :]
    rotations = torch.polar(torch.ones_like(angles), angles)  # (T, half), complex128
    pairs = torch.view_as_complex(torch.stack([x[..., :half], x[..., half:]], dim=-1).contiguous())
    rotated = torch.view_as_real(pairs * rotations)
    return torch.cat([rotated[..., 0], rotated[..., 1]], dim=-1)


@given(rope_inputs())
def test_registered_rope_equals_complex_implementation(inputs):
    rope, q, k = inputs
    q_rot, k_rot = rope.rotate(q, k)
    # The module's tables are float32, so angles agree to float32 precision (x up to ~5, so 1e-5).
    torch.testing.assert_close(q_rot, complex_rope(q, ROPE_BASE), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(k_rot, complex_rope(k, ROPE_BASE), rtol=1e-5, atol=1e-5)


@given(seed=seeds, block_size=block_sizes, half_head_dim=half_head_dims, base=bases)
def test_rope_tables_equal_complex_implementation_for_any_base(seed, block_size, half_head_dim, base):
    head_dim = 2 * half_head_dim
    cos, sin = (t.double() for t in rope_cos_sin(block_size, head_dim, base))
    x = randn((2, block_size, head_dim), seed)
    torch.testing.assert_close(apply_rope(x, cos, sin), complex_rope(x, base), rtol=1e-5, atol=1e-5)


def test_rope_rejects_an_odd_head_dimension():
    with pytest.raises(ValueError, match="even head dimension"):
        rope_cos_sin(16, 7, ROPE_BASE)


@given(seed=seeds, block_size=block_sizes, d_model=st.integers(1, 64), data=st.data())
def test_learned_positions_add_one_row_per_position_and_leave_qk_alone(seed, block_size, d_model, data):
    T = data.draw(st.integers(1, block_size), label="T")
    positions = POSITIONS.get("learned")(block_size, d_model, 1)
    with torch.no_grad():  # zeros at init would hide a wrong slice
        positions.pos_emb.copy_(randn(positions.pos_emb.shape, seed))
    x = randn((2, T, d_model), seed + 1).float()

    torch.testing.assert_close(positions.embed(x), x + positions.pos_emb[0, :T])
    q, k = randn((2, 1, T, d_model), seed + 2), randn((2, 1, T, d_model), seed + 3)
    q_out, k_out = positions.rotate(q, k)
    assert torch.equal(q_out, q) and torch.equal(k_out, k)


@given(rope_inputs())
def test_rope_leaves_the_embedding_alone(inputs):
    rope, q, _ = inputs
    x = q.flatten(1, 2).transpose(1, 2)  # any (B, T, d) tensor
    assert torch.equal(rope.embed(x), x)
