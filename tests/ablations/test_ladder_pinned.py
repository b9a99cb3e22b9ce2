"""ablations/ladder.py pinned whole: every refusal's exact line, the folder and study each rung gets,
what run_ladder trains and hands to summarise_ladder, and what main passes on, with the training and
the summarising stubbed out."""
import hashlib
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from ablations import ladder
from ablations.analysis.scaling import REFERENCE_RUN_FLOPS
from mainrun.errors import ConfigError


@pytest.mark.parametrize("specs, message", [
    (["opt=sgd,adamw"], "--rungs opt: a rung moves a setting (d_model, n_layer, ...), not a component family; put "
                        "families in the study (--axes, --grid)"),
    (["d_model=16,32", "opt=sgd,adamw"], "--rungs opt: a rung moves a setting (d_model, n_layer, ...), not a component "
                                         "family; put families in the study (--axes, --grid)"),
    (["d_model=16,32", "n_layer=1,2,3"], "--rungs: every axis needs as many values as the others (rung i takes the "
                                         "i-th of each)"),
    (["d_model=16"], "--rungs: a ladder needs at least two rungs (three to judge a trend)"),
])
def test_bad_rungs_are_refused_in_exactly_one_line(specs, message):
    with pytest.raises(ConfigError) as caught:
        ladder.parse_rungs(specs)
    assert str(caught.value) == message


def test_two_rungs_are_enough_and_every_axis_moves_with_the_others():
    assert ladder.parse_rungs(["d_model=16,32"]) == [{"d_model": 16}, {"d_model": 32}]
    assert ladder.parse_rungs(["n_layer=1,2,3", "lr=0.001,0.002,0.004"]) == [
        {"n_layer": 1, "lr": 0.001}, {"n_layer": 2, "lr": 0.002}, {"n_layer": 3, "lr": 0.004}]


def test_a_rungs_folder_names_its_index_and_every_setting_and_the_default_root_hashes_the_options():
    assert ladder.rung_folder(3, {"d_model": 64, "lr": 0.001}) == "rung3-d_model=64-lr=0.001"
    options = {"scale": "tiny", "axes": ["opt=sgd,adamw"], "data": Path("x.txt")}
    rungs = [{"d_model": 16}, {"d_model": 32}]
    text = '{"options": {"axes": ["opt=sgd,adamw"], "data": "x.txt", "scale": "tiny"}, "rungs": [{"d_model": 16}, ' \
           '{"d_model": 32}]}'  # sorted keys, the Path as its string
    assert hashlib.sha256(text.encode()).hexdigest()[:8] == "4e25726c"
    assert ladder.default_root(options, rungs) == Path("runs") / "ladder-4e25726c"
    # Keys in any order, and the same text for a Path as for its string: the same folder.
    assert ladder.default_root({"data": "x.txt", "axes": ["opt=sgd,adamw"], "scale": "tiny"}, rungs) == \
        Path("runs/ladder-4e25726c")


def test_a_study_is_read_from_its_file_with_the_other_options_over_it_else_built_from_the_options(monkeypatch):
    calls = []
    monkeypatch.setattr(ladder.Study, "from_toml", lambda path, **options: calls.append(("toml", path, options)) or 1)
    monkeypatch.setattr(ladder.Study, "from_options", lambda **options: calls.append(("options", options)) or 2)
    given = {"study": "s.toml", "scale": "tiny"}
    assert ladder.study_of(given) == 1 and given == {"study": "s.toml", "scale": "tiny"}
    assert ladder.study_of({"study": None, "scale": "tiny"}) == 2 and ladder.study_of({"seeds": "2"}) == 2
    assert calls == [("toml", "s.toml", {"scale": "tiny"}), ("options", {"scale": "tiny"}), ("options", {"seeds": "2"})]


def test_each_rung_s_study_has_its_settings_and_its_own_folder_and_a_setting_given_twice_is_refused(monkeypatch):
    made = []
    monkeypatch.setattr(ladder, "study_of", lambda options: made.append(options) or len(made))
    rungs = [{"d_model": 16, "n_layer": 1}, {"d_model": 32, "n_layer": 2}]
    assert ladder.rung_studies({"scale": "tiny", "d_model": None}, rungs, Path("lad")) == [1, 2]
    assert made == [{"scale": "tiny", "d_model": 16, "n_layer": 1, "out": "lad/rung1-d_model=16-n_layer=1"},
                    {"scale": "tiny", "d_model": 32, "n_layer": 2, "out": "lad/rung2-d_model=32-n_layer=2"}]
    for options in ({"d_model": 64}, {"scale": "tiny", "n_layer": 0}):
        with pytest.raises(ConfigError) as caught:
            ladder.rung_studies(options, rungs, Path("lad"))
        assert str(caught.value) == f"{next(iter(set(options) & {'d_model', 'n_layer'}))} is given both as a flag " \
                                    "and in --rungs; keep one"
    assert len(made) == 2  # refused before any study is made


