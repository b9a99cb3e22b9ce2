"""mainrun/train.py, pinned without training: the size checks, the process setup, the sinks, main's line."""
import random
from types import SimpleNamespace

import pytest
import torch

from mainrun import train as train_module
from mainrun.callbacks import CheckpointSink, LogSink, OnValidation, ProgressSink, TensorBoardSink
from mainrun.config import RunContext, TrainConfig
from mainrun.errors import ConfigError, DataError
from mainrun.training import RunResult


def tiny(**settings):
    return TrainConfig.from_scale("tiny", source="embedded", **settings).resolved()


def info(train_tokens=10_000, val_tokens=1_000):
    return SimpleNamespace(train_tokens=train_tokens, val_tokens=val_tokens)


def test_check_sizes_returns_batches_per_epoch_and_names_each_shortfall():
    cfg = tiny(evals_per_epoch=3)  # batch 8 x block 32 = 256 tokens a batch
    assert train_module.check_sizes(cfg, info(10_000, 257)) == 39
    assert train_module.check_sizes(cfg, info(768, 257)) == 3
    with pytest.raises(DataError) as error:
        train_module.check_sizes(cfg, info(767, 10_000))
    assert str(error.value) == ("the train split gives 2 batches of 8x32 tokens per epoch, fewer than "
                                "--evals-per-epoch 3")
    with pytest.raises(DataError) as error:
        train_module.check_sizes(cfg, info(10_000, 256))
    assert str(error.value) == ("the val split has 256 tokens, fewer than one evaluation window of "
                                "batch_size*block_size+1 = 257")


def test_prepare_process_seeds_both_generators_and_keeps_cpu_memory_mapped(monkeypatch):
    tuned, threads = [], []
    monkeypatch.setattr(train_module, "keep_freed_memory_mapped", lambda: tuned.append(1))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads.append(n))
    device = train_module.prepare_process(tiny(seed=5), RunContext(device="cpu", threads=3))
    assert device == torch.device("cpu") and tuned == [1] and threads == [3]
    a, b = torch.rand(3), random.random()
    train_module.prepare_process(tiny(seed=5), RunContext(device="cpu"))
    assert torch.equal(torch.rand(3), a) and random.random() == b and threads == [3]
    torch.manual_seed(5)
    assert torch.equal(torch.rand(3), a)
    random.seed(5)
    assert random.random() == b


def test_prepare_process_on_cuda_leaves_the_allocator_and_resets_peak_memory(monkeypatch):
    tuned, reset = [], []
    monkeypatch.setattr(train_module, "keep_freed_memory_mapped", lambda: tuned.append(1))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device: reset.append(device))
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: None, raising=False)
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        assert train_module.prepare_process(tiny(), RunContext(device="cuda:0")) == torch.device("cuda", 0)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
    assert tuned == [] and reset == [torch.device("cuda", 0)]


class Utf8Only:
    """A path whose text may only be read as UTF-8."""

    def __init__(self, path):
        self.path = path

    def read_text(self, encoding=None):
        assert encoding == "utf-8"
        return self.path.read_text(encoding=encoding)


def fake_run(tmp_path, step=0):
    (tmp_path / "tok.json").write_text("TOKENIZER", encoding="utf-8")
    from mainrun.model import GPTConfig

    return SimpleNamespace(cfg=tiny(), max_steps=10, state=SimpleNamespace(step=step), device=torch.device("cpu"),
                           model=SimpleNamespace(cfg=GPTConfig(vocab_size=300)),
                           corpus=SimpleNamespace(tokenizer_path=Utf8Only(tmp_path / "tok.json"),
                                                  info=SimpleNamespace(fingerprint="fp")))


