"""scripts/gpu-figures.sh as a dry run on the CPU: every stage runs, a failed stage does not stop the
rest, and what it leaves in OUT is what a borrowed GPU machine can send back (at most 8 files under
16 MiB each, no more than two folders deep, plain names) on a machine without submitit or datasets."""
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu-figures.sh"


@pytest.fixture
def bare_machine(tmp_path) -> Path:
    """A PYTHONPATH folder that hides submitit and datasets, as the GPU machine lacks them."""
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    for name in ("submitit", "datasets"):
        (blocked / f"{name}.py").write_text(f"raise ImportError('{name} is not on the GPU machine')\n")
    return blocked


@pytest.fixture(scope="module")
def cpu_ladder(tmp_path_factory) -> Path:
    """The CPU's share of a path ladder at the tiny scale: rungs 1-2 of 8 toward the cpu preset, tuned."""
    from ablations import ladder

    out = tmp_path_factory.mktemp("cpu-ladder") / "ladder"
    assert ladder.main(["--toward", "cpu", "--rungs", "8", "--train-rungs", "1-2", "--axes", "pos=learned,rope",
                        "opt=adamw,muon", "param=mup", "--tune", "lr=1e-3,1e-2", "--tune-extend", "0",
                        "--no-shared-default", "--seeds", "3", "--scale", "tiny", "--data", "embedded", "--no-plot",
                        "--out", str(out)]) == 0
    return out


def dry_run(out: Path, work: Path, blocked: Path, data: str, **env: str) -> subprocess.CompletedProcess:
    settings = dict(SCALE="tiny", DEVICE="cpu", PYTHON=sys.executable, PRECISIONS="fp32 bf16", STEPS="2",
                    WARM_S="0.1", WORKERS="2", DATA=data, WORK=str(work), PYTHONPATH=str(blocked), LADDER_RUNGS="3-4")
    return subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, **settings, **env})


def stage_results(summary: str) -> dict[str, str]:
    rows = re.findall(r"^\| (\S+)\s+\| ([^|]+?)\s+\|", summary.split("## Stages")[1].split("##")[0], re.M)
    return {name: result for name, result in rows if name != "stage" and not set(name) <= set("-")}


def data_or_embedded() -> str:
    titles = REPO.parent / "shared" / "data" / "hn_titles.txt"
    return str(titles) if titles.exists() else "embedded"


def test_the_dry_run_returns_every_stage_within_what_a_borrowed_machine_sends_back(tmp_path, bare_machine, cpu_ladder):
    out = tmp_path / "out"
    result = dry_run(out, tmp_path / "work", bare_machine, data_or_embedded(), LADDER=str(cpu_ladder))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == ["gpu-figures.tar.gz", "summary.md"]
    for path in files:
        relative = path.relative_to(out)
        assert len(relative.parts) <= 3 and path.stat().st_size < 16 * 2**20
        assert all(re.fullmatch(r"[A-Za-z0-9._-]+", part) for part in relative.parts)
    summary = (out / "summary.md").read_text()
    assert stage_results(summary) == dict.fromkeys(["machine", "smoke", "ladder", "throughput-fp32", "throughput-bf16",
                                                    "grid"], "ok")
    # The ladder's upper rungs trained on top of the CPU's, and each predictor fitted on the CPU rungs set
    # against them: the first GPU run tests the ladder's predictions.
    check = summary.split("## The CPU ladder's predictions at the GPU's rungs")[1].split("\n## ")[0]
    assert "Each predictor fitted on rungs 1, 2 only" in check
    assert {row.split("|")[2].strip() for row in check.splitlines() if row.startswith("| opt: adamw -> muon")} == {"3", "4"}
    from ablations.study.grid import single_grid

    assert summary.count("| norm=") == 16 + 2 * len(single_grid())  # the grid's cells, each precision's variants
    assert "## The fp32 grid, estimated (not run)" in summary and "FAILED" not in summary
    with tarfile.open(out / "gpu-figures.tar.gz") as tar:
        names = tar.getnames()
    assert not [n for n in names if n.endswith(".pt")]
    assert {"gpu-figures/smoke/smoke.json", "gpu-figures/grid/results.json", "gpu-figures/machine.json",
            "gpu-figures/ladder/ladder.json", "gpu-figures/ladder/gpu-check.md"} <= set(names)


def test_a_failed_stage_is_recorded_and_the_next_one_runs(tmp_path, bare_machine):
    out = tmp_path / "out"
    result = dry_run(out, tmp_path / "work", bare_machine, "embedded", STAGES="grid machine", WORKERS="0")
    assert result.returncode == 1
    assert stage_results((out / "summary.md").read_text()) == {"grid": "failed (exit 2)", "machine": "ok"}


def test_without_the_titles_it_stops_at_once_in_one_line(tmp_path, bare_machine):
    result = dry_run(tmp_path / "out", tmp_path / "work", bare_machine, str(tmp_path / "missing.txt"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "scripts/stage-titles.sh" in result.stderr
    assert not (tmp_path / "out").exists()
