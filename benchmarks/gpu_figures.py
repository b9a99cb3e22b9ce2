"""The parts of `scripts/gpu-figures.sh` that are Python: the machine's facts, and the summary.

    python -m benchmarks.gpu_figures machine WORK      # GPU, driver, torch, CUDA, cuDNN, packages, disk speed
    python -m benchmarks.gpu_figures report WORK OUT   # OUT/summary.md and OUT/gpu-figures.tar.gz

`report` runs after every stage of the script. It reads what the stages left in WORK and writes two
files into OUT, however many stages finished: a borrowed GPU machine returns at most 8 files of
16 MiB, two folders deep, so everything else travels inside the tarball (checkpoints left out).
"""
from __future__ import annotations

import argparse
import csv
import importlib.metadata
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from tabulate import tabulate

PACKAGES = ("torch", "numpy", "tokenizers", "scipy", "tabulate", "tqdm", "matplotlib", "tensorboard", "submitit",
            "datasets")
TARBALL = "gpu-figures.tar.gz"
# What comes back from a borrowed machine: files under 16 MiB each.
MAX_FILE_BYTES = 15 * 2**20
DISK_PROBE_BYTES = 256 * 2**20


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def disk_write_mb_s(folder: Path) -> float:
    """Sequential write speed with fsync, what a checkpoint pays."""
    path = folder / ".disk-probe"
    block = os.urandom(2**20)
    start = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(DISK_PROBE_BYTES // len(block)):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    seconds = time.perf_counter() - start
    path.unlink()
    return DISK_PROBE_BYTES / 2**20 / seconds


def gpu_facts() -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                             "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                             "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        facts.update(gpu=props.name, capability=f"{props.major}.{props.minor}", multiprocessors=props.multi_processor_count,
                     memory_gib=round(props.total_memory / 2**30, 1), devices=torch.cuda.device_count())
    try:
        query = "name,driver_version,memory.total,clocks.sm,clocks.max.sm"
        facts["nvidia_smi"] = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                                             capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        facts["nvidia_smi"] = "not available"
    return facts


def machine(work: Path) -> dict[str, Any]:
    facts = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "python": sys.version.split()[0],
             "platform": platform.platform(), "cpus": os.cpu_count(),
             "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
             **gpu_facts(), "packages": package_versions(),
             "disk_free_gib": round(shutil.disk_usage(work).free / 2**30, 1),
             "disk_write_mb_s": round(disk_write_mb_s(work))}
    (work / "machine.json").write_text(json.dumps(facts, indent=1))
    return facts


def machine_table(facts: dict[str, Any]) -> str:
    rows = [[key, value] for key, value in facts.items() if key != "packages"]
    rows.append(["packages", ", ".join(f"{name} {version}" for name, version in facts.get("packages", {}).items())])
    return tabulate(rows, headers=["", ""], tablefmt="github", disable_numparse=True)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def stage_rows(work: Path) -> list[list[str]]:
    """(stage, exit status, seconds, time limit) of each stage the script has run, in order."""
    path = work / "stages.tsv"
    return list(csv.reader(io.StringIO(path.read_text()), delimiter="\t")) if path.exists() else []


def stages_table(work: Path) -> str:
    body = [[name, stage_result(int(rc)), seconds, limit] for name, rc, seconds, limit in stage_rows(work)]
    return tabulate(body, headers=["stage", "result", "seconds", "time limit (s)"], tablefmt="github",
                    disable_numparse=True)


def stage_result(rc: int) -> str:
    return {0: "ok", 124: "timed out", 137: "timed out (killed)", -1: "skipped: no time left"}.get(rc, f"failed (exit {rc})")


def throughput_sections(work: Path) -> list[str]:
    out = []
    for name, *_ in stage_rows(work):  # in the order the stages ran
        path = work / f"{name}.md"
        if name.startswith("throughput-") and path.exists():
            out += [f"## Throughput and MFU, {name.removeprefix('throughput-')}", "", path.read_text().strip(), ""]
    return out


