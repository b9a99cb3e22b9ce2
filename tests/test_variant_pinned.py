"""mainrun/variant.py pinned whole: strings, reprs, dicts, settings and every error message exactly."""
import pickle

import pytest

from mainrun.errors import ConfigError
from mainrun.variant import Variant, _restore, format_value, parse_typed

ALL = "norm, pos, init, opt, mlp, mask, qknorm, param"


def _error(fn, *args, **kwargs):
    with pytest.raises(ConfigError) as caught:
        fn(*args, **kwargs)
    return str(caught.value)


def test_format_value_and_parse_typed():
    assert [format_value(v) for v in ("abc", 0.001, 1e-05, 64, True)] == ["abc", "0.001", "1e-05", "64", "True"]
    assert parse_typed(" TRUE ", False, "x.flag") is True
    assert parse_typed("false", True, "x.flag") is False
    assert _error(parse_typed, " yes ", True, "x.flag") == "bad value 'yes' for x.flag: expected true or false"
    assert parse_typed(" 64 ", 1, "p.n") == 64 and type(parse_typed("64", 1, "p.n")) is int
    assert parse_typed("1e-5", 0.1, "norm.eps") == 1e-5
    assert parse_typed(" abc ", "s", "p.s") == "abc"
    assert _error(parse_typed, " 2.5 ", 1, "p.n") == "bad value '2.5' for p.n: expected an integer"
    assert _error(parse_typed, "x", 0.1, "norm.eps") == "bad value 'x' for norm.eps: expected a number"

    class Odd:
        def __init__(self, text=None):
            raise ValueError(text)

    assert _error(parse_typed, "q", Odd.__new__(Odd), "p.o") == "bad value 'q' for p.o: expected Odd"


def test_a_full_variant_reads_back_every_way():
    v = Variant.parse(" norm=rmsnorm, pos = rope,mask=title,norm.eps=1e-05,pos.base=500,opt=adamw,opt.warmup=0.2 ")
    assert str(v) == "norm=rmsnorm,pos=rope,init=default,opt=adamw,mask=title,norm.eps=1e-05,pos.base=500.0,opt.warmup=0.2"
    assert repr(v) == ("Variant(norm='rmsnorm', pos='rope', opt='adamw', mask='title', norm.eps=1e-05, "
                       "pos.base=500.0, opt.warmup=0.2)")
    assert v.as_dict() == {'norm': 'rmsnorm', 'pos': 'rope', 'init': 'default', 'opt': 'adamw', 'mlp': 'gelu',
                           'mask': 'title', 'qknorm': 'none', 'param': 'standard'}
    assert v.resolved_settings() == {'norm.eps': 1e-05, 'pos.base': 500.0, 'opt.warmup': 0.2,
                                     'opt.warmup_start': 0.01, 'opt.floor': 0.1}
    assert v.settings() == {'norm.eps': 1e-05, 'pos.base': 500.0, 'opt.warmup': 0.2}
    assert v.departures() == {'norm': 'rmsnorm', 'pos': 'rope', 'opt': 'adamw', 'mask': 'title'}
    assert v.settings_of("opt") == {'warmup': 0.2, 'warmup_start': 0.01, 'floor': 0.1}
    assert v.settings_of("mlp") == {}
    assert v.setting_defaults("norm") == {"eps": 1e-8}
    assert v.setting_defaults("nope") == {}
    assert (v.level("norm"), v.level("norm.eps"), v.level("opt.floor"), v.level("qknorm")) == (
        "rmsnorm", 1e-05, 0.1, "none")
    assert not v.is_baseline
    assert Variant.parse(str(v)) == v and hash(Variant.parse(str(v))) == hash(v)
    assert pickle.loads(pickle.dumps(v)) == v and str(pickle.loads(pickle.dumps(v))) == str(v)
    assert v.__reduce__() == (_restore, (v._choices, v._settings))


def test_settings_order_and_defaults_are_dropped():
    # settings are ordered by family registration order, then by name, whatever order they come in
    v = Variant(**{"opt": "adamw", "opt.warmup": 0.3, "opt.floor": 0.2, "norm.eps": 1e-3, "qknorm": "rmsnorm",
                   "qknorm.eps": 1e-4})
    assert list(v.settings()) == ["norm.eps", "opt.floor", "opt.warmup", "qknorm.eps"]
    assert Variant._setting_order(("zzz", "a", 1)) == (8, "a")
    assert Variant._setting_order(("pos", "b", 1)) == (1, "b")
    # a value equal to the member's default, and a member equal to the reference, are not stored
    same = Variant(**{"norm": "layernorm", "norm.eps": 1e-5, "opt": "sgd"})
    assert same.is_baseline and same == Variant() and str(same) == "norm=layernorm,pos=learned,init=default,opt=sgd"
    assert repr(Variant()) == "Variant()"
    assert Variant.parse("  ") == Variant.parse("baseline") == Variant()


