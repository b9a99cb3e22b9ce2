"""ladder.md, ladder.json and ladder.png: what a `LadderSummary` says, for readers and for programs."""
from __future__ import annotations

import math
from pathlib import Path

from ..analysis.backtest import Score
from ..analysis.predictors import PREDICTORS, Measured, Prediction
from ..analysis.scaling import Finding, LadderSummary
from ..execution.store import to_json, write_atomic
from .markdown import table

VERDICT_LEGEND = (
    "Verdicts at the target, from the predictor named: negligible (the whole 95% interval inside ±{margin:g}), "
    "holds (beyond noise, Holm-adjusted over the ladder's findings, with the largest rung's sign), grows / shrinks "
    "(and clearly farther from / closer to zero than the largest rung), flips sign, fades (the largest rung's effect "
    "was clear, the prediction cannot be told from zero and is clearly smaller), cannot tell (anything else, or a "
    "tuned pick still at an end of its candidates).")


def rung_label(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def measured_text(m: Measured | None) -> str:
    return "n/a" if m is None else f"{m.value:+.4f} ± {m.half_width:.4f}"


def prediction_text(p: Prediction | None) -> str:
    return "n/a" if p is None else f"{p.value:+.4f} [{p.low:+.4f}, {p.high:+.4f}]"


def percent(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def number(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def rungs_table(ladder: LadderSummary) -> str:
    measured = {rung.folder: rung for rung in ladder.rungs}
    rows = []
    for index, planned in enumerate(ladder.planned, 1):
        rung = measured.get(planned["folder"])
        link = f"[{planned['folder']}]({planned['folder']}/results.md)" if rung else "not trained"
        flops = "n/a" if rung is None or rung.compute is None else f"{rung.compute:.3g}"
        reference = "n/a" if rung is None or rung.reference is None else f"{rung.reference.value:.4f}"
        rows.append([str(index), rung_label(planned["settings"]), link, flops, reference])
    return table(rows, ["rung", "settings", "results", "training FLOPs per run", f"reference {ladder.metric}"])


def findings_table(ladder: LadderSummary) -> str:
    headers = ["finding", *(f"rung {r.index}" for r in ladder.rungs), f"at {ladder.target:.3g} FLOPs (95%)",
               "predictor", "p (Holm)", "verdict"]
    body = [[f.name, *(measured_text(m) for m in f.measured), prediction_text(f.predicted), f.predictor,
             "n/a" if f.p_adjusted is None else f"{f.p_adjusted:.2g}", f.verdict] for f in ladder.findings]
    return table(body, headers)


def backtest_table(scores: dict[str, Score]) -> str:
    body = [[name, str(s.n), number(s.mae), number(s.baseline_mae), percent(s.coverage), percent(s.sign_agreement),
             percent(s.decision_accuracy)] for name, s in scores.items()]
    return table(body, ["predictor", "predictions", "mean abs error", "largest rung's, same predictions",
                        "95% coverage", "sign agreement", "decision accuracy"])


def checks_table(scores: dict[str, Score]) -> str:
    body = [[c.predictor, c.finding, str(c.rung), prediction_text(c.predicted), measured_text(c.measured),
             "yes" if c.covered else "no"] for s in scores.values() for c in s.checks]
    return table(body, ["predictor", "finding", "rung predicted", "predicted [95%]", "measured ± 95%", "agrees"])


def predictors_table(ladder: LadderSummary) -> str:
    body = [[f.name, *(prediction_text(f.predictions.get(name)) for name in PREDICTORS)] for f in ladder.findings]
    return table(body, ["finding", *PREDICTORS])


def path_lines(ladder: LadderSummary) -> list[str]:
    path = ladder.path
    if not path:
        return [f"The same study at each rung, moving {', '.join(ladder.axes)}; each rung is an ordinary results "
                "folder.", ""]
    return [f"The rungs walk toward the `{path['toward']}` preset from {rung_label(path['start'])}: {path['rule']}. "
            "Each rung is an ordinary results folder; the last rung of the path is the target run itself.", ""]


def ladder_md(ladder: LadderSummary, plotted: bool) -> str:
    name, why = ladder.choice
    span = [r.compute for r in ladder.rungs if r.compute]
    reach = "" if not span else (f" The measured rungs span {math.log10(max(span) / min(span)):.2f} decades of compute; "
                                 f"the target lies {math.log10(ladder.target / max(span)):.2f} decades beyond the "
                                 "largest.")
    return "\n".join([
        f"# Ladder over {', '.join(ladder.axes)}", "", *path_lines(ladder), rungs_table(ladder), "",
        f"Findings are differences in {ladder.metric} (95% intervals over seeds).{reach}", "",
        *([ladder.metric_note, ""] if ladder.metric_note else []),
        findings_table(ladder), "", VERDICT_LEGEND.format(margin=ladder.margin), "",
        "## How well each predictor did on this ladder", "",
        "Each finding at each rung predicted from the rungs below it. Coverage counts a prediction as right when its "
        "95% interval, widened by the measurement's own, holds the measurement; decision accuracy is the share of "
        "pairs of findings at a rung whose order the predictions got right.", "",
        backtest_table(ladder.scores), "", f"**The verdicts use {name}**: {why}.", "",
        "![Each finding against compute](ladder.png)" if plotted else "", "",
        f"## Every predictor at {ladder.target:.3g} FLOPs", "", predictors_table(ladder), "",
        *tuned_section(ladder), "## Every backtest prediction", "", checks_table(ladder.scores), ""])


def tuned_section(ladder: LadderSummary) -> list[str]:
    """With --tune: each variant's chosen value at each rung, and how many kept theirs."""
    tuned = ladder.tuned
    if not tuned:
        return []
    kept = sum(len(set(values)) == 1 and None not in values for values in tuned.values())
    rows = [[name, *(value or "n/a" for value in values)] for name, values in tuned.items()]
    return ["## The tuned value at each rung", "",
            f"Each variant's pick on its tuning seeds at each rung; {kept} of {len(tuned)} chose the same value "
            "at every rung. \"(edge)\": the best was still at an end of the candidates after extending them, so the "
            "optimum may lie beyond.", "",
            table(rows, ["variant", *(f"rung {r.index}" for r in ladder.rungs)]), ""]


def plot_ladder(ladder: LadderSummary, path: Path) -> None:
    import textwrap

    from .plots import plt, save

    findings = [f for f in ladder.findings if any(m is not None for m in f.measured)]
    columns = min(3, max(1, len(findings)))
    rows = math.ceil(len(findings) / columns) or 1
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.4 * rows + 0.6), squeeze=False,
                             layout="constrained")
    for ax, finding in zip(axes.flat, findings):
        plot_finding(ax, ladder, finding)
        # An aliased interaction's name runs to 80 characters: wrapped, it stays over its own panel.
        ax.set_title("\n".join([*textwrap.wrap(finding.name, 44), finding.verdict]), fontsize=8)
    for ax in list(axes.flat)[len(findings):]:
        ax.axis("off")
    axes.flat[0].set_ylabel(f"difference in {ladder.metric}")
    # One legend for the figure, below the panels: every predictor, whichever panels it could speak in.
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="black", marker="o", ls="", label="measured (95%)")]
    handles += [Line2D([], [], color=f"C{i}", marker="o", mfc="white", ls="", label=name)
                for i, name in enumerate(PREDICTORS)]
    handles.append(Line2D([], [], color="grey", marker="s", ls="", label="filled square: the predictor used"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7, frameon=False)
    save(fig, path)


def plot_finding(ax, ladder: LadderSummary, finding: Finding) -> None:
    points = [(r.compute, m) for r, m in zip(ladder.rungs, finding.measured) if r.compute and m is not None]
    ax.errorbar([c for c, _ in points], [m.value for _, m in points], yerr=[m.half_width for _, m in points], fmt="o",
                color="black", capsize=3)
    for offset, (name, predicted) in enumerate(finding.predictions.items()):
        if predicted is None:
            continue
        x = ladder.target * 10 ** (0.06 * (offset - 1))  # side by side at the target
        style = dict(fmt="s" if name == finding.predictor else "o", mfc="white" if name != finding.predictor else None)
        ax.errorbar([x], [predicted.value], yerr=[[predicted.value - predicted.low], [predicted.high - predicted.value]],
                    color=f"C{offset}", capsize=3, **style)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs per run", fontsize=8)
    ax.tick_params(labelsize=7)


def write_ladder(ladder: LadderSummary, plot: bool) -> str:
    root = Path(ladder.root)
    write_atomic(root / "ladder.json", to_json(ladder.as_dict()))
    if plot:
        plot_ladder(ladder, root / "ladder.png")
    text = ladder_md(ladder, plot)
    write_atomic(root / "ladder.md", text)
    return text


def ladder_console(ladder: LadderSummary, plotted: bool) -> str:
    trained = len(ladder.rungs)
    lines = [f"ladder over {', '.join(ladder.axes)}: {trained} of {len(ladder.planned)} rungs measured; predicted at "
             f"{ladder.target:.3g} FLOPs"]
    for f in ladder.findings:
        lines.append(f"  {f.name[:44]:<44} {prediction_text(f.predicted):<34} {f.verdict}")
    name, why = ladder.choice
    lines.append(f"Predictor: {why}")
    lines.append(f"Full report: {Path(ladder.root) / 'ladder.md'} (and ladder.json" + (", ladder.png)" if plotted else ")"))
    return "\n".join(lines) + "\n"
