"""`--backend submitit` against a real Slurm cluster: real sbatch, scancel, time limits and sacct.

`.ci/run` starts a single-node cluster (scripts/slurm-local.sh start) before the suite; elsewhere
these tests skip and say how to get one. Each cell here is a tiny-scale run; `--epochs` makes the
cells that must still be running when the test acts on them last long enough to catch.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablations.execution.backends import job_name
from test_runner_e2e import table_without_timings

REPO = Path(__file__).resolve().parents[2]
TINY = ["--scale", "tiny", "--data", "embedded", "--no-plot", "--seeds", "1"]


def cluster_problem() -> str | None:
    """Why there is no usable cluster here, or None."""
    if shutil.which("sbatch") is None:
        return "no sbatch on PATH"
    outputs = {}
    for check in (["sinfo", "--noheader", "--format=%a"], ["sacct", "--noheader", "-X"]):
        try:
            result = subprocess.run(check, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{check[0]} failed: {exc}"
        if result.returncode != 0:
            return f"{check[0]} failed: {(result.stderr or result.stdout).strip()}"
        outputs[check[0]] = result.stdout
    return None if "up" in outputs["sinfo"].split() else "no partition is up"


PROBLEM = cluster_problem()
pytestmark = [pytest.mark.slurm, pytest.mark.slow,
              pytest.mark.skipif(PROBLEM is not None,
                                 reason=f"no Slurm cluster with accounting here ({PROBLEM}); "
                                        "`scripts/slurm-local.sh start` makes a single-node one, as .ci/run does")]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ablations.run", "--backend", "submitit", *args]


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout, cwd=REPO)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(command(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def records(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("cells/*/record.json")}


def submitted(out: Path) -> int:
    """Jobs sbatch accepted for this folder (submitit keeps one pickle per job)."""
    return len(list((out / "submitit").glob("*_submitted.pkl")))


def accounted(out: Path, key: str) -> list[tuple[str, str]]:
    """(job id, state) of every job sacct knows for this cell of this folder."""
    listing = subprocess.run(["sacct", "--noheader", "--parsable2", "-X", "--starttime=now-1days",
                              "--format=JobID,JobName%200,State", "--name", job_name(out, key)],
                             capture_output=True, text=True, check=True).stdout
    return [tuple(line.split("|")[::2]) for line in listing.splitlines() if line]


def wait_running(out: Path, key: str, timeout: float = 120) -> str:
    """The id of the cell's job once Slurm runs it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        listing = subprocess.run(["squeue", "--noheader", "--format=%i|%T", "--name", job_name(out, key)],
                                 capture_output=True, text=True).stdout.split()
        running = [line.split("|")[0] for line in listing if line.endswith("|RUNNING")]
        if running:
            return running[0]
        time.sleep(0.5)
    raise AssertionError(f"the job of {key} was not running after {timeout}s")


def key(opt: str = "sgd", axes: str = "", seed: int = 1337) -> str:
    return f"layernorm-learned-default-{opt}{'-' + axes if axes else ''}-seed{seed}"


