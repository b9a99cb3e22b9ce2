"""Optimizer recipes: an optimizer together with its learning-rate schedule.

A recipe is `recipe(model, max_steps, lr=DEFAULT, weight_decay=DEFAULT) -> (optimizer, scheduler)`.
It receives the model, not a bare parameter iterator, so it can group parameters by name or module
(see `decay_groups`). Its keyword defaults are its hyperparameters: `recipe_defaults` reads them,
`--lr` / `--weight-decay` (or a grid axis) replace them, and every record states the value used.
The training loop steps both the optimizer and the scheduler once per step, as the reference does.
"""
from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler

from ..errors import ConfigError
from ..registry import Registry

OPTIMIZERS: Registry = Registry("opt", reference="sgd", slot="optimizer", always_named=True)

Recipe = tuple[torch.optim.Optimizer, lr_scheduler.LRScheduler]
RECIPE_HYPERPARAMETERS = ("lr", "weight_decay")


@OPTIMIZERS.register("sgd")
def sgd(model: nn.Module, max_steps: int, lr: float = 6e-3, weight_decay: float = 0.0) -> Recipe:
    """The reference: plain SGD, cosine from lr to zero over all steps."""
    # foreach only batches the per-tensor update into fewer kernels; without momentum the
    # arithmetic is the same as the reference's loop.
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)
    return opt, lr_scheduler.CosineAnnealingLR(opt, T_max=max_steps)


ADAMW_WARMUP_START = 0.01  # warmup starts at 1% of the peak lr
ADAMW_FLOOR = 0.1  # the cosine ends at 10% of the peak lr (3e-5 for the default 3e-4)


def adamw_warmup_steps(max_steps: int) -> int:
    # The recipe warms up for a tenth of training; at least one step so tiny runs keep the shape.
    return max(1, max_steps // 10)


def warmup_cosine(opt: torch.optim.Optimizer, max_steps: int) -> lr_scheduler.LRScheduler:
    """Linear warmup from 1% of the peak lr over max_steps//10 steps, then cosine to 10% of the peak.
    The peak is the first group's lr; torch's cosine takes one floor, so groups share the peak."""
    warmup = adamw_warmup_steps(max_steps)
    floor = opt.param_groups[0]["lr"] * ADAMW_FLOOR
    return lr_scheduler.SequentialLR(
        opt,
        schedulers=[
            lr_scheduler.LinearLR(opt, start_factor=ADAMW_WARMUP_START, end_factor=1.0, total_iters=warmup),
            lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, max_steps - warmup), eta_min=floor),
        ],
        milestones=[warmup],
    )


def fused_adamw(params: Any, lr: float, weight_decay: float) -> torch.optim.AdamW:
    # The fused kernel updates all tensors in one pass; on CPU it is several times faster than the
    # foreach path (benchmarks/), and nothing here depends on AdamW's exact rounding.
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay, fused=True)


@OPTIMIZERS.register("adamw")
def adamw(model: nn.Module, max_steps: int, lr: float = 3e-4, weight_decay: float = 0.1) -> Recipe:
    """AdamW on every parameter (decay included, as the plan did); warmup + cosine (`warmup_cosine`)."""
    opt = fused_adamw(model.parameters(), lr, weight_decay)
    return opt, warmup_cosine(opt, max_steps)


