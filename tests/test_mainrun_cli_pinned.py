"""mainrun/cli.py, pinned: exit statuses, the one line each error prints, the flags each setting gets."""
import argparse
import os
import sys

import pytest

from mainrun import cli
from mainrun.cli import (OneLineArgumentParser, add_setting, add_train_arguments, context_overrides, ensure_writable,
                         load_plugins, run_cli, train_overrides)
from mainrun.config import CONTEXT_SETTINGS, SETTINGS
from mainrun.errors import ConfigError, DataError


def test_argparse_errors_are_one_line_and_exit_2(capsys):
    parser = OneLineArgumentParser(prog="prog")
    parser.add_argument("--seeds", type=int)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--seed", "4"])  # no abbreviations
    assert info.value.code == 2
    assert capsys.readouterr() == ("", "prog: error: unrecognized arguments: --seed 4\n")
    assert parser.allow_abbrev is False
    assert OneLineArgumentParser(prog="p", allow_abbrev=True).allow_abbrev is True


def exit_of(main, argv=None):
    with pytest.raises(SystemExit) as info:
        run_cli(main, argv)
    return info.value.code


@pytest.mark.parametrize("returned, code", [(None, 0), (0, 0), (1, 1), (3, 3)])
def test_run_cli_exits_with_mains_status_and_hands_it_argv(returned, code, capsys):
    seen = []
    assert exit_of(lambda argv: (seen.append(argv), returned)[1], ["--x"]) == code
    assert seen == [["--x"]] and capsys.readouterr() == ("", "")


def test_a_user_error_is_one_line_and_exit_2(capsys):
    def main(argv):
        raise DataError("the data is bad")

    assert exit_of(main) == 2
    assert capsys.readouterr() == ("", "error: the data is bad\n")


def test_an_interrupt_exits_130_and_says_so_once(capsys):
    def main(argv):
        raise KeyboardInterrupt

    assert exit_of(main) == 130
    assert capsys.readouterr() == ("", "interrupted\n")

    def announced(argv):
        exc = KeyboardInterrupt()
        exc.announced = True
        raise exc

    assert exit_of(announced) == 130
    assert capsys.readouterr() == ("", "")


def test_a_bug_is_not_turned_into_a_user_error():
    def main(argv):
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="^bug$"):
        run_cli(main)


def parser_with(**kwargs):
    parser = OneLineArgumentParser(prog="p")
    add_train_arguments(parser, **kwargs)
    return parser


def test_every_setting_defaults_to_not_given():
    args = vars(parser_with().parse_args([]))
    flags = {name for name, s in SETTINGS.items()} | {name for name, s in CONTEXT_SETTINGS.items() if s.command_line}
    assert args == {"scale": None, "plugin": [], **{name: None for name in flags}}
    assert "log_file" not in args and "resume" not in args
    assert "seed" not in vars(parser_with(seed=False).parse_args([]))
    assert set(vars(parser_with(seed=False).parse_args([]))) == set(args) - {"seed"}


def test_each_flag_parses_to_its_settings_type():
    args = parser_with().parse_args(["--scale", "tiny", "--plugin", "a", "--plugin", "b", "--lr", "0.5",
                                     "--batch-size", "4", "--data", "x.txt", "--device", "cpu", "--threads", "2",
                                     "--seed", "7"])
    assert args.scale == "tiny" and args.plugin == ["a", "b"]
    assert (args.lr, args.batch_size, args.source, args.device, args.threads, args.seed) == (0.5, 4, "x.txt", "cpu", 2, 7)
    assert train_overrides(args) == {"lr": 0.5, "batch_size": 4, "source": "x.txt", "seed": 7}
    assert context_overrides(args) == {"device": "cpu", "threads": 2}


def test_the_help_groups_and_metavars(capsys):
    parser = parser_with()
    groups = {g.title: [a.dest for a in g._group_actions] for g in parser._action_groups}
    assert groups["where it runs"] == [n for n, s in CONTEXT_SETTINGS.items() if s.command_line]
    assert groups["training settings (override the scale preset)"] == list(SETTINGS)
    actions = {a.dest: a for a in parser._actions}
    assert actions["lr"].metavar == "FLOAT" and actions["batch_size"].metavar == "INT"
    assert actions["source"].metavar is None and actions["source"].option_strings == ["--data"]
    assert actions["lr"].help == SETTINGS["lr"].help and actions["lr"].type is float
    assert actions["plugin"].metavar == "MODULE" and actions["plugin"].default == []
    assert actions["plugin"].help == ("import MODULE first, so the components it registers can be named "
                                      "(repeatable)")
    assert actions["scale"].help.startswith("preset: mainrun, cpu, tiny (the reference; ~1 min per run on 2 cores; "
                                            "seconds, for tests)")


