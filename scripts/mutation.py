"""Mutation testing of every module of `mainrun/` and `ablations/` and of `scripts/migrate_bpb.py`
(mutmut 3.8, `[tool.mutmut]` in pyproject.toml), with three operators of this project's own, and the
score per module.

    .venv/bin/python scripts/mutation.py run                     # every module (task mutation)
    .venv/bin/python scripts/mutation.py run --since origin/main # the files changed since a ref (task mutation-changed)
    .venv/bin/python scripts/mutation.py run mainrun/config.py   # the modules named
    .venv/bin/python scripts/mutation.py run --survivors         # only what survived last time (after new tests)
    .venv/bin/python scripts/mutation.py run --unchecked         # a stopped run, from where it stopped
    .venv/bin/python scripts/mutation.py score [--since REF] [FILE ...]  # per module: killed, survived, no test, ...

Each mutant runs only the tests that executed the function it changes within `max_stack_depth`
frames of this project's code (mutmut records which tests reach which function): the unit and
property tests close to a function kill its mutants in seconds, where an end-to-end run that passes
through it would take minutes.

The operators added to mutmut's own, each a kind of bug the suite once missed (issue 25):
- `min` <-> `max` (an "at least" bound read from the largest seed instead of the smallest);
- the first two positional arguments of a call swapped (a contrast referenced to the wrong point);
- a guard dropped: an `if` whose body only raises, returns, breaks or continues never fires.
"""
from __future__ import annotations

import argparse
import functools
import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

import libcst as cst

ROOTS = ("mainrun", "ablations")
SCRIPTS = ("scripts/migrate_bpb.py",)


def swap_min_max(node: cst.Call) -> Iterator[cst.Call]:
    if isinstance(node.func, cst.Name) and node.func.value in ("min", "max"):
        yield node.with_changes(func=cst.Name("max" if node.func.value == "min" else "min"))


def swap_arguments(node: cst.Call) -> Iterator[cst.Call]:
    positional = [i for i, arg in enumerate(node.args) if arg.keyword is None and not arg.star]
    if len(positional) >= 2:
        first, second = positional[:2]
        args = list(node.args)
        # Keep each position's comma and spacing; only the values trade places.
        args[first], args[second] = (args[first].with_changes(value=node.args[second].value),
                                     args[second].with_changes(value=node.args[first].value))
        yield node.with_changes(args=args)


