"""Pinned outputs of ablations/study/grid.py: what run.json stores of a grid, and every error to the letter."""

from ablations.study.axes import Point
from ablations.study.grid import build_grid, fractional_points, parse_seeds, swap_label
from mainrun.config import TrainConfig
from mainrun.variant import Variant
from tests.ablations.study.refusals import message

TINY = TrainConfig.from_scale("tiny")


def test_what_run_json_stores_of_a_fractional_grid():
    grid = build_grid("full", None, "fractional")
    assert (grid.name, grid.around, grid.hyperparameters) == ("full", None, [])
    assert grid.describe() == {
        "axes": {"norm": {"levels": ["layernorm", "rmsnorm"], "reference": "layernorm"},
                 "pos": {"levels": ["learned", "rope"], "reference": "learned"},
                 "init": {"levels": ["default", "kaiming"], "reference": "default"},
                 "opt": {"levels": ["sgd", "adamw"], "reference": "sgd"}},
        "design": {"factors": {"A": "norm", "B": "pos", "C": "init", "D": "opt"}, "runs": 8, "fraction": "2^(4-1)",
                   "resolution": "IV", "generators": ["D = ABC"], "defining_relation": "I = ABCD",
                   "aliases": ["A = BCD", "B = ACD", "C = ABD", "D = ABC", "AB = CD", "AC = BD", "AD = BC"]}}
    assert [str(p) for p in grid.points] == [
        "norm=layernorm,pos=learned,init=default,opt=sgd", "norm=rmsnorm,pos=learned,init=default,opt=adamw",
        "norm=layernorm,pos=rope,init=default,opt=adamw", "norm=rmsnorm,pos=rope,init=default,opt=sgd",
        "norm=layernorm,pos=learned,init=kaiming,opt=adamw", "norm=rmsnorm,pos=learned,init=kaiming,opt=sgd",
        "norm=layernorm,pos=rope,init=kaiming,opt=sgd", "norm=rmsnorm,pos=rope,init=kaiming,opt=adamw"]


def test_a_fraction_keeps_one_level_axes_fixed_and_too_few_axes_train_the_product():
    grid = build_grid(None, ["opt=adamw", "lr=1e-3,1e-2", "dropout=0.0,0.1", "norm=rmsnorm,layernorm"], "fractional",
                      base=TINY)
    assert grid.design is None  # three two-level axes: the full product is the smallest resolution IV design
    assert grid.describe()["design"] == {"fraction": "full"}
    assert grid.references == {"opt": "adamw", "lr": 1e-3, "dropout": 0.1, "norm": "layernorm"}
    assert grid.hyperparameters == ["lr", "dropout"]
    assert [str(p) for p in grid.points] == [
        "norm=layernorm,pos=learned,init=default,opt=adamw,lr=0.001,dropout=0.1",
        "norm=layernorm,pos=learned,init=default,opt=adamw,lr=0.01,dropout=0.1",
        "norm=layernorm,pos=learned,init=default,opt=adamw,lr=0.001,dropout=0.0",
        "norm=layernorm,pos=learned,init=default,opt=adamw,lr=0.01,dropout=0.0",
        "norm=rmsnorm,pos=learned,init=default,opt=adamw,lr=0.001,dropout=0.1",
        "norm=rmsnorm,pos=learned,init=default,opt=adamw,lr=0.01,dropout=0.1",
        "norm=rmsnorm,pos=learned,init=default,opt=adamw,lr=0.001,dropout=0.0",
        "norm=rmsnorm,pos=learned,init=default,opt=adamw,lr=0.01,dropout=0.0"]


def test_leave_one_out_around_a_stack_is_stored_with_its_centre():
    grid = build_grid("single", None, around="opt=muon")
    assert grid.describe() == {"axes": {"opt": {"levels": ["muon", "sgd"], "reference": "muon"}},
                               "design": {"fraction": "full"},
                               "around": "norm=layernorm,pos=learned,init=default,opt=muon"}
    assert (grid.name, grid.points) == ("single", [Point(Variant(opt="muon")), Point(Variant())])
    baseline = build_grid("baseline", None)
    assert (baseline.axes, baseline.references, baseline.points, baseline.around) == ({}, {}, [Point()], None)
    assert build_grid("baseline", None).describe() == {"axes": {}, "design": {"fraction": "full"}}


def test_grid_errors_to_the_letter():
    assert message(build_grid, None, None, "latin") == "unknown design 'latin'; valid: full, fractional"
    assert message(build_grid, "huge", None) == \
        "unknown grid 'huge'; valid: full, modern, single, baseline, or --axes NAME=VALUES ..."
    assert message(build_grid, "single", None, "fractional") == \
        "--design fractional needs a product grid (--grid full or --axes), not --grid single"
    assert message(build_grid, "baseline", None, "fractional") == \
        "--design fractional needs a product grid (--grid full or --axes), not --grid baseline"
    assert message(build_grid, "full", ["opt=adamw"]) == "give either --grid or --axes, not both"
    assert message(build_grid, None, ["opt=adamw"], around="opt=muon") == \
        "--around goes with --grid single (leave-one-out around a stack)"
    assert message(fractional_points, {"lr": [1, 2, 3], "opt": ["sgd", "adamw"], "pos": ["learned", "rope", "x"]},
                   {}) == "--design fractional needs two-level axes; these have more: lr (3), pos (3)"


def test_swap_labels():
    assert swap_label(Point(Variant(opt="adamw"), (("lr", 1e-3),))) == "opt=adamw, lr=0.001"
    assert swap_label(Variant(norm="rmsnorm", opt="adamw")) == "norm=rmsnorm, opt=adamw"
    assert swap_label(Point(Variant(opt="adamw")), {"opt": "adamw"}) == "reference"
    assert swap_label(Point(Variant(opt="adamw"), (("lr", 1e-3),)), {"opt": "adamw", "lr": 0.001}) == "reference"
    assert swap_label(Point(Variant(), (("lr", 1e-3),)), {"lr": 1e-2}) == "lr=0.001"
    assert swap_label(Variant()) == "baseline"
    assert swap_label(Point(Variant(), (("lr", 1e-3),)), {"lr": 1e-3}) == "reference"


def test_seeds_to_the_letter():
    assert parse_seeds(" 2 ") == [1337, 1338]
    assert parse_seeds("100") == list(range(1337, 1437))
    assert parse_seeds("0,1") == [0, 1]
    assert parse_seeds(" 5 , 3 ,") == [5, 3]
    assert message(parse_seeds, "101") == ("--seeds 101 is a count of seeds and must be in 1..100; to name seeds, "
                                           "list them with commas (1337,42, or 42, for one)")
    assert message(parse_seeds, "0").startswith("--seeds 0 is a count of seeds and must be in 1..100")
    assert message(parse_seeds, "1,-2,-3") == "--seeds must be non-negative, got -2"
    assert message(parse_seeds, "2,1,2,1,3") == "--seeds names 1, 2 more than once"
    assert message(parse_seeds, "x,") == \
        "bad --seeds 'x,': expected a count (3) or a comma list of integers (1337,42)"
