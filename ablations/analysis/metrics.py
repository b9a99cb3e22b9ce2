"""What tables, effects, tuning and sweeps rank by, and how a table chooses when left to itself."""
from __future__ import annotations

from typing import Any

from mainrun.data import BPB_SEPARATOR_BYTES
from mainrun.errors import ConfigError

# What a table can rank by: the record field and its column title.
METRICS = {"val_loss": "val loss", "val_loss_full": "val loss (full coverage)", "val_bpb": "val bits/byte"}
METRIC_CHOICES = ("auto", *METRICS)


def choose_metric(records: list[dict[str, Any]], requested: str = "auto") -> tuple[str, str]:
    """The metric a table ranks by, and the sentence its header says about the choice."""
    if requested not in METRIC_CHOICES:
        raise ConfigError(f"unknown metric '{requested}'; valid: {', '.join(METRIC_CHOICES)}")
    ok = [r for r in records if r["status"] == "ok"]
    # Within a seed every cell shares the split and tokenizer; coverage differs across cells of one
    # seed only when the batch or block differs, and then val_loss is not comparable across them.
    by_seed: dict[int, set[float]] = {}
    for r in ok:
        if r.get("val_coverage") is not None:
            by_seed.setdefault(r["seed"], set()).add(round(r["val_coverage"], 9))
    differ = any(len(c) > 1 for c in by_seed.values())
    coverages = sorted(c for cs in by_seed.values() for c in cs)
    has_full = bool(ok) and all(r.get("val_loss_full") is not None for r in ok)
    if requested != "auto":
        if ok and not all(r.get(requested) is not None for r in ok):
            raise ConfigError(f"--metric {requested}: some cells of this folder have no {requested} "
                              "(trained before it was recorded); use val_loss")
        if requested == "val_bpb" and any(r.get("bpb_separator_bytes") != BPB_SEPARATOR_BYTES for r in ok):
            raise ConfigError("--metric val_bpb: some cells of this folder counted <eos> as five bytes (trained "
                              "before 2026-11-28); convert them with python scripts/migrate_bpb.py FOLDER")
        return requested, ""
    if differ and has_full:
        span = f"{100 * coverages[0]:.1f}% to {100 * coverages[-1]:.1f}%"
        return "val_loss_full", (f"The cells differ in how much of the val text the reference metric scores ({span}), "
                                 "so this table ranks by val_loss_full, which scores every val token once.")
    if differ:
        return "val_loss", ("The cells differ in coverage, and some predate val_loss_full: the val loss column is "
                            "not comparable across them.")
    return "val_loss", ""


