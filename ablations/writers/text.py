"""How numbers read in every report: estimates with enough digits to show their interval, counts,
statuses. Shared by the markdown, CSV, PDF and console writers, so a number reads the same in each."""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from ..analysis.effects import Estimate

STATUSES = ("ok", "diverged", "failed", "not run")


def decimals(est: Estimate) -> int:
    """4 decimals, or more when the interval is narrower, so that it shows two significant digits:
    -0.000100 ± 0.000085 is beyond noise, where -0.0001 ± 0.0001 would look as if it were not; at most
    8, below which an interval is floating-point rounding (an exactly additive synthetic loss)."""
    if not est.half_width:
        return 4
    return min(MAX_DECIMALS, max(4, 1 - math.floor(math.log10(est.half_width))))


MAX_DECIMALS = 8


def data_name(run: dict[str, Any], root: Path) -> str:
    """The corpus as a reader can find it: a file's name (its path when it lies in the results folder),
    never the absolute path of the machine that ran it."""
    name = str(run.get("data", "unrecorded"))
    if name.startswith("file:"):
        path = Path(name[len("file:"):])
        try:
            return str(path.relative_to(root.resolve()))
        except ValueError:
            return path.name
    return "the embedded synthetic corpus" if name == "embedded" else name


def data_text(run: dict[str, Any], root: Path) -> str:
    """`data_name`, with the corpus's fingerprint."""
    shown = data_name(run, root)
    return f"{shown} (fingerprint {run['fingerprint']})" if run.get("fingerprint") else shown


def estimate_text(est: Estimate | None) -> str:
    """`-0.4254 ± 0.0213`; without an interval (one seed) the value alone; "" without an estimate."""
    if est is None:
        return ""
    d = decimals(est)
    if est.half_width is None:
        return f"{est.value:+.{d}f}"
    return f"{est.value:+.{d}f} ± {est.half_width:.{d}f}"


def number(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def status_text(counts: Counter) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])


def count(n: int, noun: str) -> str:
    """`count(1, "seed")` -> "1 seed", `count(3, "seed")` -> "3 seeds"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
