"""mainrun/data pinned: the split and its messages, the cache root, byte counts, the tokenizer
helpers, every source's fields and error messages, and the embedded generator's helpers."""
import json
import socket
from pathlib import Path

import datasets
import numpy as np
import pytest

from mainrun import data
from mainrun.data import embedded, sources, tokenizer
from mainrun.errors import DataError


def _error(fn, *args, **kwargs):
    with pytest.raises(DataError) as caught:
        fn(*args, **kwargs)
    return str(caught.value)


# ----- data/__init__ --------------------------------------------------------------------------------

def test_split_titles_exactly():
    titles = [f" t{i} " for i in range(10)]
    order = np.random.default_rng(5).permutation(10)[:8]
    train, val = data.split_titles(titles, 8, 5, 0.25)
    assert train == [f"t{i}" for i in order[:6]] and val == [f"t{i}" for i in order[6:]]
    assert _error(data.split_titles, titles, 11, 5, 0.25, where="file:x") == (
        "file:x has 10 titles, fewer than --num-titles 11")
    assert _error(data.split_titles, titles, 11, 5, 0.25) == "the data has 10 titles, fewer than --num-titles 11"
    assert data.split_titles(titles, 10, 5, 0.5)[0] == [f"t{i}" for i in np.random.default_rng(5).permutation(10)[:5]]
    assert _error(data.split_titles, titles, 2, 5, 0.9) == (
        "the train split is empty: --num-titles 2 with --val-frac 0.9")
    assert _error(data.split_titles, titles, 3, 5, 1e-17) == (
        "the val split is empty: --num-titles 3 with --val-frac 1e-17")


def test_cache_root_precedence(monkeypatch):
    monkeypatch.setenv("MAINRUN_CACHE", "/env/cache")
    assert data.cache_root("/given") == Path("/given")
    assert data.cache_root() == Path("/env/cache")
    monkeypatch.delenv("MAINRUN_CACHE")
    assert data.cache_root() == Path.home() / ".cache" / "mainrun"


def test_text_bytes_and_constants():
    assert data.text_bytes(["ab", "é"]) == 2 + 2 + 2
    assert data.text_bytes(["ab", "é"], separator_bytes=5) == 4 + 10
    assert data.text_bytes([]) == 0
    assert (data.CORPUS_FORMAT, data.BPB_SEPARATOR_BYTES) == (3, 1)


