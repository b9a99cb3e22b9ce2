"""benchmarks/throughput.py at the tiny scale, so the MFU benchmark cannot rot between real runs."""
import re

from ablations.grid import build_grid
from benchmarks import throughput


def test_throughput_times_every_variant_and_reports_mfu_against_the_measured_peak(tmp_path, capsys):
    out = tmp_path / "table.md"
    throughput.main(["--scale", "tiny", "--variants", "baseline", "--steps", "2", "--warmup", "1", "--threads", "1",
                     "--reference", "--out", str(out)])
    table = out.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| tiny")]
    variants = [str(point.variant) for point in build_grid("baseline", None).points]
    assert len(rows) == len(variants) + 1  # the reference kernels time the baseline once more
    assert all(f" {variant} " in table for variant in variants)
    mfus = [float(m) for m in re.findall(r"\|\s*([0-9.]+)%\s*\|", table)]
    assert len(mfus) == len(rows) and all(0 < m < 100 for m in mfus)
    assert "fp32 matmul peak" in table
