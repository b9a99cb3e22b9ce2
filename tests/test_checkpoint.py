"""Checkpoints and resume (mainrun/checkpoint.py, mainrun/train.py): a SIGKILLed run continues to the
uninterrupted run's losses; bad checkpoints and mismatched configs are one line and exit 2."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mainrun import checkpoint
from mainrun.jsonlog import read_jsonl

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
TINY = ["--scale", "tiny", "--data", "embedded", "--threads", "1", "--variant", "opt=adamw"]


def train(*args, **popen):
    return [sys.executable, "-m", "mainrun.train", *TINY, *args]


def validation_losses(log: Path) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in read_jsonl(log) if e["event"] == "validation_step"}


def test_a_run_killed_after_an_evaluation_resumes_to_the_uninterrupted_losses(tmp_path):
    whole = tmp_path / "whole.jsonl"
    subprocess.run(train("--log-file", str(whole)), check=True, capture_output=True, timeout=300, cwd=REPO)

    log, ckpt = tmp_path / "cut.jsonl", tmp_path / "ckpt"
    runner = subprocess.Popen(train("--log-file", str(log), "--checkpoint-dir", str(ckpt)), cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (log.exists() and len(validation_losses(log)) >= 2 and (ckpt / checkpoint.CHECKPOINT).exists()):
        assert runner.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    saved = torch.load(ckpt / checkpoint.CHECKPOINT, weights_only=True)
    assert 1 <= saved["state"]["step"] < max(validation_losses(whole))

    result = subprocess.run(train("--log-file", str(log), "--checkpoint-dir", str(ckpt), "--resume"), cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    events = read_jsonl(log)
    resumed = next(e for e in events if e["event"] == "resumed")
    assert resumed["step"] == saved["state"]["step"]
    after = {e["step"]: e["loss"] for e in events[events.index(resumed):] if e["event"] == "validation_step"}
    expected = validation_losses(whole)
    assert after and set(after) == {s for s in expected if s > resumed["step"]}
    for step, loss in after.items():
        assert loss == pytest.approx(expected[step], abs=1e-6), f"step {step}"
    # best.pt holds the weights at the lowest validation loss, with what is needed to use them.
    best = checkpoint.load(ckpt / checkpoint.BEST, kind="best")
    assert best["val_loss"] == pytest.approx(min(expected.values()), abs=1e-6)
    assert "optimizer" not in best and best["tokenizer"].startswith("{")


def cli(*args):
    return subprocess.run(train(*args), cwd=REPO, capture_output=True, text=True, timeout=300)


def test_bad_resumes_are_one_line_and_exit_2(tmp_path):
    ckpt = tmp_path / "ckpt"
    assert cli("--max-steps", "3", "--checkpoint-dir", str(ckpt), "--log-file", str(tmp_path / "a.jsonl")).returncode == 0
    before = (ckpt / checkpoint.CHECKPOINT).read_bytes()
    cases = {
        "no checkpoint-dir": (["--resume"], "--resume needs --checkpoint-dir"),
        "no checkpoint": (["--resume", "--checkpoint-dir", str(tmp_path / "empty")], "no checkpoint at"),
        "another config": (["--resume", "--checkpoint-dir", str(ckpt), "--max-steps", "5"],
                           "the config differs (max_steps 3 -> 5)"),
    }
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / checkpoint.CHECKPOINT).write_text("not a checkpoint\n")
    cases["not a checkpoint"] = (["--resume", "--checkpoint-dir", str(foreign), "--max-steps", "3"],
                                 "is not a mainrun checkpoint")
    for name, (args, message) in cases.items():
        result = cli(*args, "--log-file", str(tmp_path / "b.jsonl"))
        assert result.returncode == 2, name
        assert result.stderr.count("\n") == 1 and message in result.stderr, (name, result.stderr)
    assert (ckpt / checkpoint.CHECKPOINT).read_bytes() == before, "a refused resume must not touch the checkpoint"


def test_execution_settings_may_change_on_resume():
    saved = {"lr": 1e-3, "device": "cuda", "threads": 8, "data": "/a/titles.txt", "log_file": "x"}
    assert checkpoint.config_differences(saved, {**saved, "device": "cpu", "threads": 2, "data": "/b/titles.txt"}) == []
    assert checkpoint.config_differences(saved, {**saved, "lr": 2e-3}) == ["lr 0.001 -> 0.002"]


def test_random_states_round_trip():
    import random

    import numpy as np

    state = checkpoint.rng_state()
    draws = torch.rand(3), random.random(), np.random.rand()
    checkpoint.set_rng_state(state)
    again = torch.rand(3), random.random(), np.random.rand()
    assert torch.equal(draws[0], again[0]) and draws[1:] == again[1:]
