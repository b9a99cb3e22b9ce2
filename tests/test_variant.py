"""Variants (mainrun/variant.py): how settings read from text, the order a variant names them in, and
the one-line errors for settings that do not exist."""
import pytest

from mainrun.errors import ConfigError
from mainrun.variant import Variant, parse_typed

BUILTIN_FAMILIES = "norm, pos, init, opt, mlp, mask, qknorm, param"


@pytest.mark.parametrize("text, like, value", [
    ("true", False, True), (" True ", False, True), ("TRUE", True, True),
    ("false", True, False), ("False", False, False), (" FALSE", True, False),
    ("64", 128, 64), (" -3 ", 1, -3), ("1e-5", 1e-8, 1e-5), ("2", 0.5, 2.0), (" rms ", "ln", "rms"),
])
def test_a_setting_reads_as_the_type_of_its_default(text, like, value):
    got = parse_typed(text, like, "fam.x")
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text, like, message", [
    ("yes", False, "bad value 'yes' for fam.flag: expected true or false"),
    (" 1 ", True, "bad value '1' for fam.flag: expected true or false"),
    ("1.5", 3, "bad value '1.5' for fam.flag: expected an integer"),
    ("big", 1e-5, "bad value 'big' for fam.flag: expected a number"),
])
def test_a_setting_that_does_not_read_as_its_type_is_one_line_naming_the_expected_type(text, like, message):
    with pytest.raises(ConfigError) as error:
        parse_typed(text, like, "fam.flag")
    assert str(error.value) == message


def test_settings_are_named_in_family_order_then_by_name_whatever_order_they_were_given_in():
    """Registration order (norm, pos, ..., opt, ..., param), not the alphabet: `base_width` and `base`
    come after `eps`; within a family, by setting name."""
    variant = Variant(opt="adamw", pos="rope", param="mup", **{
        "param.base_width": 64, "opt.warmup_start": 0.5, "opt.floor": 0.2, "pos.base": 500.0, "norm.eps": 1e-6})
    expected = ("norm=layernorm,pos=rope,init=default,opt=adamw,param=mup,"
                "norm.eps=1e-06,pos.base=500.0,opt.floor=0.2,opt.warmup_start=0.5,param.base_width=64")
    assert str(variant) == expected
    assert list(variant.settings()) == ["norm.eps", "pos.base", "opt.floor", "opt.warmup_start", "param.base_width"]
    assert str(Variant.parse(expected)) == expected


@pytest.mark.parametrize("make", [
    lambda: Variant.parse("act.x=1"),
    lambda: Variant(**{"act.x": 1}),
    lambda: Variant(**{"norm.eps": 1e-3, "act.x": 1}),
], ids=["parsed", "built", "built-beside-a-known-family"])
def test_a_setting_of_an_unknown_family_is_one_line_listing_the_families(make):
    with pytest.raises(ConfigError) as error:
        make()
    assert str(error.value) == f"unknown component family 'act' in 'act.x'; valid: {BUILTIN_FAMILIES}"


@pytest.mark.parametrize("spec, message", [
    ("norm.bogus=1", "norm 'layernorm' has no setting 'bogus'; its settings: eps"),
    ("opt=adamw,opt.decay=1", "opt 'adamw' has no setting 'decay'; its settings: warmup, warmup_start, floor"),
    ("pos.base=1", "pos 'learned' has no setting 'base'; it has no settings"),
])
def test_an_unknown_setting_is_one_line_naming_the_members_settings(spec, message):
    with pytest.raises(ConfigError) as error:
        Variant.parse(spec)
    assert str(error.value) == message
