"""Grid and seed specs: what `--grid`, `--axes` and `--seeds` expand to, and the one-line errors."""
import re
import subprocess
import sys

import pytest
from torch import nn

from ablations.study.axes import Point
from ablations.study.grid import build_grid, full_grid, parse_axes, parse_seeds, single_grid, swap_label
from ablations.run import main
from mainrun.cli import run_cli
from mainrun.components import FAMILIES, NORMS
from mainrun.config import TrainConfig
from mainrun.variant import Variant
from mainrun.errors import ConfigError


@pytest.fixture
def scalenorm(monkeypatch):
    """A third norm, registered for this test only (as a plugin would register it)."""
    monkeypatch.setitem(NORMS._factories, "scalenorm", lambda d_model: nn.Identity())
    return "scalenorm"


def test_full_grid_is_the_plans_sixteen_combinations():
    grid = full_grid()
    assert len(grid) == len(set(grid)) == 16 and Variant() in grid
    plan = {"norm": {"layernorm", "rmsnorm"}, "pos": {"learned", "rope"}, "init": {"default", "kaiming"},
            "opt": {"sgd", "adamw"}}
    for family in FAMILIES:
        assert {getattr(v, family) for v in grid} == plan.get(family, {FAMILIES[family].reference})


def test_a_registered_component_joins_the_grids(scalenorm):
    assert len(full_grid()) == 24
    assert Variant(norm=scalenorm) in single_grid()
    assert len(build_grid("modern", None).points) == 16  # a study of named levels does not grow


def test_single_grid_is_the_baseline_then_one_swap_each():
    grid = single_grid()
    assert grid[0] == Variant()
    assert [swap_label(v) for v in grid[1:]] == ["norm=rmsnorm", "pos=rope", "init=kaiming", "init=scaled",
                                                 "opt=adamw", "opt=muon", "mlp=swiglu", "mask=title",
                                                 "qknorm=rmsnorm", "param=mup"]


def test_modern_is_a_sixteen_cell_resolution_four_fraction_of_seven_axes():
    grid = build_grid("modern", None)
    assert len(grid.points) == 16 and grid.design is not None and grid.design.resolution == 4
    assert list(grid.axes) == ["norm", "pos", "mlp", "init", "opt", "mask", "qknorm"]
    assert grid.references["opt"] == "adamw"  # sgd is not in the study: its first level
    assert len(build_grid("modern", None, "full").points) == 128


def test_leave_one_out_around_a_stack():
    stack = "mlp=swiglu,init=scaled,opt=muon"
    grid = build_grid("single", None, around=stack)
    variants = [p.variant for p in grid.points]
    assert variants == [Variant.parse(stack), Variant(opt="muon", mlp="swiglu"), Variant(init="scaled", mlp="swiglu"),
                        Variant(init="scaled", opt="muon")]
    assert grid.references == {"init": "scaled", "opt": "muon", "mlp": "swiglu"}  # deltas against the stack
    with pytest.raises(ConfigError, match="--around goes with --grid single"):
        build_grid("full", None, around=stack)


def test_axes_product_keeps_unnamed_families_at_the_baseline():
    grid = build_grid(None, ["norm=layernorm,rmsnorm", "pos=rope"])
    assert grid.name == "axes"
    assert [p.variant for p in grid.points] == [Variant(pos="rope"), Variant(norm="rmsnorm", pos="rope")]
    assert all(p.settings == () for p in grid.points)


def test_grid_names():
    full = build_grid(None, None)
    assert full.name == "full" and [p.variant for p in full.points] == full_grid()
    baseline = build_grid("baseline", None)
    assert baseline.name == "baseline" and [p.variant for p in baseline.points] == [Variant()]


