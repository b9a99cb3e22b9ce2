"""Position information: `learned` (the reference) and `rope`.

A factory takes `(block_size, d_model, n_head)` and returns a `Positions` module. The model calls
it twice: `embed(x)` on the token embeddings and `rotate(q, k)` inside every attention layer, so a
scheme can act at the input (learned), on queries and keys (rotary), or both.
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import Registry

POSITIONS: Registry = Registry("pos", reference="learned", slot="positions", always_named=True)

class Positions(nn.Module):
    """Identity on both hooks; schemes override the one they use."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def rotate(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return q, k


class LearnedPositions(Positions):
    def __init__(self, block_size: int, d_model: int):
        super().__init__()
        # The reference starts positions at zero and lets training fill them in; the init
        # recipes leave this parameter alone.
        self.pos_emb = nn.Parameter(torch.zeros(1, block_size, d_model))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos_emb[:, : x.size(1), :]


def rope_cos_sin(block_size: int, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables of shape (block_size, head_dim) for the rotate-half pairing.

    Dimension i is paired with i + head_dim/2 and the pair is rotated by angle
    position * base^(-2i/head_dim).
    """
    if head_dim % 2:
        raise ValueError(f"rope needs an even head dimension, got {head_dim}")
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(block_size, dtype=torch.float64), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().float(), angles.sin().float()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x of shape (..., T, head_dim) by the first T rows of the tables."""
    T = x.size(-2)
    return x * cos[:T] + rotate_half(x) * sin[:T]


class RotaryPositions(Positions):
    def __init__(self, block_size: int, head_dim: int, base: float):
        super().__init__()
        cos, sin = rope_cos_sin(block_size, head_dim, base)
        # Derived from the config, so not saved with the weights.
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def rotate(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cos, sin = self.cos.to(q.dtype), self.sin.to(q.dtype)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin)


@POSITIONS.register("learned")
def learned(block_size: int, d_model: int, n_head: int) -> Positions:
    return LearnedPositions(block_size, d_model)


@POSITIONS.register("rope")
def rope(block_size: int, d_model: int, n_head: int, *, base: float = 10_000.0) -> Positions:
    """Rotary embedding (Su et al. 2021) on q and k; `base` is its own setting (`pos.base`)."""
    return RotaryPositions(block_size, d_model // n_head, base)
