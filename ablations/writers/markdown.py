"""results.md: the summary as markdown, every table built with tabulate."""
from __future__ import annotations

from tabulate import tabulate

from mainrun.components import FAMILIES

from ..study.axes import axis_label, level_text
from ..analysis.effects import Effect, ordered, verdict
from ..study.grid import swap_label
from ..analysis.metrics import METRICS
from ..analysis.summary import Resolution, Row, Summary, Tuning
from .text import count, data_name, decimals, estimate_text, number, status_text


def table(body: list[list[str]], headers: list[str]) -> str:
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def family_columns(rows: list[Row]) -> list[str]:
    """The always-named families, and any other family some row takes off its reference member."""
    return [family for family, registry in FAMILIES.items()
            if registry.always_named or any(family in row.variant.departures() for row in rows)]


def setting_columns(rows: list[Row]) -> list[str]:
    """The member settings and training settings some row sets, in axis order."""
    return list(dict.fromkeys([*(key for row in rows for key in row.variant.settings()),
                               *(name for row in rows for name, _ in row.point.settings)]))


def reference_label(rows: list[Row]) -> str:
    """`baseline` when a table's deltas are measured from the reference program, else `reference`."""
    return "baseline" if any(row.is_reference and row.point.is_baseline for row in rows) else "reference"


def loss_text(row: Row) -> str:
    loss = row.mean(row.metric)
    if loss is None:
        return ""
    sd = f" ± {row.loss_sd:.4f}" if row.loss_sd is not None else ""
    return f"{loss:.4f}{sd} (n={len(row.ok)})"


def variant_table(rows: list[Row], notes: bool = False) -> str:
    """The table of points; `notes` adds a last column (a tuned value's boundary alarm)."""
    families, settings = family_columns(rows), setting_columns(rows)
    reference = reference_label(rows)
    metric = rows[0].metric if rows else "val_loss"
    extra = [] if metric == "val_loss" else ["val loss (reference)"]
    headers = ["", *families, *map(axis_label, settings), "params", METRICS[metric], f"Δ vs {reference}", *extra,
               "loss/token", "coverage", "tokens/s", "wall s", "status", *(["note"] if notes else [])]
    body = []
    for row in rows:
        coverage = row.mean("val_coverage")
        body.append([
            reference if row.is_reference else "", *(getattr(row.variant, family) for family in families),
            *(level_text(row.point.level(s)) for s in settings), number(row.params, ","), loss_text(row),
            estimate_text(row.delta), *([number(row.mean("val_loss"), ".4f")] if extra else []),
            number(row.mean("val_loss_per_token"), ".4f"),
            number(None if coverage is None else 100 * coverage, ".1f") + ("%" if coverage is not None else ""),
            number(row.mean("tokens_per_s"), ",.0f"), number(row.mean("wall_s"), ".1f"),
            status_text(row.status_counts), *([row.note] if notes else []),
        ])
    return table(body, headers)


def effects_table(effects: list[Effect], summary: Summary) -> str:
    body = []
    for effect in effects:
        est = effect.estimate
        d = decimals(est)
        interval = "n/a" if est.half_width is None else f"± {est.half_width:.{d}f}"
        p = "" if est.p_adjusted is None else f"{est.p_adjusted:.2g}"
        body.append([effect.name, f"{est.value:+.{d}f}", interval, p, est.n_seeds, summary.verdict(effect)])
    return table(body, ["effect", "estimate", "95% interval", "p (Holm)", "seeds", "verdict"])


def resolution_lines(res: Resolution | None) -> list[str]:
    """The smallest effect the table resolves, and (with --target-effect) the seeds another size needs."""
    if res is None:
        return []
    if res.half_width is None:
        return ["With one seed there is no interval: no effect here can be told from noise (run --seeds 3 or more)."]
    lines = [f"Smallest effect this table resolves: about ±{res.half_width:.2g} (the median half-width of its 95% "
             f"intervals, {res.seeds} seeds); anything smaller reads as noise here."]
    if res.target_effect is not None:
        lines.append(f"To resolve an effect of {res.target_effect:g} (95% half-width below it) would take "
                     + (f"about {res.target_seeds} seeds" if res.target_seeds else "more than 1000 seeds")
                     + f", from the median spread of the per-seed contrasts measured here ({res.spread:.2g}).")
    return lines


