"""Cross-entropy fused with the LM head, computed in row chunks.

The reference materialises (B*T, vocab) logits, then log-softmax output, then its gradient: three
half-gigabyte tensors per step at the reference scale, streamed through memory several times, plus
a zero-fill for the NLL gradient. Here each chunk of rows goes from hidden states to loss *and*
to the gradients of the head in one pass while it is still hot, so the step's time goes to the
three head matmuls (forward, grad of the input, grad of the weight) that any implementation needs.
The maths is the reference's mean cross-entropy; only float rounding differs.
"""
from __future__ import annotations

import torch

# 1024 rows x 16000 vocab x 4 bytes = 64 MiB of logits live at a time: big enough that each matmul
# stays efficient, small enough to sit beside the model without a second copy of the logits.
CHUNK_ROWS = 1024


def _cross_entropy_in_place(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The rows' summed cross-entropy (float64), `logits` overwritten by exp(logits - row max), and
    the rows' sums of those exponentials (softmax is their quotient).

    logsumexp = max + log(sum(exp(z - max))), the identity torch.logsumexp computes, but in one pass
    over the chunk and in place: torch.logsumexp writes z - max to a new buffer, and the softmax then
    took a second exp. At the `cpu` preset that was 9 ms of a 150 ms step (benchmarks/ measure it)."""
    target_logits = logits.gather(1, targets.unsqueeze(1))
    row_max = logits.amax(dim=1, keepdim=True)
    exp = logits.sub_(row_max).exp_()
    row_sum = exp.sum(dim=1, keepdim=True)
    return (row_max + row_sum.log() - target_logits).sum(dtype=torch.float64), exp, row_sum


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int,
                compute_dtype: torch.dtype) -> torch.Tensor:
        n = hidden.size(0)
        needs_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        total = torch.zeros((), dtype=torch.float64, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if needs_grad else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if needs_grad else None
        w = weight.to(compute_dtype)
        for start in range(0, n, chunk):
            h, t = hidden[start : start + chunk].to(compute_dtype), targets[start : start + chunk]
            chunk_total, exp, row_sum = _cross_entropy_in_place((h @ w.t()).float(), t)
            total += chunk_total
            if needs_grad:
                # d(lse - z_t)/dz = softmax(z) - onehot(t), built in place in the logits buffer.
                probs = exp.div_(row_sum)
                probs[torch.arange(len(t), device=t.device), t] -= 1.0
                probs = probs.to(compute_dtype)
                grad_hidden[start : start + chunk] = probs @ w
                grad_weight.addmm_(probs.t(), h) if compute_dtype == torch.float32 else grad_weight.add_(probs.t() @ h)
        if needs_grad:
            ctx.save_for_backward(grad_hidden, grad_weight)
            ctx.n, ctx.weight_dtype = n, weight.dtype
        return (total / n).float()

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_loss / ctx.n
        return grad_hidden.mul_(scale.to(grad_hidden.dtype)), grad_weight.mul_(scale).to(ctx.weight_dtype), None, None, None


def _compute_dtype(hidden: torch.Tensor) -> torch.dtype:
    # Under autocast the head matmuls run in the autocast dtype, like an nn.Linear would; the
    # softmax and the loss stay in float32.
    device = hidden.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         chunk: int = CHUNK_ROWS) -> torch.Tensor:
    """mean(cross_entropy(hidden @ weight.T, targets)) for hidden (N, d), weight (V, d), targets (N,)."""
    dtype = _compute_dtype(hidden)
    with torch.autocast(hidden.device.type, enabled=False):
        return _LinearCrossEntropy.apply(hidden, weight, targets, chunk, dtype)


@torch.no_grad()
def linear_cross_entropy_sum(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                             chunk: int = CHUNK_ROWS) -> float:
    """Summed cross-entropy, accumulated in float64 (the evaluation metric's numerator)."""
    dtype = _compute_dtype(hidden)
    w = weight.to(dtype)
    total = torch.zeros((), dtype=torch.float64, device=hidden.device)
    with torch.autocast(hidden.device.type, enabled=False):
        for start in range(0, hidden.size(0), chunk):
            logits = (hidden[start : start + chunk].to(dtype) @ w.t()).float()
            total += _cross_entropy_in_place(logits, targets[start : start + chunk])[0]
    return total.item()
