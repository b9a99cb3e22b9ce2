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

REPO = Path(__file__).resolve().parents[1]
TINY = ["--scale", "tiny", "--data", "embedded", "--threads", "1", "--variant", "opt=adamw"]


def train(*args, **popen):
    return [sys.executable, "-m", "mainrun.train", *TINY, *args]


def validation_losses(log: Path) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in read_jsonl(log) if e["event"] == "validation_step"}


@pytest.mark.slow
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


@pytest.mark.slow
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


class FakeCuda:
    """torch.cuda as a machine with `count` GPUs shows it, for the random-state calls a checkpoint makes."""

    def __init__(self, count: int):
        self.count, self.set_calls, self.get_calls = count, [], []

    def get_rng_state(self, device="cuda"):
        self.get_calls.append(torch.device(device))
        return torch.full((4,), torch.device(device).index or 0, dtype=torch.uint8)

    def set_rng_state(self, state, device="cuda"):
        index = torch.device(device).index or 0
        if index >= self.count:
            raise IndexError(f"no GPU {index}: {self.count} visible")
        self.set_calls.append((index, int(state[0])))

    def set_rng_state_all(self, states):
        for index, state in enumerate(states):
            self.set_rng_state(state, torch.device("cuda", index))

    def get_rng_state_all(self):
        return [self.get_rng_state(torch.device("cuda", i)) for i in range(self.count)]

    def is_available(self):
        return True

    def device_count(self):
        return self.count


def use_cuda(monkeypatch, fake: FakeCuda) -> None:
    for name in ("get_rng_state", "set_rng_state", "set_rng_state_all", "get_rng_state_all", "is_available",
                 "device_count"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))


def test_a_checkpoint_keeps_the_training_gpus_random_state_and_resumes_with_fewer_gpus(monkeypatch):
    """Saved on the third of four visible GPUs, resumed where one GPU is visible: the state goes to
    the one training device, never by index to a GPU that is not there."""
    use_cuda(monkeypatch, FakeCuda(count=4))
    state = checkpoint.rng_state(torch.device("cuda", 2))
    assert isinstance(state["cuda"], torch.Tensor) and int(state["cuda"][0]) == 2

    fewer = FakeCuda(count=1)
    use_cuda(monkeypatch, fewer)
    checkpoint.set_rng_state(state, torch.device("cuda", 0))
    assert fewer.set_calls == [(0, 2)]


def test_a_checkpoint_from_before_keeps_working_with_fewer_gpus(monkeypatch):
    """Older checkpoints hold a list, one state per visible GPU: the training device's entry is used."""
    state = checkpoint.rng_state()
    state["cuda"] = [torch.full((4,), i, dtype=torch.uint8) for i in range(4)]
    fewer = FakeCuda(count=1)
    use_cuda(monkeypatch, fewer)
    checkpoint.set_rng_state(state, torch.device("cuda", 0))
    assert fewer.set_calls == [(0, 0)]


@pytest.mark.parametrize("saved, device, expected", [
    (4, torch.device("cuda", 1), [(1, 1)]),  # the training GPU's own entry
    (4, torch.device("cuda"), [(0, 0)]),  # no index: the current GPU, the first
    (1, torch.device("cuda", 1), [(1, 0)]),  # saved with fewer GPUs than the index: the one state there is
    (0, torch.device("cuda", 1), []),  # saved with none: nothing to restore
    (2, None, []),  # no training device given: no GPU state is restored
])
def test_an_old_list_of_gpu_states_gives_the_training_gpu_one(monkeypatch, saved, device, expected):
    state = checkpoint.rng_state()
    state["cuda"] = [torch.full((4,), i, dtype=torch.uint8) for i in range(saved)]
    fake = FakeCuda(count=2)
    use_cuda(monkeypatch, fake)
    checkpoint.set_rng_state(state, device)
    assert fake.set_calls == expected


def test_numpys_cached_gaussian_round_trips():
    """NumPy's legacy generator keeps the second of each pair of normals: a resume must keep it too."""
    import numpy as np

    np.random.seed(3)
    np.random.standard_normal()  # now one normal is cached
    state = checkpoint.rng_state()
    expected = np.random.standard_normal(3)
    np.random.seed(4)
    checkpoint.set_rng_state(state)
    assert np.random.get_state(legacy=False)["has_gauss"] == 1
    assert np.array_equal(np.random.standard_normal(3), expected)


def test_a_cpu_run_saves_no_gpu_state_and_ignores_one(monkeypatch):
    fake = FakeCuda(count=2)
    use_cuda(monkeypatch, fake)
    state = checkpoint.rng_state(torch.device("cpu"))
    assert state["cuda"] is None and not fake.get_calls
    state["cuda"] = torch.zeros(4, dtype=torch.uint8)
    checkpoint.set_rng_state(state, torch.device("cpu"))
    assert not fake.set_calls


def evaluations(log: Path) -> list[tuple[int, float]]:
    return [(e["step"], e["loss"]) for e in read_jsonl(log) if e["event"] == "validation_step"]


@pytest.mark.parametrize("every", [0, 2])
def test_sparse_checkpoints_and_best_pt_at_the_best_loss(tmp_path, every, monkeypatch):
    """--checkpoint-every K writes checkpoint.pt at every K-th evaluation (never with 0); best.pt is
    written with each checkpoint and at the end, and holds the weights of the lowest loss."""
    from mainrun.config import RunContext, TrainConfig
    from mainrun.train import train
    from mainrun.variant import Variant

    written = []
    save = checkpoint.save_atomic
    monkeypatch.setattr(checkpoint, "save_atomic", lambda payload, path: (
        written.append((payload["kind"], payload.get("state", {}).get("step", payload.get("step")))),
        save(payload, path))[1])
    log = tmp_path / "log.jsonl"
    cfg = TrainConfig.from_scale("tiny", source="embedded", variant=Variant(opt="adamw"), lr=1e-2, evals_per_epoch=4)
    result = train(cfg, RunContext(checkpoint_dir=str(tmp_path), checkpoint_every=every, log_file=str(log)),
                   progress=False)
    steps = [step for step, _ in evaluations(log)]
    due = [] if every == 0 else steps[every - 1::every]
    assert [step for kind, step in written if kind == "resume"] == due
    assert (tmp_path / checkpoint.CHECKPOINT).exists() == bool(due)
    best = checkpoint.load(tmp_path / checkpoint.BEST, kind="best")
    assert best["val_loss"] == pytest.approx(result.best_val_loss, abs=1e-9)
    assert best["step"] == min(evaluations(log), key=lambda e: e[1])[0]
    # best.pt is written only when a checkpoint is or the run ends, and only if the best improved.
    best_writes = [step for kind, step in written if kind == "best"]
    assert len(best_writes) <= len(due) + 1 and best_writes[-1] == best["step"]


def test_best_pt_is_written_only_when_the_loss_improves(tmp_path, monkeypatch):
    """At every evaluation a checkpoint; best.pt only at the evaluations that lowered the loss."""
    from mainrun.config import RunContext, TrainConfig
    from mainrun.train import train
    from mainrun.variant import Variant

    written = []
    save = checkpoint.save_atomic
    monkeypatch.setattr(checkpoint, "save_atomic", lambda payload, path: (
        written.append((payload["kind"], payload.get("step"), payload.get("val_loss"))), save(payload, path))[1])
    log = tmp_path / "log.jsonl"
    # An lr far too large for AdamW, so that the loss goes up at some evaluations.
    cfg = TrainConfig.from_scale("tiny", source="embedded", variant=Variant(opt="adamw"), lr=1.0, evals_per_epoch=6,
                                 dropout=0.0)
    train(cfg, RunContext(checkpoint_dir=str(tmp_path), log_file=str(log)), progress=False)
    improving, best = [], float("inf")
    for step, loss in evaluations(log):
        if loss < best:
            improving.append(step)
            best = loss
    assert len(improving) < len(evaluations(log)), "the run never got worse: the test shows nothing"
    assert [step for kind, step, _ in written if kind == "best"] == improving


def fresh_module_name(stem: str) -> str:
    """A module name no earlier test in this process imported (sys.modules would hand back the old one)."""
    import itertools
    import sys

    return next(f"{stem}_{i}" for i in itertools.count() if f"{stem}_{i}" not in sys.modules)


def imported_package(tmp_path, monkeypatch, stem: str, module_file: str, text: str):
    """A package of `__init__.py` and one module, imported under a fresh name: (its folder, the package)."""
    import importlib

    package = tmp_path / fresh_module_name(stem)
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / module_file).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package, importlib.import_module(package.name)


def test_the_code_hash_reads_the_contents_not_only_the_paths(tmp_path, monkeypatch):
    """A result names the code that made it: an edit that keeps every file name must change the hash."""
    package, module = imported_package(tmp_path, monkeypatch, "hashed_pkg", "model.py", "WIDTH = 1\n")
    before = checkpoint.source_hash(module)
    assert checkpoint.source_hash(module) == before
    (package / "model.py").write_text("WIDTH = 2\n")
    assert checkpoint.source_hash(module) != before
    (package / "model.py").write_text("WIDTH = 1\n")
    assert checkpoint.source_hash(module) == before


