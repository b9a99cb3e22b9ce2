"""benchmarks/throughput.py at the tiny scale, so the MFU benchmark cannot rot between real runs."""
import re

import pytest

from ablations.study.grid import build_grid
from benchmarks import throughput


def test_throughput_times_every_variant_and_reports_mfu_against_the_measured_peak(tmp_path, capsys):
    out = tmp_path / "table.md"
    throughput.main(["--scale", "tiny", "--variants", "baseline", "--steps", "2", "--warmup", "1", "--threads", "1",
                     "--reference", "--out", str(out), "--warm-s", "0.1"])
    table = out.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| tiny")]
    variants = [str(point.variant) for point in build_grid("baseline", None).points]
    assert len(rows) == len(variants) + 1  # the reference kernels time the baseline once more
    assert all(f" {variant} " in table for variant in variants)
    mfus = [float(m) for m in re.findall(r"\|\s*([0-9.]+)%\s*\|", table)]
    assert len(mfus) == len(rows) and all(0 < m < 100 for m in mfus)
    assert "fp32 matmul peak" in table


def test_mfu_is_against_the_larger_of_the_peaks_measured_before_and_after(tmp_path, monkeypatch):
    """An idle GPU clocks down: a peak measured cold is low, and every MFU against it reads high."""
    import json

    peaks = iter([100.0, 400.0])
    monkeypatch.setattr(throughput, "matmul_peak_gflops", lambda device, dtype, warm_s: next(peaks))
    out = tmp_path / "rows.json"
    throughput.main(["--scale", "tiny", "--variants", "baseline", "--steps", "2", "--threads", "1",
                     "--json", str(out), "--out", str(tmp_path / "table.md")])
    [row] = json.loads(out.read_text())["rows"]
    assert row["mfu"] == pytest.approx(row["flops_per_step"] / row["step_s"] / 400e9)
    assert f"{row['mfu']:.1%}" in out.with_name("table.md").read_text()


def test_the_table_shows_a_tiny_step_s_flops_as_a_number_not_zero():
    row = {"scale": "tiny", "kernels": "fast", "variant": "baseline", "step_s": 0.01, "min_s": 0.01, "max_s": 0.02,
           "tokens_per_s": 25600.0, "flops_per_step": 1.234e6, "mfu": 0.001}
    big = {**row, "scale": "mainrun", "flops_per_step": 1.1e12}
    text = throughput.markdown_table([row, big])
    assert "GFLOP/step" in text and "| 0.001234 " in text and "| 1100 " in text
