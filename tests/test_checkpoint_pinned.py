"""mainrun/checkpoint.py, pinned: what `Writer` saves at each evaluation, file by file and field by field."""
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mainrun import checkpoint
from mainrun.checkpoint import Writer


@pytest.fixture
def saved(monkeypatch):
    out = []
    monkeypatch.setattr(checkpoint, "save_atomic", lambda payload, path: out.append((path, payload)))
    monkeypatch.setattr(checkpoint, "rng_state", lambda device: ("RNG", device))
    return out


def fixtures():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    opt = SimpleNamespace(state_dict=lambda: {"opt": 1})
    scheduler = SimpleNamespace(state_dict=lambda: {"sched": 2})
    return model, opt, scheduler


def weights_of(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_writer_saves_checkpoints_when_due_and_best_with_them(saved, tmp_path):
    model, opt, scheduler = fixtures()
    writer = Writer(tmp_path, {"config": {"c": 1}, "fingerprint": "f"}, device="DEV", every=2)
    assert (writer.folder, writer.every, writer.device, writer.pending_best) == (tmp_path, 2, "DEV", None)
    first = weights_of(model)
    writer.evaluated(model, opt, scheduler, {"step": 1}, 1, 1, 3.0, True)  # not due: kept in memory, cloned
    assert saved == [] and writer.pending_best[1:] == (1, 3.0)
    with torch.no_grad():
        model.weight.add_(1.0)  # training moves on
    assert same(writer.pending_best[0], first)
    writer.evaluated(model, opt, scheduler, {"step": 5}, 2, 5, 3.5, False)  # due: best.pt, then checkpoint.pt
    [(best_path, best), (resume_path, resume)] = saved
    assert best_path == tmp_path / "best.pt" and resume_path == tmp_path / "checkpoint.pt"
    assert set(best) == {"format", "kind", "config", "fingerprint", "model", "step", "val_loss"}
    assert (best["format"], best["kind"], best["config"], best["fingerprint"], best["step"], best["val_loss"]) == (
        "mainrun-checkpoint/1", "best", {"c": 1}, "f", 1, 3.0)
    assert same(best["model"], first)
    assert set(resume) == {"format", "kind", "config", "fingerprint", "model", "optimizer", "scheduler", "state", "rng"}
    assert (resume["format"], resume["kind"], resume["optimizer"], resume["scheduler"], resume["state"],
            resume["rng"]) == ("mainrun-checkpoint/1", "resume", {"opt": 1}, {"sched": 2}, {"step": 5}, ("RNG", "DEV"))
    assert same(resume["model"], weights_of(model))
    assert writer.pending_best is None
    writer.evaluated(model, opt, scheduler, {"step": 7}, 3, 7, 2.0, True)
    writer.evaluated(model, opt, scheduler, {"step": 9}, 4, 9, 2.5, False)
    assert [(p.name, pl.get("step", pl.get("state"))) for p, pl in saved[2:]] == [
        ("best.pt", 7), ("checkpoint.pt", {"step": 9})]
    writer.flush()  # nothing new since
    assert len(saved) == 4


def test_an_improvement_at_a_due_evaluation_is_saved_at_once(saved, tmp_path):
    model, opt, scheduler = fixtures()
    writer = Writer(tmp_path, {}, every=1)
    writer.evaluated(model, opt, scheduler, {}, 1, 10, 1.5, True)
    assert [(p.name, pl["kind"]) for p, pl in saved] == [("best.pt", "best"), ("checkpoint.pt", "resume")]
    assert saved[0][1]["step"] == 10 and saved[0][1]["val_loss"] == 1.5 and saved[1][1]["rng"] == ("RNG", None)


def test_every_0_never_checkpoints_and_flush_writes_the_best(saved, tmp_path):
    model, opt, scheduler = fixtures()
    writer = Writer(tmp_path, {"x": 1}, every=0)
    for evaluation, improved in enumerate([True, False, True, False], start=1):
        writer.evaluated(model, opt, scheduler, {}, evaluation, evaluation * 10, 5.0 - evaluation, improved)
    assert saved == []
    writer.flush()
    [(path, payload)] = saved
    assert path == tmp_path / "best.pt" and payload["step"] == 30 and payload["val_loss"] == 2.0 and payload["x"] == 1


def test_the_default_is_a_checkpoint_at_every_evaluation(saved, tmp_path):
    model, opt, scheduler = fixtures()
    writer = Writer(str(tmp_path), {})
    assert writer.folder == tmp_path and writer.device is None and writer.every == 1
    writer.evaluated(model, opt, scheduler, {}, 1, 1, 1.0, False)
    writer.evaluated(model, opt, scheduler, {}, 2, 2, 1.0, False)
    assert [p.name for p, _ in saved] == ["checkpoint.pt", "checkpoint.pt"]


def test_save_atomic_writes_a_loadable_file_and_no_temporary(tmp_path):
    path = tmp_path / "a" / "best.pt"
    checkpoint.save_atomic({"format": checkpoint.FORMAT, "kind": "best", "n": torch.arange(3)}, path)
    payload = checkpoint.load(path, kind="best")
    assert payload["n"].tolist() == [0, 1, 2] and [p.name for p in path.parent.iterdir()] == ["best.pt"]


def test_config_differences_name_each_changed_setting_but_the_data_path():
    from mainrun.config import TrainConfig

    cfg = TrainConfig.from_scale("tiny")
    assert checkpoint.config_differences(cfg.flat(), cfg.with_values(source="/x.txt").flat()) == []
    assert checkpoint.config_differences(cfg.flat(), cfg.with_values(seed=3, dropout=0.25).flat()) == [
        "dropout 0.1 -> 0.25", "seed 1337 -> 3"]
    assert checkpoint.config_differences(cfg.flat(), cfg.with_values(lr=0.01, batch_size=16).flat()) == [
        "batch_size 8 -> 16", "lr 0.006 -> 0.01"]  # by name, not in the config's order


def test_model_config_dict_names_the_variant():
    from mainrun.model import GPTConfig
    from mainrun.variant import Variant

    fields = checkpoint.model_config_dict(GPTConfig(vocab_size=300, variant=Variant(norm="rmsnorm")))
    assert fields["variant"] == str(Variant(norm="rmsnorm"))
    assert fields["vocab_size"] == 300 and fields["eos_id"] == 1 and isinstance(fields["variant"], str)


def test_package_version_without_the_package(monkeypatch):
    def missing(name):
        assert name == "mainrun-ablations"
        raise checkpoint.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(checkpoint.metadata, "version", missing)
    assert checkpoint.package_version() == "unknown"
    monkeypatch.setattr(checkpoint.metadata, "version", lambda name: "1.2.3" if name == "mainrun-ablations" else "?")
    assert checkpoint.package_version() == "1.2.3"
