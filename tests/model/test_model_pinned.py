"""mainrun/model.py pinned: the config it is built from, the arguments attention passes on, both
attention paths and both losses against a by-hand computation, the logit scale and the head tie."""
import dataclasses
import math
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from mainrun import model as model_module
from mainrun.config import TrainConfig
from mainrun.model import GPT, MASKED_ATTENTION_BACKENDS, GPTConfig, fused_attention
from mainrun.variant import Variant


def _cfg(**changes):
    base = dict(vocab_size=50, block_size=8, n_layer=2, n_head=2, d_model=16, dropout=0.0)
    return GPTConfig(**{**base, **changes})


def test_gpt_config_defaults_and_of():
    assert dataclasses.asdict(GPTConfig()) == {"vocab_size": 16_000, "block_size": 128, "n_layer": 6, "n_head": 8,
                                               "d_model": 512, "dropout": 0.1, "variant": Variant(),
                                               "attention": "sdpa", "eos_id": 1}
    variant = Variant.parse("norm=rmsnorm")
    cfg = TrainConfig.from_scale("tiny", variant=variant, attention="reference", dropout=0.2)
    assert GPTConfig.of(cfg, 123, eos_id=7) == GPTConfig(vocab_size=123, block_size=32, n_layer=1, n_head=2,
                                                         d_model=32, dropout=0.2, variant=variant,
                                                         attention="reference", eos_id=7)
    assert GPTConfig.of(cfg, 123).eos_id == 1


def test_fused_attention_passes_its_arguments_on():
    q = k = v = torch.zeros(1, 1, 2, 2)
    with mock.patch.object(model_module.F, "scaled_dot_product_attention", return_value="out") as sdpa:
        assert fused_attention(q, k, v, None, 0.25, 0.5) == "out"
        assert sdpa.call_args == mock.call(q, k, v, dropout_p=0.25, is_causal=True, scale=0.5)
        mask = torch.ones(1, 1, 2, 2, dtype=torch.bool)
        with mock.patch.object(model_module, "sdpa_kernel") as kernel:
            assert fused_attention(q, k, v, mask, 0.0) == "out"
        assert kernel.call_args == mock.call(MASKED_ATTENTION_BACKENDS)
        assert sdpa.call_args == mock.call(q, k, v, attn_mask=mask, dropout_p=0.0, scale=None)
    assert MASKED_ATTENTION_BACKENDS == [torch.nn.attention.SDPBackend.FLASH_ATTENTION,
                                         torch.nn.attention.SDPBackend.EFFICIENT_ATTENTION,
                                         torch.nn.attention.SDPBackend.MATH]


def _manual_attention(attn, x, mask=None):
    B, T, C = x.shape
    qkv = attn.qkv(x).view(B, T, 3, attn.n_head, attn.head_dim)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
    scale = 1 / math.sqrt(attn.head_dim) if attn.scale is None else attn.scale
    scores = q @ k.transpose(-2, -1) * scale
    allowed = torch.ones(T, T, dtype=torch.bool).tril() if mask is None else mask
    scores = scores.masked_fill(~allowed, float("-inf"))
    y = scores.softmax(-1) @ v
    return attn.proj(y.transpose(1, 2).reshape(B, T, C))


@pytest.mark.parametrize("attention", ["sdpa", "reference"])
@pytest.mark.parametrize("scale", [None, 0.7])
def test_attention_matches_a_by_hand_computation(attention, scale):
    torch.manual_seed(0)
    gpt = GPT(_cfg(attention=attention)).eval()
    attn = gpt.blocks[0].attn
    assert (attn.n_head, attn.head_dim, attn.dropout, attn.reference, attn.scale) == (
        2, 8, 0.0, attention == "reference", None)
    assert attn.proj.residual_projection is True
    assert ("causal_mask" in dict(attn.named_buffers())) == (attention == "reference")
    assert attn.state_dict().keys() == {"qkv.weight", "qkv.bias", "proj.weight", "proj.bias"}
    attn.scale = scale
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        assert torch.allclose(attn(x, gpt.positions), _manual_attention(attn, x), atol=1e-5)
        mask = torch.rand(2, 1, 5, 5) < 0.5
        mask |= torch.eye(5, dtype=torch.bool)
        assert torch.allclose(attn(x, gpt.positions, mask), _manual_attention(attn, x, mask), atol=1e-5)


def test_dropout_reaches_the_fused_kernel_only_in_training():
    gpt = GPT(_cfg(dropout=0.3))
    attn = gpt.blocks[0].attn
    x = torch.randn(1, 3, 16)
    with mock.patch.object(model_module, "fused_attention", wraps=fused_attention) as fused:
        attn.train()
        attn(x, gpt.positions)
        assert fused.call_args.args[3:] == (None, 0.3, None)
        attn.eval()
        attn(x, gpt.positions)
        assert fused.call_args.args[3:] == (None, 0.0, None)


def test_block_and_model_forward_by_hand():
    torch.manual_seed(1)
    gpt = GPT(_cfg(n_layer=1)).eval()
    block = gpt.blocks[0]
    idx = torch.tensor([[3, 1, 4, 1, 5]])
    with torch.no_grad():
        x = gpt.token_emb(idx) + gpt.positions.pos_emb[:, :5]
        h = x + block.attn(block.ln1(x), gpt.positions)
        h = h + block.mlp(block.ln2(h))
        hidden = gpt.ln_f(h)
        assert torch.allclose(gpt.hidden(idx), hidden, atol=1e-6)
        assert torch.allclose(gpt(idx), hidden @ gpt.token_emb.weight.T, atol=1e-6)
        gpt.logit_scale = 0.5
        assert torch.allclose(gpt.hidden(idx), hidden * 0.5, atol=1e-6)
    assert gpt.head.weight is gpt.token_emb.weight
    assert gpt.num_params() == 50 * 16 + 8 * 16 + (2 * 32 + 16 * 48 + 48 + 16 * 16 + 16 + 16 * 64 + 64 + 64 * 16 + 16) + 32
    gpt.token_emb.weight.requires_grad_(False)
    assert gpt.num_params() == 8 * 16 + (2 * 32 + 16 * 48 + 48 + 16 * 16 + 16 + 16 * 64 + 64 + 64 * 16 + 16) + 32


def test_title_mask_reaches_the_blocks():
    torch.manual_seed(2)
    gpt = GPT(_cfg(variant=Variant.parse("mask=title"), eos_id=4)).eval()
    assert gpt.mask.eos_id == 4
    idx = torch.tensor([[7, 4, 9, 9]])
    with mock.patch.object(type(gpt.blocks[0]), "forward", autospec=True,
                           side_effect=lambda self, x, positions, mask=None: x) as forward:
        gpt.hidden(idx)
    mask = forward.call_args.args[3]
    assert mask[0, 0].int().tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]
    assert forward.call_args.args[2] is gpt.positions


@pytest.mark.parametrize("attention", ["sdpa", "reference"])
def test_losses_are_the_mean_and_the_sum_of_token_cross_entropy(attention):
    torch.manual_seed(4)
    gpt = GPT(_cfg(attention=attention)).eval()
    gpt.logit_scale = 0.5
    idx = torch.randint(0, 50, (2, 6))
    targets = torch.randint(0, 50, (2, 6))
    with torch.no_grad():
        logits = gpt(idx)
        expected = F.cross_entropy(logits.view(-1, 50), targets.view(-1), reduction="sum").item()
    loss = gpt.loss(idx, targets)
    assert loss.item() == pytest.approx(expected / 12, rel=1e-5)
    total = gpt.loss_sum(idx, targets)
    assert type(total) is float and total == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert gpt.token_emb.weight.grad is not None
    calls = {}
    with mock.patch.object(model_module, "linear_cross_entropy", side_effect=lambda *a: calls.setdefault("mean", a)), \
            mock.patch.object(model_module, "linear_cross_entropy_sum", side_effect=lambda *a: calls.setdefault("sum", a)):
        gpt.loss(idx, targets)
        gpt.loss_sum(idx, targets)
    assert set(calls) == (set() if attention == "reference" else {"mean", "sum"})
    for args in calls.values():
        assert args[0].shape == (12, 16) and args[1] is gpt.head.weight and torch.equal(args[2], targets.view(-1))