def test_equality_and_hash():
    a, b = Variant(norm="rmsnorm"), Variant(norm="rmsnorm")
    assert a == b and hash(a) == hash(b)
    assert a != Variant(norm="rmsnorm", **{"norm.eps": 1e-3})
    assert a != Variant()
    assert a != "norm=rmsnorm"
    assert Variant(**{"norm.eps": 1e-3}) != Variant(**{"norm.eps": 1e-4})


def test_replace_keeps_members_and_settings():
    v = Variant(norm="rmsnorm", **{"norm.eps": 1e-3})
    assert v.replace(pos="rope") == Variant(norm="rmsnorm", pos="rope", **{"norm.eps": 1e-3})
    assert v.replace(**{"norm.eps": 1e-8}) == Variant(norm="rmsnorm")


def test_attribute_access():
    v = Variant(mlp="swiglu")
    assert (v.mlp, v.norm) == ("swiglu", "layernorm")
    with pytest.raises(AttributeError) as caught:
        v.colour
    assert str(caught.value) == f"no component family 'colour'; registered: {ALL}"
    with pytest.raises(AttributeError) as caught:
        v._private
    assert str(caught.value) == "_private"
    with pytest.raises(AttributeError) as caught:
        v.norm = "rmsnorm"
    assert str(caught.value) == "Variant is frozen; use variant.replace(family=name)"


def test_error_messages():
    assert _error(Variant, colour="red") == f"unknown component family 'colour'; valid: {ALL}"
    assert _error(Variant, norm="batchnorm") == "unknown norm 'batchnorm'; valid: layernorm, rmsnorm"
    assert _error(Variant, **{"colour.x": 1}) == (
        f"unknown component family 'colour' in 'colour.x'; valid: {ALL}")
    assert _error(Variant, **{"norm.width": 1}) == "norm 'layernorm' has no setting 'width'; its settings: eps"
    assert _error(Variant, **{"opt.x": 1}) == "opt 'sgd' has no setting 'x'; it has no settings"
    assert _error(Variant, **{"opt": "adamw", "opt.x": 1}) == (
        "opt 'adamw' has no setting 'x'; its settings: warmup, warmup_start, floor")
    assert _error(Variant.parse, "norm") == "bad variant part 'norm': expected family=name, e.g. norm=rmsnorm"
    assert _error(Variant.parse, "norm=") == "bad variant part 'norm=': expected family=name, e.g. norm=rmsnorm"
    assert _error(Variant.parse, "norm=rmsnorm,norm=layernorm") == "variant names 'norm' twice"
    assert _error(Variant.parse, "norm.eps=1,norm.eps=2") == "variant names 'norm.eps' twice"
    assert _error(Variant.parse, "norm.eps=big") == "bad value 'big' for norm.eps: expected a number"
    assert _error(Variant.parse, "pos.base=1") == "pos 'learned' has no setting 'base'; it has no settings"
    assert _error(Variant.parse, "foo.bar=1") == f"unknown component family 'foo' in 'foo.bar'; valid: {ALL}"
    with pytest.raises(KeyError):
        Variant().level("norm.width")


def test_build_and_build_slot_pass_the_settings_on():
    norm = Variant(norm="rmsnorm", **{"norm.eps": 1e-3}).build_slot("norm", 6)
    assert type(norm).__name__ == "RMSNorm" and norm.eps == 1e-3 and norm.normalized_shape == (6,)
    default = Variant().build("norm", 4)
    assert type(default).__name__ == "LayerNorm" and default.eps == 1e-5
    rope = Variant(pos="rope", **{"pos.base": 100.0}).build_slot("positions", 8, 16, 2)
    assert rope.cos.shape == (8, 8)
    assert float(rope.cos[1, 3]) == pytest.approx(__import__("math").cos(100.0 ** (-6 / 8)), rel=1e-6)


def test_restore_is_unchecked():
    v = _restore((("plugged", "thing"),), (("plugged", "x", 1),))
    assert v._choices == (("plugged", "thing"),) and v._settings == (("plugged", "x", 1),)
    assert v.plugged == "thing" and v.settings() == {"plugged.x": 1}
    assert _restore(()) == Variant()
