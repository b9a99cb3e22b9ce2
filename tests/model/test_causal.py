"""Causality of the whole model (mainrun/model.py), for every variant and both attention paths.

A variant here is one choice from each model-affecting family (norm x pos x init); the optimizer
family cannot change the forward pass, so it is not part of the product. The product is taken from
the registries at collection time, so a newly registered component is covered without an edit.

The model runs in float64: the prefix logits must then agree to round-off, while any leak from a
later position moves them by many orders of magnitude more.
"""
import itertools
from functools import lru_cache

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mainrun.components import INITS, NORMS, POSITIONS
from mainrun.config import ATTENTIONS
from mainrun.variant import Variant
from mainrun.model import GPT, GPTConfig

VOCAB, BLOCK = 97, 24
MODEL_VARIANTS = list(itertools.product(NORMS.names(), POSITIONS.names(), INITS.names()))


@lru_cache(maxsize=None)
def eval_model(norm, pos, init, attention, seed):
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, d_model=32,
                      dropout=0.1, variant=Variant(norm=norm, pos=pos, init=init), attention=attention)
    # eval(): dropout would otherwise make two forwards differ for reasons unrelated to causality.
    return GPT(cfg).double().eval()


@st.composite
def sequences_and_cut(draw):
    """A batch of token sequences, a cut t, and the same batch with every token at >= t changed."""
    seed = draw(st.integers(0, 2**31 - 1))
    B, T = draw(st.integers(1, 3)), draw(st.integers(2, BLOCK))
    t = draw(st.integers(1, T - 1))
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(VOCAB, (B, T), generator=generator)
    changed = tokens.clone()
    # A non-zero shift mod VOCAB changes every token from t on, never leaving one the same.
    changed[:, t:] = (tokens[:, t:] + torch.randint(1, VOCAB, (B, T - t), generator=generator)) % VOCAB
    return tokens, changed, t


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("norm,pos,init", MODEL_VARIANTS, ids=[f"{n}-{p}-{i}" for n, p, i in MODEL_VARIANTS])
@given(inputs=sequences_and_cut(), model_seed=st.integers(0, 2))
def test_changing_later_tokens_leaves_earlier_logits_unchanged(norm, pos, init, attention, inputs, model_seed):
    tokens, changed, t = inputs
    model = eval_model(norm, pos, init, attention, model_seed)
    with torch.no_grad():
        logits, logits_changed = model(tokens), model(changed)

    torch.testing.assert_close(logits_changed[:, :t], logits[:, :t], rtol=1e-10, atol=1e-12)
    # The changed tokens must matter somewhere, or the comparison above proves nothing.
    assert not torch.allclose(logits_changed[:, t:], logits[:, t:], rtol=1e-6, atol=1e-9)