def header_lines(summary: Summary, title_extra: str = "") -> list[str]:
    run, seeds = summary.run, summary.seeds
    hashes = summary.code_hashes
    mixed = [] if len(hashes) <= 1 and not run.get("code_changes") else [
        f"**Mixed code**: these cells come from {count(len(hashes), 'version')} of the code (source hashes "
        f"{', '.join(hashes)}), added with --allow-code-change; compare them knowing that.", ""]
    return [
        f"# Ablations: grid `{run['grid']}`, {count(len(run['variants']), 'variant')} x {count(len(seeds), 'seed')} "
        f"({', '.join(map(str, seeds))}){title_extra}",
        "",
        f"Command: `{run['command']}`" + resumed_text(run),
        "",
        f"Scale `{run['scale']}`; data `{data_name(run, summary.root)}` (fingerprint `{run['fingerprint']}`); "
        f"device `{run['device']}`; "
        f"{len(summary.records)} of {summary.cells} cells have run.",
        "",
        "Val loss is the reference metric (summed token cross-entropy over the characters of the val text) at the "
        f"last evaluation: mean ± sd over the seeds that finished ok (n). Δ vs {summary.reference_label} is paired "
        "by seed, ± its 95% interval. Loss/token divides the same sum by the tokens scored instead; coverage is the "
        "share of val tokens the metric scores. A seed sets the data split, the tokenizer, the initial weights and "
        "dropout, as in the reference.",
        "",
        *mixed,
    ]


def resumed_text(run: dict) -> str:
    """How often the folder was run again since the command that made it (run.json's `resumed`)."""
    resumed = run.get("resumed") or []
    if not resumed:
        return ""
    return f" (run {count(len(resumed), 'more time')} since; the latest: `{resumed[-1]['command']}`, {resumed[-1]['at']})"


def deltas_section(summary: Summary) -> list[str]:
    """A grid that is not factorial: each row's delta with its verdict, Holm over the table's deltas;
    around a stack (--grid single --around), what removing each part costs."""
    rows = [row for row in summary.rows if row.delta is not None]
    if summary.effects is not None or not rows:
        return []
    around = summary.run.get("around")
    intro = (f"Each row removes one part of the stack `{around}` (reverts its family to the reference member); Δ is "
             "that row minus the whole stack, paired by seed: the cost of removing the part. Positive: the stack is "
             "better with the part, by that much; negative: the part hurt." if around else
             f"Each row against the {summary.reference_label}, paired by seed (Δ = row minus "
             f"{summary.reference_label}; negative lowers the loss).")
    body = [[row.label, f"{row.delta.value:+.{decimals(row.delta)}f}",
             "n/a" if row.delta.half_width is None else f"± {row.delta.half_width:.{decimals(row.delta)}f}",
             "" if row.delta.p_adjusted is None else f"{row.delta.p_adjusted:.2g}", row.delta.n_seeds,
             verdict(row.delta, summary.options.margin)] for row in sorted(rows, key=lambda r: -abs(r.delta.value))]
    return [f"## {'What each part of the stack buys' if around else 'Each variant against the ' + summary.reference_label}",
            "", intro + " Verdicts as for effects: negligible inside ±"
            f"{summary.options.margin:g}, else beyond noise when the p-value, adjusted by Holm's procedure over every Δ "
            "in this table, is below 0.05, else within noise.", "",
            table(body, ["removed part" if around else "variant", "Δ", "95% interval", "p (Holm)", "seeds", "verdict"]),
            ""]


def effects_section(effects: list[Effect] | None, summary: Summary, resolution: Resolution | None,
                    title: str = "Effects") -> list[str]:
    if effects is None:
        return []
    fraction = summary.run.get("design", {}).get("generators")
    return [
        f"## {title}",
        "",
        "Main effect of a swap: mean loss of the cells with it minus the mean of the cells without it, over all "
        "levels of the other families. Interaction: half of (the effect of one swap with the other swap made) "
        "minus (the effect with it not made). 95% intervals are Student t intervals over per-seed estimates "
        "(the estimator is described in ablations/analysis/effects.py). Verdicts: negligible when the whole interval lies "
        f"inside ±{summary.options.margin:g} (--margin, the rerun noise of this task); else beyond noise when the "
        "p-value, adjusted by Holm's procedure over every effect in this table, is below 0.05; else within "
        "noise. Negative lowers the loss." + (
            " In a fraction, effects that share a column of the design are one estimate, named after all of "
            "them (a = b): the data cannot tell them apart." if fraction else ""),
        "",
        effects_table(ordered(effects), summary) if effects else "No effect can be estimated yet: "
        "no seed has every cell finished ok.",
        "",
        *(line for text in (resolution_lines(resolution) if effects else []) for line in (text, "")),
    ]


