"""Normalisation layers: `layernorm` (the reference) and `rmsnorm`.

A factory takes the model width and returns an `nn.Module` mapping (..., d) -> (..., d).
"""
from __future__ import annotations

from torch import nn

from ..registry import Registry

NORMS: Registry = Registry("norm", reference="layernorm", slot="norm", always_named=True)

# torch's RMSNorm puts eps inside the square root: x * rsqrt(mean(x^2) + eps) * weight. The plan this
# project grew from wrote eps outside it; with activations of RMS ~1 either is negligible, and the
# fused kernel is worth more than the placement.
RMSNORM_EPS = 1e-8


@NORMS.register("layernorm")
def layernorm(d_model: int) -> nn.Module:
    return nn.LayerNorm(d_model)


@NORMS.register("rmsnorm")
def rmsnorm(d_model: int) -> nn.Module:
    return nn.RMSNorm(d_model, eps=RMSNORM_EPS)
