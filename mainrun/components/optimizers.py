"""Optimizer recipes: an optimizer together with its learning-rate schedule.

A factory takes `(params, max_steps, lr, weight_decay)`; `lr` and `weight_decay` are None unless
the user overrides them, in which case they replace the recipe's defaults. It returns
`(optimizer, scheduler)`; the training loop steps both once per step, as the reference does.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch.optim import lr_scheduler

from ..registry import Registry

OPTIMIZERS: Registry = Registry("opt")

Recipe = tuple[torch.optim.Optimizer, lr_scheduler.LRScheduler]


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable, max_steps: int, lr: float | None = None, weight_decay: float | None = None) -> Recipe:
    """The reference: plain SGD, cosine from lr to zero over all steps."""
    # foreach only batches the per-tensor update into fewer kernels; without momentum the
    # arithmetic is the same as the reference's loop.
    opt = torch.optim.SGD(
        params,
        lr=6e-3 if lr is None else lr,
        weight_decay=0.0 if weight_decay is None else weight_decay,
        foreach=True,
    )
    return opt, lr_scheduler.CosineAnnealingLR(opt, T_max=max_steps)


ADAMW_WARMUP_START = 0.01  # warmup starts at 1% of the peak lr
ADAMW_FLOOR = 0.1  # the cosine ends at 10% of the peak lr (3e-5 for the default 3e-4)


def adamw_warmup_steps(max_steps: int) -> int:
    # The recipe warms up for a tenth of training; at least one step so tiny runs keep the shape.
    return max(1, max_steps // 10)


@OPTIMIZERS.register("adamw")
def adamw(params: Iterable, max_steps: int, lr: float | None = None, weight_decay: float | None = None) -> Recipe:
    """AdamW; linear warmup from 1% to the peak over max_steps//10 steps, then cosine to 10% of peak."""
    peak = 3e-4 if lr is None else lr
    opt = torch.optim.AdamW(
        params,
        lr=peak,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.1 if weight_decay is None else weight_decay,
        # The fused kernel updates all tensors in one pass; on CPU it is several times faster
        # than the foreach path (benchmarks/), and nothing here depends on AdamW's exact rounding.
        fused=True,
    )
    warmup = adamw_warmup_steps(max_steps)
    schedule = lr_scheduler.SequentialLR(
        opt,
        schedulers=[
            lr_scheduler.LinearLR(opt, start_factor=ADAMW_WARMUP_START, end_factor=1.0, total_iters=warmup),
            lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, max_steps - warmup), eta_min=peak * ADAMW_FLOOR),
        ],
        milestones=[warmup],
    )
    return opt, schedule


def lr_curve(recipe: str, max_steps: int, lr: float | None = None) -> list[float]:
    """The learning rate a recipe uses at each step 0..max_steps-1 (for plots and tests)."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt, sched = OPTIMIZERS.get(recipe)([param], max_steps, lr, None)
    lrs = []
    for _ in range(max_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs
