"""Pinned outputs of ablations/study/axes.py: every error message to the letter, every field of a point."""
import pytest

from ablations.study.axes import (Point, axis_label, axis_name, check_no_flag_conflict, is_member_setting,
                                  level_text, member_setting_default, parse_axes, parse_values, reference_levels,
                                  same_level, usual_level)
from mainrun.config import TrainConfig
from mainrun.variant import Variant
from tests.ablations.study.refusals import message

TINY = TrainConfig.from_scale("tiny")


def test_axis_names_and_labels():
    assert [is_member_setting(a) for a in ("norm.eps", "opt.warmup", "lr", "norm", "speed.x", "weight_decay")] == \
        [True, True, False, False, False, False]
    assert [axis_label(a) for a in ("norm", "norm.eps", "weight_decay", "batch_size", "lr")] == \
        ["norm", "norm.eps", "weight-decay", "batch-size", "lr"]
    assert [axis_name(n) for n in (" norm ", "norm.eps", "weight-decay", "weight_decay", "batch-size", "lr")] == \
        ["norm", "norm.eps", "weight_decay", "weight_decay", "batch_size", "lr"]
    assert message(axis_name, "act") == (
        "unknown axis 'act': not a component family (norm, pos, init, opt, mlp, mask, qknorm, param), a member "
        "setting (e.g. norm.eps, opt.warmup) nor a training setting (e.g. lr, weight-decay, dropout, batch-size)")
    assert message(axis_name, "seed").startswith("unknown axis 'seed': ")  # a setting, but no axis
    assert message(axis_name, "norm.epsilon") == \
        "no norm member has a setting 'epsilon' (settings: layernorm: eps; rmsnorm: eps)"


def test_member_setting_defaults_and_values():
    assert member_setting_default("norm", "eps") == 1e-5
    assert parse_values("norm", ["layernorm", "rmsnorm"]) == ["layernorm", "rmsnorm"]
    assert parse_values("batch_size", ["4", "8"]) == [4, 8]
    assert message(parse_values, "norm", ["layernorm", "batchnorm"]) == \
        "unknown norm 'batchnorm'; valid: layernorm, rmsnorm"


def test_same_level_and_level_text():
    assert same_level(1e-3, 0.001) and same_level(3, 3.0) and same_level("adamw", "adamw")
    assert not same_level(1e-3, 1.0001e-3) and not same_level("adamw", "sgd") and not same_level("1", 1)
    assert not same_level(0.0, 1e-300)  # no absolute tolerance
    assert [level_text(v) for v in (1e-3, 8, "rope")] == ["0.001", "8", "rope"]


def test_a_point_reports_its_axes_levels_and_text():
    point = Point(Variant(opt="adamw"), (("lr", 1e-3), ("batch_size", 8)))
    assert point.axes() == ["norm", "pos", "init", "opt", "mlp", "mask", "qknorm", "param", "lr", "batch_size"]
    assert (point.level("opt"), point.level("lr"), point.level("batch_size")) == ("adamw", 1e-3, 8)
    with pytest.raises(KeyError) as caught:
        Point().level("lr")
    assert caught.value.args == ("point norm=layernorm,pos=learned,init=default,opt=sgd has no axis 'lr'",)
    assert str(point) == "norm=layernorm,pos=learned,init=default,opt=adamw,lr=0.001,batch-size=8"
    assert Point.parse(str(point)) == point
    assert Point.parse("norm=rmsnorm,opt=adamw") == Point(Variant(norm="rmsnorm", opt="adamw"))
    cfg = point.apply(TINY)
    assert (cfg.variant, cfg.get("lr"), cfg.get("batch_size")) == (Variant(opt="adamw"), 1e-3, 8)
    assert [Point().is_baseline, Point(Variant(opt="adamw")).is_baseline, Point(Variant(), (("lr", 1e-3),)).is_baseline] \
        == [True, False, False]


def test_point_at_puts_variant_levels_in_the_variant_and_the_rest_in_order():
    at = Point.at({"lr": 1e-3, "opt": "adamw", "dropout": 0.1}, Variant(norm="rmsnorm"))
    assert at == Point(Variant(norm="rmsnorm", opt="adamw"), (("lr", 1e-3), ("dropout", 0.1)))
    assert Point.at({"norm": "rmsnorm"}) == Point(Variant(norm="rmsnorm"))


def test_parse_axes_errors_to_the_letter():
    assert message(parse_axes, ["rmsnorm"]) == \
        "bad axis 'rmsnorm': expected NAME=VALUE[,VALUE...], e.g. norm=layernorm,rmsnorm or lr=1e-4,3e-4"
    assert message(parse_axes, ["norm="]) == "axis 'norm' is empty; valid: layernorm, rmsnorm"
    assert message(parse_axes, ["lr="]) == "axis 'lr' is empty"
    assert message(parse_axes, ["norm=layernorm,"]) == \
        "axis 'norm' has an empty value (a stray comma?); valid: layernorm, rmsnorm"
    assert message(parse_axes, ["lr=,1e-3"]) == "axis 'lr' has an empty value (a stray comma?)"
    assert message(parse_axes, ["lr=1e-2,1e-3,0.001,0.01"]) == "axis 'lr' names 0.001, 0.01 more than once"
    assert message(parse_axes, ["lr=1e-3", "lr=1e-2"]) == "axis 'lr' is given twice"
    assert parse_axes([" norm = layernorm , rmsnorm ", "lr=1e-3"]) == {"norm": ["layernorm", "rmsnorm"], "lr": [1e-3]}


def test_reference_levels_and_usual_levels():
    assert usual_level("opt", {}, TINY) == "sgd"
    assert usual_level("norm.eps", {"norm": "rmsnorm"}, TINY) == 1e-8
    assert usual_level("norm.eps", {}, TINY) == 1e-5
    assert usual_level("lr", {"opt": "adamw"}, TINY) == 3e-4
    axes = {"lr": [1e-3, 3e-4], "norm.eps": [1e-5, 1e-8], "opt": ["adamw", "muon"], "norm": ["rmsnorm"],
            "dropout": [0.3, 0.2]}
    # Families first: sgd, the usual opt, is not listed, so adamw (the first) is the reference and the lr's is
    # adamw's 3e-4; rmsnorm, the only norm listed, makes its 1e-8 the eps's; an unlisted usual level: the first.
    assert reference_levels(axes, TINY) == {"lr": 3e-4, "norm.eps": 1e-8, "opt": "adamw", "norm": "rmsnorm",
                                            "dropout": 0.3}
    assert list(reference_levels(axes, TINY)) == ["lr", "norm.eps", "opt", "norm", "dropout"]


def test_a_flag_given_as_an_axis_too_is_one_exact_line():
    assert message(check_no_flag_conflict, {"lr": [1e-3]}, {"lr": 1e-3}) == \
        "lr is given both as --lr and as an axis; drop one"
    assert message(check_no_flag_conflict, ["dropout", "weight_decay"], {"weight_decay": 0.1}, role="a stage") == \
        "weight-decay is given both as --weight-decay and as a stage; drop one"
    check_no_flag_conflict(["lr"], {"dropout": 0.1})


def test_a_points_member_settings_are_axes_too():
    point = Point(Variant.parse("norm=rmsnorm,norm.eps=1e-5"), (("lr", 1e-3),))
    assert point.axes() == ["norm", "pos", "init", "opt", "mlp", "mask", "qknorm", "param", "norm.eps", "lr"]
    assert (point.level("norm.eps"), str(point)) == \
        (1e-5, "norm=rmsnorm,pos=learned,init=default,opt=sgd,norm.eps=1e-05,lr=0.001")


def test_a_family_whose_members_take_no_setting_says_none():
    assert message(axis_name, "init.gain") == "no init member has a setting 'gain' (settings: none)"
    assert message(axis_name, "pos.theta") == "no pos member has a setting 'theta' (settings: rope: base)"
