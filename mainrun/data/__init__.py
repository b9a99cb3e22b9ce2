"""Titles -> token ids, by the reference procedure, cached on disk.

`prepare(cfg)` resolves the data source, applies the reference split (shuffle all rows with the
seed, take `num_titles`, strip, split by `val_frac`), trains the BPE tokenizer on train + val and
encodes each split as one text. The result is cached under a key of (data fingerprint, split and
tokenizer settings), so a grid of runs trains the tokenizer once.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tokenizers
import torch

from ..errors import DataError, writing
from . import sources
from .tokenizer import EOS, join_titles, roundtrip, train_tokenizer

# Bump when anything that changes the ids changes (tokenizer settings, text assembly, split).
CORPUS_FORMAT = 3  # 2: val_bytes and the tokenizer round trip in the info; 3: <eos> counts one byte
# Bits per byte counts each title's <eos> as one byte, as a newline in a text file, so that it is
# comparable with other corpora's figures (its literal five bytes made 8.8% of the val bytes at seed
# 1337). Records say which count their val_bpb used; before this they counted 5.
BPB_SEPARATOR_BYTES = 1


@dataclass
class CorpusInfo:
    source: str
    fingerprint: str
    train_titles: int
    val_titles: int
    vocab_size: int  # what the tokenizer reached; can be below the requested size on small data
    val_chars: int  # len(val_text): the reference metric's denominator
    train_tokens: int
    val_tokens: int
    val_bytes: int  # UTF-8 bytes of the val titles, one per <eos>: the denominator of bits per byte
    # decode(encode(val text)) against the text: "exact"; "prefix-space" (ByteLevel's add_prefix_space
    # puts one space before each title, which the decoder keeps: nothing is lost, and the reference
    # tokenizer does this); or "lossy" (the model is spared predicting part of the text).
    tokenizer_roundtrip: str


@dataclass
class Corpus:
    info: CorpusInfo
    train_ids: torch.Tensor
    val_ids: torch.Tensor
    tokenizer_path: Path
    eos_id: int  # the id of `<eos>`, which ends every title (the title mask needs it)


def split_titles(titles: list[str], num_titles: int, seed: int, val_frac: float, where: str = "the data") -> tuple[list[str], list[str]]:
    """The reference procedure. `datasets`' `shuffle(seed)` is exactly numpy's
    `default_rng(seed).permutation(n)`, so hub and local sources share this one code path."""
    if len(titles) < num_titles:
        raise DataError(f"{where} has {len(titles)} titles, fewer than --num-titles {num_titles}")
    order = np.random.default_rng(seed).permutation(len(titles))[:num_titles]
    picked = [titles[i].strip() for i in order]
    n_train = int(num_titles * (1 - val_frac))
    train, val = picked[:n_train], picked[n_train:]
    if not train or not val:
        empty = "train" if not train else "val"
        raise DataError(f"the {empty} split is empty: --num-titles {num_titles} with --val-frac {val_frac}")
    return train, val


def cache_root(cache_dir: str | None = None) -> Path:
    root = cache_dir or os.environ.get("MAINRUN_CACHE") or Path.home() / ".cache" / "mainrun"
    return Path(root)


def prepare(data: str, num_titles: int, val_frac: float, seed: int, vocab_size: int, cache_dir: str | None = None) -> Corpus:
    source = sources.resolve(data)
    key = {
        "format": CORPUS_FORMAT,
        "fingerprint": source.fingerprint,
        "num_titles": num_titles,
        "val_frac": val_frac,
        "seed": seed,
        "vocab_size": vocab_size,
        "tokenizers": tokenizers.__version__,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    root = cache_root(cache_dir) / "corpus"
    entry = root / digest
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)

    def build(discard: bool = False) -> None:
        # Under the entry's lock: parallel runs of one grid would otherwise all train the same tokenizer.
        with writing(entry), open(root / f"{digest}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if discard:
                shutil.rmtree(entry, ignore_errors=True)
            if not (entry / "meta.json").exists():
                _build(source, key, entry, num_titles, val_frac, seed, vocab_size)

    if not (entry / "meta.json").exists():
        build()
    try:
        return _load(entry)
    except Exception as exc:  # a damaged cache entry is derived data: rebuild it, once
        print(f"warning: tokenizer cache entry {entry} cannot be read ({type(exc).__name__}); rebuilding it",
              file=sys.stderr, flush=True)
        build(discard=True)
        return _load(entry)


def text_bytes(titles: list[str], separator_bytes: int = BPB_SEPARATOR_BYTES) -> int:
    """The bytes of a split's text as bits per byte counts them: each title's UTF-8 bytes, and
    `separator_bytes` for the <eos> that ends it."""
    return sum(len(title.encode("utf-8")) for title in titles) + separator_bytes * len(titles)


def _build(source: sources.Source, key: dict, entry: Path, num_titles: int, val_frac: float, seed: int, vocab_size: int) -> None:
    train, val = split_titles(source.load(), num_titles, seed, val_frac, where=source.name)
    tokenizer = train_tokenizer(train + val, vocab_size)
    train_text, val_text = join_titles(train), join_titles(val)
    train_ids = torch.tensor(tokenizer.encode(train_text).ids, dtype=torch.long)
    val_ids = torch.tensor(tokenizer.encode(val_text).ids, dtype=torch.long)
    info = CorpusInfo(
        source=source.name,
        fingerprint=source.fingerprint,
        train_titles=len(train),
        val_titles=len(val),
        vocab_size=tokenizer.get_vocab_size(),
        val_chars=len(val_text),
        train_tokens=len(train_ids),
        val_tokens=len(val_ids),
        val_bytes=text_bytes(val),
        tokenizer_roundtrip=roundtrip(tokenizer, val),
    )
    # Written into a sibling folder and renamed: a crash mid-write leaves no half entry behind.
    tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}-"))
    try:
        tokenizer.save(str(tmp / "tokenizer.json"))
        torch.save({"train": train_ids, "val": val_ids}, tmp / "ids.pt")
        (tmp / "meta.json").write_text(json.dumps({"key": key, "info": asdict(info)}, indent=1))
        if entry.exists():  # a leftover without meta.json: an interrupted older writer
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(entry: Path) -> Corpus:
    meta = json.loads((entry / "meta.json").read_text())
    ids = torch.load(entry / "ids.pt", weights_only=True)
    tokenizer_path = entry / "tokenizer.json"
    # Read now: a damaged file must fail here, where the cache heals, not mid-run.
    eos_id = tokenizers.Tokenizer.from_file(str(tokenizer_path)).token_to_id(EOS)
    return Corpus(CorpusInfo(**meta["info"]), ids["train"], ids["val"], tokenizer_path, eos_id)