def test_full_grid_through_slurm_gives_the_local_backends_table(full_run, tmp_path):
    local, local_result = full_run
    assert local_result.returncode == 0, local_result.stderr
    out = tmp_path / "out"
    result = run("--grid", "full", *TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "submitit (slurm) backend, 16 workers x 1 thread" in result.stdout.splitlines()[0]
    assert submitted(out) == 16
    cells = records(out)
    assert len(cells) == 16 and {r["status"] for r in cells.values()} == {"ok"}
    # One real Slurm job per cell, each accounted for as completed.
    assert all([state for _, state in accounted(out, k)] == ["COMPLETED"] for k in cells)
    assert table_without_timings(out) == table_without_timings(local)


def test_a_cancelled_job_is_recorded_failed_the_grid_goes_on_and_only_it_retrains(tmp_path):
    out = tmp_path / "out"
    grid = ["--axes", "epochs=1,10", *TINY, "--out", str(out)]
    slow, fast = key(axes="epochs=10"), key(axes="epochs=1")
    runner = start(*grid)
    job = wait_running(out, slow)
    subprocess.run(["scancel", job], check=True)
    stdout, stderr = runner.communicate(timeout=180)
    assert runner.returncode == 1, stderr  # a failed cell makes the exit status 1, after the whole grid ran
    cells = records(out)
    assert cells[fast]["status"] == "ok"
    assert cells[slow]["status"] == "failed"
    assert f"Slurm job {job} ended CANCELLED" in cells[slow]["error"], cells[slow]["error"]
    assert "failed" in (out / "results.md").read_text()

    again = run(*grid)
    assert again.returncode == 0, again.stderr
    assert "resuming: 1 of 2 cells already finished" in again.stdout
    assert submitted(out) == 3  # one more job, for the cancelled cell alone
    assert records(out)[slow]["status"] == "ok"
    assert records(out)[fast] == cells[fast]


def test_a_job_past_its_time_limit_is_recorded_failed_and_resumes_next_run(tmp_path):
    out = tmp_path / "out"
    # About 45 s of training: past the moment Slurm signals a 1-minute job (slurmctld checks limits
    # every 30 s), so the first run cannot finish it.
    cell = key(axes="epochs=60")
    result = run("--axes", "epochs=60", "--timeout-min", "1", *TINY, "--out", str(out))
    assert result.returncode == 1, result.stderr
    record = records(out)[cell]
    assert record["status"] == "failed"
    # Slurm signals the job before the limit (the cell fails naming it) or ends it there (TIMEOUT).
    assert "--timeout-min 1" in record["error"], record["error"]

    again = run("--axes", "epochs=60", *TINY, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert records(out)[cell]["status"] == "ok"
    assert submitted(out) == 2


def test_a_killed_runner_leaves_its_jobs_to_commit_and_the_rerun_adopts_them(tmp_path):
    out = tmp_path / "out"
    grid = ["--axes", "opt=sgd,adamw", "--epochs", "15", *TINY, "--out", str(out)]
    runner = start(*grid)
    for opt in ("sgd", "adamw"):
        wait_running(out, key(opt))
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)
    assert not records(out)  # both jobs are still training

    again = run(*grid)
    assert again.returncode == 0, again.stderr
    assert "adopted 2 Slurm job(s) still running for this folder" in again.stderr
    cells = records(out)
    assert {r["status"] for r in cells.values()} == {"ok"} and len(cells) == 2
    # Nothing trained twice: one job per cell, in the folder and in Slurm's accounting.
    assert submitted(out) == 2
    assert all(len(accounted(out, k)) == 1 for k in cells)

    third = run(*grid)
    assert "resuming: 2 of 2 cells already finished" in third.stdout and submitted(out) == 2


def test_a_job_killed_without_a_result_is_failed_within_a_bounded_time(tmp_path):
    out = tmp_path / "out"
    cell = key(axes="epochs=20")
    runner = start("--axes", "epochs=20", *TINY, "--out", str(out))
    job = wait_running(out, cell)
    # SIGKILL the cell's own process (task 0 of step 0), as the kernel's OOM killer would: no result.
    task = None
    while task is None:
        pids = subprocess.run(["scontrol", "listpids", job], capture_output=True, text=True, check=True).stdout
        task = next((int(f[0]) for f in (line.split() for line in pids.splitlines()[1:]) if f[2] == "0"), None)
        time.sleep(0.2)
    killed_at = time.time()
    os.kill(task, signal.SIGKILL)
    stdout, stderr = runner.communicate(timeout=180)
    waited = time.time() - killed_at
    record = records(out)[cell]
    assert record["status"] == "failed"
    assert f"Slurm job {job} ended FAILED without a result" in record["error"], record["error"]
    # State is polled every 30 s at most, and submitit waits 15 s for a late result file.
    assert waited < 90, f"the runner took {waited:.0f}s to notice"


def test_a_path_ladder_through_slurm_gives_the_local_backends_ladder(tmp_path):
    """A ladder is just more cells: each rung of a path's cells are Slurm jobs, and the findings, the
    backtest, the predictions and the verdicts are the local backend's, number for number."""
    study = ["--toward", "cpu", "--rungs", "6", "--train-rungs", "1-3", "--axes", "opt=adamw,muon", "param=mup",
             "--scale", "tiny", "--data", "embedded", "--no-plot", "--seeds", "2"]
    outs = {backend: tmp_path / backend for backend in ("local", "submitit")}
    for backend, out in outs.items():
        result = subprocess.run([sys.executable, "-m", "ablations.ladder", *study, "--backend", backend,
                                 "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=REPO)
        assert result.returncode == 0, result.stderr
    ladder = json.loads((outs["submitit"] / "ladder.json").read_text())
    assert [r["index"] for r in ladder["measured_rungs"]] == [1, 2, 3] and len(ladder["rungs"]) == 6
    for rung in ladder["measured_rungs"]:
        folder = outs["submitit"] / rung["folder"]
        cells = records(folder)
        assert submitted(folder) == len(cells) == 4
        width = rung["settings"]["d_model"]
        assert {(r["status"], r["param"], r["d_model"]) for r in cells.values()} == {("ok", "mup", width)}
        assert all([state for _, state in accounted(folder, k)] == ["COMPLETED"] for k in cells)
    assert ladder == json.loads((outs["local"] / "ladder.json").read_text())