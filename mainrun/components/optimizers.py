"""Optimizer recipes: an optimizer together with its learning-rate schedule.

A recipe is `recipe(model, max_steps, lr=DEFAULT, weight_decay=DEFAULT, *, settings...) ->
(optimizer, scheduler)`. It receives the model, not a bare parameter iterator, so it can group
parameters by name or module (see `decay_groups`). Its `lr` and `weight_decay` defaults are the
training's `--lr` / `--weight-decay` when those are not given (`recipe_defaults`; every record states
the value used); its keyword-only parameters are its own settings, such as the warmup fraction
(`opt.warmup`), set in a variant or swept as an axis like any member's.
The training loop steps both the optimizer and the scheduler once per step, as the reference does.
"""
from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler

from ..errors import ConfigError
from ..registry import Registry

OPTIMIZERS: Registry = Registry("opt", reference="sgd", slot="optimizer", always_named=True)

Recipe = tuple[torch.optim.Optimizer, lr_scheduler.LRScheduler]
RECIPE_HYPERPARAMETERS = ("lr", "weight_decay")


# A μP model's parameters carry `mup_width = (kind, m)` (`mainrun.components.parametrizations`): each
# rule is, per kind, the power of the width multiplier m its lr is scaled by (its weight decay by the
# opposite power, so that lr * weight decay stays put).
MUP_LR_EXPONENTS = {
    "adam": {"hidden": -1.0, "vector": 0.0},  # TP5 Table 3; mup.MuAdam
    "sgd": {"hidden": 0.0, "vector": 1.0},  # TP5 Table 3; mup.MuSGD (hidden matrices keep their lr)
    "muon": {"hidden": -0.5, "vector": 0.0},  # constant spectral norm of an RMS-matched update
}


def width_groups(params: Any, lr: float, weight_decay: float, rule: str) -> Any:
    """Parameter groups with each μP parameter's lr and weight decay scaled by `MUP_LR_EXPONENTS[rule]`;
    the parameters as given when none is μP's (so the standard model builds its optimizer as before)."""
    params = list(params)
    if not any(hasattr(p, "mup_width") for p in params):
        return params
    groups: dict[float, dict[str, Any]] = {}
    for p in params:
        kind, multiplier = getattr(p, "mup_width", ("vector", 1.0))
        factor = multiplier ** MUP_LR_EXPONENTS[rule][kind]
        group = groups.setdefault(factor, {"params": [], "lr": lr * factor, "weight_decay": weight_decay / factor})
        group["params"].append(p)
    return list(groups.values())


@OPTIMIZERS.register("sgd")
def sgd(model: nn.Module, max_steps: int, lr: float = 6e-3, weight_decay: float = 0.0) -> Recipe:
    """The reference: plain SGD, cosine from lr to zero over all steps."""
    # foreach only batches the per-tensor update into fewer kernels; without momentum the
    # arithmetic is the same as the reference's loop.
    params = width_groups(model.parameters(), lr, weight_decay, "sgd")
    opt = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, foreach=True)
    return opt, lr_scheduler.CosineAnnealingLR(opt, T_max=max_steps)


def warmup_steps(max_steps: int, warmup: float) -> int:
    """`warmup` of the steps, at least one so tiny runs keep the shape: max_steps // 10 at the plan's
    0.1 (the small offset keeps a product such as 70 * 0.1 = 7.000000000000001 from rounding it)."""
    return max(1, math.floor(max_steps * warmup + 1e-9))


