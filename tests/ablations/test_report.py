"""The re-render command (python -m ablations.report): the report options it is given reach the reports."""
import re

from ablations import Study, report, run_study
from ablations.analysis.effects import seeds_to_resolve
from ablations.analysis.summary import summarise
from tests.ablations.synthetic import install
from tests.ablations.analysis.test_summary import two_factor


def test_report_keeps_the_target_effect_it_is_given(tmp_path, monkeypatch, capsys):
    install(monkeypatch, two_factor)
    out = tmp_path / "grid"
    run_study(Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", seeds=3, data="embedded", out=str(out),
                                 plot=False))
    assert "To resolve an effect of" not in (out / "results.md").read_text()
    assert report.main([str(out), "--target-effect", "0.001", "--no-plot"]) == 0
    text = (out / "results.md").read_text()
    found = re.search(r"To resolve an effect of (\S+) \(95% half-width below it\) would take about (\d+) seeds", text)
    assert found, "results.md lost --target-effect: no 'To resolve an effect of ...' line"
    assert found.group(1) == "0.001"
    assert int(found.group(2)) == seeds_to_resolve(0.001, summarise(out).resolution.spread)
