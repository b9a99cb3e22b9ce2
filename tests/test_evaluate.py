"""The validation metrics (mainrun/train.py): the reference metric, the full-coverage metric and
bits per byte, and the tokenizer round trip (mainrun/data/tokenizer.py)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from mainrun.data.tokenizer import SPECIAL_TOKENS, roundtrip, train_tokenizer
from mainrun.model import GPT, GPTConfig
from mainrun.evaluation import evaluate, full_windows

pytestmark = pytest.mark.usefixtures("single_torch_thread")
VOCAB = 61


@given(n=st.integers(2, 500), block=st.integers(1, 40), rows=st.integers(1, 9))
def test_full_windows_score_every_token_after_the_first_exactly_once(n, block, rows):
    ids = torch.arange(n)
    targets = []
    for x, y in full_windows(ids, block, rows):
        assert x.shape == y.shape and x.size(1) <= block and x.size(0) <= rows
        assert torch.equal(y, x + 1), "each target is the token after its input"
        targets += y.flatten().tolist()
    assert sorted(targets) == list(range(1, n)) and len(targets) == n - 1


def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=VOCAB, block_size=8, n_layer=1, n_head=2, d_model=16, dropout=0.0)).eval()


@settings(max_examples=10)
@given(batch=st.integers(1, 5), seed=st.integers(0, 1000))
def test_full_metric_equals_the_reference_when_its_windows_cover_everything(batch, seed):
    """One reference window of batch*block+1 tokens scores every token after the first: both agree."""
    gpt, block = model(), 8
    ids = torch.randint(VOCAB, (batch * block + 1,), generator=torch.Generator().manual_seed(seed))
    ev = evaluate(gpt, ids, val_chars=1000, block_size=block, batch_size=batch, val_bytes=1000)
    assert ev.loss_full == pytest.approx(ev.loss, rel=1e-6)


def test_full_metric_scores_what_the_reference_leaves_out_and_bpb_is_bits_per_byte():
    gpt, block, batch = model(), 8, 2
    ids = torch.randint(VOCAB, (3 * (batch * block + 1) + 5,), generator=torch.Generator().manual_seed(1))
    ev = evaluate(gpt, ids, val_chars=777, block_size=block, batch_size=batch, val_bytes=901)
    # By hand: every (context, next token) pair of the rows at 0, 8, 16, ..., and the tail.
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, block):
            x = ids[start : min(start + block, len(ids) - 1)]
            y = ids[start + 1 : start + 1 + len(x)]
            logits = gpt(x[None])[0]
            total += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
    assert ev.loss_full == pytest.approx(total / 777, rel=1e-6)
    assert ev.bpb == pytest.approx(total / math.log(2) / 901, rel=1e-6)
    assert ev.coverage < 1 and ev.loss_full > ev.loss  # more tokens over the same characters


TITLES = ["Show HN: a tiny GPT", "Ask HN: why is  the sky blue?", "Café au lait, 2020"]


def test_reference_tokenizer_round_trip_is_exact_but_for_the_prefix_space():
    assert roundtrip(train_tokenizer(TITLES * 5, 300), TITLES) == "prefix-space"


def test_a_tokenizer_that_drops_spaces_is_lossy():
    """The Whitespace pre-tokenizer a public attempt used: spaces are never predicted."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.BPEDecoder()
    tokenizer.train_from_iterator(TITLES * 5, trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIAL_TOKENS,
                                                                  show_progress=False))
    assert roundtrip(tokenizer, TITLES) == "lossy"


def test_a_byte_level_tokenizer_without_prefix_space_is_exact():
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(TITLES * 5, trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIAL_TOKENS,
                                                                  show_progress=False))
    assert roundtrip(tokenizer, TITLES) == "exact"
