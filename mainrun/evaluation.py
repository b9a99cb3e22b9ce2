"""The reference's metric, `evaluate()`, and the two that stay comparable when it does not.

`val_loss` is exactly the reference's: whole windows of batch x block + 1 tokens, the summed token
cross-entropy over the characters of the val text, so a batch or block change alone moves it.
`val_loss_full` scores every val token once in rows of block_size (the reference's units, comparable
across batch sizes) and `val_bpb` is the same sum in bits per byte of the val titles, each <eos>
counted as one byte.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from .model import GPT


def eval_windows(ids: torch.Tensor, block_size: int, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive non-overlapping windows of B*T+1 tokens, as the reference's iter_full_split."""
    span = block_size * batch_size + 1
    for ptr in range(0, len(ids) - span + 1, span):
        chunk = ids[ptr : ptr + span]
        yield chunk[:-1].view(batch_size, block_size), chunk[1:].view(batch_size, block_size)


# Rows per forward pass of the full-coverage metric: fixed, so that the metric never depends on the
# training batch (rows are independent: the row count only changes how many run at once).
FULL_EVAL_ROWS = 64


def full_windows(ids: torch.Tensor, block_size: int, rows: int = FULL_EVAL_ROWS
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every token but the first (which has no context) as a target exactly once: rows of block_size
    tokens at 0, T, 2T, ... with their next-token targets, `rows` at a time, then the shorter tail."""
    targets = len(ids) - 1
    whole = targets // block_size
    x = ids[: whole * block_size].view(whole, block_size)
    y = ids[1 : whole * block_size + 1].view(whole, block_size)
    for start in range(0, whole, rows):
        yield x[start : start + rows], y[start : start + rows]
    if targets > whole * block_size:
        yield ids[whole * block_size : targets].view(1, -1), ids[whole * block_size + 1 :].view(1, -1)


@dataclass
class Evaluation:
    loss: float  # summed token cross-entropy / characters of val text: the reference metric
    loss_per_token: float
    coverage: float
    loss_full: float = float("nan")  # every val token once, summed / characters: the reference's units
    bpb: float = float("nan")  # the same sum in bits, per UTF-8 byte of the val titles (<eos> one byte)


@torch.no_grad()
def evaluate(model: GPT, val_ids: torch.Tensor, val_chars: int, block_size: int, batch_size: int,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
             val_bytes: int | None = None) -> Evaluation:
    """The reference metric; with `val_bytes`, also the full-coverage metric and bits per byte."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for x, y in eval_windows(val_ids, block_size, batch_size):
        with autocast():
            total += model.loss_sum(x, y)
        tokens += y.numel()
    ev = Evaluation(loss=total / val_chars, loss_per_token=total / max(tokens, 1), coverage=tokens / len(val_ids))
    if val_bytes is not None:
        full = evaluate_full_sum(model, val_ids, block_size, autocast)
        ev.loss_full, ev.bpb = full / val_chars, full / math.log(2) / val_bytes
    model.train(was_training)
    return ev


@torch.no_grad()
def evaluate_full_sum(model: GPT, val_ids: torch.Tensor, block_size: int,
                      autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> float:
    """Summed cross-entropy (nats) of every val token after the first, in `full_windows`."""
    total = 0.0
    for x, y in full_windows(val_ids, block_size):
        with autocast():
            total += model.loss_sum(x, y)
    return total
