"""Query/key normalisation (mainrun/components/qknorms.py)."""
import math

import torch

from mainrun.components import QKNORMS
from mainrun.variant import Variant
from mainrun.model import GPT, GPTConfig


def test_rmsnorm_gives_each_head_vector_unit_rms():
    norm = QKNORMS.get("rmsnorm")(8)
    q = torch.randn(2, 3, 5, 8) * 7
    out = norm(q)
    assert torch.allclose(out.pow(2).mean(-1).sqrt(), torch.ones(2, 3, 5), atol=1e-5)
    assert torch.equal(QKNORMS.get("none")(8)(q), q)


def test_the_attention_normalises_q_and_k_before_the_rotation_and_the_scores():
    """The layer's output equals attention computed by hand from rotate(norm(q)), rotate(norm(k))."""
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=60, block_size=6, n_layer=1, n_head=2, d_model=16, dropout=0.0,
                      variant=Variant(qknorm="rmsnorm", pos="rope"))
    model = GPT(cfg).double().eval()
    attn = model.blocks[0].attn
    with torch.no_grad():
        attn.q_norm.weight.uniform_(0.5, 1.5)  # distinct q and k gains: each is applied to its own input
        attn.k_norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(1, 6, 16, dtype=torch.float64)
    with torch.no_grad():
        q, k, v = attn.qkv(x).view(1, 6, 3, 2, 8).transpose(1, 3).unbind(2)
        q, k = model.positions.rotate(attn.q_norm(q), attn.k_norm(k))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(8)
        scores = scores.masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(1, 6, 16)
        assert torch.allclose(attn(x, model.positions), attn.proj(y), atol=1e-10)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=20)
@given(head_dim=st.integers(2, 64), scale=st.floats(0.1, 1e3), seed=st.integers(0, 2**16))
def test_rmsnorm_output_does_not_depend_on_the_scale_of_q(head_dim, scale, seed):
    """What bounds the attention logits: any rescaling of a query or key vector is undone (down to
    the scale where eps 1e-8 starts to count against the mean square)."""
    norm = QKNORMS.get("rmsnorm")(head_dim).double()
    q = torch.randn(1, 2, 3, head_dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    q = q / q.pow(2).mean(-1, keepdim=True).sqrt()  # unit RMS, so that q * scale has RMS >= 0.1
    assert torch.allclose(norm(q * scale), norm(q), atol=1e-5)
    assert torch.allclose(norm(q).pow(2).mean(-1), torch.ones(1, 2, 3, dtype=torch.float64), atol=1e-6)
