"""Where cells train when GPUs are involved, checked without a GPU: the GPU a local worker takes on a
shared node, what a Slurm job asks for, and the one line a job without its GPU records."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ablations.study.axes import Point
from ablations.execution.backends import Local, Submitit, worker_gpu
from ablations.execution.cells import Cell
from ablations.execution.store import ResultsDir
from mainrun.config import RunContext, TrainConfig
from mainrun.variant import Variant
from mainrun.jsonlog import read_jsonl

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("slot, gpus, visible, expected", [
    (0, 2, "2,3", "2"), (1, 2, "2,3", "3"), (2, 2, "2,3", "2"),  # a shared node's allocation
    (1, 2, "GPU-aa,GPU-bb", "GPU-bb"),  # UUIDs
    (0, 2, None, "0"), (3, 2, None, "1"),  # no list: the slot's index
    (1, 1, "5", "5"),  # several workers on one GPU
])
def test_a_worker_takes_its_slots_entry_of_the_runners_gpus(slot, gpus, visible, expected):
    assert worker_gpu(slot, gpus, visible) == expected


def test_local_workers_on_a_shared_node_stay_inside_the_runners_gpus(tmp_path, monkeypatch):
    """A runner given GPUs 2 and 3 (CUDA_VISIBLE_DEVICES=2,3): each of its two workers sees one of them,
    never GPU 0 or 1. The cells train on the CPU here; their logs record what each worker saw."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    cells = [Cell(Point(Variant()), TrainConfig.from_scale("tiny", source="embedded", seed=seed, max_steps=2),
                  RunContext(device="cpu", threads=1), (), "embedded", "fingerprint")
             for seed in (1, 2)]
    outcomes = list(Local(workers=2, gpus=2, cell_bars=False).run(cells, tmp_path))
    assert [outcome["status"] for _, outcome in outcomes] == ["ok", "ok"]
    seen = {next(e["visible_devices"] for e in read_jsonl(tmp_path / "cells" / cell.key / "log.jsonl")
                 if e["event"] == "device_info") for cell in cells}
    assert seen == {"2", "3"}


@pytest.fixture
def sbatch_script(monkeypatch):
    """The batch script submitit would hand sbatch for a job of the backend's settings."""
    from submitit.slurm.slurm import SlurmExecutor

    monkeypatch.setattr(SlurmExecutor, "affinity", staticmethod(lambda: 1))  # no srun needed to write it

    def script(tmp_path: Path, **settings) -> str:
        backend = Submitit(cluster="slurm", max_in_flight=1, timeout_min=10, partition=None, **settings)
        return backend.executor(tmp_path)._executor._make_submission_file_text("python job.py", "uid")

    return script


def test_a_slurm_gpu_job_asks_for_cpus_and_memory_to_feed_its_gpu(tmp_path, sbatch_script):
    from ablations.execution.engine import GPU_JOB_CPUS, GPU_JOB_MEM_GB, Placement

    where = Placement("submitit (slurm)", "slurm", "slurm", gpus=1, cells_get_gpu=True)
    where.size(None, None, cells=16)
    assert where.threads == GPU_JOB_CPUS > 1
    script = sbatch_script(tmp_path, gpus_per_job=1, cpus_per_job=where.threads, mem_gb=GPU_JOB_MEM_GB)
    assert f"#SBATCH --cpus-per-task={GPU_JOB_CPUS}" in script
    assert f"#SBATCH --mem={GPU_JOB_MEM_GB}GB" in script
    assert "#SBATCH --gpus-per-node=1" in script


def test_a_slurm_cpu_job_keeps_the_partitions_memory_unless_told(tmp_path, sbatch_script):
    assert "--mem" not in sbatch_script(tmp_path, gpus_per_job=0)
    assert "#SBATCH --mem=3GB" in sbatch_script(tmp_path, gpus_per_job=0, mem_gb=3)


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ablations.run", *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args, message", [
    (["--gpus-per-job", "2"], "a cell trains on one device"),
    (["--mem-gb", "0"], "--mem-gb must be positive"),
])
def test_job_resources_a_cell_cannot_use_are_refused_in_one_line(tmp_path, args, message):
    result = run_cli("--grid", "baseline", "--scale", "tiny", "--data", "embedded", "--backend", "submitit-local",
                     *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_job_given_a_gpu_trains_on_it_and_records_a_missing_one_in_one_line(tmp_path):
    """With --gpus-per-job 1 a cell's device is cuda, not auto: a job that lands where there is no GPU
    fails at once with one line in its record, instead of training the reference scale on the CPU."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the job would find it")
    out = tmp_path / "out"
    result = run_cli("--grid", "baseline", "--scale", "tiny", "--data", "embedded", "--backend", "submitit-local",
                     "--gpus-per-job", "1", "--no-plot", "--seeds", "1", "--out", str(out))
    assert result.returncode == 1, result.stderr
    [record] = [json.loads(p.read_text()) for p in out.glob("cells/*/record.json")]
    assert record["status"] == "failed"
    assert record["error"] == "ConfigError: --device cuda asked for, but torch sees no CUDA device"
    assert ResultsDir(out).read_run()["backend"].startswith("submitit")
