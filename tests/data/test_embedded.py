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
