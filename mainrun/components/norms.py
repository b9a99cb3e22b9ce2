"""Normalisation layers: `layernorm` (the reference) and `rmsnorm`.

A factory takes the model width and returns an `nn.Module` mapping (..., d) -> (..., d); `eps` is
each member's own setting (`norm.eps`).
"""
from __future__ import annotations

from torch import nn

from ..registry import Registry

NORMS: Registry = Registry("norm", reference="layernorm", slot="norm", always_named=True)

@NORMS.register("layernorm")
def layernorm(d_model: int, *, eps: float = 1e-5) -> nn.Module:
    """`nn.LayerNorm`, torch's default eps as in the reference."""
    return nn.LayerNorm(d_model, eps=eps)


@NORMS.register("rmsnorm")
def rmsnorm(d_model: int, *, eps: float = 1e-8) -> nn.Module:
    """`nn.RMSNorm`, eps 1e-8 as the plan had it. torch puts eps inside the square root
    (x * rsqrt(mean(x^2) + eps) * weight) where the plan wrote it outside; with activations of RMS ~1
    either is negligible, and the fused kernel is worth more than the placement."""
    return nn.RMSNorm(d_model, eps=eps)
