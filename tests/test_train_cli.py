"""`python -m mainrun.train`: bad input ends in one line on stderr and exit status 2."""
import os
import subprocess
import sys

import pytest

from mainrun.cli import run_cli
from mainrun.components.optimizers import lr_curve
from mainrun.jsonlog import read_jsonl
from mainrun.train import main

TINY = ["--scale", "tiny", "--data", "embedded"]


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    return exit_info.value.code, capsys.readouterr().err


@pytest.fixture
def files(tmp_path):
    no_title = tmp_path / "no_title.csv"
    no_title.write_text("name,score\nfoo,1\nbar,2\n")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 society\nplain title\n".encode("latin-1"))
    few = tmp_path / "few.txt"
    few.write_text("\n".join(f"title number {i}" for i in range(50)) + "\n")
    empty_dir = tmp_path / "no_parquet"
    empty_dir.mkdir()
    odd = tmp_path / "titles.xml"
    odd.write_text("<titles/>")
    return {"no_title": no_title, "latin1": latin1, "few": few, "empty_dir": empty_dir, "odd": odd,
            "missing": tmp_path / "missing.txt"}


BAD_INPUT = {
    "unknown component": (["--variant", "norm=batchnorm"], "unknown norm 'batchnorm'; valid: layernorm, rmsnorm"),
    "unknown family": (["--variant", "act=relu"], "unknown component family 'act'"),
    "malformed variant": (["--variant", "rmsnorm"], "expected family=name"),
    "unknown scale": (["--scale", "huge"], "unknown scale 'huge'"),
    "unknown flag": (["--bogus-flag", "1"], "unrecognized arguments: --bogus-flag"),
    "bad flag value": (["--n-layer", "two"], "invalid int value: 'two'"),
    "unknown plugin": (["--plugin", "no_such_module_xyz"], "cannot import plugin 'no_such_module_xyz'"),
    "missing data path": (["--data", "{missing}"], "does not exist"),
    "folder without parquet": (["--data", "{empty_dir}"], "holds no .parquet files"),
    "unsupported file type": (["--data", "{odd}"], "unsupported type '.xml'"),
    "no title column": (["--data", "{no_title}"], "has no 'title' column (columns: name, score)"),
    "not utf-8": (["--data", "{latin1}"], "is not UTF-8"),
    "too few titles": (["--data", "{few}", "--num-titles", "100"], "has 50 titles, fewer than --num-titles 100"),
    "empty val split": (["--val-frac", "1e-17"], "the val split is empty"),
    "empty train split": (["--num-titles", "1", "--val-frac", "0.999"], "the train split is empty"),
    "vocab below byte alphabet": (["--vocab-size", "100"], "smaller than the byte alphabet plus specials (259)"),
    "val shorter than one window": (["--batch-size", "200"], "fewer than one evaluation window"),
    "heads do not divide width": (["--n-head", "3"], "not divisible by --n-head 3"),
    "non-positive size": (["--block-size", "0"], "--block-size must be positive"),
    "accumulation not dividing the batch": (["--grad-accum", "3"], "--grad-accum 3 must be positive and divide --batch-size 8"),
    "unknown lr scaling": (["--lr-scaling", "cubic"], "unknown lr scaling 'cubic'; valid: none, linear, sqrt"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_2(case, files, capsys, tmp_path):
    argv, expected = BAD_INPUT[case]
    argv = [a.format(**files) for a in argv]
    code, err = run(TINY + ["--log-file", str(tmp_path / "log.jsonl")] + argv, capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err


def test_bad_input_through_a_real_process_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mainrun.train", *TINY, "--data", str(tmp_path / "nope.txt")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: data path {tmp_path / 'nope.txt'} does not exist"]


def test_tiny_run_writes_reference_log_format(tmp_path, capsys):
    log_file = tmp_path / "run.jsonl"
    code, _ = run(TINY + ["--variant", "pos=rope,opt=adamw", "--log-file", str(log_file)], capsys)
    assert code == 0
    events = read_jsonl(log_file)
    assert all({"event", "timestamp"} <= e.keys() for e in events)
    kinds = [e["event"] for e in events]
    for kind in ("hyperparameters_configured", "device_info", "dataset_info", "model_info", "training_step",
                 "validation_step"):
        assert kind in kinds
    hp = events[0]
    assert hp["variant"] == "norm=layernorm,pos=rope,init=default,opt=adamw" and hp["scale"] == "tiny"
    info = next(e for e in events if e["event"] == "dataset_info")
    assert info["source"] == "embedded" and info["fingerprint"].startswith("embedded-")
    steps = [e for e in events if e["event"] == "training_step"]
    assert [e["step"] for e in steps] == list(range(1, info["batches_per_epoch"] + 1))
    assert all(e["max_steps"] == info["batches_per_epoch"] for e in steps)
    val = [e for e in events if e["event"] == "validation_step"]
    assert val[0]["step"] == 1 and val[-1]["step"] == info["batches_per_epoch"]
    assert 0 < val[-1]["coverage"] <= 1


def test_max_steps_caps_training_and_schedule(tmp_path, capsys):
    log_file = tmp_path / "run.jsonl"
    code, _ = run(TINY + ["--max-steps", "7", "--log-file", str(log_file)], capsys)
    assert code == 0
    steps = [e for e in read_jsonl(log_file) if e["event"] == "training_step"]
    # Each step logs the lr it used; the last is the schedule's last value (the cosine's final step).
    assert len(steps) == 7 and [e["lr"] for e in steps] == pytest.approx(lr_curve("sgd", 7), rel=1e-12)


def test_absurd_lr_is_reported_as_diverged(tmp_path, capsys):
    log_file = tmp_path / "run.jsonl"
    code, _ = run(TINY + ["--variant", "opt=sgd", "--lr", "1e12", "--log-file", str(log_file)], capsys)
    assert code == 1
    assert read_jsonl(log_file)[-1]["status"] == "diverged"


PLUGIN = '''
import torch
from torch import nn
from mainrun.components.norms import NORMS


class ScaleNorm(nn.Module):
    """x / ||x|| * g * sqrt(d): one learned scalar instead of a vector."""

    def __init__(self, d_model):
        super().__init__()
        self.d_model = d_model
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6) * self.gain * self.d_model**0.5


@NORMS.register("scalenorm")
def scalenorm(d_model):
    return ScaleNorm(d_model)
'''


def test_plugin_component_trains_by_name(tmp_path):
    """A component registered from outside the package is usable with --plugin and no other edit."""
    (tmp_path / "my_components.py").write_text(PLUGIN)
    log_file = tmp_path / "run.jsonl"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "mainrun.train", *TINY, "--plugin", "my_components",
                           "--variant", "norm=scalenorm", "--log-file", str(log_file)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = read_jsonl(log_file)
    assert events[0]["variant"] == "norm=scalenorm,pos=learned,init=default,opt=sgd"
    assert events[-1]["status"] == "ok"
    # Without the plugin the name is unknown, and the error lists what is registered.
    proc = subprocess.run([sys.executable, "-m", "mainrun.train", *TINY, "--variant", "norm=scalenorm"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2 and "unknown norm 'scalenorm'; valid: layernorm, rmsnorm" in proc.stderr


def test_the_splits_need_evals_per_epoch_batches_and_one_evaluation_window_no_more():
    """At the limits exactly a run goes ahead; one token short, the error names both sizes."""
    import dataclasses

    from mainrun.config import TrainConfig
    from mainrun.data import CorpusInfo
    from mainrun.errors import DataError
    from mainrun.train import check_sizes

    cfg = TrainConfig.from_scale("tiny", source="embedded", block_size=4, batch_size=3, evals_per_epoch=5).resolved()
    info = CorpusInfo(source="embedded", fingerprint="f", train_titles=1, val_titles=1, vocab_size=300, val_chars=1,
                      train_tokens=5 * 12, val_tokens=13, val_bytes=1, tokenizer_roundtrip="exact")
    assert check_sizes(cfg, info) == 5
    assert check_sizes(cfg, dataclasses.replace(info, train_tokens=6 * 12 - 1, val_tokens=14)) == 5
    with pytest.raises(DataError) as short_val:
        check_sizes(cfg, dataclasses.replace(info, val_tokens=12))
    assert str(short_val.value) == ("the val split has 12 tokens, fewer than one evaluation window of "
                                    "batch_size*block_size+1 = 13")
    with pytest.raises(DataError) as short_train:
        check_sizes(cfg, dataclasses.replace(info, train_tokens=5 * 12 - 1))
    assert str(short_train.value) == ("the train split gives 4 batches of 3x4 tokens per epoch, "
                                      "fewer than --evals-per-epoch 5")
