"""CausalSelfAttention (mainrun/model.py) against torch's attention with an explicit causal mask.

The expected value is built from the module's own qkv and proj weights but nothing else of it: the
q/k/v split of the reference layout, the position scheme's rotation, and
F.scaled_dot_product_attention with a lower-triangular boolean mask (not is_causal), then the head
merge and output projection. Both attention paths and every registered position scheme are
checked, in eval mode (dropout is then the identity, whatever its probability).
"""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from mainrun.components import POSITIONS
from mainrun.config import ATTENTIONS
from mainrun.variant import Variant
from mainrun.model import GPT, CausalSelfAttention, GPTConfig


def randn(shape, generator):
    return torch.randn(shape, generator=generator, dtype=torch.float64)


@st.composite
def attention_cases(draw):
    n_head = draw(st.integers(1, 4))
    head_dim = 2 * draw(st.integers(1, 8))  # even, so every position scheme applies
    block_size = draw(st.integers(1, 32))
    return dict(
        n_head=n_head,
        d_model=n_head * head_dim,
        block_size=block_size,
        T=draw(st.integers(1, block_size)),
        B=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 2**31 - 1)),
        # Weight scale: large enough that softmax is far from uniform, so a wrong mask, scale or
        # q/k/v order changes the output by much more than round-off.
        gain=draw(st.floats(0.5, 3.0)),
    )


def expected_attention(attn, positions, x):
    B, T, C = x.shape
    H, hd = attn.n_head, C // attn.n_head
    qkv = F.linear(x, attn.qkv.weight, attn.qkv.bias)
    # Reference layout: the 3C outputs are [q | k | v], each split into H heads of hd.
    q, k, v = (part.reshape(B, T, H, hd).transpose(1, 2) for part in qkv.split(C, dim=-1))
    q, k = positions.rotate(q, k)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=causal)
    return F.linear(y.transpose(1, 2).reshape(B, T, C), attn.proj.weight, attn.proj.bias)


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("pos", POSITIONS.names())
@given(case=attention_cases())
def test_attention_equals_sdpa_with_explicit_causal_mask(pos, attention, case):
    cfg = GPTConfig(vocab_size=300, block_size=case["block_size"], n_layer=1, n_head=case["n_head"],
                      d_model=case["d_model"], dropout=0.3, variant=Variant(pos=pos), attention=attention)
    attn = CausalSelfAttention(cfg).double().eval()
    positions = POSITIONS.get(pos)(cfg.block_size, cfg.d_model, cfg.n_head).double()
    generator = torch.Generator().manual_seed(case["seed"])
    scale = case["gain"] / cfg.d_model**0.5
    with torch.no_grad():
        for linear in (attn.qkv, attn.proj):
            linear.weight.copy_(randn(linear.weight.shape, generator) * scale)
            linear.bias.copy_(randn(linear.bias.shape, generator) * 0.1)
    x = randn((case["B"], case["T"], cfg.d_model), generator)

    with torch.no_grad():
        actual = attn(x, positions)

    torch.testing.assert_close(actual, expected_attention(attn, positions, x), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("pos", POSITIONS.names())
def test_both_attention_paths_give_the_same_model_output(pos):
    """Same seed, same weights (the reference path adds only a buffer), so same eval logits."""
    models = {}
    for attention in ATTENTIONS:
        torch.manual_seed(0)
        cfg = GPTConfig(vocab_size=300, block_size=16, n_layer=2, n_head=2, d_model=32,
                          variant=Variant(pos=pos, init="kaiming"), attention=attention)
        models[attention] = GPT(cfg).double().eval()
    tokens = torch.randint(300, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = [model(tokens) for model in models.values()]
    for other in logits[1:]:
        torch.testing.assert_close(other, logits[0], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("mask", ["title", "causal"])
def test_masked_attention_never_runs_on_the_cudnn_kernel(monkeypatch, mask):
    """pytorch#196678: cuDNN's attention backward gives NaN grad_q in bf16 with an explicit mask at
    some lengths. A masked call runs with cuDNN's kernel switched off; an unmasked (causal) call keeps
    torch's own choice. On CPU the flags are read, not used, which is what makes this checkable here."""
    import mainrun.model as model_module

    seen = []
    original = F.scaled_dot_product_attention

    def recording(*args, **kwargs):
        seen.append((kwargs.get("attn_mask") is not None, torch.backends.cuda.cudnn_sdp_enabled()))
        return original(*args, **kwargs)

    monkeypatch.setattr(model_module.F, "scaled_dot_product_attention", recording)
    cfg = GPTConfig(vocab_size=300, block_size=16, n_layer=2, n_head=2, d_model=32, variant=Variant(mask=mask))
    model = GPT(cfg)
    tokens = torch.randint(300, (2, 16), generator=torch.Generator().manual_seed(1))
    model.loss(tokens, tokens).backward()
    assert len(seen) == 2
    assert all(masked == (mask == "title") for masked, _ in seen)
    assert all(cudnn_on == (mask == "causal") for _, cudnn_on in seen)
    assert torch.backends.cuda.cudnn_sdp_enabled()  # restored after each call


def test_both_attention_paths_apply_mups_score_scale_off_the_base_width():
    """μP scales the scores by 1/head_dim rather than 1/sqrt(head_dim) (`attention.scale`); the reference
    kernel must apply it as the fused one does, or a μP model's logits depend on the kernel."""
    models = {}
    for attention in ATTENTIONS:
        torch.manual_seed(0)
        cfg = GPTConfig(vocab_size=300, block_size=16, n_layer=2, n_head=4, d_model=256,
                        variant=Variant(param="mup", **{"param.base_width": 128}), attention=attention)
        models[attention] = GPT(cfg).double().eval()
    attn = models["reference"].blocks[0].attn
    assert attn.scale is not None and attn.scale != pytest.approx(attn.head_dim ** -0.5)  # off the base: μP's own
    tokens = torch.randint(300, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fused, reference = (models[a](tokens) for a in ("sdpa", "reference"))
    torch.testing.assert_close(reference, fused, rtol=0, atol=1e-12)


@pytest.mark.parametrize("pos", POSITIONS.names())
def test_the_reference_path_scores_validation_with_the_reference_programs_own_summed_loss(pos):
    """With attention="reference" the evaluation numerator is F.cross_entropy(logits, reduction="sum")
    of the full logits, bit for bit the reference program's (the fused path's float64 chunked sum is
    close to it, not bit for bit)."""
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=300, block_size=16, n_layer=1, n_head=2, d_model=32, variant=Variant(pos=pos),
                    attention="reference")
    model = GPT(cfg).eval()
    tokens = torch.randint(300, (4, 17), generator=torch.Generator().manual_seed(1))
    x, y = tokens[:, :-1], tokens[:, 1:]
    with torch.no_grad():
        logits = model(x)
    reference = F.cross_entropy(logits.view(-1, 300), y.reshape(-1), reduction="sum").item()
    assert model.loss_sum(x, y) == reference
