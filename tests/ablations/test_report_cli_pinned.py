"""ablations.report pinned: which report a folder gets (ladder, sweep, grid), the ladder spec the flags make, and
what main passes on and prints; the summarising and writing stood in for."""
from pathlib import Path

import pytest

import ablations.analysis.scaling
import ablations.writers
import ablations.writers.ladder
from ablations import report
from ablations.study.study import ReportOptions


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(ablations.analysis.scaling, "read_ladder",
                        lambda root, spec: seen.append(("read_ladder", root, spec)) or "LADDER")
    monkeypatch.setattr(ablations.writers, "plotting_available",
                        lambda plot: seen.append(("plotting", plot)) or ("PLOT?", "note"))
    monkeypatch.setattr(ablations.writers.ladder, "write_ladder",
                        lambda ladder, plot: seen.append(("write_ladder", ladder, plot)) or "ladder md")
    monkeypatch.setattr(report, "summarise_sweep", lambda root: seen.append(("summarise_sweep", root)) or "SWEEP")
    monkeypatch.setattr(report, "write_sweep", lambda s, plot: seen.append(("write_sweep", s, plot)) or "sweep md")
    monkeypatch.setattr(report, "summarise", lambda root, options: seen.append(("summarise", root, options)) or "GRID")
    monkeypatch.setattr(report, "write_results", lambda s, plot: seen.append(("write_results", s, plot)) or "grid md")
    return seen


def folder(tmp_path, *names):
    for name in names:
        (tmp_path / name).write_text("{}")
    return tmp_path


def test_a_ladder_folder_is_read_with_the_flags_spec_and_written_with_its_plot(tmp_path, calls):
    root = folder(tmp_path, "ladder.json", "sweep.json")
    options = ReportOptions(metric="val_bpb")
    assert report.write_report(str(root), True, options) == "ladder md"
    assert calls == [("read_ladder", root, {"metric": "val_bpb"}), ("plotting", True), ("write_ladder", "LADDER", "PLOT?")]
    calls.clear()
    assert report.write_report(root) == "ladder md"
    assert calls == [("read_ladder", root, None), ("plotting", None), ("write_ladder", "LADDER", "PLOT?")]


def test_a_sweep_folder_gets_its_sweep_report(tmp_path, calls):
    root = folder(tmp_path, "sweep.json")
    assert report.write_report(str(root), False) == "sweep md"
    assert calls == [("summarise_sweep", root), ("write_sweep", "SWEEP", False)]


@pytest.mark.parametrize("names", [(), ("run.json",), ("ladder.json", "run.json"), ("sweep.json", "run.json"),
                                   ("ladder.json", "sweep.json", "run.json")])
def test_a_folder_with_run_json_or_nothing_else_is_a_grid(tmp_path, calls, names):
    root = folder(tmp_path, *names)
    options = ReportOptions(margin=0.01, target_effect=0.002)
    assert report.write_report(root, None, options) == "grid md"
    assert calls == [("summarise", root, options), ("write_results", "GRID", None)]
    calls.clear()
    assert report.write_report(root) == "grid md"
    assert calls == [("summarise", root, ReportOptions()), ("write_results", "GRID", None)]


def test_the_ladder_spec_holds_only_the_report_options_given():
    root = Path("x")
    assert report.ladder_spec(root, ReportOptions()) is None
    assert report.ladder_spec(root, ReportOptions(target_effect=0.01)) is None
    assert report.ladder_spec(root, ReportOptions(metric="val_loss_full")) == {"metric": "val_loss_full"}
    assert report.ladder_spec(root, ReportOptions(margin=0.01)) == {"margin": 0.01}
    assert report.ladder_spec(root, ReportOptions(metric="val_loss", margin=0.0)) == {"metric": "val_loss",
                                                                                      "margin": 0.0}


def test_main_passes_the_folder_plot_and_options_on_and_prints_the_markdown(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(report, "write_report", lambda d, plot, options: seen.append((d, plot, options)) or "text\n")
    assert report.main(["some/dir", "--metric", "val_bpb", "--margin", "0.01", "--target-effect", "0.002",
                        "--plot"]) == 0
    assert seen == [("some/dir", True, ReportOptions(metric="val_bpb", margin=0.01, target_effect=0.002))]
    assert capsys.readouterr().out == "text\n"
    seen.clear()
    monkeypatch.setattr(report, "write_report", lambda d, plot, options: seen.append((d, plot, options)) or "md")
    assert report.main(["other", "--no-plot"]) == 0
    assert seen == [("other", False, ReportOptions())]
    assert capsys.readouterr().out == "md"
    assert report.main(["third"]) == 0
    assert seen[-1] == ("third", None, ReportOptions())


def test_main_refuses_a_bad_flag_in_one_line(capsys):
    with pytest.raises(SystemExit) as raised:
        report.main(["dir", "--metric", "nope"])
    assert raised.value.code == 2
    assert "argument --metric: invalid choice: 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        report.main([])
    assert raised.value.code == 2
    assert "the following arguments are required: dir" in capsys.readouterr().err


def test_main_description_is_the_docstrings_first_paragraph_on_one_line(capsys):
    with pytest.raises(SystemExit):
        report.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m ablations.report ")
    assert ("Re-render a results folder's reports without training: results.md/.csv/.json, the plots and report.pdf "
            "(a grid's), sweep.md (a sweep's), or ladder.md/.json/.png (a ladder's, from its rungs).") in " ".join(
        out.split())
