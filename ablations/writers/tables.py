"""results.csv (one line per point) and results.json (every cell's record)."""
from __future__ import annotations

import csv
import io

from ..execution.store import to_json
from ..analysis.summary import Summary
from .text import STATUSES
from .markdown import family_columns, setting_columns


def results_csv(summary: Summary) -> str:
    """One line per point. `baseline` marks the row the deltas are measured from (the grid's reference
    point when the baseline is not in it); setting columns are named like the config's settings; the
    mean and sd are named by the metric they and the deltas are of (`val_loss_full_mean` when it switched)."""
    rows, metric = summary.rows, summary.metric
    families, settings = family_columns(rows), setting_columns(rows)
    fields = ["baseline", *families, *settings, "params", f"{metric}_mean", f"{metric}_sd", "seeds_ok",
              "delta_vs_baseline", "delta_ci95_half_width", "val_loss_per_token", "val_coverage", "tokens_per_s",
              "wall_s", *(s.replace(" ", "_") for s in STATUSES)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        counts = row.status_counts
        writer.writerow({
            "baseline": row.is_reference, **{f: getattr(row.variant, f) for f in families},
            **{s: row.point.level(s) for s in settings}, "params": row.params,
            f"{metric}_mean": row.mean(metric), f"{metric}_sd": row.loss_sd, "seeds_ok": len(row.ok),
            "delta_vs_baseline": row.delta.value if row.delta else None,
            "delta_ci95_half_width": row.delta.half_width if row.delta else None,
            "val_loss_per_token": row.mean("val_loss_per_token"), "val_coverage": row.mean("val_coverage"),
            "tokens_per_s": row.mean("tokens_per_s"), "wall_s": row.mean("wall_s"),
            **{s.replace(" ", "_"): counts[s] for s in STATUSES},
        })
    return buffer.getvalue()


def results_json(summary: Summary) -> str:
    return to_json(summary.records)
