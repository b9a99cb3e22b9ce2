"""Parametrizations: `standard` (the reference model, untouched) and `mup`, the Maximal Update
Parametrization (Yang et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
Hyperparameter Transfer", arXiv 2203.03466).

Under μP the best learning rate (and init scale) found at a narrow width stays best as the model
widens, so a proxy can be tuned and its values reused at full width. Width only: depth, steps and
batch must match between proxy and target.

A factory takes the built, initialised model (slot `init`, after the `init` family) and adapts it
in place. `mup` follows the recipe of the `mup` package and of the EleutherAI-Cerebras
practitioner's guide (2024) for a model with a tied embedding and head, with width multiplier
m = d_model / base_width (the base width is the `cpu` preset's d_model, 128, where μP and standard
coincide):
- hidden matrices (every 2-D weight inside the blocks, both dimensions growing with width): init
  std scaled by 1/sqrt(m), i.e. proportional to 1/sqrt(fan_in). An init recipe whose std already
  is (`kaiming`, listed in FAN_IN_INITS) is left as drawn;
- vector-like tensors (the tied embedding, positional tables, norm gains, biases): init unchanged;
- logits multiplied by 1/m (the tied head's output multiplier);
- attention scores scaled by sqrt(base_head_dim) / head_dim, i.e. proportional to 1/head_dim
  instead of 1/sqrt(head_dim) (the μP attention), equal to the standard scale at the base width;
- learning rates per parameter kind, each optimizer recipe by its own rule (`mup_lr_exponents` in
  `mainrun.components.optimizers`): Adam-like updates scale hidden matrices' lr by 1/m (TP5,
  Table 3; `mup.MuAdam`); SGD scales vector-like tensors' lr by m and leaves hidden matrices
  (`mup.MuSGD`); Muon's orthogonalised updates, RMS-matched to AdamW (lr * 0.2 * sqrt(max dim)),
  scale hidden matrices' lr by 1/sqrt(m), so that their spectral norm stays constant (the spectral
  condition for feature learning, Yang, Simon and Bernstein 2023, arXiv 2310.17813), and keep AdamW's
  rule for the rest. Weight decay moves the other way, so that lr * weight decay, the decay per
  step, stays what it was at the base width (as `mup`'s optimizers do).
Each parameter carries its kind and m as `mup_width` for the optimizer recipes to read.
"""
from __future__ import annotations

import math

from torch import nn

from ..registry import Registry

PARAMETRIZATIONS: Registry = Registry("param", reference="standard", slot="init")

# Init recipes whose hidden-matrix std already scales as 1/sqrt(fan_in): μP leaves them as drawn.
FAN_IN_INITS = {"kaiming"}


@PARAMETRIZATIONS.register("standard")
def standard(model: nn.Module) -> None:
    """The reference program's parametrization: nothing changes."""


@PARAMETRIZATIONS.register("mup")
def mup(model: nn.Module, *, base_width: int = 128) -> None:
    width = model.cfg.d_model
    multiplier = width / base_width
    model.logit_scale = 1.0 / multiplier
    for block in model.blocks:
        attention = block.attn
        attention.scale = math.sqrt(base_width / attention.n_head) / attention.head_dim
    hidden = {id(p) for p in model.blocks.parameters() if p.dim() == 2}
    rescale = model.cfg.variant.init not in FAN_IN_INITS
    for p in model.parameters():
        kind = "hidden" if id(p) in hidden else "vector"
        p.mup_width = (kind, multiplier)
        if kind == "hidden" and rescale:
            p.data.mul_(1.0 / math.sqrt(multiplier))