def drop_guard(node: cst.If) -> Iterator[cst.If]:
    lines = node.body.body if isinstance(node.body, cst.IndentedBlock) else [node.body]  # `if x: return` has a suite
    statements = [s for line in lines
                  for s in (line.body if isinstance(line, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else [line])]
    guards = (cst.Raise, cst.Return, cst.Break, cst.Continue)
    if node.orelse is None and statements and all(isinstance(s, guards) for s in statements):
        yield node.with_changes(test=cst.Name("False"))


def register_operators() -> None:
    """Add this project's operators to mutmut's list (mutants are made in processes forked from this one)."""
    from mutmut.mutation import mutators

    mutators.mutation_operators.extend([(cst.Call, swap_min_max), (cst.Call, swap_arguments), (cst.If, drop_guard)])


@functools.lru_cache(maxsize=None)
def project_file(filename: str, sources: tuple[Path, ...]) -> bool:
    """Whether a frame's file is this project's mutated code (cached: a training step passes through
    thousands of frames, and resolving each file's path every time made the stats run take hours)."""
    path = Path(filename)
    return path.is_file() and any(source in path.resolve().parents for source in sources)


def record_hit(name: str, caller: str | None = None) -> None:
    """mutmut 3.8's record of which function a test reached, counting only this project's frames towards
    max_stack_depth; mutmut's own resolves every frame's file, every time, and raises on a frame that has
    none (a function called while a module imports, under `<frozen importlib._bootstrap>`)."""
    import inspect

    from mutmut.configuration import config
    from mutmut.state import state

    cfg = config()
    if cfg.max_stack_depth != -1:
        frame, left = inspect.currentframe(), cfg.max_stack_depth
        sources = tuple(cfg.resolved_mutated_source_paths)
        while left and frame:
            filename, frame = frame.f_code.co_filename, frame.f_back
            if "pytest" in filename or "unittest" in filename:
                break
            left -= project_file(filename, sources)
        if not left:
            return
    if name not in _classified:
        _classified.add(name)
        if called_while_importing():
            with IMPORT_TIME.open("a") as record:
                record.write(name + "\n")
    state()._stats.add(name)
    if caller is not None and cfg.track_dependencies:
        state().function_dependencies[name].add(caller)


# Functions called while a module imports (a config field's check, built in its class's body). A test
# process imports every module once, before any mutant is active, so a mutant of such a function never
# runs unless the modules are imported again under it: `purge_project_modules` does that, for these only
# (a fresh import costs about a second a mutant). Recorded while mutmut collects its stats; a function
# first reached at run time and only later by an import is missed, which no module here does.
IMPORT_TIME = Path(__file__).resolve().parents[1] / "mutants" / "import-time.txt"  # absolute: tests change directory
_classified: set[str] = set()


def called_while_importing() -> bool:
    import inspect

    frame = inspect.currentframe()
    while frame:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def import_time_functions() -> set[str]:
    return set(IMPORT_TIME.read_text().split()) if IMPORT_TIME.exists() else set()


def purge_project_modules(root: Path) -> None:
    """Forget every imported module under `root` (the mutated sources and their tests), so that the next
    import runs its module body again, under the active mutant."""
    root = root.resolve()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and root in Path(file).resolve().parents:
            del sys.modules[name]


def module_of(function: str) -> str:
    """The module of a mangled function name (`mainrun.config.x_one_of`, `mainrun.config.xǁCheckǁ__call__`)."""
    return re.split(r"\.x[_ǁ]", function, maxsplit=1)[0]


def widen_import_time_selections(tests_by_function: dict, import_time: set[str]) -> None:
    """An import-time function's tests are every test that reached its module. mutmut credits an import's
    calls to whichever test happened to be collecting, so `one_of` had one test, and that one never
    used a config check; what an import builds (a config field's check) is used by the module's callers."""
    by_module: dict[str, set[str]] = {}
    for function, tests in tests_by_function.items():
        by_module.setdefault(module_of(function), set()).update(tests)
    for function in import_time:
        tests_by_function[function] = set(tests_by_function.get(function, ())) | by_module.get(module_of(function), set())


def patch_runner() -> None:
    """A mutant of an import-time function runs its module's tests, on freshly imported modules."""
    import mutmut.__main__ as mutmut_main
    from mutmut.runners.harness import PytestRunner
    from mutmut.state import state
    from mutmut.utils.format_utils import mangled_name_from_mutant_name

    collect = mutmut_main.collect_or_load_stats

    def collect_or_load_stats(*args, **kwargs):
        result = collect(*args, **kwargs)
        widen_import_time_selections(state().tests_by_mangled_function_name, import_time_functions())
        return result

    mutmut_main.collect_or_load_stats = collect_or_load_stats

    original = PytestRunner.run_tests
    root = IMPORT_TIME.parent

    def run_tests(self, *, mutant_name, tests):
        if mutant_name and mangled_name_from_mutant_name(mutant_name) in import_time_functions():
            purge_project_modules(root)
        return original(self, mutant_name=mutant_name, tests=fastest_first(tests, state().duration_by_test))

    PytestRunner.run_tests = run_tests


def fastest_first(tests: Iterable[str], duration_by_test: dict[str, float]) -> list[str]:
    """A mutant's tests, the fastest first: pytest stops at the first failure (`-x`), and mutmut hands them
    over as a set, so a mutant the quickest unit test kills could wait for an end-to-end run first."""
    return sorted(tests, key=lambda test: (duration_by_test.get(test, float("inf")), test))


def patch_recording() -> None:
    """mutmut's record of test hits replaced by `record_hit`, in this process."""
    from mutmut import stats
    from mutmut.mutation import trampoline

    stats.record_trampoline_hit = trampoline.record_trampoline_hit = record_hit


SITE = """# Written by scripts/mutation.py for a mutation run: every Python process started under it (a test's
# subprocess, a local worker) records test hits as the run's own processes do.
import importlib.util
spec = importlib.util.spec_from_file_location("_mutation_script", {script!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.patch_recording()
"""


def patch_mutmut() -> None:
    """This project's operators, and the frame counting that survives import-time calls: in this process
    and those forked from it, and through a sitecustomize on PYTHONPATH in every Python process a test
    starts (the local backend's workers are programs of their own)."""
    import os

    register_operators()
    patch_recording()
    patch_runner()
    site = Path("mutants") / ".site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(SITE.format(script=str(Path(__file__).resolve())))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site.resolve()), os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, str(site.resolve()))  # the local backend hands its workers this process's sys.path


def mutated_files(since: str | None, only: Iterable[Path] = ()) -> list[Path]:
    """Every module mutation testing covers, or those named, or those changed since a git ref (committed
    or not)."""
    every = sorted(p for root in ROOTS for p in Path(root).rglob("*.py")) + [Path(p) for p in SCRIPTS]
    named = {Path(path) for path in only}
    if named - set(every):
        raise SystemExit(f"scripts/mutation.py: not a mutated module: {', '.join(map(str, sorted(named - set(every))))}")
    every = [path for path in every if path in named] if named else every
    if since is None:
        return every
    names = subprocess.run(["git", "diff", "--name-only", since, "--", *ROOTS, *SCRIPTS], capture_output=True,
                           text=True, check=True).stdout.split()
    changed = {Path(name) for name in names}
    return [path for path in every if path in changed]


def function_sources(source: str) -> dict[str, str]:
    """Each function mutmut mutates (a module's functions, its classes' methods) by its mangled name
    (`x_name`, `xǁClassǁname`), as a dump of its syntax tree: a change of layout or comment is no change."""
    import ast

    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[f"x_{node.name}"] = ast.dump(node)
        elif isinstance(node, ast.ClassDef):
            found.update({f"xǁ{node.name}ǁ{item.name}": ast.dump(item) for item in node.body
                          if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))})
    return found


