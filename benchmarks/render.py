"""Render a pytest-benchmark JSON report as markdown.

    python -m pytest benchmarks/ --benchmark-only --benchmark-json out.json
    python -m benchmarks.render out.json BENCHMARKS.md

One table per benchmark group (median, IQR, min, rounds, ratio to the group's baseline), then the cost
of each component swap across the variant grid, and the machine the numbers came from. The
baseline of a group is the benchmark whose extra_info says `baseline: true` (benchmarks/common.py).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from tabulate import tabulate

VARIANT_GROUP_PREFIX = "variant:"


def time_unit(seconds: float) -> tuple[str, float]:
    return ("ms", 1e3) if seconds >= 1e-3 else ("µs", 1e6)


def number(value: float) -> str:
    """Three significant digits without an exponent: 0.312, 31.2, 312, 3,120."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{2 - math.floor(math.log10(value)) if value > 0 else 2}f}"


def label_of(bench: dict) -> str:
    return bench.get("extra_info", {}).get("label") or bench.get("param") or bench["name"]


def groups_in_order(benchmarks: list[dict]) -> dict[str, list[dict]]:
    """Groups in run order, except that whole-model variants come first: they are the headline."""
    groups: dict[str, list[dict]] = {}
    for bench in benchmarks:
        groups.setdefault(bench.get("group") or "(ungrouped)", []).append(bench)
    order = sorted(groups, key=lambda name: not name.startswith(VARIANT_GROUP_PREFIX))
    return {name: groups[name] for name in order}


def baseline_median(benches: list[dict]) -> float | None:
    medians = [b["stats"]["median"] for b in benches if b.get("extra_info", {}).get("baseline")]
    return medians[0] if medians else None


def group_table(name: str, benches: list[dict]) -> str:
    base = baseline_median(benches)
    unit, scale = time_unit(base if base is not None else min(b["stats"]["median"] for b in benches))
    rows = []
    for bench in benches:
        stats = bench["stats"]
        if base is None:
            ratio = "n/a"
        elif bench.get("extra_info", {}).get("baseline"):
            ratio = "1.00 (baseline)"
        else:
            ratio = f"{stats['median'] / base:.2f}"
        rows.append([f"`{label_of(bench)}`", number(stats["median"] * scale), number(stats["iqr"] * scale),
                     number(stats["min"] * scale), stats["rounds"], ratio])
    # min is shown beside the median because load from other processes only ever adds time.
    headers = ["benchmark", f"median ({unit})", f"IQR ({unit})", f"min ({unit})", "rounds", "× baseline (median)"]
    return f"### {name}\n\n" + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def swap_ratios(benches: list[dict]) -> dict[tuple[str, str, str], list[float]]:
    """(family, from, to) -> time ratios of variants that differ in that family only."""
    by_variant = {
        tuple(sorted(b["extra_info"]["variant"].items())): b["stats"]["median"]
        for b in benches if "variant" in b.get("extra_info", {})
    }
    base = next((b["extra_info"]["variant"] for b in benches if b.get("extra_info", {}).get("baseline")), None)
    ratios: dict[tuple[str, str, str], list[float]] = {}
    if base is None:
        return ratios
    for key, median in by_variant.items():
        variant = dict(key)
        for family, name in variant.items():
            if name == base[family]:
                continue
            partner = tuple(sorted({**variant, family: base[family]}.items()))
            if partner in by_variant:
                ratios.setdefault((family, base[family], name), []).append(median / by_variant[partner])
    return ratios


def swap_table(groups: dict[str, list[dict]]) -> str | None:
    variant_groups = {name: benches for name, benches in groups.items() if name.startswith(VARIANT_GROUP_PREFIX)}
    per_group = {name: swap_ratios(benches) for name, benches in variant_groups.items()}
    swaps = sorted({swap for ratios in per_group.values() for swap in ratios})
    if not swaps:
        return None
    rows = []
    for family, old, new in swaps:
        row = [f"{family}: `{old}` → `{new}`"]
        for name in variant_groups:
            values = per_group[name].get((family, old, new), [])
            if values:
                geomean = math.exp(sum(math.log(v) for v in values) / len(values))
                row.append(f"×{geomean:.2f} ({min(values):.2f}–{max(values):.2f}, n={len(values)})")
            else:
                row.append("n/a")
        rows.append(row)
    headers = ["swap"] + [name[len(VARIANT_GROUP_PREFIX):].strip() for name in variant_groups]
    return (
        "Time ratio of each swap, over every pair of variants that differ in that family only: "
        "geometric mean (min–max, number of pairs). Swaps that change no computation (init) should "
        "read ×1.00; how far they are from it is the noise floor of this run.\n\n"
        + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    )


