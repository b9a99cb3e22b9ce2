"""mainrun/config.py: every setting's type, flag, section and check, as flags, study files and records
read them, and the flat form records and checkpoints store."""
import pytest

from mainrun.config import (ATTENTIONS, CONTEXT_SETTINGS, LR_SCALINGS, PRECISIONS, SETTINGS, RunContext, TrainConfig,
                            setting_named)
from mainrun.errors import ConfigError
from mainrun.variant import Variant


@pytest.mark.parametrize("name, bad, what, valid", [("attention", "flash", "attention", ATTENTIONS),
                                                    ("lr_scaling", "cubic", "lr scaling", LR_SCALINGS),
                                                    ("precision", "fp8", "precision", PRECISIONS)])
def test_a_choice_outside_its_list_is_one_line_naming_the_valid_ones(name, bad, what, valid):
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_scale("tiny", **{name: bad})
    assert str(caught.value) == f"unknown {what} '{bad}'; valid: {', '.join(valid)}"
    for good in valid:
        assert TrainConfig.from_scale("tiny", **{name: good}).get(name) == good


def test_each_setting_knows_its_type_section_flag_and_whether_a_grid_may_sweep_it():
    lr, batch, source, seed = SETTINGS["lr"], SETTINGS["batch_size"], SETTINGS["source"], SETTINGS["seed"]
    assert (lr.section, lr.type, lr.flag, lr.default, lr.axis, lr.command_line) == ("optim", float, "lr", None, True, True)
    assert (batch.section, batch.type, batch.flag, batch.default) == ("training", int, "batch-size", 64)
    assert (source.section, source.type, source.flag) == ("data", str, "data")
    assert seed.axis is False and SETTINGS["attention"].axis is False and SETTINGS["d_model"].axis is True
    assert SETTINGS["weight_decay"].help.startswith("weight decay") and lr.check is not None
    assert lr.parse(" 1e-3 ") == 0.001 and isinstance(lr.parse("1"), float) and batch.parse("32") == 32
    with pytest.raises(ConfigError, match="bad value '3.5' for batch-size: expected an integer"):
        batch.parse("3.5")
    with pytest.raises(ConfigError, match="bad value 'x' for lr: expected a number"):
        lr.parse("x")
    assert setting_named("weight-decay") is setting_named(" weight_decay") is SETTINGS["weight_decay"]
    context = CONTEXT_SETTINGS
    assert context["resume"].type is bool and context["resume"].command_line is False
    assert context["checkpoint_every"].flag == "checkpoint-every" and context["threads"].section == "context"


def test_the_checks_fire_with_their_flag_and_value():
    with pytest.raises(ConfigError, match=r"^--batch-size must be positive, got 0$"):
        TrainConfig.from_scale("tiny", batch_size=0)
    with pytest.raises(ConfigError, match=r"^--dropout must be in \[0, 1\), got 1.0$"):
        TrainConfig.from_scale("tiny", dropout=1.0)
    with pytest.raises(ConfigError, match=r"^--checkpoint-every must be >= 0 \(0: no resume checkpoints\), got -1$"):
        RunContext(checkpoint_every=-1).validate()
    RunContext(checkpoint_every=0).validate()


def test_the_flat_form_reads_back_to_the_same_config():
    cfg = TrainConfig.from_scale("tiny", variant=Variant.parse("norm=rmsnorm,pos=rope"), lr=2e-3,
                                 source="file:titles.txt", batch_size=8)
    flat = cfg.flat()
    assert flat["data"] == "file:titles.txt" and "source" not in flat and flat["variant"] == str(cfg.variant)
    assert TrainConfig.from_flat(flat) == cfg
    older = {**flat, "device": "cpu", "threads": 2}  # an older checkpoint kept its run context here
    assert TrainConfig.from_flat(older) == cfg
    bare = TrainConfig.from_flat({"lr": 1e-3})
    assert bare.scale == "mainrun" and bare.variant == Variant.parse("baseline") and bare.optim.lr == 1e-3