def test_a_path_starts_at_the_study_s_own_configuration_and_drops_the_shape_settings_it_sets(monkeypatch):
    calls = []
    monkeypatch.setattr(ladder, "study_of", lambda options: calls.append(("study", options)) or NS(base="START"))
    monkeypatch.setattr(ladder, "target_config", lambda target: calls.append(("target", target)) or "END")
    monkeypatch.setattr(ladder, "path_rungs", lambda start, end, count: calls.append(("rungs", start, end, count))
                        or ["R1", "R2"])
    monkeypatch.setattr(ladder, "describe_path", lambda start, target, rungs: calls.append(("path", start, target, rungs))
                        or {"toward": target})
    options = {"out": "o", "scale": "tiny", "d_model": 32, "epochs": 2, "lr": 0.01, "batch_size": None}
    assert ladder.toward(options, "cpu", 5) == (["R1", "R2"], {"out": "o", "scale": "tiny", "lr": 0.01},
                                                {"toward": "cpu"})
    assert calls == [("study", {"scale": "tiny", "d_model": 32, "epochs": 2, "lr": 0.01, "batch_size": None}),
                     ("target", "cpu"), ("rungs", "START", "END", 5), ("path", "START", "cpu", ["R1", "R2"])]


def test_a_planned_runs_flops_are_its_flops_per_token_times_the_tokens_its_steps_will_train_on(tmp_path):
    from mainrun.config import TrainConfig

    cfg = TrainConfig.from_scale("tiny", source="embedded")
    # 8 rows of 32 tokens a step; the tokenizer and the corpus are prepared in the cache folder given.
    assert ladder.planned_flops(cfg, str(tmp_path)) == 6213058560.0
    assert (tmp_path / "corpus").is_dir()


def test_the_target_is_the_one_given_else_the_reference_run_else_the_last_rungs_planned_compute(monkeypatch):
    calls = []
    monkeypatch.setattr(ladder, "planned_flops", lambda cfg, cache_dir=None: calls.append((cfg, cache_dir)) or 7e13)
    last = NS(base=NS(with_values=lambda **values: ("cfg", values)), seeds=[42, 43],
              execution=NS(context=NS(cache_dir="/cache")))
    for given in (0.0, -1e12):
        with pytest.raises(ConfigError) as caught:
            ladder.target_flops(given, None, last)
        assert str(caught.value) == "--target-flops must be positive"
    assert ladder.target_flops(5e12, "cpu", last) == 5e12
    assert ladder.target_flops(None, None, last) == REFERENCE_RUN_FLOPS
    assert ladder.target_flops(None, "mainrun", last) == REFERENCE_RUN_FLOPS
    assert calls == []
    assert ladder.target_flops(None, "cpu", last) == 7e13
    assert calls == [(("cfg", {"seed": 42}), "/cache")]


def stub_training(monkeypatch, failed=()):
    """Studies that record their options, run_study recording what it trains (rung i fails when i is in
    `failed`), and summarise_ladder handing back what it was given."""
    trained, made = [], []

    def study_of(options):
        made.append(options)
        return NS(index=len(made), report=NS(margin=0.01, metric="val_bpb"))

    monkeypatch.setattr(ladder, "study_of", study_of)
    monkeypatch.setattr(ladder, "run_study", lambda study, command: trained.append((study.index, command))
                        or NS(failed=["cell"] if study.index in failed else []))
    monkeypatch.setattr(ladder, "summarise_ladder", lambda root, spec: ("summary", root, spec))
    return trained, made


RUNGS = [{"d_model": 16}, {"d_model": 32}, {"d_model": 64}]


def test_run_ladder_trains_the_rungs_asked_for_and_summarises_every_planned_rung(monkeypatch):
    trained, made = stub_training(monkeypatch, failed={2})
    options = {"out": "lad", "scale": "tiny", "axes": [], "seeds": None, "plot": False}
    summary, failed = ladder.run_ladder(options, RUNGS, 5e12, "python -m ablations.ladder X", [2, 3])
    assert failed is True
    assert trained == [(2, "python -m ablations.ladder X  # rung 2"), (3, "python -m ablations.ladder X  # rung 3")]
    assert made == [{"scale": "tiny", "plot": False, "d_model": 16, "out": "lad/rung1-d_model=16"},
                    {"scale": "tiny", "plot": False, "d_model": 32, "out": "lad/rung2-d_model=32"},
                    {"scale": "tiny", "plot": False, "d_model": 64, "out": "lad/rung3-d_model=64"}]
    assert summary == ("summary", Path("lad"), {
        "axes": ["d_model"],
        "rungs": [{"settings": {"d_model": 16}, "folder": "rung1-d_model=16"},
                  {"settings": {"d_model": 32}, "folder": "rung2-d_model=32"},
                  {"settings": {"d_model": 64}, "folder": "rung3-d_model=64"}],
        "target_flops": 5e12, "path": None, "margin": 0.01, "metric": "val_bpb"})
    assert options == {"out": "lad", "scale": "tiny", "axes": [], "seeds": None, "plot": False}


