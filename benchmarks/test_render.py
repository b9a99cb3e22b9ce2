"""benchmarks/render.py on a small synthetic report, so the renderer cannot rot between real runs."""
import json

import pytest

from benchmarks import render


def bench(group, label, median, baseline=False, variant=None):
    extra = {"label": label, "baseline": baseline, "params": 1000, "shape": {"batch": 2}}
    if variant:
        extra["variant"] = variant
    stats = {"median": median, "iqr": median / 10, "min": median * 0.9, "rounds": 20}
    return {"group": group, "name": f"test[{label}]", "param": label, "stats": stats, "extra_info": extra}


REPORT = {
    "machine_info": {
        "cpu": {"brand_raw": "Test CPU 9000", "count": 2},
        "torch": {"version": "2.13.0", "threads": 1, "interop_threads": 2, "cpus_available": 2},
        "load_average": {"start": [3.0, 2.0, 1.0], "end": [2.5, 2.0, 1.0]},
        "machine": "x86_64", "system": "Linux", "release": "6", "python_version": "3.11.7",
    },
    "commit_info": {"id": "0123456789abcdef", "dirty": False},
    "datetime": "2026-01-01T00:00:00",
    "benchmarks": [
        bench("norm: forward", "layernorm", 2e-4, baseline=True),
        bench("norm: forward", "rmsnorm", 3e-4),
        bench("variant: forward", "a", 0.040, baseline=True, variant={"norm": "layernorm", "pos": "learned"}),
        bench("variant: forward", "b", 0.030, variant={"norm": "rmsnorm", "pos": "learned"}),
        bench("variant: forward", "c", 0.080, variant={"norm": "layernorm", "pos": "rope"}),
        bench("variant: forward", "d", 0.060, variant={"norm": "rmsnorm", "pos": "rope"}),
    ],
}


def row(markdown, start):
    (line,) = [line for line in markdown.splitlines() if line.startswith(start)]
    return line


def cells(line):
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_render_writes_ratios_swaps_and_machine(tmp_path):
    report, output = tmp_path / "out.json", tmp_path / "BENCHMARKS.md"
    report.write_text(json.dumps(REPORT))

    assert render.main([str(report), str(output)]) == 0
    markdown = output.read_text()

    assert "Test CPU 9000 (2 logical cores" in markdown
    assert "threads pinned to 1" in markdown
    assert "machine was shared" in markdown  # load 3.0 on 2 cores
    assert cells(row(markdown, "| `rmsnorm`")) == ["`rmsnorm`", "300", "30.0", "270", "20", "1.50"]
    # rmsnorm is 0.75x layernorm with either position scheme; rope 2x learned with either norm.
    assert cells(row(markdown, "| norm: `layernorm` → `rmsnorm`"))[1] == "×0.75 (0.75–0.75, n=2)"
    assert cells(row(markdown, "| pos: `learned` → `rope`"))[1] == "×2.00 (2.00–2.00, n=2)"
    # The variant group is the headline, so it comes before the component groups.
    assert markdown.index("### variant: forward") < markdown.index("### norm: forward")


def test_render_refuses_a_report_without_timings():
    with pytest.raises(SystemExit, match="--benchmark-only"):
        render.render({"benchmarks": []})


@pytest.mark.parametrize("value,text", [(0.0123, "0.0123"), (1.0, "1.00"), (31.24, "31.2"), (3120.6, "3,121")])
def test_numbers_keep_three_significant_digits_without_exponent(value, text):
    assert render.number(value) == text


def test_benchmarks_that_say_their_flops_are_rated_against_the_best_square_matmul():
    def rated(label, median, flops, peak=False):
        entry = bench("step", label, median)
        entry["extra_info"].update(flops=flops, peak=peak)
        return entry

    # 100 and 80 GFLOP/s matmuls: the peak is the faster; a 6 GFLOP step in 0.1 s runs at 60, 60% of it.
    report = {**REPORT, "benchmarks": [rated("mm small", 0.01, 1e9, peak=True), rated("mm big", 0.1, 8e9, peak=True),
                                       rated("a step", 0.1, 6e9), bench("norm: forward", "layernorm", 2e-4)]}
    section = render.render(report).split("## Against the matmul peak")[1].split("## All groups")[0]
    assert "fp32 matmul peak, measured in this run: 100 GFLOP/s" in section
    assert cells(row(section, "| `a step`"))[1:] == ["100", "6.00", "60.0", "60%"]
    assert cells(row(section, "| `mm big`"))[-1] == "80%"
    assert "layernorm" not in section
    # Without a peak to divide by, there is no such section.
    assert "## Against the matmul peak" not in render.render(REPORT)
