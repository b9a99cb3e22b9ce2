"""ladder.md, ladder.json and ladder.png: what a `LadderSummary` says, for readers and for programs."""
from __future__ import annotations

from pathlib import Path

from ..scaling import LadderSummary, Trend
from ..store import to_json, write_atomic
from ..text import estimate_text
from .markdown import table


def rung_label(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def predicted_text(t: Trend) -> str:
    if t.predicted is None:
        return "n/a"
    value, half = t.predicted
    return f"{value:+.4f} ± {half:.4f} (extrapolated)"


def ladder_md(ladder: LadderSummary, plotted: bool) -> str:
    labels = [rung_label(s) for s in ladder.rungs]
    headers = ["finding", *labels, f"at {ladder.target:.3g} FLOPs", "slope per decade", "verdict"]
    body = [[t.name, *(estimate_text(e) or "n/a" for e in t.estimates), predicted_text(t),
             "n/a" if t.fit is None else f"{t.fit.slope:+.4f} ± {t.fit.slope_half_width:.4f}", t.verdict]
            for t in ladder.trends]
    rungs = table([[label, f"[{folder}]({folder}/results.md)", "n/a" if c is None else f"{c:.3g}"]
                   for label, folder, c in zip(labels, ladder.folders, ladder.compute)],
                  ["rung", "results", "training FLOPs per run"])
    return "\n".join([
        f"# Ladder over {', '.join(ladder.axes)}", "",
        f"The same study at each rung, each an ordinary results folder. Findings are differences in "
        f"{ladder.metric} (95% intervals over seeds), fitted against log10 of training compute by weighted "
        f"least squares and extrapolated to {ladder.target:.3g} FLOPs: an extrapolation, not a measurement.", "",
        rungs, "", table(body, headers), "",
        "Verdicts: holds (the extrapolated interval excludes 0 with the sign measured at the largest rung), "
        "grows (and the slope moves it further from 0), flips sign, fades (the largest rung's effect is beyond "
        "noise, the slope takes it towards 0 and the extrapolation cannot tell it from 0), cannot tell.", "",
        "![Each finding against compute](ladder.png)" if plotted else "", *tuned_section(ladder)])


def tuned_section(ladder: LadderSummary) -> list[str]:
    """With --tune: each variant's chosen value at each rung, and how many kept theirs."""
    if not ladder.tuned:
        return [""]
    kept = sum(len(set(values)) == 1 and None not in values for values in ladder.tuned.values())
    rows = [[name, *(value or "n/a" for value in values)] for name, values in ladder.tuned.items()]
    return ["", "## The tuned value at each rung", "",
            f"Each variant's pick on its tuning seeds at each rung; {kept} of {len(ladder.tuned)} chose the same value "
            "at every rung. \"(edge)\": the best was at an end of the candidates, so the optimum may lie beyond them.", "",
            table(rows, ["variant", *(rung_label(s) for s in ladder.rungs)]), ""]


def plot_ladder(ladder: LadderSummary, path: Path) -> None:
    import math
    import textwrap

    from .plots import plt, save

    trends = [t for t in ladder.trends if any(e is not None for e in t.estimates)]
    columns = min(3, max(1, len(trends)))
    rows = math.ceil(len(trends) / columns) or 1
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, t in zip(axes.flat, trends):
        points = [(c, e) for c, e in zip(ladder.compute, t.estimates) if c and e is not None]
        ax.errorbar([c for c, _ in points], [e.value for _, e in points],
                    yerr=[e.half_width or 0.0 for _, e in points], fmt="o", color="C0", capsize=3, label="measured")
        if t.fit is not None:
            xs = [min(c for c, _ in points), ladder.target]
            grid = [10 ** (math.log10(xs[0]) + i * (math.log10(xs[1]) - math.log10(xs[0])) / 40) for i in range(41)]
            fits = [t.fit.at(x) for x in grid]
            ax.plot(grid, [v for v, _ in fits], color="C1", lw=1)
            ax.fill_between(grid, [v - h for v, h in fits], [v + h for v, h in fits], color="C1", alpha=0.15)
            value, half = t.fit.at(ladder.target)
            ax.errorbar([ladder.target], [value], yerr=[half], fmt="o", mfc="white", color="C1", capsize=3,
                        label="extrapolated")
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xscale("log")
        # An aliased interaction's name runs to 80 characters: wrapped, it stays over its own panel.
        ax.set_title("\n".join([*textwrap.wrap(t.name, 44), t.verdict]), fontsize=8)
        ax.set_xlabel("training FLOPs per run", fontsize=8)
    for ax in list(axes.flat)[len(trends):]:
        ax.axis("off")
    axes.flat[0].set_ylabel(f"difference in {ladder.metric}")
    axes.flat[0].legend(fontsize=7)
    save(fig, path)


def write_ladder(ladder: LadderSummary, plot: bool) -> str:
    root = Path(ladder.root)
    write_atomic(root / "ladder.json", to_json(ladder.as_dict()))
    if plot:
        plot_ladder(ladder, root / "ladder.png")
    text = ladder_md(ladder, plot)
    write_atomic(root / "ladder.md", text)
    return text


def ladder_console(ladder: LadderSummary, plotted: bool) -> str:
    lines = [f"ladder over {', '.join(ladder.axes)}: {len(ladder.rungs)} rungs, extrapolated to "
             f"{ladder.target:.3g} FLOPs"]
    for t in ladder.trends:
        lines.append(f"  {t.name:<34} {predicted_text(t):<36} {t.verdict}")
    lines.append(f"Full report: {Path(ladder.root) / 'ladder.md'} (and ladder.json" + (", ladder.png)" if plotted else ")"))
    return "\n".join(lines) + "\n"
