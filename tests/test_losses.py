"""The chunked head + cross-entropy equals the reference's unfused loss, in value and gradients."""
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from mainrun.losses import linear_cross_entropy, linear_cross_entropy_sum


def problem(seed, n, vocab, d, scale):
    gen = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(n, d, generator=gen) * scale).requires_grad_()
    weight = (torch.randn(vocab, d, generator=gen) * 0.1).requires_grad_()
    targets = torch.randint(0, vocab, (n,), generator=gen)
    return hidden, weight, targets


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 300), vocab=st.integers(2, 400), d=st.integers(1, 48),
       chunk=st.integers(1, 128), scale=st.sampled_from([0.1, 1.0, 30.0]))
def test_matches_unfused_cross_entropy(seed, n, vocab, d, chunk, scale):
    hidden, weight, targets = problem(seed, n, vocab, d, scale)
    expected = F.cross_entropy(hidden @ weight.t(), targets)
    grads_expected = torch.autograd.grad(3.0 * expected, [hidden, weight])
    got = linear_cross_entropy(hidden, weight, targets, chunk=chunk)
    grads_got = torch.autograd.grad(3.0 * got, [hidden, weight])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for g, e in zip(grads_got, grads_expected):
        # softmax - onehot cancels near p = 1 in both implementations; compare on the gradient's scale.
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * e.abs().max().item() + 1e-7)
    summed = F.cross_entropy(hidden @ weight.t(), targets, reduction="sum").item()
    assert abs(linear_cross_entropy_sum(hidden, weight, targets, chunk=chunk) - summed) <= 1e-5 * max(1.0, abs(summed))


def test_tied_weight_accumulates_both_gradients():
    """The head shares its weight with the embedding: autograd must add the two contributions."""
    hidden, weight, targets = problem(0, 40, 30, 8, 1.0)
    ids = torch.randint(0, 30, (40,))
    def total(loss_fn):
        return loss_fn(F.embedding(ids, weight) + hidden, weight, targets)
    expected = torch.autograd.grad(total(lambda h, w, t: F.cross_entropy(h @ w.t(), t)), weight)[0]
    got = torch.autograd.grad(total(linear_cross_entropy), weight)[0]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_stays_close_and_keeps_dtypes():
    hidden, weight, targets = problem(1, 64, 100, 32, 1.0)
    expected = F.cross_entropy(hidden @ weight.t(), targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_cross_entropy(hidden, weight, targets, chunk=16)
    grad_hidden, grad_weight = torch.autograd.grad(got, [hidden, weight])
    assert got.dtype == torch.float32
    assert grad_hidden.dtype == hidden.dtype and grad_weight.dtype == weight.dtype
    assert abs(got.item() - expected.item()) < 2e-2
