"""Data sources: every file format yields the same titles; the hub path runs the real loader."""
import json

import datasets
import pytest

from mainrun.data import sources, split_titles
from mainrun.errors import DataError

TITLES = ["Show HN: a tiny GPT", "  padded title  ", "Ask HN: why?", "", "Ünïcödé – dash (2019)",
          "form\x0cfeed and line\u2028separator stay inside one title"]


def write_all_formats(folder):
    (folder / "t.txt").write_text("\n".join(TITLES) + "\n", encoding="utf-8")
    table = datasets.Dataset.from_dict({"id": list(range(len(TITLES))), "title": TITLES})
    table.to_csv(str(folder / "t.csv"), index=False)
    (folder / "t.jsonl").write_text("".join(json.dumps({"title": t, "id": i}) + "\n" for i, t in enumerate(TITLES)))
    (folder / "t.json").write_text(json.dumps([{"title": t} for t in TITLES]))
    table.to_parquet(str(folder / "t.parquet"))
    shards = folder / "hub_like" / "data"
    shards.mkdir(parents=True)
    table.select(range(3)).to_parquet(str(shards / "train-00000-of-00002.parquet"))
    table.select(range(3, len(TITLES))).to_parquet(str(shards / "train-00001-of-00002.parquet"))


@pytest.mark.parametrize("name", ["t.txt", "t.csv", "t.jsonl", "t.json", "t.parquet", "hub_like"])
def test_every_format_yields_the_same_titles(tmp_path, name):
    write_all_formats(tmp_path)
    source = sources.resolve(str(tmp_path / name))
    loaded = source.load()
    # CSV cannot tell an empty field from a missing one; both mean an empty title.
    assert [t or "" for t in loaded] == TITLES
    assert source.name.startswith("file:")


def test_fingerprint_follows_content_not_name(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one\ntwo\n")
    b.write_text("one\ntwo\n")
    assert sources.resolve(str(a)).fingerprint == sources.resolve(str(b)).fingerprint
    b.write_text("one\ntwo!\n")
    assert sources.resolve(str(a)).fingerprint != sources.resolve(str(b)).fingerprint


def test_split_matches_datasets_shuffle():
    """The reference shuffles with `datasets`; our split must pick the same titles in the same order."""
    titles = [f"title {i}" for i in range(5_000)]
    ours_train, ours_val = split_titles(titles, 1_000, seed=1337, val_frac=0.1)
    shuffled = datasets.Dataset.from_dict({"title": titles}).shuffle(seed=1337)
    theirs = [row["title"].strip() for row in shuffled.take(1_000)]
    assert ours_train + ours_val == theirs
    assert (len(ours_train), len(ours_val)) == (900, 100)


def test_hub_source_uses_load_dataset(monkeypatch):
    """The hub path calls datasets.load_dataset with the reference dataset and reads its title column."""
    calls = []
    fake = datasets.Dataset.from_dict({"id": [1, 2], "title": ["a", "b"]})

    def load_dataset(name, split):
        calls.append((name, split))
        return fake

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    source = sources.resolve("hub")
    assert calls == [("julien040/hacker-news-posts", "train")]
    assert source.load() == ["a", "b"] and source.name == "hub:julien040/hacker-news-posts"
    assert source.fingerprint == f"hub-{fake._fingerprint}"


def test_hub_without_title_column_is_a_data_error(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split: datasets.Dataset.from_dict({"text": ["a"]}))
    with pytest.raises(DataError, match="has no 'title' column"):
        sources.resolve("hub")


def test_auto_falls_back_to_embedded_with_one_warning(monkeypatch, capsys):
    def unreachable(name, split):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    source = sources.resolve("auto")
    assert source.name == "embedded"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not reachable or cached" in err and "embedded" in err


def test_split_strips_the_titles_it_picks():
    """The reference strips each picked title (section 1 of the reference notes); a title with
    surrounding whitespace must reach the tokenizer without it."""
    from mainrun.data import split_titles

    titles = [f"  title {i}\t " if i % 2 else f"title {i}" for i in range(20)]
    train, val = split_titles(titles, 20, seed=1337, val_frac=0.25)
    assert sorted(train + val) == sorted(f"title {i}" for i in range(20))
    assert all(t == t.strip() for t in train + val)