def changed_functions(path: Path, since: str) -> list[str]:
    """The mangled names of the functions of `path` added or changed since the git ref (the file as it
    is now, committed or not)."""
    before = subprocess.run(["git", "show", f"{since}:{path.as_posix()}"], capture_output=True, text=True)
    old = function_sources(before.stdout) if before.returncode == 0 else {}
    return [name for name, dump in function_sources(path.read_text()).items() if old.get(name) != dump]


def changed_patterns(files: Iterable[Path], since: str) -> list[str]:
    """mutmut name patterns of the mutants of the functions changed since the ref."""
    return [f"{module_name(path)}.{name}__mutmut_*" for path in files for name in changed_functions(path, since)]


def module_name(path: Path) -> str:
    """A file's dotted name as mutmut names its mutants (`ablations.writers.pdf`, `scripts.migrate_bpb`)."""
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def outcomes(files: Iterable[Path]) -> dict[Path, dict[str, str]]:
    """Per file with a run, each mutant's outcome ("killed", "survived", "not checked", ...), from what
    mutmut stored (mutants/<file>.meta)."""
    from mutmut.stats import status_by_exit_code

    found = {}
    for path in files:
        meta = Path("mutants") / f"{path}.meta"
        if meta.exists():
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            found[path] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return found


# What `--survivors` runs again after new tests: the survivors, and the mutants no test reached (a new test may).
NOT_KILLED = ("survived", "no tests")


def mutants_with(status: str | tuple[str, ...], files: Iterable[Path]) -> list[str]:
    """The mutants of these files whose last run ended so ("not checked", or NOT_KILLED)."""
    wanted = (status,) if isinstance(status, str) else status
    return [name for by_name in outcomes(files).values() for name in sorted(n for n, s in by_name.items() if s in wanted)]


def sample(files: Iterable[Path], size: int, seed: int) -> list[str]:
    """The first `size` mutants of a seeded shuffle of every mutant of these files: a simple random sample,
    and a larger size keeps a smaller one's mutants (a stopped sample grows without bias)."""
    every = sorted(name for by_name in outcomes(files).values() for name in by_name)
    random.Random(seed).shuffle(every)
    return every[:size]


def prune_stale_copies(project: Path, copy: Path, folders: Iterable[str] = ("tests", "benchmarks")) -> list[Path]:
    """Delete the copies of test files since removed or renamed: mutmut copies the tests into mutants/ on
    every run but never deletes one, and a stale copy can break collection (two test modules of one
    name) or run a test that no longer exists. The deleted copies."""
    stale = [path for folder in folders if (copy / folder).is_dir() for path in sorted((copy / folder).rglob("*.py"))
             if not (project / path.relative_to(copy)).exists()]
    for path in stale:
        path.unlink()
    return stale


