"""mainrun/losses.py: the chunked head + cross-entropy against torch's, value and gradients, over
several chunks, with a loss weight, with only one input needing grad, and the float64 sum."""
import pytest
import torch
import torch.nn.functional as F

from mainrun import losses


def _data(n=11, d=6, v=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64).float() * 3, torch.randn(v, d, generator=g),
            torch.randint(0, v, (n,), generator=g))


def test_cross_entropy_in_place_returns_sum_exp_and_row_sums():
    logits = torch.tensor([[1.0, 2.0, 4.0], [0.0, -1.0, 3.0]])
    targets = torch.tensor([2, 0])
    expected = F.cross_entropy(logits, targets, reduction="sum").item()
    total, exp, row_sum = losses._cross_entropy_in_place(logits.clone(), targets)
    assert total.dtype == torch.float64 and total.item() == pytest.approx(expected, rel=1e-6)
    assert torch.allclose(exp, (logits - logits.amax(1, keepdim=True)).exp())
    assert torch.allclose(row_sum, exp.sum(1, keepdim=True))


@pytest.mark.parametrize("chunk", [1, 4, 11, 1024])
@pytest.mark.parametrize("weight_of_loss", [1.0, 3.0])
def test_value_and_gradients_match_torch(chunk, weight_of_loss):
    hidden, weight, targets = _data()
    h1, w1 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    h2, w2 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    ours = losses.linear_cross_entropy(h1, w1, targets, chunk)
    theirs = F.cross_entropy(h2 @ w2.T, targets)
    assert ours.dtype == torch.float32 and ours.shape == ()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    (ours * weight_of_loss).backward()
    (theirs * weight_of_loss).backward()
    assert torch.allclose(h1.grad, h2.grad, atol=1e-6) and torch.allclose(w1.grad, w2.grad, atol=1e-6)
    assert h1.grad.dtype == w1.grad.dtype == torch.float32
    total = losses.linear_cross_entropy_sum(hidden, weight, targets, chunk)
    assert type(total) is float
    assert total == pytest.approx(F.cross_entropy(hidden @ weight.T, targets, reduction="sum").item(), rel=1e-6)


@pytest.mark.parametrize("which", ["hidden", "weight", "none"])
def test_one_input_needing_grad(which):
    hidden, weight, targets = _data(seed=1)
    h2, w2 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    F.cross_entropy(h2 @ w2.T, targets).backward()
    h1 = hidden.clone().requires_grad_(which == "hidden")
    w1 = weight.clone().requires_grad_(which == "weight")
    loss = losses.linear_cross_entropy(h1, w1, targets, 4)
    assert loss.item() == pytest.approx(F.cross_entropy(hidden @ weight.T, targets).item(), rel=1e-6)
    if which == "none":
        assert not loss.requires_grad
        return
    loss.backward()
    if which == "hidden":
        assert torch.allclose(h1.grad, h2.grad, atol=1e-6) and w1.grad is None
    else:
        assert torch.allclose(w1.grad, w2.grad, atol=1e-6) and h1.grad is None


def test_bf16_weight_gets_its_gradient_in_its_dtype_and_autocast_picks_the_dtype():
    hidden, weight, targets = _data(seed=2)
    w = weight.to(torch.bfloat16).requires_grad_()
    h = hidden.clone().requires_grad_()
    losses.linear_cross_entropy(h, w, targets, 4).backward()
    assert w.grad.dtype == torch.bfloat16 and h.grad.dtype == torch.float32
    assert losses._compute_dtype(hidden) == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert losses._compute_dtype(hidden) == torch.bfloat16
        loss = losses.linear_cross_entropy(hidden, weight, targets)
        total = losses.linear_cross_entropy_sum(hidden, weight, targets)
    reference = F.cross_entropy((hidden.bfloat16() @ weight.bfloat16().T).float(), targets)
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(reference.item(), rel=1e-4)
    assert total == pytest.approx(reference.item() * len(targets), rel=1e-4)
    assert losses.CHUNK_ROWS == 1024
