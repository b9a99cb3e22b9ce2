"""Outputs that cannot be written end in one line naming the path (exit 2), never a traceback, and
lose nothing: a disk that fills mid-grid (a real 1.2 MB tmpfs as --out), a log under a path that
cannot exist."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
GRID = ["--grid", "full", "--scale", "tiny", "--data", "embedded", "--no-plot", "--workers", "2", "--seeds", "1"]


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600,
                          cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.fixture
def small_disk(tmp_path):
    """A real 1.2 MB tmpfs, so the disk fills as it would: skipped where this process may not mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mount)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount rights): {result.stderr.strip()[:120]}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def records(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in out.glob("cells/*/record.json")}


def test_a_disk_that_fills_mid_grid_ends_in_one_line_and_the_same_command_finishes_later(small_disk):
    out = small_disk / "out"
    full = run("ablations.run", *GRID, "--out", str(out))
    assert full.returncode == 2, full.stderr[-2000:]
    assert "Traceback" not in full.stderr
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write {out}") and last.endswith("No space left on device"), last
    # Every committed record is whole; a cell whose checkpoint found no space is `failed`, to be retried.
    statuses = {path: json.loads(path.read_text())["status"] for path in records(out)}
    assert set(statuses.values()) <= {"ok", "failed"} and list(statuses.values()).count("ok") < 16
    kept = {p: mtime for p, mtime in records(out).items() if statuses[p] == "ok"}

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = run("ablations.run", *GRID, "--out", str(out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert {p: records(out)[p] for p in kept} == kept, "a finished cell was trained again"
    assert len(records(out)) == 16
    assert {json.loads(p.read_text())["status"] for p in records(out)} == {"ok"}
    for path in out.glob("cells/*/log.jsonl"):  # every log line whole, a resumed log's too
        assert all(json.loads(line) for line in path.read_text().splitlines())


@pytest.mark.parametrize("module, args", [
    ("mainrun.train", ["--scale", "tiny", "--data", "embedded", "--max-steps", "2",
                       "--log-file", "/proc/nonexistent/x.jsonl"]),
    ("ablations.run", ["--grid", "baseline", "--scale", "tiny", "--data", "embedded", "--out", "/proc/nonexistent/x"]),
])
def test_an_output_under_a_path_that_cannot_exist_is_one_line_and_exit_2(module, args):
    result = run(module, *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: cannot write /proc/nonexistent"), \
        result.stderr
