"""speedup.md and speedup.json: each variant's speed-up against the reference's token budgets."""
from __future__ import annotations

import math
import os
from pathlib import Path

from ..analysis.effects import Effect, estimate_json
from ..analysis.speedup import SpeedUp
from ..execution.store import to_json, write_atomic
from ..analysis.summary import Summary
from .text import estimate_text
from .markdown import table


def speedup_md(summary: Summary, found: list[SpeedUp], effects: list[Effect] | None, budgets_root: Path,
               budgets: tuple[float, ...]) -> str:
    link = os.path.relpath(budgets_root, summary.root)
    rows = [[s.label or summary.reference_label, s.text(),
             ", ".join(f"{seed}: {value:.2f}x" + ("" if kind == "exact" else f" ({kind})")
                       for seed, (value, kind) in sorted(s.per_seed.items()))] for s in found]
    lines = ["# Speed-ups against the reference's budgets", "",
             f"The reference point trained at {', '.join(f'{b:g}x' for b in budgets)} the study's steps, each run "
             f"with its own full schedule ([its folder]({link}/results.md)). A variant's speed-up is the tokens the "
             f"reference needs to reach its final {summary.metric} (interpolated in log tokens) over the tokens it "
             "used: above 1, the variant gets there with less data. Geometric means with paired 95% intervals over "
             "seeds, on the log ratio; a loss outside the reference's budgets is a bound.", "",
             table(rows, ["variant", "speed-up (95% interval)", "per seed"]), ""]
    if effects:
        lines += ["## Effects on log speed-up (positive: faster)", "",
                  table([[e.name, estimate_text(e.estimate), f"{math.exp(e.estimate.value):.3f}x"] for e in effects],
                        ["effect", "on log speed-up", "as a factor"]), ""]
    return "\n".join(lines)


def speedup_json(found: list[SpeedUp], effects: list[Effect] | None, budgets_root: Path) -> str:
    return to_json({"budgets_folder": str(budgets_root),
                    "speedups": [{"point": str(s.point), "label": s.label, "text": s.text(), "bound": s.bound,
                                  "log_speedup": estimate_json(s.estimate),
                                  "per_seed": {str(k): {"speedup": v, "kind": kind}
                                               for k, (v, kind) in s.per_seed.items()}} for s in found],
                    "effects_on_log_speedup": None if effects is None else [
                        {"name": e.name, **estimate_json(e.estimate)} for e in effects]})


def write_speedups(summary: Summary, found: list[SpeedUp], effects: list[Effect] | None, budgets_root: Path,
                   budgets: tuple[float, ...]) -> None:
    write_atomic(summary.root / "speedup.md", speedup_md(summary, found, effects, budgets_root, budgets))
    write_atomic(summary.root / "speedup.json", speedup_json(found, effects, budgets_root))