def generate_mutants(max_children: int) -> None:
    """mutmut's mutants of every file as the sources are now, without running them: a sample is drawn
    from all of them, and a file changed since the last run has other mutants (mutmut remakes only those)."""
    import mutmut.__main__ as mutmut_main

    Path("mutants").mkdir(exist_ok=True)
    mutmut_main.set_mutant_under_test("mutant_generation")
    mutmut_main.copy_src_dir()
    mutmut_main.copy_also_copy_files()
    mutmut_main.setup_source_paths()
    mutmut_main.create_mutants(max_children)


def forget(names: Iterable[str], root: Path = Path("mutants")) -> int:
    """Clear the stored results of these mutants, so that they run again: mutmut keeps a mutant's result while
    its function is unchanged, even after the tests changed, and a sample measures the suite as it is now."""
    wanted, cleared = set(names), 0
    for meta in sorted(root.rglob("*.meta")):
        data = json.loads(meta.read_text())
        hit = wanted & data["exit_code_by_key"].keys()
        if hit:
            data["exit_code_by_key"].update(dict.fromkeys(hit))
            meta.write_text(json.dumps(data))
            cleared += len(hit)
    return cleared


def run(since: str | None, max_children: int, only: Iterable[Path] = (), status: str | None = None,
        sample_size: int | None = None, seed: int = 0, functions: bool = False, fresh: bool = False) -> None:
    import mutmut.__main__ as mutmut_main

    patch_mutmut()
    for path in prune_stale_copies(Path("."), Path("mutants")):
        print(f"removed {path}: its test file is gone")
    files = mutated_files(since, only)
    if since is not None and not files:
        print(f"no module changed since {since}: nothing to mutate")
        return
    # Mutant names are the module's dotted name, then `x_` (a function) or `xǁ` (a class's method).
    names = [] if since is None and not only else [f"{module_name(path)}.x*" for path in files]
    changed = changed_patterns(files, since) if functions and since is not None else []
    if functions and since is not None and sample_size is None:  # only the functions changed, not their whole files
        names = changed
        if not names:
            print(f"no function changed since {since}: nothing to mutate")
            return
    if sample_size is not None:  # a sample of every module (of those named), and any changed functions besides
        generate_mutants(max_children)
        every = mutated_files(None, only)
        drawn = sample(every, sample_size, seed)
        if fresh:
            print(f"cleared the stored results of {forget(drawn)} mutants of the sample: all run again")
        by_name = {name: s for by_file in outcomes(every).values() for name, s in by_file.items()}
        wanted = status or "not checked"
        names = [name for name in drawn if by_name[name] in ((wanted,) if isinstance(wanted, str) else wanted)] + changed
        if not names:
            print(f"every mutant of the sample of {sample_size} has run: nothing to run")
            return
    elif status is not None:
        names = mutants_with(status, files)
        if not names:
            print(f"no mutant is {' or '.join(NOT_KILLED) if status == NOT_KILLED else status}: nothing to run")
            return
    mutmut_main._run(names, max_children)


def equivalent_names(path: Path) -> set[str]:
    """The mutants read and found equivalent (no input changes what any user sees), one per line with
    its kind after a `#`: docs/mutation-equivalents.txt."""
    if not path.exists():
        return set()
    return {line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()}


