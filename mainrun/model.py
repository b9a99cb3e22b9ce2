"""The Mainrun GPT, assembled from registered components.

With the baseline variant and `attention="reference"` this is the reference program's model
operation for operation: the same modules built in the same order (so `torch.manual_seed` gives
the same weights), the same init, the same random stream through dropout.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .components import families_in_slot
from .components.positions import Positions
from .config import TrainConfig
from .losses import linear_cross_entropy, linear_cross_entropy_sum
from .variant import Variant


@dataclass(frozen=True)
class GPTConfig:
    """What building the model takes: the config's model section and variant, and the two numbers the
    tokenizer decides (its vocabulary size and the id of `<eos>`)."""

    vocab_size: int = 16_000
    block_size: int = 128
    n_layer: int = 6
    n_head: int = 8
    d_model: int = 512
    dropout: float = 0.1
    variant: Variant = Variant()  # frozen, so a shared default is safe
    attention: str = "sdpa"
    eos_id: int = 1  # the tokenizer's <eos> (its specials are <pad>, <eos>, <unk>, in that order)

    @classmethod
    def of(cls, cfg: TrainConfig, vocab_size: int, eos_id: int = 1) -> "GPTConfig":
        return cls(vocab_size=vocab_size, **dataclasses.asdict(cfg.model), variant=cfg.variant, eos_id=eos_id)


# Every fused attention kernel but cuDNN's, for calls with an explicit mask. In torch 2.11-2.13
# (pytorch#196678) cuDNN's attention backward returns NaN grad_q in bf16/fp16 with an explicit mask
# when the sequence length mod 128 is 64 (the `cpu` preset's block) and a row's logsumexp is below
# -88.7; the memory-efficient kernel takes the same masks. Causal calls without a mask keep torch's
# choice. On CPU only the flash and math kernels exist, so this changes nothing there.
MASKED_ATTENTION_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                    dropout_p: float, scale: float | None = None) -> torch.Tensor:
    """`scaled_dot_product_attention`, causal when `mask` is None, else with the (B, 1, T, T) bool mask
    (True where allowed) and without the cuDNN kernel (see MASKED_ATTENTION_BACKENDS). `scale`: of the
    scores, None for 1/sqrt(head_dim)."""
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True, scale=scale)
    with sdpa_kernel(MASKED_ATTENTION_BACKENDS):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=scale)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.head_dim = cfg.d_model // cfg.n_head
        self.dropout = cfg.dropout
        self.reference = cfg.attention == "reference"
        self.scale: float | None = None  # of the scores; None: 1/sqrt(head_dim) (a parametrization may set it)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.proj.residual_projection = True  # writes into the residual stream (see inits.scaled)
        self.q_norm = cfg.variant.build_slot("qknorm", self.head_dim)
        self.k_norm = cfg.variant.build_slot("qknorm", self.head_dim)
        self.attn_drop = nn.Dropout(cfg.dropout)
        self.resid_drop = nn.Dropout(cfg.dropout)
        if self.reference:
            mask = torch.tril(torch.ones(cfg.block_size, cfg.block_size, dtype=torch.bool))
            self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor, positions: Positions, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`mask`: None for causal attention, else a (B, 1, T, T) bool mask, True where allowed."""
        B, T, C = x.shape
        # (B, T, 3, H, hd) -> (B, H, 3, T, hd): the reference's layout, so q/k/v are strided views.
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).transpose(1, 3).unbind(2)
        q, k = positions.rotate(self.q_norm(q), self.k_norm(k))
        if self.reference:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim) if self.scale is None else self.scale)
            allowed = self.causal_mask[:T, :T] if mask is None else mask
            att = att.masked_fill(~allowed, float("-inf"))
            att = self.attn_drop(F.softmax(att, dim=-1))
            y = att @ v
        else:
            # The fused kernel never materialises the (T, T) scores or their dropout mask; an
            # explicit mask may send it to a slower kernel (benchmarks/ measure what it costs).
            y = fused_attention(q, k, v, mask, self.dropout if self.training else 0.0, self.scale)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = cfg.variant.build_slot("norm", cfg.d_model)
        self.ln2 = cfg.variant.build_slot("norm", cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = cfg.variant.build_slot("mlp", cfg.d_model, cfg.dropout)

    def forward(self, x: torch.Tensor, positions: Positions, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), positions, mask)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.logit_scale = 1.0  # the head's output multiplier (a parametrization may set it)
        # Construction order is part of the seed contract: every default initialiser below draws
        # from the global generator, and the init recipe draws after all of them.
        self.token_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = cfg.variant.build_slot("positions", cfg.block_size, cfg.d_model, cfg.n_head)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = cfg.variant.build_slot("norm", cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.mask = cfg.variant.build_slot("mask", cfg.eos_id)

        # Families plugged in after construction: model edits first, then the init recipes, in
        # registration order (the built-in `init` first). Reference members leave the model as is.
        for slot in ("build", "init"):
            for family in families_in_slot(slot):
                cfg.variant.build(family.family, self)
        self.head.weight = self.token_emb.weight

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """The final-norm output of shape (B, T, d), times the logit scale: everything but the LM head."""
        x = self.drop(self.positions.embed(self.token_emb(idx)))
        mask = self.mask(idx)
        for block in self.blocks:
            x = block(x, self.positions, mask)
        x = self.ln_f(x)
        return x if self.logit_scale == 1.0 else x * self.logit_scale

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, T, vocab)."""
        return self.head(self.hidden(idx))

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean token cross-entropy, the training objective."""
        h = self.hidden(idx)
        if self.cfg.attention == "reference":
            return self._unfused_cross_entropy(h, targets, "mean")
        return linear_cross_entropy(h.view(-1, h.size(-1)), self.head.weight, targets.reshape(-1))

    def loss_sum(self, idx: torch.Tensor, targets: torch.Tensor) -> float:
        """Summed token cross-entropy (no grad): the numerator of the reference metric."""
        with torch.no_grad():
            h = self.hidden(idx)
            if self.cfg.attention == "reference":
                return self._unfused_cross_entropy(h, targets, "sum").item()
            return linear_cross_entropy_sum(h.view(-1, h.size(-1)), self.head.weight, targets.reshape(-1))

    def _unfused_cross_entropy(self, h: torch.Tensor, targets: torch.Tensor, reduction: str) -> torch.Tensor:
        """The reference's loss: full logits, then F.cross_entropy."""
        logits = self.head(h)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), reduction=reduction)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
