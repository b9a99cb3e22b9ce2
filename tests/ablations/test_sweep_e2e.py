"""`python -m ablations.sweep` end to end at the tiny scale: decisions on disk, a kill mid-stage, bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SWEEP = ["--variant", "opt=adamw", "--stage", "lr=1e-3,1e-2", "--stage", "batch-size=8,16", "--seeds", "2",
         "--scale", "tiny", "--data", "embedded", "--no-plot"]


def command(*args):
    return [sys.executable, "-m", "ablations.sweep", *args]


def cell_records(out: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime_ns for p in out.glob("*/cells/*/record.json")}


def test_a_sweep_killed_mid_stage_resumes_and_trains_nothing_twice(tmp_path):
    out = tmp_path / "sweep"
    runner = subprocess.Popen(command(*SWEEP, "--out", str(out)), cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    while len(cell_records(out)) < 2:
        assert runner.poll() is None and time.time() < deadline, "the sweep ended before it could be killed"
        time.sleep(0.05)
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and its workers, as an OOM killer or a lost node would
    runner.wait()
    before = cell_records(out)
    assert not (out / "sweep.json").exists() or not json.loads((out / "sweep.json").read_text())["complete"]

    result = subprocess.run(command(*SWEEP, "--out", str(out)), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming:" in result.stdout
    after = cell_records(out)
    assert all(after[p] == mtime for p, mtime in before.items()), "a finished cell was trained again"
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["complete"] and [s["axis"] for s in sweep["stages"]] == ["lr", "batch_size"]
    assert set(sweep["chosen"]) == {"lr", "batch_size"}
    # The current lr 3e-4 is not in the grid: it is added to compare against.
    assert sweep["stages"][0]["levels"] == [0.0003, 0.001, 0.01] and sweep["stages"][0]["added_current"]
    assert sweep["stages"][1]["metric"] == "val_loss_full"  # batch sizes differ in the reference metric's coverage
    for stage in sweep["stages"]:
        assert (out / stage["folder"] / "results.md").exists()
    markdown = (out / "sweep.md").read_text()
    assert "## Chosen against start, on held-out seeds" in markdown and "## Chosen configuration" in markdown


@pytest.mark.parametrize("args, message", [
    (["--stage", "speed=1,2"], "unknown axis 'speed'"),
    (["--stage", "lr="], "stage 'lr=' is empty"),
    (["--stage", "lr=1e-3", "--grad-accum", "3"], "--grad-accum 3 must be positive and divide --batch-size 8"),
    (["--stage", "lr=1e-3", "--stage", "batch-size=8,12", "--grad-accum", "8"], "--grad-accum 8 must be positive and divide --batch-size 12"),
])
def test_bad_sweeps_are_one_line_and_exit_2(tmp_path, args, message):
    result = subprocess.run(command(*args, "--scale", "tiny", "--data", "embedded", "--out", str(tmp_path / "s")),
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