class SteppedTogether:
    """Several optimizers, or their schedulers, stepped and saved as one: for a recipe that splits
    the model between two algorithms. `key` names the list in the state dict (checkpoints hold it)."""

    key = "members"

    def __init__(self, members: list[Any]):
        self.members = members

    def step(self) -> None:
        for member in self.members:
            member.step()

    def state_dict(self) -> dict[str, Any]:
        return {self.key: [member.state_dict() for member in self.members]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for member, sub in zip(self.members, state[self.key]):
            member.load_state_dict(sub)


class OptimizerGroup(SteppedTogether):
    """What the training loop (zero_grad, step, param_groups) and clip_grad_norm_ (which works on
    the model's parameters) need of an optimizer."""

    key = "optimizers"

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [group for opt in self.members for group in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.members:
            opt.zero_grad(set_to_none=set_to_none)


class ScheduleGroup(SteppedTogether):
    """The schedulers of an `OptimizerGroup`."""

    key = "schedulers"


def block_matrices(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(the 2-D weight matrices inside the transformer blocks, every other parameter): the split
    of Muon-with-AdamW recipes. Embeddings, the (tied) head, norms and biases fall in the second."""
    inside = {id(p) for p in model.blocks.parameters() if p.dim() == 2}
    trainable = [p for p in model.parameters() if p.requires_grad]  # a tied tensor comes once
    return [p for p in trainable if id(p) in inside], [p for p in trainable if id(p) not in inside]


@OPTIMIZERS.register("muon")
def muon(model: nn.Module, max_steps: int, lr: float = 3e-4, weight_decay: float = 0.1) -> Recipe:
    """`torch.optim.Muon` (Jordan et al. 2024) on the 2-D matrices inside the blocks, AdamW with the
    `adamw` recipe's settings on embeddings, head, norms and biases; one warmup + cosine shape
    (`warmup_cosine`) drives both. Muon's lr is adjusted to each matrix's shape by
    `adjust_lr_fn="match_rms_adamw"`: lr * 0.2 * sqrt(max(rows, cols)), which matches the RMS of an
    AdamW update so that Muon reuses AdamW's lr and weight decay (Liu et al. 2025, "Muon is Scalable
    for LLM Training"); the default is therefore the adamw recipe's 3e-4 and 0.1 for both."""
    matrices, rest = block_matrices(model)
    orthogonal = torch.optim.Muon(matrices, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw")
    adaptive = fused_adamw(rest, lr, weight_decay)
    schedules = [warmup_cosine(orthogonal, max_steps), warmup_cosine(adaptive, max_steps)]
    return OptimizerGroup([orthogonal, adaptive]), ScheduleGroup(schedules)  # type: ignore[return-value]


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two parameter groups: weight decay on the weight matrices of Linear layers, none on norms,
    biases and embeddings, positional ones included (nanoGPT's split, and most later recipes'). A
    head tied to the token embedding is the embedding's tensor, so it counts once, as an embedding."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    matrices = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)} - embeddings
    trainable = [p for p in model.parameters() if p.requires_grad]  # unique tensors, in the model's order
    decay = [p for p in trainable if id(p) in matrices]
    no_decay = [p for p in trainable if id(p) not in matrices]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def recipe_defaults(recipe: str) -> dict[str, float]:
    """`{"lr": ..., "weight_decay": ...}`: the recipe's own values, read from its signature."""
    signature = inspect.signature(OPTIMIZERS.get(recipe))
    defaults = {}
    for name in RECIPE_HYPERPARAMETERS:
        param = signature.parameters.get(name)
        if param is None or param.default is inspect.Parameter.empty:
            raise ConfigError(f"optimizer recipe '{recipe}' must take {name}=<its default> as a keyword argument")
        defaults[name] = float(param.default)
    return defaults


def resolved_hyperparameters(recipe: str, lr: float | None, weight_decay: float | None) -> dict[str, float]:
    """The lr and weight decay a run of this recipe actually uses: the overrides, else the defaults."""
    defaults = recipe_defaults(recipe)
    return {"lr": defaults["lr"] if lr is None else lr,
            "weight_decay": defaults["weight_decay"] if weight_decay is None else weight_decay}


def build_optimizer(recipe: str, model: nn.Module, max_steps: int, lr: float | None = None,
                    weight_decay: float | None = None) -> Recipe:
    return OPTIMIZERS.get(recipe)(model, max_steps, **resolved_hyperparameters(recipe, lr, weight_decay))


class _ProbeModel(nn.Module):
    """The smallest model every recipe can split: one matrix inside a block, one embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(2, 2, bias=False)])
        self.token_emb = nn.Embedding(2, 2)


def lr_curve(recipe: str, max_steps: int, lr: float | None = None) -> list[float]:
    """The learning rate a recipe uses at each step 0..max_steps-1 (for plots and tests)."""
    model = _ProbeModel()
    opt, sched = build_optimizer(recipe, model, max_steps, lr)
    lrs = []
    for _ in range(max_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs
