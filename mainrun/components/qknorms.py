"""Normalisation of queries and keys: `none` (the reference) and `rmsnorm`.

A factory takes the head dimension and returns an `nn.Module` mapping (B, H, T, head_dim) to the same
shape; each attention layer builds one for q and one for k, applied before the positions rotate them.
"""
from __future__ import annotations

from torch import nn

from ..registry import Registry

QKNORMS: Registry = Registry("qknorm", reference="none", slot="qknorm")


@QKNORMS.register("none")
def none(head_dim: int) -> nn.Module:
    return nn.Identity()


@QKNORMS.register("rmsnorm")
def rmsnorm(head_dim: int, *, eps: float = 1e-8) -> nn.Module:
    """QK-norm (Henry et al. 2020; Dehghani et al. 2023, "Scaling Vision Transformers to 22B"):
    RMSNorm over each head's dimension, with a learned gain shared by the heads. It bounds the
    attention logits, which lets higher learning rates train stably."""
    return nn.RMSNorm(head_dim, eps=eps)
