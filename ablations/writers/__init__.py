"""Writers: each turns a summary (`ablations.analysis.summary`) into one kind of output, reading nothing else.

    markdown.results_md    results.md          tables.results_csv / results_json
    plots.write_plots      the PNGs            pdf.write_pdf    report.pdf
    console.console_summary  the lines a run prints at the end
    sweep.sweep_md / write_sweep_plots          sweep.md and its plots
"""
from __future__ import annotations

from mainrun.errors import ConfigError, writing

from ..execution.store import write_atomic
from ..analysis.summary import Summary, SweepSummary, with_samples
from .markdown import results_md
from .sweep import sweep_md, write_sweep_plots
from .tables import results_csv, results_json


def plotting_available(plot: bool | None) -> tuple[bool, str]:
    """Whether to plot, and what results.md says when it does not."""
    if plot is False:
        return False, "Plots were not requested (--no-plot)."
    try:
        import matplotlib
    except ImportError:
        if plot:
            raise ConfigError("--plot needs matplotlib: pip install 'mainrun-ablations[plot]'") from None
        return False, "No plots: matplotlib is not installed (pip install 'mainrun-ablations[plot]')."
    matplotlib.use("Agg")
    return True, ""


def write_results(summary: Summary, plot: bool | None = None) -> str:
    """results.md/.csv/.json, and the plots and report.pdf when plotting; the markdown."""
    make_plots, note = plotting_available(plot)
    plots: list[tuple[str, str]] = []
    if make_plots:
        from .pdf import write_pdf
        from .plots import write_plots

        with writing(summary.root / "*.png"):
            plots = write_plots(summary)
        with writing(summary.root / "report.pdf"):
            write_pdf(with_samples(summary), plots)
    text = results_md(summary, plots, note)
    write_atomic(summary.root / "results.json", results_json(summary))
    write_atomic(summary.root / "results.csv", results_csv(summary))
    write_atomic(summary.root / "results.md", text)
    return text


def write_sweep(summary: SweepSummary, plot: bool | None = None, complete: bool = True) -> str:
    """sweep.md (and its plots once the sweep is complete); the markdown."""
    make_plots, _ = plotting_available(plot)
    plots = {}
    if make_plots and complete:
        with writing(summary.root / "*.png"):
            plots = write_sweep_plots(summary)
    text = sweep_md(summary, plots)
    write_atomic(summary.root / "sweep.md", text)
    return text


__all__ = ["plotting_available", "write_results", "write_sweep"]
