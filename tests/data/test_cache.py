"""The tokenizer/ids cache: reused across runs, keyed by content and settings, safe against crashes."""
import json

import pytest

from mainrun import data
from mainrun.data import sources


@pytest.fixture
def titles_file(tmp_path):
    path = tmp_path / "titles.txt"
    path.write_text("\n".join(f"Show HN: project number {i} in Rust ({2000 + i % 20})" for i in range(600)) + "\n")
    return path


def prepare(path, cache, **overrides):
    settings = dict(num_titles=500, val_frac=0.1, seed=1337, vocab_size=300, cache_dir=str(cache)) | overrides
    return data.prepare(str(path), **settings)


def test_second_prepare_reads_the_cache_without_loading_titles(titles_file, tmp_path, monkeypatch):
    first = prepare(titles_file, tmp_path / "cache")
    real_resolve = sources.resolve

    def resolve_without_load(spec):
        source = real_resolve(spec)
        return sources.Source(source.name, source.fingerprint, load=lambda: pytest.fail("titles were re-read"))

    monkeypatch.setattr(sources, "resolve", resolve_without_load)
    second = prepare(titles_file, tmp_path / "cache")
    assert second.info == first.info
    assert second.train_ids.equal(first.train_ids) and second.val_ids.equal(first.val_ids)


def test_cache_key_separates_settings(titles_file, tmp_path):
    base = prepare(titles_file, tmp_path / "cache")
    other_seed = prepare(titles_file, tmp_path / "cache", seed=7)
    assert not base.val_ids.equal(other_seed.val_ids) or base.tokenizer_path != other_seed.tokenizer_path
    assert len(list((tmp_path / "cache" / "corpus").glob("*/meta.json"))) == 2


def test_corpus_counts(titles_file, tmp_path):
    corpus = prepare(titles_file, tmp_path / "cache")
    assert (corpus.info.train_titles, corpus.info.val_titles) == (450, 50)
    assert corpus.info.train_tokens == len(corpus.train_ids) and corpus.info.val_tokens == len(corpus.val_ids)
    assert corpus.tokenizer_path.exists()


def test_interrupted_write_is_rebuilt(titles_file, tmp_path):
    corpus = prepare(titles_file, tmp_path / "cache")
    entry = corpus.tokenizer_path.parent
    # What a writer killed between files would have left if it wrote in place: no meta.json.
    (entry / "meta.json").unlink()
    (entry / "ids.pt").write_bytes(b"truncated")
    rebuilt = prepare(titles_file, tmp_path / "cache")
    assert rebuilt.train_ids.equal(corpus.train_ids)
    assert json.loads((entry / "meta.json").read_text())["info"]["train_titles"] == 450


def test_a_damaged_entry_is_rebuilt_once_with_one_warning_on_stderr(titles_file, tmp_path, capsys):
    """stdout is the run's own output (its records, piped by scripts); a cache repair is a warning."""
    corpus = prepare(titles_file, tmp_path / "cache")
    entry = corpus.tokenizer_path.parent
    (entry / "ids.pt").write_bytes(b"damaged")  # meta.json still there: the entry looks complete
    capsys.readouterr()
    rebuilt = prepare(titles_file, tmp_path / "cache")
    assert rebuilt.train_ids.equal(corpus.train_ids)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"warning: tokenizer cache entry {entry} cannot be read (")
    assert err.endswith("); rebuilding it\n") and err.count("\n") == 1