def test_hyperparameter_axes_are_typed_and_mix_with_families():
    base = TrainConfig.from_scale("tiny")
    grid = build_grid(None, ["opt=adamw", "lr=1e-3,1e-2", "batch-size=4,8", "dropout=0,0.1"], base=base)
    assert len(grid.points) == 8
    assert grid.axes == {"opt": ["adamw"], "lr": [1e-3, 1e-2], "batch_size": [4, 8], "dropout": [0.0, 0.1]}
    assert all(isinstance(b, int) for b in grid.axes["batch_size"]) and isinstance(grid.axes["dropout"][0], float)
    # References: the recipe's lr when listed (adamw's 3e-4 is not: the first), the preset's batch and dropout.
    assert grid.references == {"opt": "adamw", "lr": 1e-3, "batch_size": 8, "dropout": 0.1}
    point = grid.points[-1]
    cfg = point.apply(base)
    assert (cfg.variant, cfg.get("lr"), cfg.get("batch_size"), cfg.get("dropout")) == (Variant(opt="adamw"), 1e-2, 8, 0.1)
    assert str(point) == "norm=layernorm,pos=learned,init=default,opt=adamw,lr=0.01,batch-size=8,dropout=0.1"
    assert Point.parse(str(point)) == point


def test_lr_reference_follows_the_reference_recipe():
    base = TrainConfig.from_scale("tiny")
    assert build_grid(None, ["lr=1e-3,6e-3"], base=base).references["lr"] == 6e-3  # sgd's default
    # With opt on an axis, its reference level's recipe decides: adamw is listed, but sgd is the reference.
    assert build_grid(None, ["lr=1e-3,6e-3", "opt=adamw,sgd"], base=base).references["lr"] == 6e-3
    grid = build_grid(None, ["lr=1e-3,3e-4", "opt=adamw"], base=base)
    assert grid.references["lr"] == 3e-4  # adamw's default, listed second


def test_fractional_design_of_the_full_grid_is_half_of_it_and_keeps_the_baseline():
    grid = build_grid("full", None, "fractional")
    assert len(grid.points) == 8 and len(set(grid.points)) == 8
    assert Point() in grid.points
    assert grid.describe()["design"]["resolution"] == "IV"
    with pytest.raises(ConfigError, match="needs a product grid"):
        build_grid("single", None, "fractional")


def test_fractional_design_refuses_three_level_axes():
    with pytest.raises(ConfigError, match=re.escape("needs two-level axes; these have more: lr (3)")):
        build_grid(None, ["opt=sgd,adamw", "lr=1e-4,3e-4,1e-3"], "fractional")


def test_seeds():
    assert parse_seeds("3") == [1337, 1338, 1339]
    assert parse_seeds("1") == [1337]
    assert parse_seeds("1337, 42") == [1337, 42]
    assert parse_seeds("42,") == [42]


BAD_AXES = {
    "unknown family": (["act=relu"], "unknown axis 'act': not a component family"),
    "unknown name": (["norm=batchnorm"], "unknown norm 'batchnorm'; valid: layernorm, rmsnorm"),
    "empty axis": (["norm="], "axis 'norm' is empty"),
    "stray comma": (["norm=layernorm,"], "axis 'norm' has an empty value"),
    "no equals sign": (["rmsnorm"], "expected NAME=VALUE"),
    "family twice": (["norm=rmsnorm", "norm=layernorm"], "axis 'norm' is given twice"),
    "name twice": (["opt=sgd,adamw,sgd"], "axis 'opt' names sgd more than once"),
    "seed is not an axis": (["seed=1,2"], "unknown axis 'seed'"),
    "bad float": (["lr=fast"], "bad value 'fast' for lr: expected a number"),
    "bad int": (["batch-size=32.5"], "bad value '32.5' for batch-size: expected an integer"),
    "value twice": (["lr=1e-3,0.001"], "axis 'lr' names 0.001 more than once"),
    "hyperparameter twice": (["weight-decay=0.1", "weight_decay=0.2"], "axis 'weight_decay' is given twice"),
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
    "unknown family": (["--axes", "act=relu"], "unknown axis 'act'"),
    "negative lr": (["--axes", "opt=adamw", "lr=-1e-3,1e-3"], "--lr must be positive, got -0.001"),
    "dropout out of range": (["--axes", "dropout=0.1,1.5"], "--dropout must be in [0, 1), got 1.5"),
    "flag and axis": (["--lr", "1e-3", "--axes", "lr=1e-3,1e-2"], "lr is given both as --lr and as an axis"),
    "three levels in a fraction": (["--axes", "lr=1e-3,1e-2,1e-1", "--design", "fractional"],
                                   "needs two-level axes"),
    "unknown design": (["--design", "latin"], "invalid choice: 'latin'"),
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
