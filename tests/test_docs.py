"""The documentation holds: the site builds with CI's own strict line and a broken link fails it;
every shell and Python example in docs/usage.md runs (or says why not); every command in the README
and the docs runs as pasted after the README's install command; every command's --help opens with
a whole sentence."""
from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PYTHON = ".venv/bin/python"  # how the README's install command names the interpreter


# --- the site ------------------------------------------------------------------------------------

def ci_mkdocs_args() -> list[str]:
    """The arguments of the one `mkdocs` line in .ci/run, so the tests build what CI builds."""
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
             if re.match(r"\s*(\S*/)?mkdocs\s", line)]
    assert len(lines) == 1, f".ci/run should build the site once, found {lines}"
    return shlex.split(lines[0])[1:]


def mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    return subprocess.run([sys.executable, "-m", "mkdocs", *ci_mkdocs_args(), "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, timeout=300, cwd=config.parent)


def test_ci_builds_the_site_strict_and_lets_its_warnings_count():
    args = ci_mkdocs_args()
    assert args[0] == "build" and "--strict" in args
    # --quiet drops the warnings before strict mode counts them: a broken link would build.
    assert not {"-q", "--quiet"} & set(args)


def test_the_site_builds_strict_without_a_warning(tmp_path):
    result = mkdocs(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (tmp_path / "site" / "benchmarks" / "index.html").exists(), "BENCHMARKS.md is not in the site"


def docs_copy(root: Path) -> Path:
    """mkdocs.yml and docs/ under root: every file a link to the real one, so a test can replace one."""
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(DOCS, root / "docs", copy_function=os.symlink)
    return root / "mkdocs.yml"


def append(path: Path, text: str) -> None:
    original = path.read_text() if path.exists() else ""
    path.unlink(missing_ok=True)
    path.write_text(original + text)


BREAKAGES = {
    "a link to a page that does not exist": ("usage.md", "\nSee [nowhere](no-such-page.md).\n"),
    "a link out of the site": ("speed.md", "\nSee [the benchmarks](../BENCHMARKS.md).\n"),
    "a link to a heading that does not exist": ("usage.md", "\nSee [this](statistics.md#no-such-heading).\n"),
    "a page missing from the navigation": ("orphan.md", "# Orphan\n"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_ci_s_build_fails_on_a_broken_docs_copy(tmp_path, breakage):
    config = docs_copy(tmp_path)
    page, text = BREAKAGES[breakage]
    append(tmp_path / "docs" / page, text)
    result = mkdocs(config, tmp_path / "site")
    assert result.returncode != 0, f"{breakage} built:\n{result.stderr}"
    assert "WARNING" in result.stderr and "in strict mode" in result.stdout + result.stderr, result.stderr


# --- commands as pasted --------------------------------------------------------------------------

FENCE = re.compile(r"^```(\S*)\n(.*?)^```$", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
# A command that needs the interpreter or a tool of the virtual environment, spelled without it.
BARE = re.compile(r"^(python3?|pytest|pip|mkdocs|mutmut)(\s|$)")


def bare_commands(text: str) -> list[str]:
    found = []
    for lang, body in FENCE.findall(text):
        if lang in ("bash", "sh", "shell", "console"):
            found += [line.strip() for line in body.splitlines() if BARE.match(line.strip())]
    outside = FENCE.sub("", text)
    found += [span for span in SPAN.findall(outside) if BARE.match(span) and " " in span]
    # `python3 -m venv .venv` is the install itself; the GPU script's bare machine has no venv.
    return [c for c in found if not c.startswith("python3 -m venv")]


def readme_table() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Which command answers which question")
    return text[start:text.index("\n## ", start + 1)]


def readme_code() -> str:
    """The README's code blocks and its command table (its prose and headline tables are not checked
    here: the headline's `python -m ablations.ladder ... --tune ...` abbreviates a run, it is not one
    to paste)."""
    text = (REPO / "README.md").read_text()
    return "\n".join(f"```{lang}\n{body}```" for lang, body in FENCE.findall(text)) + readme_table()


# docs/benchmarks.md is BENCHMARKS.md, which benchmarks.render writes.
DOC_PAGES = sorted(p for p in DOCS.glob("*.md") if p.name != "benchmarks.md")


@pytest.mark.parametrize("page", ["README.md"] + [p.name for p in DOC_PAGES])
def test_every_command_runs_as_pasted_after_the_install(page):
    text = readme_code() if page == "README.md" else (DOCS / page).read_text()
    assert bare_commands(text) == [], f"{page}: spell these with .venv/bin/ (the install never activates it)"


# --- docs/usage.md's examples ---------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    how: str  # run: as written; tiny: at --scale tiny --data embedded; file: write the block; skip
    why: str
    expect: str = ""  # a line of the output that shows it worked (regex)
    lines: int | None = None  # or: this many lines of output


# Every fenced shell command and Python or TOML block of docs/usage.md, by its first line. An example
# added without a decision here fails test_every_usage_example_has_a_decision. Training commands also
# get --max-steps 10 (and the ablation commands --no-plot): the test is that the example runs, not
# how well it trains.
USAGE = {
    f"{PYTHON} -m mainrun.train --scale cpu --variant norm=rmsnorm,pos=rope,opt=adamw --data ../shared/data/hn_titles.txt":
        Decision("tiny", "the same variant trained at the tiny scale on the embedded corpus", r"status=ok\s+val_loss="),
    f"{PYTHON} -m ablations.run --grid full --seeds 3 --data ../shared/data/hn_titles.txt":
        Decision("tiny", "the same grid and seeds at the tiny scale on the embedded corpus", r"^What mattered"),
    f"{PYTHON} -m ablations.run --axes opt=adamw lr=1e-3,1e-2 dropout=0.0,0.1 --scale tiny --data embedded":
        Decision("run", "tiny already", r"^  lr: .* -> "),
    f"{PYTHON} -m ablations.run --axes norm=rmsnorm norm.eps=1e-8,1e-5 opt=adamw opt.warmup=0.05,0.1 --scale tiny "
    "--data embedded":
        Decision("run", "tiny already", r"^  norm\.eps: 1e-08 -> 1e-05"),
    "[study]": Decision("file", "study.toml, read by the next example"),
    f"{PYTHON} -m ablations.run --study study.toml": Decision("run", "the study file says tiny and embedded",
                                                               r"^Full report: "),
    "from ablations import Study, run_study": Decision("run", "tiny already", r"^opt: sgd -> adamw "),
    f"{PYTHON} -m mainrun.train --scale cpu --variant opt=adamw --data ../shared/data/hn_titles.txt "
    "--checkpoint-dir runs/ckpt":
        Decision("tiny", "checkpoints at the tiny scale on the embedded corpus", r"status=ok"),
    f"{PYTHON} -m mainrun.train --scale cpu --variant opt=adamw --data ../shared/data/hn_titles.txt "
    "--checkpoint-dir runs/ckpt --resume":
        Decision("tiny", "resumes the checkpoint the example above wrote", r"status=ok"),
    f'{PYTHON} -m mainrun.sample runs/ckpt/best.pt --num 10 --prompt "Show HN:" --temperature 0.8 --top-k 50 --seed 0':
        Decision("run", "samples the best.pt the examples above wrote", lines=10),
}

TRAINING = {"mainrun.train", "ablations.run", "ablations.sweep", "ablations.ladder"}
ABLATIONS = {"ablations.run", "ablations.sweep", "ablations.ladder"}


@dataclass(frozen=True)
class Example:
    key: str
    lang: str
    text: str


def usage_examples() -> list[Example]:
    """Every fenced block of docs/usage.md that a reader could run or write, in the page's order."""
    examples = []
    for lang, body in FENCE.findall((DOCS / "usage.md").read_text()):
        if lang in ("bash", "sh", "shell", "console"):
            for line in body.replace("\\\n", " ").splitlines():
                command = " ".join(line.split())
                if command and not command.startswith("#"):
                    examples.append(Example(command, "bash", command))
        elif lang in ("python", "toml"):
            examples.append(Example(body.strip().splitlines()[0].strip(), lang, body))
        else:
            # An untagged block is text (the mental model, a printed result); a command in one would
            # be an example nobody tests.
            assert lang == "" and not any(BARE.match(line) or line.startswith((".venv/", "$ "))
                                          for line in body.splitlines()), f"tag this block as code: {body[:80]}"
    return examples


def test_every_usage_example_has_a_decision():
    keys = [e.key for e in usage_examples()]
    undecided = [k for k in keys if k not in USAGE]
    stale = [k for k in USAGE if k not in keys]
    assert not undecided, f"examples in docs/usage.md with no entry in USAGE (run, tiny, file or skip): {undecided}"
    assert not stale, f"entries of USAGE that match no example in docs/usage.md: {stale}"
    assert len(keys) == len(set(keys)), "two examples with the same first line: key them apart"


def set_flag(argv: list[str], flag: str, value: str) -> None:
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]


def command_argv(example: Example, decision: Decision) -> list[str]:
    argv = shlex.split(example.text)
    assert argv[0] == PYTHON, f"run it with {PYTHON}: {example.text}"
    assert argv[1] == "-m", example.text
    module = argv[2]
    if decision.how == "tiny":
        set_flag(argv, "--scale", "tiny")
        set_flag(argv, "--data", "embedded")
    elif module in TRAINING:
        # As written means tiny on the embedded corpus; anything larger needs a "tiny" decision.
        for flag, value in (("--scale", "tiny"), ("--data", "embedded")):
            assert flag not in argv or argv[argv.index(flag) + 1] == value, f"{example.key}: decide again"
    if module in TRAINING:
        argv += ["--max-steps", "10"]
    if module in ABLATIONS:
        argv += ["--no-plot"]
    return [sys.executable] + argv[1:]


def python_argv(example: Example) -> list[str]:
    code = example.text
    assert code.count("Study.from_options(") == 1, "the Python example changed: decide again"
    code = code.replace("Study.from_options(", "Study.from_options(max_steps=10, plot=False, ")
    return [sys.executable, "-c", code]


@pytest.fixture(scope="module")
def usage_cwd(tmp_path_factory) -> Path:
    """One folder for all of usage.md's examples, run in the page's order: the later ones use what
    the earlier ones wrote (runs/ckpt, study.toml), as a reader's would."""
    return tmp_path_factory.mktemp("usage")


@pytest.mark.slow
@pytest.mark.parametrize("example", usage_examples(), ids=lambda e: e.key[:60])
def test_usage_example_runs(example, usage_cwd):
    decision = USAGE.get(example.key)
    assert decision is not None, f"no decision for {example.key!r} in USAGE"
    if decision.how == "skip":
        pytest.skip(decision.why)
    if decision.how == "file":
        assert example.lang == "toml"
        (usage_cwd / "study.toml").write_text(example.text)
        return
    argv = python_argv(example) if example.lang == "python" else command_argv(example, decision)
    result = subprocess.run(argv, cwd=usage_cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{example.key}\n{result.stderr[-3000:]}"
    if decision.expect:
        assert re.search(decision.expect, result.stdout, re.M), result.stdout[-3000:]
    if decision.lines is not None:
        assert len(result.stdout.splitlines()) == decision.lines, result.stdout


# --- --help --------------------------------------------------------------------------------------

COMMANDS = ["mainrun.train", "mainrun.sample", "ablations.run", "ablations.sweep", "ablations.report",
            "ablations.ladder", "benchmarks.throughput"]


@pytest.mark.parametrize("module", COMMANDS)
def test_help_opens_with_the_whole_first_paragraph(module, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(["--help"])
    assert exit_.value.code == 0
    usage, description = capsys.readouterr().out.split("\n\n")[:2]
    description = " ".join(description.split())
    assert description[0].isupper() and description.endswith("."), f"not a whole sentence: {description!r}"
    doc = importlib.import_module(module).__doc__
    assert description == " ".join(doc.split("\n\n")[0].split())


def test_the_taskfile_is_yaml_every_task_can_be_read_from():
    """go-task refuses the whole file over one unquoted `: ` in a description (plain YAML scalars cannot hold
    it), so every documented `task ...` would fail; a YAML parser refuses it alike."""
    import yaml

    tasks = yaml.safe_load((Path(__file__).resolve().parents[1] / "Taskfile.yml").read_text())["tasks"]
    assert all(isinstance(task.get("desc"), str) and task.get("cmds") for task in tasks.values())
    assert {"setup", "test", "mutation", "mutation-changed", "mutation-changed-functions", "mutation-sample"} <= set(tasks)