def warmup_cosine(opt: torch.optim.Optimizer, max_steps: int, warmup: float, warmup_start: float,
                  floor: float) -> lr_scheduler.LRScheduler:
    """Linear warmup from `warmup_start` of the peak lr over `warmup` of the steps, then cosine down to
    `floor` of the peak. Torch's cosine takes one floor (the first group's): groups with their own
    peaks (μP's) get the same shape as one factor of each group's peak."""
    steps = warmup_steps(max_steps, warmup)
    if len({group["lr"] for group in opt.param_groups}) > 1:
        cosine_steps = max(1, max_steps - steps)

        def factor(step: int) -> float:
            if step < steps:
                return warmup_start + (1.0 - warmup_start) * step / steps
            return floor + (1.0 - floor) * (1 + math.cos(math.pi * min(step - steps, cosine_steps) / cosine_steps)) / 2
        return lr_scheduler.LambdaLR(opt, factor)
    lowest = opt.param_groups[0]["lr"] * floor
    return lr_scheduler.SequentialLR(
        opt,
        schedulers=[
            lr_scheduler.LinearLR(opt, start_factor=warmup_start, end_factor=1.0, total_iters=steps),
            lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, max_steps - steps), eta_min=lowest),
        ],
        milestones=[steps],
    )


def fused_adamw(params: Any, lr: float, weight_decay: float) -> torch.optim.AdamW:
    # The fused kernel updates all tensors in one pass; on CPU it is several times faster than the
    # foreach path (benchmarks/), and nothing here depends on AdamW's exact rounding.
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay, fused=True)


@OPTIMIZERS.register("adamw")
def adamw(model: nn.Module, max_steps: int, lr: float = 3e-4, weight_decay: float = 0.1, *, warmup: float = 0.1,
          warmup_start: float = 0.01, floor: float = 0.1) -> Recipe:
    """AdamW on every parameter (decay included, as the plan did); linear warmup over a tenth of the
    steps from 1% of the peak, then cosine to 10% of it (`warmup_cosine`; 3e-5 for the default 3e-4)."""
    opt = fused_adamw(width_groups(model.parameters(), lr, weight_decay, "adam"), lr, weight_decay)
    return opt, warmup_cosine(opt, max_steps, warmup, warmup_start, floor)


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
def muon(model: nn.Module, max_steps: int, lr: float = 3e-4, weight_decay: float = 0.1, *, warmup: float = 0.1,
         warmup_start: float = 0.01, floor: float = 0.1) -> Recipe:
    """`torch.optim.Muon` (Jordan et al. 2024) on the 2-D matrices inside the blocks, AdamW with the
    `adamw` recipe's settings on embeddings, head, norms and biases; one warmup + cosine shape
    (`warmup_cosine`) drives both. Muon's lr is adjusted to each matrix's shape by
    `adjust_lr_fn="match_rms_adamw"`: lr * 0.2 * sqrt(max(rows, cols)), which matches the RMS of an
    AdamW update so that Muon reuses AdamW's lr and weight decay (Liu et al. 2025, "Muon is Scalable
    for LLM Training"); the default is therefore the adamw recipe's 3e-4 and 0.1 for both."""
    matrices, rest = block_matrices(model)
    orthogonal = torch.optim.Muon(width_groups(matrices, lr, weight_decay, "muon"), lr=lr, weight_decay=weight_decay,
                                  adjust_lr_fn="match_rms_adamw")
    adaptive = fused_adamw(width_groups(rest, lr, weight_decay, "adam"), lr, weight_decay)
    schedules = [warmup_cosine(opt, max_steps, warmup, warmup_start, floor) for opt in (orthogonal, adaptive)]
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


def build_optimizer(recipe: str, model: nn.Module, max_steps: int, lr: float | None = None,
                    weight_decay: float | None = None, **settings: Any) -> Recipe:
    """The recipe's optimizer and schedule; an lr or weight decay not given is the recipe's own."""
    given = {name: value for name, value in (("lr", lr), ("weight_decay", weight_decay)) if value is not None}
    return OPTIMIZERS.build(recipe, model, max_steps, **given, **settings)


class _ProbeModel(nn.Module):
    """The smallest model every recipe can split: one matrix inside a block, one embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(2, 2, bias=False)])
        self.token_emb = nn.Embedding(2, 2)


def lr_curve(recipe: str, max_steps: int, lr: float | None = None, **settings: Any) -> list[float]:
    """The learning rate a recipe uses at each step 0..max_steps-1 (for plots and tests)."""
    model = _ProbeModel()
    opt, sched = build_optimizer(recipe, model, max_steps, lr, **settings)
    lrs = []
    for _ in range(max_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs
