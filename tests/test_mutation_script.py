"""scripts/mutation.py: the operators it adds to mutmut's, and which files a run mutates."""
import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import libcst as cst
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutation.py"
spec = importlib.util.spec_from_file_location("mutation", SCRIPT)
mutation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutation)


def mutants(source: str, operator, kind) -> list[str]:
    """Every mutant the operator makes of each node of that kind in `source`, as code."""
    module = cst.parse_module(source)
    found = []

    class Each(cst.CSTTransformer):
        def __init__(self, target):
            self.target, self.replacement = target, None

        def on_leave(self, original, updated):
            return self.replacement if original is self.target else updated

    class Finder(cst.CSTVisitor):
        def on_visit(self, node):
            if isinstance(node, kind):
                for mutant in operator(node):
                    changer = Each(node)
                    changer.replacement = mutant
                    found.append(module.visit(changer).code.strip())
            return True

    module.visit(Finder())
    return found


def test_min_and_max_swap():
    assert mutants("x = min(a, b)\n", mutation.swap_min_max, cst.Call) == ["x = max(a, b)"]
    assert mutants("x = max(values)\n", mutation.swap_min_max, cst.Call) == ["x = min(values)"]
    assert mutants("x = sorted(a)\n", mutation.swap_min_max, cst.Call) == []


def test_the_first_two_positional_arguments_swap():
    assert mutants("delta_vs(losses, point, reference, seeds)\n", mutation.swap_arguments, cst.Call) == \
        ["delta_vs(point, losses, reference, seeds)"]
    assert mutants("f(a, key=b, *rest)\n", mutation.swap_arguments, cst.Call) == []
    assert mutants("f(a)\n", mutation.swap_arguments, cst.Call) == []


def test_a_guard_that_only_leaves_is_dropped_and_no_other_if():
    guarded = "def f(x):\n    if x < 0:\n        raise ValueError(x)\n    return x\n"
    assert mutants(guarded, mutation.drop_guard, cst.If) == [
        "def f(x):\n    if False:\n        raise ValueError(x)\n    return x"]
    assert mutants("for x in y:\n    if x: continue\n", mutation.drop_guard, cst.If) == ["for x in y:\n    if False: continue"]
    assert mutants("if x:\n    y = 1\n", mutation.drop_guard, cst.If) == []
    assert mutants("if x:\n    return 1\nelse:\n    return 2\n", mutation.drop_guard, cst.If) == []


def test_the_operators_join_mutmuts_own():
    from mutmut.mutation import mutators

    before = list(mutators.mutation_operators)
    try:
        mutation.register_operators()
        added = [op for _, op in mutators.mutation_operators[len(before):]]
        assert added == [mutation.swap_min_max, mutation.swap_arguments, mutation.drop_guard]
    finally:
        mutators.mutation_operators[:] = before


def test_every_module_is_mutated_and_a_ref_narrows_it_to_the_changed_files(monkeypatch):
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, cwd=SCRIPT.parent)
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != SCRIPT.parents[1].resolve():
        pytest.skip("not the root of a git checkout (a mutation run's copy of the sources)")
    monkeypatch.chdir(SCRIPT.parents[1])
    every = mutation.mutated_files(None)
    assert Path("scripts/migrate_bpb.py") in every and Path("ablations/writers/pdf.py") in every
    assert Path("mainrun/config.py") in every and all(p.suffix == ".py" for p in every)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    changed = set(mutation.mutated_files(head))
    dirty = subprocess.run(["git", "diff", "--name-only", head], capture_output=True, text=True).stdout.split()
    assert changed == {Path(p) for p in dirty if Path(p) in set(every)}
    assert mutation.mutated_files(None, [Path("mainrun/config.py")]) == [Path("mainrun/config.py")]
    with pytest.raises(SystemExit, match="not a mutated module: README.md"):
        mutation.mutated_files(None, [Path("README.md")])


@pytest.mark.parametrize("path, name", [("ablations/writers/pdf.py", "ablations.writers.pdf"),
                                        ("mainrun/__init__.py", "mainrun"), ("scripts/migrate_bpb.py", "scripts.migrate_bpb")])
def test_module_names_are_mutmuts(path, name):
    assert mutation.module_name(Path(path)) == name


def test_an_import_time_call_is_recognised_and_a_purge_reimports_the_module(tmp_path, monkeypatch):
    """A function called from a module's body (a config field's check) is recorded as import-time; the
    purge forgets the modules under the mutated root, so the next import runs the body again."""
    package = tmp_path / "mutants" / "toy_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import sys\nCALLS = sys.modules.setdefault('toy_calls', [])\n"
        "def check():\n    from _probe import seen\n    seen.append(_probe_called())\n"
        "CALLS.append(1)\n")
    monkeypatch.syspath_prepend(str(package.parent))
    probe = type(sys)("_probe")
    probe.seen = []
    monkeypatch.setitem(sys.modules, "_probe", probe)
    import builtins
    monkeypatch.setattr(builtins, "_probe_called", mutation.called_while_importing, raising=False)
    (package / "__init__.py").write_text((package / "__init__.py").read_text() + "check()\n")
    import toy_pkg  # noqa: F401
    assert probe.seen == [True]
    assert mutation.called_while_importing() is False
    calls = sys.modules["toy_calls"]
    mutation.purge_project_modules(package.parent)
    assert "toy_pkg" not in sys.modules
    import toy_pkg  # noqa: F401,F811
    assert len(calls) == 2 and probe.seen == [True, True]
    mutation.purge_project_modules(package.parent)
    del sys.modules["toy_calls"]


def test_an_import_time_function_runs_every_test_that_reached_its_module():
    tests = {"mainrun.config.x_one_of": {"t_collecting"}, "mainrun.config.xǁCheckǁ__call__": {"t_cli", "t_check"},
             "mainrun.model.x_build": {"t_model"}}
    mutation.widen_import_time_selections(tests, {"mainrun.config.x_one_of", "mainrun.config.x_option"})
    assert tests["mainrun.config.x_one_of"] == {"t_collecting", "t_cli", "t_check"}
    assert tests["mainrun.config.x_option"] == {"t_collecting", "t_cli", "t_check"}
    assert tests["mainrun.model.x_build"] == {"t_model"} and tests["mainrun.config.xǁCheckǁ__call__"] == {"t_cli", "t_check"}
    assert mutation.module_of("ablations.study.study.xǁReportOptionsǁ__post_init__") == "ablations.study.study"


def test_survivors_are_read_from_the_last_run(tmp_path, monkeypatch):
    import json as json_module
    monkeypatch.chdir(tmp_path)
    meta = tmp_path / "mutants" / "mainrun" / "config.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json_module.dumps({"exit_code_by_key": {"mainrun.config.x_a__mutmut_2": 0, "mainrun.config.x_a__mutmut_1": 0,
                                                            "mainrun.config.x_b__mutmut_1": 1, "mainrun.config.x_c__mutmut_1": None}}))
    files = [Path("mainrun/config.py"), Path("mainrun/model.py")]
    assert mutation.mutants_with("survived", files) == ["mainrun.config.x_a__mutmut_1", "mainrun.config.x_a__mutmut_2"]
    assert mutation.mutants_with("not checked", files) == ["mainrun.config.x_c__mutmut_1"]
    # --survivors runs the survivors again and those no test reached (exit code 33): a new test may reach them.
    meta.write_text(json_module.dumps({"exit_code_by_key": {"mainrun.config.x_a__mutmut_1": 0, "mainrun.config.x_d__mutmut_1": 33,
                                                            "mainrun.config.x_b__mutmut_1": 1}}))
    assert mutation.mutants_with(mutation.NOT_KILLED, files) == ["mainrun.config.x_a__mutmut_1", "mainrun.config.x_d__mutmut_1"]


def test_the_score_counts_equivalents_apart_and_leaves_unrun_mutants_out_of_the_share(tmp_path, monkeypatch):
    import json as json_module
    monkeypatch.chdir(tmp_path)
    meta = tmp_path / "mutants" / "mainrun" / "config.py.meta"
    meta.parent.mkdir(parents=True)
    codes = {"m.x_a__mutmut_1": 1, "m.x_a__mutmut_2": 1, "m.x_a__mutmut_3": 255, "m.x_a__mutmut_4": 0,
             "m.x_a__mutmut_5": 0, "m.x_a__mutmut_6": 33, "m.x_a__mutmut_7": None}
    meta.write_text(json_module.dumps({"exit_code_by_key": codes}))
    (tmp_path / "mainrun").mkdir()
    (tmp_path / "mainrun" / "config.py").write_text("")
    (tmp_path / "equivalents.txt").write_text("# kinds\nm.x_a__mutmut_5  # a boundary no input reaches\n")
    table = mutation.score(None, tmp_path / "equivalents.txt", [Path("mainrun/config.py")]).splitlines()
    # 7 mutants: 1 not run, 2 killed, 1 timeout, 1 survived, 1 equivalent, 1 without a test: 3 of 5 killed.
    assert table[2] == "| mainrun/config.py | 7 | 1 | 2 | 1 | 1 | 1 | 1 | 60.0% |"
    assert table[3] == "| **all** | 7 | 1 | 2 | 1 | 1 | 1 | 1 | 60.0% |"


def test_a_mutants_tests_run_fastest_first_and_an_untimed_test_last():
    durations = {"t_e2e": 30.0, "t_unit": 0.01, "t_property": 1.5}
    assert mutation.fastest_first({"t_e2e", "t_new", "t_unit", "t_property"}, durations) == [
        "t_unit", "t_property", "t_e2e", "t_new"]


def write_meta(root: Path, codes: dict) -> None:
    import json as json_module
    meta = root / "mutants" / "mainrun" / "config.py.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json_module.dumps({"exit_code_by_key": codes}))
    (root / "mainrun").mkdir(exist_ok=True)
    (root / "mainrun" / "config.py").write_text("")


def test_a_sample_is_seeded_uniform_and_grows_by_keeping_what_it_drew(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_meta(tmp_path, {f"m.x_a__mutmut_{i}": None for i in range(200)})
    files = [Path("mainrun/config.py")]
    small, large = mutation.sample(files, 20, seed=0), mutation.sample(files, 60, seed=0)
    assert len(set(small)) == 20 and large[:20] == small
    assert mutation.sample(files, 20, seed=0) == small != mutation.sample(files, 20, seed=1)
    # Uniform: over many seeds every mutant is drawn about 20/200 of the time, not the first ones by name.
    counts = Counter(name for seed in range(400) for name in mutation.sample(files, 20, seed))
    assert len(counts) == 200 and max(counts.values()) < 80 and min(counts.values()) > 15


def test_a_sample_is_scored_with_an_exact_interval_only_once_it_has_all_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # 10 mutants: 8 killed, 1 survived, 1 equivalent: 8 of 9 behaviour-changing killed.
    codes = {f"m.x_a__mutmut_{i}": 1 for i in range(8)} | {"m.x_a__mutmut_8": 0, "m.x_a__mutmut_9": 0}
    write_meta(tmp_path, codes)
    (tmp_path / "equivalents.txt").write_text("m.x_a__mutmut_9  # kind\n")
    text = mutation.score(None, tmp_path / "equivalents.txt", [Path("mainrun/config.py")], sample_size=10)
    # scipy's exact interval for 8 of 9: 0.518 - 0.997.
    assert text.splitlines()[-1] == ("Every module, from a random sample of 10 mutants (9 behaviour-changing): "
                                     "88.9% killed (95% interval 51.8-99.7%).")
    write_meta(tmp_path, codes | {"m.x_a__mutmut_0": None})
    text = mutation.score(None, tmp_path / "equivalents.txt", [Path("mainrun/config.py")], sample_size=10)
    assert text.splitlines()[-1] == "1 of the sample of 10 not run yet: no estimate."


def test_the_samples_interval_covers_a_known_kill_rate_at_least_95_in_100():
    """Simulation of known truths: populations of 5,000 mutants with known kill rates, samples of 300 drawn
    without replacement, the interval the score reports; it must hold the truth at least 95% of the time."""
    import random

    rng = random.Random(0)
    for rate in (0.80, 0.95, 0.99):
        population = [index < rate * 5000 for index in range(5000)]
        held = 0
        for _ in range(400):
            drawn = rng.sample(population, 300)
            low, high = mutation.exact_interval(sum(drawn), 300)
            held += low <= rate <= high
        assert held / 400 >= 0.95, (rate, held)


def test_copies_of_removed_test_files_are_pruned_and_the_others_kept(tmp_path):
    project, copy = tmp_path / "project", tmp_path / "project" / "mutants"
    for path in ("tests/a/test_x.py", "tests/test_y.py", "benchmarks/test_b.py"):
        for root in (project, copy):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text("")
    (copy / "tests" / "a" / "test_renamed.py").write_text("")
    (copy / "benchmarks" / "test_gone.py").write_text("")
    (copy / "ablations").mkdir()
    (copy / "ablations" / "mutated.py").write_text("")  # not a test: mutmut's own, left alone
    stale = mutation.prune_stale_copies(project, copy)
    assert sorted(stale) == sorted([copy / "tests" / "a" / "test_renamed.py", copy / "benchmarks" / "test_gone.py"])
    assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*.py")) == [
        "ablations/mutated.py", "benchmarks/test_b.py", "tests/a/test_x.py", "tests/test_y.py"]


def test_the_changed_functions_are_those_added_or_edited_since_the_ref_not_moved_or_recommented(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    module = tmp_path / "m.py"
    module.write_text("def kept(x):\n    return x\n\n\ndef edited(x):\n    return x + 1\n\n\n"
                      "class C:\n    def method(self):\n        return 1\n\n    def other(self):\n        return 2\n")
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start", "--allow-empty")
    git("add", "m.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "m")
    module.write_text("def edited(x):\n    return x + 2\n\n\ndef kept(x):  # moved, recommented\n    return x\n\n\n"
                      "class C:\n    def method(self):\n        return 1\n\n    def other(self):\n        return 3\n\n"
                      "def added():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    assert mutation.changed_functions(Path("m.py"), "HEAD") == ["x_edited", "xǁCǁother", "x_added"]
    assert mutation.changed_functions(Path("m.py"), "HEAD~1") == ["x_edited", "x_kept", "xǁCǁmethod", "xǁCǁother",
                                                                   "x_added"]  # the file did not exist: all of it


def test_the_score_of_the_changed_functions_counts_only_their_mutants(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    monkeypatch.chdir(tmp_path)
    write_meta(tmp_path, {"mainrun.config.x_a__mutmut_1": 1, "mainrun.config.x_a__mutmut_2": 0,
                          "mainrun.config.x_b__mutmut_1": 0, "mainrun.config.x_b__mutmut_2": 0})
    (tmp_path / "mainrun" / "config.py").write_text("def a():\n    return 1\n\n\ndef b():\n    return 2\n")
    git("init", "-q")
    git("add", "mainrun/config.py")
    git("commit", "-qm", "start")
    (tmp_path / "mainrun" / "config.py").write_text("def a():\n    return 3\n\n\ndef b():\n    return 2\n")
    table = mutation.score("HEAD", tmp_path / "none.txt", functions=True).splitlines()
    assert table[-1] == "| **all** | 2 | 0 | 1 | 0 | 1 | 0 | 0 | 50.0% |"  # a's two mutants; b did not change
    assert mutation.score("HEAD", tmp_path / "none.txt").splitlines()[-1] == "| **all** | 4 | 0 | 1 | 0 | 3 | 0 | 0 | 25.0% |"


def test_each_mutation_task_scores_exactly_the_mutants_it_ran():
    """A task that runs a selection (--since, --functions, --sample, --seed) must score that same selection:
    `score --since REF` after `run --since REF --functions` reports whole files, mostly never run."""
    import yaml

    tasks = yaml.safe_load((SCRIPT.parents[1] / "Taskfile.yml").read_text())["tasks"]
    checked = 0
    for name, task in tasks.items():
        commands = [c for c in task.get("cmds", []) if isinstance(c, str) and "scripts/mutation.py" in c]
        runs = [c.split("scripts/mutation.py run")[1].split() for c in commands if "mutation.py run" in c]
        scores = [c.split("scripts/mutation.py score")[1].split() for c in commands if "mutation.py score" in c]
        if not runs:
            continue
        selection = [a for a in runs[0] if a not in ("--max-children", "2", "--fresh")]  # how it runs, not what
        assert scores == [selection], name
        checked += 1
    assert checked == 4


def test_a_fresh_sample_forgets_only_its_own_mutants_stored_results(tmp_path):
    """mutmut keeps a result while its function is unchanged, even after new tests: a survivor of an older suite
    would be counted against the new one."""
    import json as json_module
    first, second = tmp_path / "mainrun" / "a.py.meta", tmp_path / "ablations" / "b.py.meta"
    for meta, codes in ((first, {"a.x_f__mutmut_1": 0, "a.x_f__mutmut_2": 1}), (second, {"b.x_g__mutmut_1": 0})):
        meta.parent.mkdir(parents=True)
        meta.write_text(json_module.dumps({"exit_code_by_key": codes, "durations_by_key": {"kept": 1.5}}))
    assert mutation.forget(["a.x_f__mutmut_1", "b.x_g__mutmut_1", "c.x_h__mutmut_1"], tmp_path) == 2
    assert json_module.loads(first.read_text()) == {"exit_code_by_key": {"a.x_f__mutmut_1": None, "a.x_f__mutmut_2": 1},
                                                    "durations_by_key": {"kept": 1.5}}
    assert json_module.loads(second.read_text())["exit_code_by_key"] == {"b.x_g__mutmut_1": None}


def test_fresh_is_refused_without_a_sample(capsys):
    with pytest.raises(SystemExit) as exit_:
        mutation.main(["run", "--fresh"])
    assert exit_.value.code == 2 and capsys.readouterr().err.splitlines()[-1].endswith("error: --fresh needs --sample")
