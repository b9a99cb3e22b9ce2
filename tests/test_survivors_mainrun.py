"""Mutants of mainrun that a sample of the whole suite let through (seed 3), each pinned here: the train
command's --tensorboard reaching the run, the run's cache folder reaching the data, the tokenizer trained
without a progress bar, and a dotted setting name that is one line, not a traceback."""
import pytest
import torch

from mainrun import train as train_module
from mainrun.config import RunContext, TrainConfig
from mainrun.data import tokenizer as tokenizer_module
from mainrun.errors import ConfigError
from mainrun.training import RunResult
from mainrun.variant import Variant

RESULT = RunResult(status="ok", val_loss=1.0, val_loss_full=1.0, val_bpb=1.0, val_loss_per_token=1.0, params=1,
                   tokens_per_s=1.0, wall_s=1.0)


def test_the_train_commands_run_options_reach_the_run_context(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(train_module, "train", lambda cfg, context: seen.append(context) or RESULT)
    log, checkpoints, events = tmp_path / "log", tmp_path / "ck", tmp_path / "tb"
    assert train_module.main(["--scale", "tiny", "--log-file", str(log), "--checkpoint-dir", str(checkpoints),
                              "--resume", "--tensorboard", str(events)]) == 0
    assert seen == [RunContext(log_file=str(log), checkpoint_dir=str(checkpoints), resume=True,
                               tensorboard_dir=str(events))]


class Prepared(Exception):
    pass


def test_the_runs_cache_folder_and_seed_reach_the_data(monkeypatch, tmp_path):
    asked = []

    def prepare(*args):
        asked.append(args)
        raise Prepared

    monkeypatch.setattr(train_module.data, "prepare", prepare)
    cfg = TrainConfig.from_scale("tiny", source="embedded", seed=7)
    log = type("Log", (), {"log": lambda self, event, **fields: None})()
    with pytest.raises(Prepared):
        train_module.prepare(cfg, RunContext(cache_dir=str(tmp_path)), torch.device("cpu"), log, None)
    d = cfg.data
    assert asked == [(d.source, d.num_titles, d.val_frac, 7, d.vocab_size, str(tmp_path))]


def test_the_tokenizer_trains_silently_with_the_special_tokens(monkeypatch):
    made = []
    real = tokenizer_module.trainers.BpeTrainer

    def trainer(**kwargs):
        made.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(tokenizer_module.trainers, "BpeTrainer", trainer)
    tokenizer_module.train_tokenizer(["a title", "another title"], 300)
    assert made == [{"vocab_size": 300, "special_tokens": tokenizer_module.SPECIAL_TOKENS, "show_progress": False}]


def test_a_dotted_setting_name_is_one_line_naming_the_setting_not_a_traceback():
    with pytest.raises(ConfigError) as error:
        Variant.parse("norm=rmsnorm,norm.eps.x=1")
    assert str(error.value) == "norm 'rmsnorm' has no setting 'eps.x'; its settings: eps"
    with pytest.raises(KeyError, match="eps.x"):
        Variant.parse("norm=rmsnorm").level("norm.eps.x")
