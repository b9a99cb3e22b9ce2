import re
import statistics
from collections import Counter
from functools import lru_cache

from mainrun.data.embedded import generate_titles

DEFAULT_N = 120_000


@lru_cache(maxsize=None)
def _default_titles() -> tuple[str, ...]:
    # Generated once and shared: the full corpus is what the trainer sees.
    return tuple(generate_titles(DEFAULT_N, seed=0))


def test_exact_length():
    assert len(_default_titles()) == DEFAULT_N
    assert len(generate_titles(0)) == 0
    assert len(generate_titles(37, seed=5)) == 37


def test_default_titles_are_all_distinct():
    titles = _default_titles()
    assert len(set(titles)) == DEFAULT_N


def test_deterministic_for_a_seed():
    assert generate_titles(2_000, seed=0) == generate_titles(2_000, seed=0)
    assert generate_titles(2_000, seed=7) == generate_titles(2_000, seed=7)


def test_prefix_of_larger_request_matches():
    assert generate_titles(500, seed=0) == list(_default_titles()[:500])


def test_different_seed_differs():
    assert generate_titles(2_000, seed=0) != generate_titles(2_000, seed=1)


def test_word_frequencies_are_zipf_like():
    counts = Counter(word for title in _default_titles() for word in title.split())
    top_count = counts.most_common(1)[0][1]
    median_count = statistics.median(counts.values())
    assert top_count > 20 * median_count


def test_hn_patterns_present():
    titles = _default_titles()
    assert any(t.startswith("Show HN:") for t in titles)
    assert any(t.startswith("Ask HN:") for t in titles)
    assert any(re.search(r"\(\d{4}\)", t) for t in titles)
    assert any(re.search(r"\d", t) for t in titles)


def test_pattern_proportions_are_plausible():
    titles = _default_titles()
    show = sum(t.startswith("Show HN:") for t in titles) / len(titles)
    ask = sum(t.startswith("Ask HN:") for t in titles) / len(titles)
    assert 0.04 < show < 0.12
    assert 0.02 < ask < 0.08


def test_titles_are_clean_single_lines():
    for title in _default_titles():
        assert title
        assert title == title.strip()
        assert "\n" not in title


def test_version_1_titles_never_change():
    """The titles are part of the dataset cache key through EMBEDDED_VERSION: any change to what
    generate_titles returns must bump the version (and this digest), or caches built before it
    would silently be reused for different text."""
    import hashlib

    from mainrun.data.embedded import EMBEDDED_VERSION

    titles = generate_titles(3000, seed=0)
    assert titles[:4] == ["Fluxly, the fast GPU, is now open source", "Don't sell your own model",
                          "FluxScript, the tiny but complete static site generator, is now open source",
                          "QEMU is 5x faster than React for AI"]
    digest = hashlib.sha256("\n".join(titles).encode()).hexdigest()
    assert (EMBEDDED_VERSION, digest) == ("1", "2bb348f48abd3113bfba09768bf4b815295a2988521151177f68061c05c048b1")


def test_plurals_and_third_persons_follow_english_spelling():
    from mainrun.data.embedded import _plural, _third_person

    plurals = {"app": "apps", "API": "APIs", "GPU": "GPUs", "search engine": "search engines", "B-tree": "B-trees",
               "library": "libraries", "proxy": "proxies", "battery": "batteries", "key": "keys", "day": "days",
               "toy": "toys", "guy": "guys", "bus": "buses", "box": "boxes", "waltz": "waltzes", "brush": "brushes",
               "watch": "watches", "cache": "caches"}
    assert {noun: _plural(noun) for noun in plurals} == plurals
    third = {"deploy": "deploys", "fix": "fixes", "teach": "teaches", "simplify": "simplifies",
             "speed up": "speeds up", "reverse-engineer": "reverse-engineers", "fuzz": "fuzzes",
             "patch": "patches", "compress": "compresses", "sandbox": "sandboxes", "build": "builds"}
    assert {verb: _third_person(verb) for verb in third} == third


class Script:
    """A `random()` that returns the given draws in order."""

    def __init__(self, *draws):
        self.draws = list(draws)

    def __call__(self):
        return self.draws.pop(0)


def test_a_plain_title_suffix_is_a_year_pdf_video_or_nothing_by_one_draw():
    from mainrun.data.embedded import _suffix

    cases = [((0.0, 0.0), " (2024)"), ((0.049, 0.5), " (2008)"), ((0.01, 0.9999), " (1960)"),
             ((0.05,), " [pdf]"), ((0.069,), " [pdf]"), ((0.07,), " [video]"), ((0.079,), " [video]"),
             ((0.08,), ""), ((0.9999,), "")]
    for draws, suffix in cases:
        script = Script(*draws)
        assert (draws, _suffix(script)) == (draws, suffix)
        assert not script.draws  # a year takes a second draw, the others none


def test_each_slot_draws_from_its_list_by_one_uniform_draw():
    """The first entry at 0, the last near 1; percentages run from 1% to 99%."""
    from mainrun.data.embedded import _make_samplers

    samplers = _make_samplers()
    at = {r: {slot: sample(lambda: r) for slot, sample in samplers.items()} for r in (0.0, 0.9999)}
    assert at[0.0] == {
        "noun": "app", "nouns": "apps", "topic": "AI", "adj": "new", "verdict": "hard", "verb": "build",
        "verbed": "built", "verbing": "building", "verbs": "builds", "lang": "Python", "tech": "Linux",
        "company": "Google", "product": "Nova", "role": "developers", "job": "engineers", "field": "physics",
        "aspect": "history", "things": "bees", "behavior": "can count", "sciverb": "discover", "action": "acquires",
        "deal": "acquires", "place": "the US", "month": "January", "recent": "2012", "num": "10", "money": "$5M",
        "mult": "2x", "pct": "1%", "version": "1.0.0", "yc": "YC W07"}
    assert at[0.9999] == {
        "noun": "disassembler", "nouns": "disassemblers", "topic": "pixel art", "adj": "terminal-based",
        "verdict": "quietly dying", "verb": "replicate", "verbed": "replicated", "verbing": "replicating",
        "verbs": "replicates", "lang": "BASIC", "tech": "RSS", "company": "Heroku", "product": "SaffronBot",
        "role": "lawyers", "job": "a technical writer", "field": "number theory", "aspect": "strange world",
        "things": "moths", "behavior": "learn from each other", "sciverb": "decode", "action": "doubles down on",
        "deal": "bids for", "place": "Chile", "month": "December", "recent": "2025", "num": "500", "money": "$18K",
        "mult": "40x", "pct": "99%", "version": "20.24", "yc": "YC S24"}
