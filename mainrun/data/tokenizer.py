"""The reference BPE tokenizer (`tokenizers`): byte-level, trained on train + val titles."""
from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOS = "<eos>"
SPECIAL_TOKENS = ["<pad>", EOS, "<unk>"]


def train_tokenizer(titles: list[str], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tokenizer.train_from_iterator(titles, trainer)
    return tokenizer


def join_titles(titles: list[str]) -> str:
    """The reference text of a split: titles joined and terminated by <eos>."""
    return EOS.join(titles) + EOS


def roundtrip(tokenizer: Tokenizer, titles: list[str]) -> str:
    """How decode(encode(text)) compares with the text of these titles: "exact", "prefix-space"
    (exact but for the one space ByteLevel adds before each title), or "lossy"."""
    text = join_titles(titles)
    decoded = tokenizer.decode(tokenizer.encode(text).ids, skip_special_tokens=False)
    if decoded == text:
        return "exact"
    if decoded == join_titles([" " + t if t else t for t in titles]):
        return "prefix-space"
    return "lossy"