def test_prepare_writes_the_documented_entry(tmp_path):
    path = tmp_path / "titles.txt"
    path.write_text("\n".join(f"title {i} about Rust" for i in range(40)) + "\n")
    corpus = data.prepare(str(path), num_titles=30, val_frac=0.2, seed=3, vocab_size=280, cache_dir=str(tmp_path / "c"))
    source = sources.resolve(str(path))
    key = {"format": 3, "fingerprint": source.fingerprint, "num_titles": 30, "val_frac": 0.2, "seed": 3,
           "vocab_size": 280, "tokenizers": __import__("tokenizers").__version__}
    [entry] = [p for p in (tmp_path / "c" / "corpus").iterdir() if p.is_dir()]
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["key"] == key and entry.name == __import__("hashlib").sha256(
        json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    train, val = data.split_titles(source.load(), 30, 3, 0.2)
    info = corpus.info
    assert (info.source, info.fingerprint, info.train_titles, info.val_titles) == (source.name, source.fingerprint, 24, 6)
    assert info.val_chars == len(tokenizer.join_titles(val)) and info.val_bytes == data.text_bytes(val)
    assert (info.train_tokens, info.val_tokens) == (len(corpus.train_ids), len(corpus.val_ids))
    assert info.tokenizer_roundtrip in ("exact", "prefix-space") and corpus.eos_id == 1
    assert corpus.tokenizer_path == entry / "tokenizer.json"
    assert meta["info"] == __import__("dataclasses").asdict(info)


# ----- tokenizer ------------------------------------------------------------------------------------

def test_tokenizer_helpers():
    assert tokenizer.SPECIAL_TOKENS == ["<pad>", "<eos>", "<unk>"] and tokenizer.EOS == "<eos>"
    assert tokenizer.join_titles(["a", "b"]) == "a<eos>b<eos>"
    assert tokenizer.join_titles([]) == "<eos>"
    tok = tokenizer.train_tokenizer(["hello world", "hello there"], 270)
    assert [tok.token_to_id(t) for t in tokenizer.SPECIAL_TOKENS] == [0, 1, 2]
    assert 3 < tok.get_vocab_size() <= 270
    assert tokenizer.train_tokenizer(["hello world"] * 50, 15).get_vocab_size() == 15
    assert tokenizer.roundtrip(tok, ["hello world", "", "there"]) == "prefix-space"

    class Echo:
        def __init__(self, decoded):
            self.decoded = decoded

        def encode(self, text):
            return type("E", (), {"ids": [1]})()

        def decode(self, ids, skip_special_tokens=True):
            assert skip_special_tokens is False
            return self.decoded

    assert tokenizer.roundtrip(Echo("a<eos>b<eos>"), ["a", "b"]) == "exact"
    assert tokenizer.roundtrip(Echo(" a<eos><eos>"), ["a", ""]) == "prefix-space"
    assert tokenizer.roundtrip(Echo("a<eos>"), ["a", ""]) == "lossy"


# ----- sources --------------------------------------------------------------------------------------

def test_resolve_each_spec(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "hub_source", lambda: "hub")
    monkeypatch.setattr(sources, "embedded_source", lambda: "embedded")
    assert [sources.resolve(s) for s in ("hub", "auto", "embedded")] == ["hub", "hub", "embedded"]
    assert _error(sources.resolve, str(tmp_path / "missing.txt")) == f"data path {tmp_path / 'missing.txt'} does not exist"


def test_embedded_source_fields(monkeypatch):
    source = sources.embedded_source()
    assert (source.name, source.fingerprint) == ("embedded", "embedded-v1-n120000")
    calls = []
    monkeypatch.setattr(embedded, "generate_titles", lambda n, seed=None: calls.append((n, seed)) or ["x"])
    assert source.load() == ["x"] and calls == [(120_000, 0)]


def test_hub_reachable_and_hub_errors(monkeypatch):
    calls = []

    class Conn:
        def close(self):
            calls.append("close")

    def connect(address, timeout):
        calls.append((address, timeout))
        return Conn()

    monkeypatch.setattr(socket, "create_connection", connect)
    assert sources._hub_reachable() is True and calls == [(("huggingface.co", 443), 3.0), "close"]
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(OSError("down")))
    assert sources._hub_reachable(1.0) is False

    def broken(name, split):
        raise RuntimeError("\n  first line of the error  \nsecond line")

    monkeypatch.setattr(sources, "_hub_reachable", lambda: True)
    monkeypatch.setattr(datasets, "load_dataset", broken)
    assert _error(sources.hub_source, "me/data") == (
        "hub dataset me/data is not reachable or cached (first line of the error  )")
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split: (_ for _ in ()).throw(OSError("y" * 300)))
    assert _error(sources.hub_source, "me/data") == f"hub dataset me/data is not reachable or cached ({'y' * 160})"
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split: (_ for _ in ()).throw(KeyError()))
    assert _error(sources.hub_source) == "hub dataset julien040/hacker-news-posts is not reachable or cached (KeyError)"
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda name, split: datasets.Dataset.from_dict({"text": ["a"], "id": [1]}))
    assert _error(sources.hub_source, "me/data") == "me/data has no 'title' column (columns: text, id)"
    assert _error(sources._require_title_column, [], "w") == "w has no 'title' column (columns: none)"
    sources._require_title_column(["title"], "w")


def test_hub_offline_switch(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(sources, "_hub_reachable", lambda: False)
    seen = []
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda name, split: seen.append(datasets.config.HF_HUB_OFFLINE) or
                        datasets.Dataset.from_dict({"title": ["a"]}))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    sources.hub_source()
    assert seen == [True] and __import__("os").environ["HF_HUB_OFFLINE"] == "1"


