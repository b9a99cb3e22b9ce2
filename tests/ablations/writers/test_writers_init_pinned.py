"""ablations.writers (its __init__): when to plot, and what write_results / write_sweep write, with which arguments,
the writers themselves stood in for."""
from types import SimpleNamespace

import pytest

import ablations.writers as writers
import ablations.writers.pdf
import ablations.writers.plots
from mainrun.errors import ConfigError, OutputError


def test_plotting_is_on_with_matplotlib_unless_refused():
    assert writers.plotting_available(None) == (True, "")
    assert writers.plotting_available(True) == (True, "")
    assert writers.plotting_available(False) == (False, "Plots were not requested (--no-plot).")
    import matplotlib
    assert matplotlib.get_backend().lower() == "agg"


def test_without_matplotlib_a_plot_asked_for_is_one_line_and_otherwise_a_note(without_matplotlib):
    assert writers.plotting_available(False) == (False, "Plots were not requested (--no-plot).")
    assert writers.plotting_available(None) == (
        False, "No plots: matplotlib is not installed (pip install 'mainrun-ablations[plot]').")
    with pytest.raises(ConfigError) as raised:
        writers.plotting_available(True)
    assert str(raised.value) == "--plot needs matplotlib: pip install 'mainrun-ablations[plot]'"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__ is True


@pytest.fixture
def stand_ins(monkeypatch):
    calls = []
    monkeypatch.setattr(writers, "results_md", lambda s, plots, note: calls.append(("md", s, plots, note)) or "MD")
    monkeypatch.setattr(writers, "results_json", lambda s: calls.append(("json", s)) or "JSON")
    monkeypatch.setattr(writers, "results_csv", lambda s: calls.append(("csv", s)) or "CSV")
    monkeypatch.setattr(writers, "with_samples", lambda s: calls.append(("samples", s)) or "SAMPLED")
    monkeypatch.setattr(ablations.writers.plots, "write_plots",
                        lambda s: calls.append(("plots", s)) or [("a.png", "A"), ("b.png", "B")])
    monkeypatch.setattr(ablations.writers.pdf, "write_pdf", lambda s, plots: calls.append(("pdf", s, plots)))
    monkeypatch.setattr(writers, "write_sweep_plots", lambda s: calls.append(("sweep plots", s)) or {"lr": "lr.png"})
    monkeypatch.setattr(writers, "sweep_md", lambda s, plots: calls.append(("sweep md", s, plots)) or "SWEEP")
    return calls


def test_write_results_plots_then_writes_the_three_files(tmp_path, stand_ins):
    summary = SimpleNamespace(root=tmp_path)
    assert writers.write_results(summary, True) == "MD"
    plots = [("a.png", "A"), ("b.png", "B")]
    assert stand_ins == [("plots", summary), ("samples", summary), ("pdf", "SAMPLED", plots),
                         ("md", summary, plots, ""), ("json", summary), ("csv", summary)]
    assert {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()} == {
        "results.md": "MD", "results.json": "JSON", "results.csv": "CSV"}


def test_write_results_without_plots_passes_the_note_on(tmp_path, stand_ins):
    summary = SimpleNamespace(root=tmp_path)
    assert writers.write_results(summary, False) == "MD"
    assert stand_ins == [("md", summary, [], "Plots were not requested (--no-plot)."), ("json", summary),
                         ("csv", summary)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.json", "results.md"]


def test_a_plot_that_cannot_be_written_is_one_line_naming_it(tmp_path, stand_ins, monkeypatch):
    def full(summary):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ablations.writers.plots, "write_plots", full)
    with pytest.raises(OutputError) as raised:
        writers.write_results(SimpleNamespace(root=tmp_path), True)
    assert str(raised.value) == f"cannot write {tmp_path / '*.png'}: No space left on device"

    def pdf_full(summary, plots):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ablations.writers.plots, "write_plots", lambda s: [])
    monkeypatch.setattr(ablations.writers.pdf, "write_pdf", pdf_full)
    with pytest.raises(OutputError) as raised:
        writers.write_results(SimpleNamespace(root=tmp_path), None)
    assert str(raised.value) == f"cannot write {tmp_path / 'report.pdf'}: No space left on device"


def test_write_sweep_plots_only_a_complete_sweep(tmp_path, stand_ins):
    summary = SimpleNamespace(root=tmp_path)
    assert writers.write_sweep(summary, None) == "SWEEP"
    assert stand_ins == [("sweep plots", summary), ("sweep md", summary, {"lr": "lr.png"})]
    assert (tmp_path / "sweep.md").read_text(encoding="utf-8") == "SWEEP"
    stand_ins.clear()
    assert writers.write_sweep(summary, True, complete=False) == "SWEEP"
    assert stand_ins == [("sweep md", summary, {})]
    stand_ins.clear()
    assert writers.write_sweep(summary, False, complete=True) == "SWEEP"
    assert stand_ins == [("sweep md", summary, {})]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.md"]


def test_a_sweep_plot_that_cannot_be_written_is_one_line_naming_it(tmp_path, stand_ins, monkeypatch):
    def full(summary):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(writers, "write_sweep_plots", full)
    with pytest.raises(OutputError) as raised:
        writers.write_sweep(SimpleNamespace(root=tmp_path), True)
    assert str(raised.value) == f"cannot write {tmp_path / '*.png'}: Permission denied"


def test_the_writers_module_exports():
    assert writers.__all__ == ["plotting_available", "write_results", "write_sweep"]
