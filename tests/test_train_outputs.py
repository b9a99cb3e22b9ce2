"""What a run writes besides its log (mainrun/train.py `sinks`): checkpoints that carry the run's
tokenizer, and TensorBoard events in the folder it was given."""
import io

import pytest

from mainrun import checkpoint, data
from mainrun.config import RunContext, TrainConfig
from mainrun.train import train

CFG = TrainConfig.from_scale("tiny", source="embedded", max_steps=2)


def test_best_pt_keeps_the_tokenizer_file_exactly_on_a_machine_whose_locale_is_not_utf8(tmp_path, monkeypatch):
    """The tokenizer JSON holds non-ASCII tokens (ByteLevel's 'Ġ'); read in the locale's encoding, a
    Latin-1 machine would store mojibake, and sampling from best.pt would decode garbage."""
    real = io.text_encoding
    monkeypatch.setattr(io, "text_encoding", lambda encoding, *a: real(encoding) if encoding else "latin-1")
    train(CFG, RunContext(checkpoint_dir=str(tmp_path / "ckpt"), threads=1), progress=False)
    d = CFG.data
    corpus = data.prepare(d.source, d.num_titles, d.val_frac, CFG.training.seed, d.vocab_size)
    expected = corpus.tokenizer_path.read_bytes().decode("utf-8")
    assert any(ord(c) > 127 for c in expected)
    for name in (checkpoint.BEST, checkpoint.CHECKPOINT):
        assert checkpoint.load(tmp_path / "ckpt" / name)["tokenizer"] == expected, name


def test_tensorboard_events_go_to_the_folder_given_and_nowhere_else(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.chdir(tmp_path)  # where TensorBoard's default runs/ folder would appear
    result = train(CFG, RunContext(tensorboard_dir=str(tmp_path / "tb"), threads=1), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tb"]
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]} == {
        "train/loss": [1, 2], "train/lr": [1, 2], "val/loss": [1, 2], "val/loss_full": [2], "val/bpb": [2],
        "speed/tokens_per_s": [2]}
    assert events.Scalars("val/loss")[-1].value == pytest.approx(result.val_loss, rel=1e-6)