def test_file_sources_and_their_messages(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _error(sources.file_source, str(empty)) == f"data folder {empty} holds no .parquet files"
    odd = tmp_path / "t.xml"
    odd.write_text("x")
    assert _error(sources.file_source, str(odd)) == (
        f"data file {odd} has unsupported type '.xml'; use .txt, .csv, .json, .jsonl or .parquet")
    txt = tmp_path / "T.TXT"
    txt.write_bytes(b"a\n\nb\n")
    source = sources.file_source(str(txt))
    import hashlib
    assert source.name == f"file:{txt.resolve()}"
    assert source.fingerprint == "file-" + hashlib.sha256(b"a\n\nb\n").hexdigest()[:20]
    assert source.load() == ["a", "", "b"]
    txt.write_bytes(b"")
    assert sources.file_source(str(txt)).load() == []
    txt.write_bytes(b"x\n\n")
    assert sources.file_source(str(txt)).load() == ["x", ""]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff")
    assert _error(sources.file_source(str(bad)).load) == f"data file {bad} is not UTF-8 (bad byte at offset 3)"
    folder = tmp_path / "shards"
    (folder / "a").mkdir(parents=True)
    datasets.Dataset.from_dict({"title": ["x", None]}).to_parquet(str(folder / "a" / "p.parquet"))
    (folder / "ignored.txt").write_text("y")
    shard = sources.file_source(str(folder))
    content = (folder / "a" / "p.parquet").read_bytes()
    assert shard.fingerprint == "file-" + hashlib.sha256(content + b"\0a/p.parquet\0").hexdigest()[:20]
    assert shard.load() == ["x", ""]
    assert sources._files(folder) == [folder / "a" / "p.parquet"] and sources._files(txt) == [txt]
    notitle = tmp_path / "n.jsonl"
    notitle.write_text('{"text": "a"}\n')
    assert _error(sources.file_source(str(notitle)).load) == (
        f"data file {notitle} has no 'title' column (columns: text)")
    broken = tmp_path / "b.json"
    broken.write_text("{not json")
    message = _error(sources.file_source(str(broken)).load)
    assert message.startswith(f"cannot parse data file {broken}: ")


def test_table_errors_are_sorted_by_their_first_line(monkeypatch, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("title\na\n")

    def fail(text):
        def load_dataset(*a, **k):
            raise ValueError(text)
        return load_dataset

    for text, expected in (("Bad UTF8 stream", "is not UTF-8"), ("codec utf-8 failed", "is not UTF-8"),
                           ("\n  broken row  \nmore", "cannot parse data file {p}: broken row  "),
                           ("x" * 300, "cannot parse data file {p}: " + "x" * 200)):
        monkeypatch.setattr(datasets, "load_dataset", fail(text))
        got = _error(sources._read_table, [path], ".csv")
        assert got == (f"data file {path} " + expected if "UTF" in expected else expected.format(p=path))
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda kind, data_files, split: calls.append(
        (kind, data_files, split)) or datasets.Dataset.from_dict({"title": [1, None]}))
    assert sources._read_table([path], ".jsonl") == ["1", ""]
    assert calls == [("json", [str(path)], "train")]
    assert sources.TABLE_SUFFIXES == {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


# ----- embedded -------------------------------------------------------------------------------------

def test_embedded_helpers():
    assert [embedded._plural(n) for n in ("API", "bus", "box", "buzz", "wish", "match", "city", "day", "key", "toy",
                                          "guy", "boy", "search engine", "query planner")] == [
        "APIs", "buses", "boxes", "buzzes", "wishes", "matches", "cities", "days", "keys", "toys", "guys", "boys",
        "search engines", "query planners"]
    assert embedded._plural("iy") == "iys"  # a vowel before the y keeps it
    assert embedded._third_person("run away") == "runs away"
    draws = iter([0.0, 0.999, 0.5])
    uniform = embedded._uniform(("a", "b", "c"))
    assert [uniform(lambda: next(draws)) for _ in range(3)] == ["a", "c", "b"]
    zipf = embedded._zipf(("a", "b", "c"))  # weights 1, 1/2, 1/3 of 11/6
    bounds = [0.0, 6 / 11 - 1e-9, 6 / 11 + 1e-9, 9 / 11 + 1e-9, 1.0]
    draws = iter(bounds)
    assert [zipf(lambda: next(draws)) for _ in bounds] == ["a", "a", "b", "c", "c"]


def test_compile_capitalises_the_first_slot_unless_it_keeps_case():
    samplers = {"noun": lambda random: "app", "tech": lambda random: "htmx"}

    def render(template):
        pairs, tail = embedded._compile(template, samplers)
        return "".join(literal + sample(None) for literal, sample in pairs) + tail

    assert render("{noun} and {noun}!") == "App and app!"
    assert render("{tech} and {noun}") == "htmx and app"
    assert render("Why {noun}") == "Why app"
    assert render("plain") == "plain"
    assert embedded._ARTICLE.sub(r"\1n ", "a app, A open, a USB, a Unicode") == "an app, An open, a USB, a Unicode"


def test_generate_titles_guards(monkeypatch):
    with pytest.raises(ValueError) as caught:
        embedded.generate_titles(-1)
    assert str(caught.value) == "n must be non-negative, got -1"
    monkeypatch.setattr(embedded, "PLAIN_TEMPLATES", ("Same",))
    monkeypatch.setattr(embedded, "_KIND_THRESHOLDS", ())
    monkeypatch.setattr(embedded, "_suffix", lambda random: "")
    assert embedded.generate_titles(1) == ["Same"]
    draws = []

    class Counting:
        def __init__(self, seed):
            self.random = lambda: draws.append(seed) or 0.5

    monkeypatch.setattr(embedded, "Random", Counting)
    with pytest.raises(RuntimeError) as caught:
        embedded.generate_titles(3)
    assert len(draws) == 2 * (20 * 3 + 1000)  # two draws per attempt, 20n + 1000 attempts
    assert str(caught.value) == "only 1 distinct titles after many attempts, asked for 3"