def grid_section(work: Path) -> list[str]:
    records, run = read_json(work / "grid" / "results.json"), read_json(work / "grid" / "run.json")
    if not records or not run:
        return []
    rows = [[r["variant"], r["status"], fmt(r.get("val_loss"), ".4f"), fmt(r.get("wall_s"), ".1f"),
             fmt(r.get("tokens_per_s"), ",.0f"), fmt(r.get("peak_gpu_memory_mb"), ",.0f"), r.get("gpu") or ""]
            for r in records]
    wall = next((seconds for name, _, seconds, _ in stage_rows(work) if name == "grid"), "?")
    precision = run["config"].get("precision")
    return [f"## `ablations.run --grid full` at the `{run['scale']}` scale, {precision}, {run['workers']} cells at a "
            f"time on one device: {wall} s in all", "",
            tabulate(rows, headers=["cell", "status", "val loss", "wall s", "tokens/s", "peak GPU MB", "gpu"],
                     tablefmt="github", disable_numparse=True), ""]


def fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def fp32_estimate(work: Path) -> list[str]:
    """The fp32 grid, left for a later run: its GPU time from the measured fp32 step and the grid's steps."""
    fp32, records = read_json(work / "throughput-fp32.json"), read_json(work / "grid" / "results.json")
    steps = next((r["max_steps"] for r in records or [] if r.get("max_steps")), None)
    baseline = next((row for row in (fp32 or {}).get("rows", []) if row["kernels"] == "fast"), None)
    if baseline is None or steps is None:
        return []
    step_s = baseline["step_s"]
    minutes = len(records) * steps * step_s / 60
    return ["## The fp32 grid, estimated (not run)", "",
            f"{len(records)} cells x {steps} steps x {step_s:.4f} s per fp32 step (the baseline's median above) = "
            f"{minutes:.1f} minutes of GPU time for the training steps alone, evaluations and start-up not counted; "
            "cells sharing the GPU only fill the gaps between each other's kernels.", ""]


def summary(work: Path) -> str:
    facts = read_json(work / "machine.json") or {}
    title = facts.get("nvidia_smi") or facts.get("gpu") or "no GPU facts yet"
    out = [f"# GPU figures ({facts.get('date', time.strftime('%Y-%m-%d'))}; {title})", "", "## Stages", "",
           stages_table(work), ""]
    if facts:
        out += ["## Machine", "", machine_table(facts), ""]
    if (work / "smoke" / "smoke.md").exists():
        out += ["## Smoke checks", "", (work / "smoke" / "smoke.md").read_text().strip(), ""]
    if (work / "ladder" / "gpu-check.md").exists():
        out += ["## " + (work / "ladder" / "gpu-check.md").read_text().strip().removeprefix("# "), ""]
    out += throughput_sections(work) + grid_section(work) + fp32_estimate(work)
    out += [f"Everything else (logs, records, curves; no checkpoints) is in {TARBALL}.", ""]
    return "\n".join(out)


def keep_in_tarball(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    name = Path(info.name)
    if name.suffix == ".pt" or "cache" in name.parts or name.name.startswith("."):
        return None
    return info


def write_tarball(work: Path, path: Path) -> None:
    """WORK without checkpoints and caches; without the per-step cell logs too when it would not come back."""
    tmp = path.with_name(path.name + ".tmp")
    for drop_logs in (False, True):
        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            if drop_logs and info.name.endswith("log.jsonl"):
                return None
            return keep_in_tarball(info)

        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(work, arcname="gpu-figures", filter=keep)
        if tmp.stat().st_size <= MAX_FILE_BYTES:
            break
    tmp.replace(path)


def report(work: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    text = summary(work)
    (out / "summary.md.tmp").write_text(text)
    (out / "summary.md.tmp").replace(out / "summary.md")
    write_tarball(work, out / TARBALL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_figures", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("machine").add_argument("work", type=Path)
    rep = commands.add_parser("report")
    rep.add_argument("work", type=Path)
    rep.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "machine":
        print(machine_table(machine(args.work)))
    else:
        report(args.work, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