def score(since: str | None, equivalents: Path, only: Iterable[Path] = (), sample_size: int | None = None,
          seed: int = 0, functions: bool = False) -> str:
    """A markdown table per module, and the share of behaviour-changing mutants killed; of a sample (of every
    module), also that share's exact (Clopper-Pearson) 95% interval; with --functions, of the changed ones."""
    import fnmatch

    known = equivalent_names(equivalents)
    files = mutated_files(since, only) if sample_size is None else mutated_files(None, only)
    drawn = None if sample_size is None else set(sample(files, sample_size, seed))
    patterns = changed_patterns(files, since) if functions and since is not None and sample_size is None else None
    rows, total = [], Counter()
    for path, by_name in outcomes(files).items():
        # A survivor read and found equivalent is counted apart.
        counts = Counter("equivalent" if status == "survived" and name in known else status
                         for name, status in by_name.items() if (drawn is None or name in drawn)
                         and (patterns is None or any(fnmatch.fnmatch(name, p) for p in patterns)))
        if not counts:
            continue
        total.update(counts)
        rows.append((str(path), counts))
    lines = ["| module | mutants | not run yet | killed | timeout | survived | equivalent | no test | killed of behaviour-changing |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, counts in [*rows, ("all", total)]:
        killed, changing = killed_and_changing(counts)
        share = f"{100 * killed / changing:.1f}%" if changing else "n/a"
        lines.append(f"| {name if name != 'all' else '**all**'} | {sum(counts.values())} | {counts['not checked']} | {counts['killed']} | "
                     f"{counts['timeout'] + counts['segfault'] + counts['suspicious']} | {counts['survived']} | "
                     f"{counts['equivalent']} | {counts['no tests']} | {share} |")
    return "\n".join(lines) + "\n" + ("" if drawn is None else sample_estimate(total, len(drawn)))


def killed_and_changing(counts: Counter) -> tuple[int, int]:
    killed = counts["killed"] + counts["timeout"] + counts["segfault"] + counts["suspicious"]
    changing = sum(counts.values()) - counts["equivalent"] - counts["skipped"] - counts["not checked"]
    return killed, changing


def exact_interval(killed: int, trials: int) -> tuple[float, float]:
    """Clopper-Pearson 95% interval of a binomial share (scipy's)."""
    from scipy.stats import binomtest

    interval = binomtest(killed, trials).proportion_ci(0.95, method="exact")
    return interval.low, interval.high


def sample_estimate(counts: Counter, size: int) -> str:
    """The share killed of the behaviour-changing mutants of the whole population, from a simple random
    sample: exact binomial (Clopper-Pearson) 95% interval, conservative for a draw without replacement."""
    killed, changing = killed_and_changing(counts)
    if counts["not checked"]:
        return f"\n{counts['not checked']} of the sample of {size} not run yet: no estimate.\n"
    if not changing:
        return f"\nno behaviour-changing mutant in the sample of {size}: no estimate.\n"
    low, high = exact_interval(killed, changing)
    return (f"\nEvery module, from a random sample of {size} mutants ({changing} behaviour-changing): "
            f"{100 * killed / changing:.1f}% killed (95% interval {100 * low:.1f}-{100 * high:.1f}%).\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutation.py", description=" ".join(__doc__.split("\n\n")[0].split()))
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "score"):
        command = commands.add_parser(name)
        command.add_argument("--since", metavar="REF", help="only the files changed since this git ref")
        command.add_argument("files", nargs="*", type=Path, metavar="FILE", help="only these modules")
        command.add_argument("--sample", type=int, metavar="N", help="only the first N mutants of a seeded shuffle "
                             "of every mutant of these modules: a simple random sample, scored with an exact interval")
        command.add_argument("--seed", type=int, default=0, help="the shuffle's seed (with --sample)")
    commands.choices["run"].add_argument("--max-children", type=int, default=2)
    for name in ("run", "score"):
        commands.choices[name].add_argument("--functions", action="store_true", help="with --since: only the "
                                            "functions changed since the ref, not their whole files")
    only = commands.choices["run"].add_mutually_exclusive_group()
    only.add_argument("--survivors", dest="status", action="store_const", const=NOT_KILLED,
                      help="run again only the mutants that survived their last run or that no test reached (after adding tests)")
    only.add_argument("--unchecked", dest="status", action="store_const", const="not checked",
                      help="run only the mutants not yet run (a stopped run goes on where it stopped)")
    commands.choices["run"].add_argument("--fresh", action="store_true", help="with --sample: clear the sample's "
                                         "stored results first and run every mutant of it against the tests as they "
                                         "are now (mutmut keeps a result while its function is unchanged, even after "
                                         "the tests change; a stopped --fresh run goes on with --unchecked)")
    commands.choices["score"].add_argument("--equivalents", type=Path, default=Path("docs/mutation-equivalents.txt"))
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.fresh and args.sample is None:
            parser.error("--fresh needs --sample")
        run(args.since, args.max_children, args.files, args.status, args.sample, args.seed, args.functions, args.fresh)
    else:
        print(score(args.since, args.equivalents, args.files, args.sample, args.seed, args.functions), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