def design_section(summary: Summary) -> list[str]:
    """The fraction, its resolution, generators and alias structure, for a fractional grid."""
    design = summary.run.get("design") or {}
    if not design.get("generators"):
        return []
    legend = ", ".join(f"{letter} = {axis_label(axis)}" for letter, axis in design["factors"].items())
    return [
        "## Design",
        "",
        f"A {design['fraction']} fractional factorial, {design['runs']} cells per seed, resolution "
        f"{design['resolution']}: no main effect is aliased with another main effect or a two-factor interaction. "
        "Generators from Box, Hunter & Hunter (2005) Table 6.22 (ablations/study/design.py), signs chosen so that the "
        "all-reference cell is in the fraction.",
        "",
        f"Factors: {legend}. Generators: {', '.join(design['generators'])}. Defining relation: "
        f"{design['defining_relation']}.",
        "",
        "Alias structure (each effect with its aliases of up to three factors; longer ones omitted):",
        "",
        *(f"- {line}" for line in design["aliases"]),
        "",
    ]


def failures_and_plots(summary: Summary, plots: list[tuple[str, str]], plot_note: str) -> list[str]:
    out = []
    if summary.failures:
        out += ["## Failed cells", "", *(f"- `{key}`: {error}" for key, error in summary.failures), ""]
    out += ["## Plots", ""]
    out += [f"![{title}]({name})" for name, title in plots] or [plot_note]
    return out


def tuning_sections(summary: Summary, tuning: Tuning) -> list[str]:
    tune, label = tuning.tune, tuning.tune.axis_label
    return [
        f"## Tuning: {label} per variant, on seed{'s' if len(tune.tune_seeds) > 1 else ''} "
        f"{', '.join(map(str, tune.tune_seeds))}",
        "",
        f"Mean {METRICS[tuning.metric]} over the tuning seeds at each candidate; each variant takes the lowest. These "
        "seeds are used for nothing else: the tables below measure on the other seeds "
        f"({', '.join(map(str, summary.seeds))}), so the luck of the pick does not inflate them.",
        "",
        tuning_table(summary, tuning),
        "",
        *extension_lines(summary, tuning),
        f"## Each variant at its own {label}",
        "",
    ]


def extension_lines(summary: Summary, tuning: Tuning) -> list[str]:
    """Which variants' candidates were extended past an end of the grid, and the bound."""
    tune = tuning.tune
    if not tune.extend:
        return ["A pick at an end of the candidates was not extended (--tune-extend 0).", ""]
    extended = [f"{swap_label(p, summary.references)} ({', '.join(level_text(v) for v in values)})"
                for p, values in tuning.extensions.items()]
    return [f"A pick at an end of the candidates is extended by the grid's own ratio, up to {tune.extend} new "
            f"value(s) per variant: " + ("; ".join(extended) if extended else "none was needed") + ".", ""]


def tuning_table(summary: Summary, tuning: Tuning) -> str:
    tune = tuning.tune
    values = tuning.values
    headers = ["variant", *(f"{tune.axis_label}={level_text(v)}" for v in values), "chosen", "alarm"]
    body = []
    for p, by_value in tuning.means.items():
        body.append([swap_label(p, summary.references), *(f"{by_value[v]:.4f}" if v in by_value else ""
                                                          for v in values),
                     level_text(tuning.chosen[p]) if p in tuning.chosen else "none finished",
                     tuning.alarms.get(p) or ""])
    return table(body, headers)


def comparison_table(default: list[Effect], tuned: list[Effect], label: str) -> str:
    tuned_by_name = {e.name: e for e in tuned}
    body = [[e.name, estimate_text(e.estimate),
             estimate_text(tuned_by_name[e.name].estimate) if e.name in tuned_by_name else ""] for e in ordered(default)]
    return table(body, ["effect", f"at the default {label}", f"at each variant's tuned {label}"])


def results_md(summary: Summary, plots: list[tuple[str, str]], plot_note: str) -> str:
    """The whole of results.md, a grid's or a tuned grid's."""
    tuning, note = summary.tuning, summary.metric_note
    if tuning is None:
        out = header_lines(summary) + [*([note, ""] if note else []), variant_table(summary.rows), ""]
        out += design_section(summary) + effects_section(summary.effects, summary, summary.resolution)
        out += deltas_section(summary)
    else:
        label = tuning.tune.axis_label
        out = header_lines(summary, f", {label} tuned per variant") + tuning_sections(summary, tuning)
        out += [*([note, ""] if note else []), variant_table(summary.rows, notes=True), ""]
        out += effects_section(summary.effects, summary, summary.resolution, f"Effects at each variant's tuned {label}")
        if tuning.tune.shared_default:
            out += effects_section(tuning.default_effects, summary, tuning.default_resolution,
                                   f"Effects at the shared default {tuning.default_label}")
            if summary.effects and tuning.default_effects:
                out += ["## Tuned against default", "", comparison_table(tuning.default_effects, summary.effects, label),
                        ""]
            out += [f"## Every variant at the shared default {tuning.default_label}", "",
                    variant_table(tuning.default_rows), ""]
    out += failures_and_plots(summary, plots, plot_note)
    return "\n".join(out) + "\n"