def test_add_setting_adds_one_typed_flag():
    parser = argparse.ArgumentParser()
    group = parser.add_argument_group("g")
    add_setting(group, SETTINGS["grad_accum"])
    [action] = group._group_actions
    assert (action.option_strings, action.dest, action.type, action.metavar, action.help) == (
        ["--grad-accum"], "grad_accum", int, "INT", SETTINGS["grad_accum"].help)


def test_plugins_are_imported_in_order_and_a_broken_one_is_named(monkeypatch):
    imported = []
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: imported.append(name))
    load_plugins(["a.b", "c"])
    assert imported == ["a.b", "c"]
    monkeypatch.undo()
    with pytest.raises(ConfigError) as info:
        load_plugins(["json", "no_such_plugin_module_xyz", "never"])
    assert str(info.value) == "cannot import plugin 'no_such_plugin_module_xyz': No module named 'no_such_plugin_module_xyz'"
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_overrides_leave_out_what_was_not_given_and_what_is_not_a_setting():
    args = argparse.Namespace(lr=None, batch_size=8, device="cpu", threads=None, scale="tiny", plugin=[], seed=0,
                              log_file="x")
    assert train_overrides(args) == {"batch_size": 8, "seed": 0}
    assert context_overrides(args) == {"device": "cpu", "log_file": "x"}


def test_a_writable_path_passes(tmp_path):
    ensure_writable(tmp_path / "new" / "deeper" / "log.jsonl", "--log-file")
    ensure_writable(tmp_path / "out", "--out", directory=True)
    (tmp_path / "exists.txt").write_text("x")
    ensure_writable(tmp_path / "exists.txt", "--log-file")
    ensure_writable(tmp_path, "--out", directory=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.txt"]  # creates nothing
    ensure_writable("relative.log", "--log-file")


def test_each_unwritable_path_is_named_in_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    cases = [
        (tmp_path, "--log-file", False, f"--log-file {tmp_path} is a folder, not a file"),
        (tmp_path / "file", "--out", True, f"--out {tmp_path / 'file'} is a file, not a folder"),
        (tmp_path / "file" / "a" / "log", "--log-file", False,
         f"--log-file {tmp_path / 'file' / 'a' / 'log'} cannot be created: {tmp_path / 'file'} is a file"),
        (tmp_path / "file" / "out", "--out", True,
         f"--out {tmp_path / 'file' / 'out'} cannot be created: {tmp_path / 'file'} is a file"),
    ]
    for path, what, directory, message in cases:
        with pytest.raises(ConfigError) as info:
            ensure_writable(path, what, directory=directory)
        assert str(info.value) == message


@pytest.mark.parametrize("denied, message", [(os.W_OK, "not writable"), (os.X_OK, "not writable"), (None, None)])
def test_writability_needs_write_and_search_permission(tmp_path, monkeypatch, denied, message):
    asked = []

    def access(path, mode):
        asked.append((str(path), mode))
        return mode != denied

    monkeypatch.setattr(cli.os, "access", access)
    target = tmp_path / "log.jsonl"
    if message is None:
        ensure_writable(target, "--log-file")
        assert asked == [(str(tmp_path), os.W_OK), (str(tmp_path), os.X_OK)]
    else:
        with pytest.raises(ConfigError) as info:
            ensure_writable(target, "--log-file")
        assert str(info.value) == f"--log-file {target} is not writable"


def test_a_file_that_exists_is_checked_itself_not_its_folder(tmp_path, monkeypatch):
    (tmp_path / "log").write_text("")
    asked = []
    monkeypatch.setattr(cli.os, "access", lambda path, mode: asked.append((str(path), mode)) or True)
    ensure_writable(tmp_path / "log", "--log-file")
    assert asked == [(str(tmp_path / "log"), os.W_OK)]


def test_a_relative_path_is_named_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    with pytest.raises(ConfigError) as info:
        ensure_writable("d", "--log-file")
    assert str(info.value) == f"--log-file {tmp_path / 'd'} is a folder, not a file"
