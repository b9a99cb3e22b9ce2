"""The family registry (mainrun/components/__init__.py) and variants over a plugin family."""
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ablations.execution.cells import cell_key
from ablations.study.grid import full_grid, single_grid
from mainrun.components import FAMILIES, register_family
from mainrun.variant import Variant
from mainrun.errors import ConfigError
from mainrun.model import GPT, GPTConfig
from mainrun.registry import Registry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def activation_family():
    """The example plugin's `act` family, registered for this test only."""
    from examples import activation_family as plugin

    register_family(plugin.ACTIVATIONS)
    yield plugin
    FAMILIES.pop("act")


def test_builtin_variant_strings_and_cell_keys_are_unchanged():
    assert str(Variant()) == "norm=layernorm,pos=learned,init=default,opt=sgd"
    assert cell_key(Variant(opt="adamw"), 1337) == "layernorm-learned-default-adamw-seed1337"
    assert Variant.parse("norm=layernorm,pos=learned,init=default,opt=sgd") == Variant()


def test_a_plugin_family_joins_variants_grids_and_keys(activation_family):
    relu2 = Variant(act="relu2")
    assert relu2.act == "relu2" and Variant().act == "gelu"
    assert str(relu2) == "norm=layernorm,pos=learned,init=default,opt=sgd,act=relu2"
    assert str(Variant()) == "norm=layernorm,pos=learned,init=default,opt=sgd"  # not named at its reference
    assert cell_key(relu2, 7) == "layernorm-learned-default-sgd-act=relu2-seed7"
    assert Variant.parse(str(relu2)) == relu2
    assert len(full_grid()) == 32 and relu2 in single_grid()


def test_a_variant_unpickles_before_its_plugin_is_loaded(activation_family):
    """A spawned worker unpickles its cell first and imports the plugins after."""
    payload = pickle.dumps(Variant(act="relu2", opt="adamw"))
    code = ("import pickle, sys; v = pickle.loads(sys.stdin.buffer.read()); "
            "import examples.activation_family; print(v, v.act)")
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout.decode().split() == ["norm=layernorm,pos=learned,init=default,opt=adamw,act=relu2", "relu2"]


def build(variant):
    torch.manual_seed(1337)
    return GPT(GPTConfig(vocab_size=300, block_size=16, n_layer=2, n_head=2, d_model=32, variant=variant))


def test_a_build_family_changes_the_model_and_its_reference_changes_nothing(activation_family):
    reference, relu2 = build(Variant()), build(Variant(act="relu2"))
    for (name, a), (_, b) in zip(reference.state_dict().items(), relu2.state_dict().items()):
        assert torch.equal(a, b), f"{name}: an activation swap must not move the seeded weights"
    assert isinstance(relu2.blocks[0].mlp.net[1], activation_family.ReLUSquared)
    x = torch.randint(300, (2, 16), generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(reference.eval()(x), relu2.eval()(x))
    FAMILIES.pop("act")
    try:
        assert all(torch.equal(a, b) for a, b in zip(reference.state_dict().values(), build(Variant()).state_dict().values()))
    finally:
        register_family(activation_family.ACTIVATIONS)


def registry(key="extra", reference="a", slot="build"):
    r = Registry(key, reference=reference, slot=slot)
    r.register("a")(lambda model: None)
    return r


@pytest.mark.parametrize("make, message", [
    (lambda: registry("norm"), "component family 'norm' is already registered"),
    (lambda: registry("lr"), "'lr' is taken by a hyperparameter"),
    (lambda: registry("weight_decay"), "'weight_decay' is taken by a hyperparameter"),
    (lambda: registry("seed"), "'seed' is taken"),
    (lambda: registry(slot="optimizer"), "slot 'optimizer' is held by family 'opt'"),
    (lambda: registry(slot="loss"), "unknown slot 'loss'"),
    (lambda: registry(reference="b"), "its reference member 'b' is not registered"),
    (lambda: registry("Bad-Key"), "bad component family key 'Bad-Key'"),
])
def test_bad_families_are_refused_by_name(make, message):
    before = dict(FAMILIES)
    with pytest.raises(ConfigError, match=message):
        register_family(make())
    assert FAMILIES == before
