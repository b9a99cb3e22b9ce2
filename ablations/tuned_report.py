"""The report of a grid run with `--tune`: the tuning, then the table and effects at each variant's
own value on the held-out seeds, next to the effects at the shared default value."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tabulate import tabulate

from .axes import Level, Point, level_text
from .cells import read_records, seed_values
from .effects import Effect, factorial_effects, ordered
from .grid import swap_label
from .metrics import METRICS, choose_metric
from .study import ReportOptions
from .report import (_estimate, csv_text, effects_section, failures_and_plots, finished_losses,
                     header_lines, plotting_available, summarise, variant_table, with_holm)
from mainrun.errors import writing

from .store import ResultsDir, to_json, write_atomic
from .tuning import Tune, boundary_alarm, with_setting


def write_tuned_report(root: Path, run: dict[str, Any], points: list[Point], references: dict[str, Level],
                       plot: bool | None, options: ReportOptions) -> str:
    store = ResultsDir(root)
    tune = Tune.from_run(run["tune"])
    means, tune_metric = tune.means(store, points)
    chosen = tune.chosen_from(means)
    alarms = {p: boundary_alarm(tune.axis, list(tune.values), v) for p, v in chosen.items()}
    eval_seeds = list(tune.eval_seeds)

    tuning_records = read_records(store, tune.tuning_points(points), tune.tune_seeds)
    tuned_points = [with_setting(p, tune.axis, chosen[p]) for p in points if p in chosen]
    tuned_records = read_records(store, tuned_points, eval_seeds)
    default_records = read_records(store, points, eval_seeds)
    metric, metric_note = choose_metric(tuned_records + default_records, options.metric)

    rows = summarise(tuned_points, eval_seeds, tuned_records, references, metric)
    back = {with_setting(p, tune.axis, v): p for p, v in chosen.items()}  # tuned point -> grid point
    tuned_losses = {(back[p], s): loss for (p, s), loss in finished_losses(tuned_records, metric).items()}
    tuned_effects = factorial_effects(points, tuned_losses, eval_seeds, references)
    default_effects = factorial_effects(points, finished_losses(default_records, metric), eval_seeds, references)
    tuned_effects = with_holm(tuned_effects) if tuned_effects is not None else None
    default_effects = with_holm(default_effects) if default_effects is not None else None
    default_rows = summarise(points, eval_seeds, default_records, references, metric)

    label = tune.axis_label
    shared = sorted({level_text(r[tune.axis]) for r in default_records if r.get(tune.axis) is not None})
    default_label = f"{label} ({', '.join(shared)})" if shared else label
    notes = {with_setting(p, tune.axis, chosen[p]): alarms[p] or "" for p in chosen}
    done = len(tuning_records) + len(tuned_records) + len(default_records)
    cells = len(points) * (len(tune.values) * len(tune.tune_seeds) + 2 * len(eval_seeds))
    out = header_lines(run, rows, done, cells, eval_seeds, f", {label} tuned per variant")
    out += [
        f"## Tuning: {label} per variant, on seeds {', '.join(map(str, tune.tune_seeds))}",
        "",
        f"Mean {METRICS[tune_metric]} over the tuning seeds at each candidate; each variant takes the lowest. These "
        "seeds are used for nothing else: the tables below measure on the other seeds "
        f"({', '.join(map(str, eval_seeds))}), so the luck of the pick does not inflate them.",
        "",
        tuning_table(points, means, chosen, alarms, tune, references),
        "",
        f"## Each variant at its own {label}",
        "",
        *([metric_note, ""] if metric_note else []),
        variant_table(rows, notes),
        "",
    ]
    out += effects_section(tuned_effects, run, options, f"Effects at each variant's tuned {label}")
    out += effects_section(default_effects, run, options, f"Effects at the shared default {default_label}")
    if tuned_effects and default_effects:
        out += ["## Tuned against default", "", comparison_table(default_effects, tuned_effects, label), ""]
    out += [f"## Every variant at the shared default {default_label}", "", variant_table(default_rows), ""]

    make_plots, plot_note = plotting_available(plot)
    plots = []
    if make_plots:
        from . import plots as plotting

        with writing(root / "*.png"):
            plots = plotting.write_all(root, run, tuned_points, eval_seeds, tuned_records, tuned_effects or [],
                                       references, options.margin)
        series = {swap_label(p, references): {v: seed_values(store, with_setting(p, tune.axis, v), tune.tune_seeds,
                                                             tune_metric) for v in tune.values} for p in points}
        name = f"sensitivity_{tune.axis}.png"
        plotting.plot_sensitivity(root / name, tune.axis, series,
                                  {swap_label(p, references): v for p, v in chosen.items()}, METRICS[tune_metric])
        plots.append((name, f"Tuning: {METRICS[tune_metric]} against {label}, chosen values marked"))
    out += failures_and_plots(rows, plots, plot_note)
    text = "\n".join(out) + "\n"
    if make_plots:
        from .pdf import write_pdf

        with writing(root / "report.pdf"):
            write_pdf(root, {**run, "seeds": eval_seeds}, rows, tuned_effects, variant_table(rows, notes), plots,
                      metric, options.margin, references)
    write_atomic(root / "results.json", to_json(tuning_records + tuned_records + default_records))
    write_atomic(root / "results.csv", csv_text(rows))
    write_atomic(root / "results.md", text)
    return text


def tuning_table(points: list[Point], means: dict[Point, dict[Level, float]], chosen: dict[Point, Level],
                 alarms: dict[Point, str | None], tune: Tune, references: dict[str, Level]) -> str:
    headers = ["variant", *(f"{tune.axis_label}={level_text(v)}" for v in tune.values), "chosen", "alarm"]
    body = []
    for p in points:
        by_value = means.get(p, {})
        body.append([swap_label(p, references),
                     *(f"{by_value[v]:.4f}" if v in by_value else "" for v in tune.values),
                     level_text(chosen[p]) if p in chosen else "none finished", alarms.get(p) or ""])
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def comparison_table(default: list[Effect], tuned: list[Effect], label: str) -> str:
    tuned_by_name = {e.name: e for e in tuned}
    body = [[e.name, _estimate(e.estimate), _estimate(tuned_by_name[e.name].estimate) if e.name in tuned_by_name else ""]
            for e in ordered(default)]
    return tabulate(body, headers=["effect", f"at the default {label}", f"at each variant's tuned {label}"],
                    tablefmt="github", disable_numparse=True)