def test_the_code_version_names_the_package_and_hashes_every_module_given(tmp_path, monkeypatch):
    import importlib
    from importlib import metadata

    import mainrun

    name = fresh_module_name("one_file_plugin")
    (tmp_path / f"{name}.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = importlib.import_module(name)
    version = checkpoint.code_version()
    assert set(version) == {"package", "source"} and version["source"] == checkpoint.source_hash(mainrun)
    assert len(version["source"]) == 12 and version["package"] == metadata.version("mainrun-ablations")
    with_plugin = checkpoint.code_version(plugin)["source"]
    assert with_plugin != version["source"]
    (tmp_path / f"{name}.py").write_text("X = 2\n")  # a module that is one file: its content counts
    assert checkpoint.code_version(plugin)["source"] != with_plugin

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(checkpoint.metadata, "version", missing)
    assert checkpoint.package_version() == "unknown"


def test_the_code_hash_reads_the_paths_too(tmp_path, monkeypatch):
    package, module = imported_package(tmp_path, monkeypatch, "renamed_pkg", "a.py", "Y = 1\n")
    before = checkpoint.source_hash(module)
    (package / "a.py").rename(package / "b.py")
    assert checkpoint.source_hash(module) != before


def test_a_failed_save_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    from mainrun.errors import OutputError

    path = tmp_path / "checkpoint.pt"
    checkpoint.save_atomic({"format": checkpoint.FORMAT, "kind": "resume", "n": 1}, path)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    with pytest.raises(OutputError, match=f"^cannot write {path}: No space left on device$"):
        checkpoint.save_atomic({"format": checkpoint.FORMAT, "kind": "resume", "n": 2}, path)
    assert checkpoint.load(path)["n"] == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_a_save_makes_the_folders_it_needs(tmp_path):
    path = tmp_path / "cells" / "a-seed1" / "best.pt"
    checkpoint.save_atomic({"format": checkpoint.FORMAT, "kind": "best"}, path)
    assert checkpoint.load(path)["kind"] == "best" and sorted(p.name for p in path.parent.iterdir()) == ["best.pt"]


def test_what_load_says_of_a_file_that_is_not_the_checkpoint_asked_for(tmp_path):
    path = tmp_path / "best.pt"
    checkpoint.save_atomic({"format": checkpoint.FORMAT, "kind": "best"}, path)
    assert checkpoint.load(path)["kind"] == "best" and checkpoint.load(path, kind="best")["kind"] == "best"
    with pytest.raises(checkpoint.CheckpointError, match=f"^{path} is a 'best' checkpoint, not a 'resume' one$"):
        checkpoint.load(path, kind="resume")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(checkpoint.CheckpointError, match="is not a mainrun checkpoint \\(no 'mainrun-checkpoint/1' "
                                                         "marker\\)$"):
        checkpoint.load(tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("x")
    with pytest.raises(checkpoint.CheckpointError, match="is not a mainrun checkpoint \\(UnpicklingError\\)$"):
        checkpoint.load(tmp_path / "text.pt")
    with pytest.raises(checkpoint.CheckpointError, match=f"^no checkpoint at {tmp_path / 'none.pt'}$"):
        checkpoint.load(tmp_path / "none.pt")


def test_a_resume_on_other_data_is_refused_by_fingerprint():
    from mainrun.config import TrainConfig
    from mainrun.errors import ConfigError

    cfg = TrainConfig.from_scale("tiny")
    saved = {"config": cfg.flat(), "fingerprint": "file-aaa"}
    checkpoint.check_resumable(saved, cfg.with_values(source="/elsewhere/titles.txt"), "file-aaa", Path("c.pt"))
    with pytest.raises(ConfigError, match=r"^cannot resume from c.pt: it trained on data file-aaa, this run reads "
                                          r"file-bbb$"):
        checkpoint.check_resumable(saved, cfg, "file-bbb", Path("c.pt"))
    with pytest.raises(ConfigError, match=r"the config differs \(dropout 0.1 -> 0.2\); start a new --checkpoint-dir$"):
        checkpoint.check_resumable(saved, cfg.with_values(dropout=0.2), "file-aaa", Path("c.pt"))
    with pytest.raises(ConfigError, match=r"differs \(dropout 0.1 -> 0.2; lr .* -> 0.002\); start"):
        checkpoint.check_resumable(saved, cfg.with_values(dropout=0.2, lr=2e-3), "file-aaa", Path("c.pt"))


def test_the_model_config_a_checkpoint_keeps_rebuilds_the_model():
    from mainrun.model import GPTConfig
    from mainrun.variant import Variant

    cfg = GPTConfig(vocab_size=300, block_size=16, n_layer=1, n_head=2, d_model=8, variant=Variant(opt="adamw"))
    stored = checkpoint.model_config_dict(cfg)
    assert stored["variant"] == "norm=layernorm,pos=learned,init=default,opt=adamw" and stored["vocab_size"] == 300
    assert GPTConfig(**{**stored, "variant": Variant.parse(stored["variant"])}) == cfg


def test_a_resume_checkpoint_holds_everything_a_run_continues_from(tmp_path, monkeypatch):
    fake = FakeCuda(count=2)
    use_cuda(monkeypatch, fake)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    scheduler.step()
    writer = checkpoint.Writer(tmp_path, {"config": {"x": 1}}, device=torch.device("cuda", 1))
    torch_state = torch.get_rng_state()
    writer.evaluated(model, opt, scheduler, {"step": 7}, evaluation=1, step=7, val_loss=2.0, improved=False)
    saved = checkpoint.load(tmp_path / checkpoint.CHECKPOINT, kind="resume")
    assert saved["config"] == {"x": 1} and saved["state"] == {"step": 7}
    assert all(torch.equal(saved["model"][k], v) for k, v in model.state_dict().items())
    assert saved["optimizer"]["param_groups"][0]["lr"] == opt.param_groups[0]["lr"] == 0.05
    assert torch.equal(saved["optimizer"]["state"][0]["momentum_buffer"], opt.state_dict()["state"][0]["momentum_buffer"])
    assert saved["scheduler"]["last_epoch"] == 1
    assert torch.equal(saved["rng"]["torch"], torch_state) and int(saved["rng"]["cuda"][0]) == 1  # cuda:1's own
    assert not (tmp_path / checkpoint.BEST).exists()  # no improvement, nothing pending: no best.pt


def test_a_single_file_modules_hash_reads_that_file_only(tmp_path):
    import importlib.util

    (tmp_path / "plugin.py").write_text("X = 1\n")
    (tmp_path / "neighbour.py").write_text("Y = 1\n")
    spec = importlib.util.spec_from_file_location("plugin", tmp_path / "plugin.py")
    module = importlib.util.module_from_spec(spec)
    before = checkpoint.source_hash(module)
    (tmp_path / "neighbour.py").write_text("Y = 2\n")
    assert checkpoint.source_hash(module) == before
    (tmp_path / "plugin.py").write_text("X = 2\n")
    assert checkpoint.source_hash(module) != before


class Crash(Exception):
    pass


def crashed_then_resumed(tmp_path, monkeypatch, seconds_per_evaluation=0.4):
    """A run whose first two evaluations each take `seconds_per_evaluation` and which dies in its third
    (steps 1, 2, then 4 of 6: its checkpoint is step 2's), then the same run resumed from its checkpoint
    with evaluations at their own speed. The resumed run's result."""
    from mainrun import training
    from mainrun.config import RunContext, TrainConfig
    from mainrun.train import train
    from mainrun.variant import Variant

    cfg = TrainConfig.from_scale("tiny", source="embedded", variant=Variant(opt="adamw"), max_steps=6,
                                 evals_per_epoch=79)  # 159 batches // 79: an evaluation every 2 steps
    real, calls = training.evaluate, []

    def slow_then_dead(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Crash
        time.sleep(seconds_per_evaluation)
        return real(*args, **kwargs)

    context = RunContext(checkpoint_dir=str(tmp_path / "ckpt"), log_file=str(tmp_path / "log.jsonl"), threads=1)
    with monkeypatch.context() as patch:
        patch.setattr(training, "evaluate", slow_then_dead)
        with pytest.raises(Crash):
            train(cfg, context, progress=False)
    assert checkpoint.load(tmp_path / "ckpt" / checkpoint.CHECKPOINT)["state"]["step"] == 2
    import dataclasses

    result = train(cfg, dataclasses.replace(context, resume=True), progress=False)
    assert result.resumed_from == 2 and result.steps == 6
    return result


def test_a_resumed_run_reports_evaluations_share_of_its_whole_wall_time(tmp_path, monkeypatch):
    result = crashed_then_resumed(tmp_path, monkeypatch)
    assert 0 < result.eval_share < 1, f"eval_share {result.eval_share}: not a share of the wall time"
    assert result.wall_s >= 2 * 0.4, "the wall time before the crash was lost"
    assert result.eval_share == pytest.approx(result.eval_s / result.wall_s)


def test_a_resumed_runs_eval_s_counts_the_evaluations_before_the_crash(tmp_path, monkeypatch):
    result = crashed_then_resumed(tmp_path, monkeypatch)
    assert result.eval_s >= 2 * 0.4, f"eval_s {result.eval_s:.3f}: the two evaluations before the crash are lost"
