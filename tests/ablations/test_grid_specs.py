"""Grid and seed specs: what `--grid`, `--axes` and `--seeds` expand to, and the one-line errors."""
import re
import subprocess
import sys

import pytest
from torch import nn

from ablations.grid import build_grid, full_grid, parse_axes, parse_seeds, single_grid, swap_label
from ablations.run import main
from mainrun.cli import run_cli
from mainrun.components import FAMILIES, NORMS
from mainrun.config import Variant
from mainrun.errors import ConfigError


@pytest.fixture
def scalenorm(monkeypatch):
    """A third norm, registered for this test only (as a plugin would register it)."""
    monkeypatch.setitem(NORMS._factories, "scalenorm", lambda d_model: nn.Identity())
    return "scalenorm"


def test_full_grid_is_every_combination_of_registered_names():
    grid = full_grid()
    expected = 1
    for registry in FAMILIES.values():
        expected *= len(registry.names())
    assert len(grid) == len(set(grid)) == expected == 16
    assert Variant() in grid
    for family, registry in FAMILIES.items():
        assert {getattr(v, family) for v in grid} == set(registry.names())


def test_a_registered_component_joins_the_grids(scalenorm):
    assert len(full_grid()) == 24
    assert Variant(norm=scalenorm) in single_grid()


def test_single_grid_is_the_baseline_then_one_swap_each():
    grid = single_grid()
    assert grid[0] == Variant()
    assert [swap_label(v) for v in grid[1:]] == ["norm=rmsnorm", "pos=rope", "init=kaiming", "opt=adamw"]


def test_axes_product_keeps_unnamed_families_at_the_baseline():
    name, grid = build_grid(None, ["norm=layernorm,rmsnorm", "pos=rope"])
    assert name == "axes"
    assert grid == [Variant(pos="rope"), Variant(norm="rmsnorm", pos="rope")]


def test_grid_names():
    assert build_grid(None, None) == ("full", full_grid())
    assert build_grid("baseline", None) == ("baseline", [Variant()])


def test_seeds():
    assert parse_seeds("3") == [1337, 1338, 1339]
    assert parse_seeds("1") == [1337]
    assert parse_seeds("1337, 42") == [1337, 42]
    assert parse_seeds("42,") == [42]


BAD_AXES = {
    "unknown family": (["act=relu"], "unknown component family 'act'"),
    "unknown name": (["norm=batchnorm"], "unknown norm 'batchnorm'; valid: layernorm, rmsnorm"),
    "empty axis": (["norm="], "axis 'norm' is empty"),
    "stray comma": (["norm=layernorm,"], "axis 'norm' has an empty name"),
    "no equals sign": (["rmsnorm"], "expected family=name"),
    "family twice": (["norm=rmsnorm", "norm=layernorm"], "axis 'norm' is given twice"),
    "name twice": (["opt=sgd,adamw,sgd"], "axis 'opt' names sgd more than once"),
}


@pytest.mark.parametrize("case", list(BAD_AXES))
def test_bad_axes(case):
    axes, message = BAD_AXES[case]
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_axes(axes)


BAD_SEEDS = {
    "not a number": ("three", "expected a count (3) or a comma list"),
    "zero count": ("0", "--seeds 0 is a count of seeds"),
    "a seed given as a count": ("1337", "--seeds 1337 is a count of seeds and must be in 1..100"),
    "empty item": ("1337,,42", "bad --seeds"),
    "only a comma": (",", "bad --seeds"),
    "negative seed": ("1337,-1", "must be non-negative"),
    "duplicate seed": ("1337,42,1337", "names 1337 more than once"),
}


@pytest.mark.parametrize("case", list(BAD_SEEDS))
def test_bad_seeds(case):
    spec, message = BAD_SEEDS[case]
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_seeds(spec)


BAD_COMMAND_LINES = {
    "unknown family": (["--axes", "act=relu"], "unknown component family 'act'"),
    "unknown name": (["--axes", "pos=alibi"], "unknown pos 'alibi'"),
    "empty axis": (["--axes", "opt="], "axis 'opt' is empty"),
    "bad seeds": (["--seeds", "x"], "bad --seeds 'x'"),
    "unknown grid": (["--grid", "huge"], "unknown grid 'huge'"),
    "grid and axes": (["--grid", "full", "--axes", "opt=adamw"], "either --grid or --axes"),
    "no workers": (["--workers", "0"], "--workers must be positive"),
    "unknown backend": (["--backend", "ray"], "invalid choice: 'ray'"),
    "impossible model": (["--axes", "pos=rope", "--d-model", "30", "--n-head", "2"],
                         "rope needs an even head dimension"),
}


@pytest.mark.parametrize("case", list(BAD_COMMAND_LINES))
def test_bad_command_line_is_one_line_and_exit_2(case, capsys, tmp_path):
    argv, message = BAD_COMMAND_LINES[case]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, [*argv, "--scale", "tiny", "--data", "embedded", "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert captured.err.count("\n") == 1 and message in captured.err
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


def test_bad_spec_in_a_real_process_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ablations.run", "--axes", "norm=batchnorm", "--scale", "tiny",
                             "--data", "embedded", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "error: unknown norm 'batchnorm'; valid: layernorm, rmsnorm\n"