def test_run_ladder_trains_every_rung_by_default_into_the_default_root_toward_the_reference_run(monkeypatch):
    trained, made = stub_training(monkeypatch, failed={1})
    path = {"toward": "mainrun", "from": {}}
    summary, failed = ladder.run_ladder({"out": None, "scale": "tiny"}, RUNGS, None, "cmd", None, path)
    root = ladder.default_root({"scale": "tiny"}, RUNGS)
    assert failed is True and trained == [(1, "cmd  # rung 1"), (2, "cmd  # rung 2"), (3, "cmd  # rung 3")]
    assert summary[1] == root and made[0]["out"] == str(root / "rung1-d_model=16")
    assert (summary[2]["target_flops"], summary[2]["path"]) == (REFERENCE_RUN_FLOPS, path)
    trained.clear(), made.clear()
    assert ladder.run_ladder({"scale": "tiny"}, RUNGS, 1e12, "cmd", [3])[1] is False
    assert trained == [(3, "cmd  # rung 3")]
    targets = []
    monkeypatch.setattr(ladder, "target_flops", lambda given, scale, last: targets.append((given, scale, last.index)) or 9e12)
    made.clear()
    summary, _ = ladder.run_ladder({"scale": "tiny"}, RUNGS, None, "cmd", [1], {"toward": "cpu"})
    assert targets == [(None, "cpu", 3)] and summary[2]["target_flops"] == 9e12  # the last rung's planned compute


def stub_main(monkeypatch, failed=False, plotting=(True, "")):
    calls = []
    monkeypatch.setattr(ladder, "run_ladder", lambda *args: calls.append(("run_ladder", *args)) or ("LADDER", failed))
    monkeypatch.setattr(ladder, "plotting_available", lambda plot: calls.append(("plotting", plot)) or plotting)
    monkeypatch.setattr(ladder, "write_ladder", lambda summary, plotted: calls.append(("write", summary, plotted)))
    monkeypatch.setattr(ladder, "ladder_console", lambda summary, plotted: calls.append(("console", summary, plotted))
                        or "the console\n")
    monkeypatch.setattr(ladder, "ensure_writable", lambda *args, **kwargs: calls.append(("writable", args, kwargs)))
    monkeypatch.setattr(ladder, "toward", lambda options, target, count: calls.append(("toward", options, target, count))
                        or ([{"d_model": 8}, {"d_model": 16}], {"kept": True}, {"toward": target}))
    return calls


def test_main_passes_the_rungs_target_command_and_range_on_and_prints_the_console_as_is(monkeypatch, capsys):
    calls = stub_main(monkeypatch, failed=True)
    argv = ["--rungs", "d_model=16,32,64", "--axes", "opt=sgd,adamw", "--out", "lad", "--target-flops", "1e12",
            "--train-rungs", "2-3", "--no-plot"]
    assert ladder.main(argv) == 1
    assert [c[0] for c in calls] == ["writable", "run_ladder", "plotting", "write", "console"]
    assert calls[0] == ("writable", ("lad", "--out"), {"directory": True})
    _, options, rungs, target, command, train, path = calls[1]
    assert (rungs, target, train, path) == (RUNGS, 1e12, [2, 3], None)
    assert command == "python -m ablations.ladder " + " ".join(argv)
    assert options["out"] == "lad" and options["axes"] == ["opt=sgd,adamw"] and options["plot"] is False
    assert not {"rungs", "target_flops", "toward", "train_rungs"} & set(options) and "study" in options
    assert calls[2:] == [("plotting", False), ("write", "LADDER", True), ("console", "LADDER", True)]
    assert capsys.readouterr().out == "the console\n"


def test_main_walks_toward_a_preset_and_returns_zero_when_nothing_failed(monkeypatch, capsys):
    calls = stub_main(monkeypatch, plotting=(False, "no matplotlib"))
    assert ladder.main(["--toward", "cpu", "--rungs", "2", "--axes", "opt=sgd,adamw"]) == 0
    assert [c[0] for c in calls] == ["toward", "run_ladder", "plotting", "write", "console"]
    _, options, target, count = calls[0]
    assert (target, count, options["axes"], options["out"]) == ("cpu", 2, ["opt=sgd,adamw"], None)
    assert not {"rungs", "target_flops", "toward", "train_rungs"} & set(options) and "study" in options
    assert calls[1][1:] == ({"kept": True}, [{"d_model": 8}, {"d_model": 16}], None,
                            "python -m ablations.ladder --toward cpu --rungs 2 --axes opt=sgd,adamw", [1, 2],
                            {"toward": "cpu"})
    assert calls[2:] == [("plotting", None), ("write", "LADDER", False), ("console", "LADDER", False)]
    assert capsys.readouterr().out == "the console\n"


@pytest.mark.parametrize("rungs", [["d_model=16,32"], ["3", "4"], ["x3"]])
def test_toward_takes_one_number_of_rungs(monkeypatch, rungs):
    calls = stub_main(monkeypatch)
    with pytest.raises(ConfigError) as caught:
        ladder.main(["--toward", "cpu", *[arg for r in rungs for arg in ("--rungs", r)]])
    assert str(caught.value) == "--toward takes the number of rungs, e.g. --toward mainrun --rungs 8"
    assert calls == []