def peak_table(benchmarks: list[dict]) -> str | None:
    """Benchmarks that say their FLOPs, as GFLOP/s and as a share of the best square matmul's rate
    (those marked `peak`) measured in the same run."""
    rated = [b for b in benchmarks if b.get("extra_info", {}).get("flops")]
    peaks = [b["extra_info"]["flops"] / b["stats"]["median"] for b in rated if b["extra_info"].get("peak")]
    if not peaks:
        return None
    peak = max(peaks)
    rows = [[f"`{label_of(b)}`", number(b["stats"]["median"] * 1e3), number(b["extra_info"]["flops"] / 1e9),
             number(b["extra_info"]["flops"] / b["stats"]["median"] / 1e9),
             f"{b['extra_info']['flops'] / b['stats']['median'] / peak:.0%}"] for b in rated]
    return (f"The machine's fp32 matmul peak, measured in this run: {peak / 1e9:,.0f} GFLOP/s (the best square "
            "matmul below). A step's FLOPs count as MFU does: 6 x parameters x tokens, plus attention.\n\n"
            + tabulate(rows, headers=["benchmark", "median (ms)", "GFLOP", "GFLOP/s (median)", "of the peak"],
                       tablefmt="github", disable_numparse=True))


def machine_lines(data: dict) -> list[str]:
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {})
    torch_info = machine.get("torch", {})
    load = machine.get("load_average", {})
    commit = data.get("commit_info", {})
    lines = [
        f"- CPU: {cpu.get('brand_raw', machine.get('processor') or 'unknown')} "
        f"({cpu.get('count', '?')} logical cores, {torch_info.get('cpus_available', '?')} available to the process), "
        f"{machine.get('machine', '')} {machine.get('system', '')} {machine.get('release', '')}".rstrip(),
        f"- torch {torch_info.get('version', '?')}, intra-op threads pinned to {torch_info.get('threads', '?')} "
        f"(interop {torch_info.get('interop_threads', '?')}); Python {machine.get('python_version', '?')}",
    ]
    if load:
        fmt = lambda triple: " / ".join(f"{v:.2f}" for v in triple)  # noqa: E731
        lines.append(f"- Load average (1 / 5 / 15 min) at start {fmt(load['start'])}, at end {fmt(load['end'])}")
        busiest = max(load["start"][0], load["end"][0])
        if busiest >= torch_info.get("threads", 1) + 0.5 and busiest >= cpu.get("count", 1) * 0.75:
            lines.append(
                "- **The machine was shared during this run** (load average near or above its core count): "
                "absolute times are inflated and noisy; read ratios, and the min column, with the init "
                "swap's spread as the noise floor."
            )
    if commit.get("id"):
        dirty = " with uncommitted changes" if commit.get("dirty") else ""
        lines.append(f"- Commit {commit['id'][:10]}{dirty}, run {data.get('datetime', '?')}")
    return lines


def shape_line(benchmarks: list[dict]) -> str | None:
    for bench in benchmarks:
        info = bench.get("extra_info", {})
        if "variant" in info:
            shape = ", ".join(f"{k} {v}" for k, v in info["shape"].items())
            return f"Model benchmarks use {shape} ({info['params']:,} parameters)."
    return None


def render(data: dict) -> str:
    benchmarks = data.get("benchmarks", [])
    if not benchmarks:
        raise SystemExit("no benchmarks in the report: was it run with --benchmark-only or --benchmark-enable?")
    groups = groups_in_order(benchmarks)
    parts = [
        "# Benchmarks",
        "Generated by `.venv/bin/python -m benchmarks.render` from "
        "`.venv/bin/python -m pytest benchmarks/ --benchmark-only --benchmark-json out.json`; "
        "do not edit by hand, rerun both commands.",
        "Shape: the `cpu` preset, what `ablations.run` trains without a GPU. Forward is eval mode "
        "without autograd (what `evaluate()` pays per batch); forward+backward is train mode with "
        "dropout, loss and backward (a training step before the optimizer). The optimizer family does "
        "not change either pass, so recipes are timed on their own step. Threads are pinned (1 unless "
        "`MAINRUN_BENCH_THREADS` says otherwise; see Machine). "
        + (shape_line(benchmarks) or ""),
        "## Machine\n\n" + "\n".join(machine_lines(data)),
    ]
    swaps = swap_table(groups)
    if swaps:
        parts.append("## Cost of each swap\n\n" + swaps)
    peaks = peak_table(benchmarks)
    if peaks:
        parts.append("## Against the matmul peak\n\n" + peaks)
    parts.append("## All groups\n\n" + "\n\n".join(group_table(name, benches) for name, benches in groups.items()))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="JSON written by --benchmark-json")
    parser.add_argument("output", type=Path, nargs="?", help="markdown file (default: stdout)")
    args = parser.parse_args(argv)
    markdown = render(json.loads(args.report.read_text()))
    if args.output:
        args.output.write_text(markdown)
    else:
        sys.stdout.write(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
