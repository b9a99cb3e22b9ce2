"""Attention masks (mainrun/components/masks.py) in the whole model."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mainrun.components import MASKS
from mainrun.config import ATTENTIONS
from mainrun.variant import Variant
from mainrun.model import GPT, GPTConfig

VOCAB, BLOCK, EOS = 50, 24, 1


def model(mask, pos="learned", attention="sdpa"):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, d_model=16, dropout=0.0,
                      variant=Variant(mask=mask, pos=pos), attention=attention, eos_id=EOS)
    return GPT(cfg).double().eval()


titles = st.lists(st.lists(st.integers(3, VOCAB - 1), min_size=1, max_size=6), min_size=2, max_size=5)


def stream(title_list):
    ids = [t for title in title_list for t in (*title, EOS)]
    return torch.tensor(ids[:BLOCK])[None]


@settings(max_examples=25)
@given(title_list=titles, data=st.data(), pos=st.sampled_from(["learned", "rope"]),
       attention=st.sampled_from(ATTENTIONS))
def test_changing_an_earlier_title_leaves_every_later_title_unchanged(title_list, data, pos, attention):
    gpt = model("title", pos, attention)
    ids = stream(title_list)
    changed = ids.clone()
    # Rewrite the tokens of one title (not its <eos>, and keeping its length, so positions stay put).
    first_end = (ids[0] == EOS).nonzero()[0].item()
    for i in range(first_end):
        changed[0, i] = data.draw(st.integers(3, VOCAB - 1))
    with torch.no_grad():
        before, after = gpt(ids), gpt(changed)
    later = slice(first_end + 1, ids.size(1))
    assert torch.allclose(before[0, later], after[0, later], atol=1e-10)


def test_the_causal_mask_does_see_earlier_titles():
    """The property above is the title mask's doing: with the causal mask a change leaks forward."""
    gpt = model("causal")
    ids = stream([[5, 6, 7], [8, 9, 10]])
    changed = ids.clone()
    changed[0, 0] = 11
    with torch.no_grad():
        assert not torch.allclose(gpt(ids)[0, 4:], gpt(changed)[0, 4:])


def test_title_mask_is_causal_within_a_title_and_blocks_across():
    mask = MASKS.get("title")(EOS)(torch.tensor([[5, 6, EOS, 7, 8, EOS, 9]]))[0, 0]
    title = [0, 0, 0, 1, 1, 1, 2]
    for t in range(7):
        for s in range(7):
            assert mask[t, s].item() == (s <= t and title[s] == title[t])
    assert MASKS.get("causal")(EOS)(torch.tensor([[5, 6]])) is None


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_title_mask_without_eos_is_the_causal_mask(attention):
    ids = torch.randint(3, VOCAB, (2, BLOCK), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model("title", attention=attention)(ids), model("causal", attention=attention)(ids),
                              atol=1e-10)
