"""Regular two-level fractional factorial designs of resolution IV or more.

With k two-level axes, `--design fractional` trains the smallest regular 2^(k-p) fraction whose
resolution is at least IV, so that no main effect is aliased with another main effect or with a
two-factor interaction. The generators are the standard minimum-run resolution IV (V for k = 5)
designs tabulated in Box, Hunter & Hunter, *Statistics for Experimenters* (2nd ed., 2005), Table
6.22, the same as Montgomery, *Design and Analysis of Experiments*, Table 8.14, and Minitab's
catalogue for k <= 8; for k = 9..11, the NIST/SEMATECH Dataplot index of minimal resolution IV
designs (DEXRES4). Not invented here: `tests/ablations/study/test_design.py` checks each resolution.

Factors are lettered A, B, C, ... (I skipped) in axis order; -1 codes an axis's reference level
and +1 its other level. Each generator's sign is chosen so that the run with every axis at its
reference level is in the fraction (any of the 2^p fractions has the same resolution and alias
structure up to signs; this one contains the baseline, so Δ vs baseline stays measurable).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from mainrun.errors import ConfigError

LETTERS = "ABCDEFGHJKLMNOPQ"

# k -> generators of the minimal-run design with resolution >= IV (no generators: the full factorial).
GENERATORS: dict[int, tuple[str, ...]] = {
    1: (), 2: (), 3: (),
    4: ("D=ABC",),  # 2^(4-1), 8 runs, IV
    5: ("E=ABCD",),  # 2^(5-1), 16 runs, V
    6: ("E=ABC", "F=BCD"),  # 2^(6-2), 16 runs, IV
    7: ("E=ABC", "F=BCD", "G=ACD"),  # 2^(7-3), 16 runs, IV
    8: ("E=BCD", "F=ACD", "G=ABC", "H=ABD"),  # 2^(8-4), 16 runs, IV
    9: ("F=BCDE", "G=ACDE", "H=ABDE", "J=ABCE"),  # 2^(9-4), 32 runs, IV
    10: ("F=ABCD", "G=ABCE", "H=ABDE", "J=ACDE", "K=BCDE"),  # 2^(10-5), 32 runs, IV
    11: ("F=ABC", "G=BCD", "H=CDE", "J=ACD", "K=ADE", "L=BDE"),  # 2^(11-6), 32 runs, IV
}
ROMAN = {3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII"}

Word = frozenset[str]  # an interaction, as the set of its factor letters; the empty word is I


def _word_text(word: Word) -> str:
    return "".join(sorted(word, key=LETTERS.index)) or "I"


@dataclass(frozen=True)
class Design:
    factors: tuple[str, ...]  # the axes, in letter order
    generators: tuple[tuple[str, int, str], ...]  # (generated letter, sign, base letters): E = -ABCD

    @property
    def k(self) -> int:
        return len(self.factors)

    @property
    def p(self) -> int:
        return len(self.generators)

    @property
    def runs(self) -> int:
        return 2 ** (self.k - self.p)

    @property
    def letters(self) -> str:
        return LETTERS[: self.k]

    def letter(self, axis: str) -> str:
        return self.letters[self.factors.index(axis)]

    def rows(self) -> list[tuple[int, ...]]:
        """The runs as +-1 codes per factor: the base factors in standard order (A fastest), then
        each generated factor as its signed product."""
        base = self.letters[: self.k - self.p]
        rows = []
        for codes in itertools.product((-1, 1), repeat=len(base)):
            code = dict(zip(base, reversed(codes)))
            for letter, sign, word in self.generators:
                code[letter] = sign * math.prod(code[c] for c in word)
            rows.append(tuple(code[c] for c in self.letters))
        return rows

    def defining_relation(self) -> list[tuple[int, Word]]:
        """Every word equal to the identity, with its sign: the products of the generator words."""
        words = [(sign, frozenset(word) | {letter}) for letter, sign, word in self.generators]
        relation = []
        for r in range(1, len(words) + 1):
            for subset in itertools.combinations(words, r):
                sign, word = 1, frozenset()
                for s, w in subset:
                    sign, word = sign * s, word ^ w
                relation.append((sign, word))
        return relation

    @property
    def resolution(self) -> int | None:
        """The length of the shortest word of the defining relation; None for a full factorial."""
        relation = self.defining_relation()
        return min(len(word) for _, word in relation) if relation else None

    def aliases(self, word: Word, max_order: int) -> list[tuple[int, Word]]:
        """The effects estimated together with `word` (up to max_order factors), with their signs."""
        found = [(sign, word ^ w) for sign, w in self.defining_relation()]
        return sorted(((s, w) for s, w in found if len(w) <= max_order), key=lambda sw: (len(sw[1]), _word_text(sw[1])))

    def describe(self) -> dict:
        """What run.json stores and results.md prints."""
        resolution = self.resolution
        return {
            "factors": {self.letter(axis): axis for axis in self.factors},
            "runs": self.runs,
            "fraction": f"2^({self.k}-{self.p})" if self.p else f"2^{self.k} (full factorial)",
            "resolution": ROMAN.get(resolution, str(resolution)) if resolution else "full",
            "generators": [f"{letter} = {'-' if sign < 0 else ''}{word}" for letter, sign, word in self.generators],
            "defining_relation": "I = " + " = ".join(f"{'-' if s < 0 else ''}{_word_text(w)}"
                                                     for s, w in self.defining_relation()) if self.p else None,
            "aliases": self.alias_lines(),
        }

    def alias_lines(self) -> list[str]:
        """Each main effect and two-factor interaction with its aliases of up to three factors."""
        lines, listed = [], set()
        effects = [frozenset(c) for c in self.letters] + [frozenset(pair) for pair in
                                                          itertools.combinations(self.letters, 2)]
        for effect in effects:
            if effect in listed:  # already shown as an alias of an earlier effect (AB = CD, then not CD = AB)
                continue
            aliases = self.aliases(effect, 3)
            listed.update(w for _, w in aliases)
            if aliases:
                lines.append(f"{_word_text(effect)} = " + " = ".join(f"{'-' if s < 0 else ''}{_word_text(w)}"
                                                                      for s, w in aliases))
        return lines


def fractional_design(factors: list[str]) -> Design:
    """The tabulated design for these two-level axes, with generator signs that keep the reference run."""
    k = len(factors)
    if k not in GENERATORS:
        raise ConfigError(f"--design fractional supports 1 to {max(GENERATORS)} two-level axes, got {k}")
    generators = []
    for text in GENERATORS[k]:
        letter, word = text.split("=")
        # At the reference run every base factor is -1, so the product is (-1)^len(word); the
        # generated factor must be -1 there too.
        sign = -((-1) ** len(word))
        generators.append((letter, sign, word))
    return Design(tuple(factors), tuple(generators))