def test_sinks_are_the_log_then_what_the_context_asks_for_then_the_bar(tmp_path, monkeypatch):
    run, log = fake_run(tmp_path), object()
    plain = train_module.sinks(run, RunContext(), log, False, None, None)
    assert [type(s) for s in plain] == [LogSink, ProgressSink]
    assert plain[0].log is log and plain[0].run is run and plain[1].enabled is False and plain[1].bar.disable
    monkeypatch.setattr(train_module, "TensorBoardSink", lambda folder, step: ("TB", folder, step))
    monkeypatch.setattr(train_module.checkpoint, "code_version", lambda: {"package": "p", "source": "s"})
    callback = lambda step, loss: None  # noqa: E731
    context = RunContext(checkpoint_dir=str(tmp_path / "ck"), checkpoint_every=3, tensorboard_dir="tb")
    monkeypatch.setattr(train_module, "ProgressSink", lambda run, position, enabled: ("BAR", run, position, enabled))
    run4 = fake_run(tmp_path, step=4)
    full = train_module.sinks(run4, context, log, True, 2, callback)
    assert [type(s) for s in full] == [LogSink, CheckpointSink, tuple, OnValidation, tuple]
    writer = full[1].writer
    assert (writer.folder, writer.device, writer.every) == (tmp_path / "ck", torch.device("cpu"), 3)
    assert writer.common == {"config": run.cfg.flat(), "model_config": full[1].run.model.cfg.__dict__ | {
        "variant": str(full[1].run.model.cfg.variant)}, "tokenizer": "TOKENIZER",
        "code": {"package": "p", "source": "s"}, "fingerprint": "fp"}
    assert full[2] == ("TB", "tb", 4) and full[3].function is callback
    assert full[4] == ("BAR", run4, 2, True) and full[1].run is run4 and full[0].log is log


def test_main_prints_one_line_of_the_result_and_exits_by_its_status(monkeypatch, capsys, tmp_path):
    seen = []
    result = RunResult(status="ok", val_loss=1.23456789, val_loss_full=1.5, val_bpb=0.98765, val_loss_per_token=2.34567,
                       params=1234567, tokens_per_s=12345.6, wall_s=61.25)
    monkeypatch.setattr(train_module, "train", lambda cfg, context: seen.append((cfg, context)) or result)
    log = tmp_path / "log.jsonl"
    assert train_module.main(["--scale", "tiny", "--data", "embedded", "--variant", "opt=adamw", "--lr", "0.5",
                              "--log-file", str(log)]) == 0
    [(cfg, context)] = seen
    assert cfg == TrainConfig.from_scale("tiny", variant=train_module.Variant.parse("opt=adamw"), source="embedded",
                                         lr=0.5)
    assert context == RunContext(log_file=str(log))
    variant = cfg.variant
    assert capsys.readouterr().out == (
        f"{variant}  status=ok  val_loss=1.234568  val_loss_full=1.500000  bpb=0.9877  per_token=2.3457  "
        f"params=1,234,567  12,346 tok/s  61.2s  log={log}\n")
    result.status = "diverged"
    assert train_module.main(["--log-file", str(log)]) == 1
    cfg, context = seen[-1]
    assert cfg == TrainConfig.from_scale("mainrun", variant=train_module.Variant.parse("baseline"))


def test_main_checks_the_outputs_before_training(monkeypatch, tmp_path):
    monkeypatch.setattr(train_module, "train", lambda cfg, context: pytest.fail("trained"))
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"^--log-file .* is a folder, not a file$"):
        train_module.main(["--log-file", str(tmp_path)])
    with pytest.raises(ConfigError, match=r"^--checkpoint-dir .*file is a file, not a folder$"):
        train_module.main(["--log-file", str(tmp_path / "log"), "--checkpoint-dir", str(tmp_path / "file")])


def test_resume_without_a_checkpoint_dir_is_refused():
    with pytest.raises(ConfigError) as error:
        train_module.train(tiny(), RunContext(resume=True))
    assert str(error.value) == "--resume needs --checkpoint-dir, the folder of the checkpoint to continue"


def test_the_default_log_is_logs_mainrun_log(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    seen = []
    monkeypatch.setattr(train_module, "train", lambda cfg, context: seen.append(context) or RunResult(
        status="ok", val_loss=1.0, val_loss_full=1.0, val_bpb=1.0, val_loss_per_token=1.0, params=1,
        tokens_per_s=1.0, wall_s=1.0))
    train_module.main([])
    assert seen[0].log_file == "logs/mainrun.log"
