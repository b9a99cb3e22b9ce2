"""`python -m ablations.run` end to end at the tiny scale on the embedded corpus (no network)."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ablations.run import main
from ablations.execution.store import ResultsDir
from mainrun.cli import run_cli
from mainrun.jsonlog import read_jsonl

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY = ["--scale", "tiny", "--data", "embedded", "--seeds", "1"]  # one seed unless a test says more
RECORD_FIELDS = {"norm", "pos", "init", "opt", "seed", "status", "val_loss", "best_val_loss", "val_loss_per_token",
                 "val_coverage", "params", "tokens_per_s", "wall_s", "data", "scale"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ablations.run", *args]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, **(env or {})})


def records(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("cells/*/record.json")}


def table_without_timings(out: Path) -> list[dict]:
    """results.csv minus the columns that measure speed, which no two runs share."""
    with open(out / "results.csv") as f:
        return [{k: v for k, v in row.items() if k not in ("tokens_per_s", "wall_s")} for row in csv.DictReader(f)]


def test_full_grid_writes_the_table_and_every_cell(full_run):
    out, result = full_run
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("ablations: 16 cells (16 variants x 1 seed), scale tiny, data embedded, device cpu")
    run_info = json.loads((out / "run.json").read_text())
    assert [run_info[k] for k in ("scale", "data", "device", "cells")] == ["tiny", "embedded", "cpu", 16]

    results = json.loads((out / "results.json").read_text())
    assert len(results) == 16 and all(RECORD_FIELDS <= set(r) for r in results)
    assert {r["status"] for r in results} == {"ok"} and {r["scale"] for r in results} == {"tiny"}
    for key in records(out):
        cell = out / "cells" / key
        log = read_jsonl(cell / "log.jsonl")
        assert log[0]["event"] == "hyperparameters_configured" and log[-1]["event"] == "run_finished"
        curve = json.loads((cell / "curve.json").read_text())
        assert curve[-1][1] == pytest.approx(log[-1]["val_loss"])

    markdown = (out / "results.md").read_text()
    # The console ends with a few lines a person reads, not the whole report.
    summary = result.stdout.split("full: 16 variants x 1 seed, val loss\n")[1].splitlines()
    assert summary[0] == "What mattered (main effects, 95% intervals over seeds):"
    assert [line.split()[0] for line in summary[1:5]] == ["opt:", "init:", "pos:", "norm:"] or len(summary) >= 5
    assert "One seed: no interval" in result.stdout and markdown not in result.stdout
    assert summary[-1] == f"Full report: {out}/results.md (and results.csv, results.json, report.pdf)"
    variant_table, effects = markdown.split("## Effects")
    rows = [line for line in variant_table.splitlines() if line.startswith("|") and ("sgd" in line or "adamw" in line)]
    assert len(rows) == 16
    baseline_rows = [r for r in rows if "| layernorm | learned | default | sgd" in r]
    assert [r for r in rows if r.startswith("| baseline ")] == baseline_rows and len(baseline_rows) == 1
    losses = [float(r.split("|")[7].split()[0]) for r in rows]
    assert losses == sorted(losses)
    assert effects.split("## Plots")[0].count("n/a: one seed, no interval") == 4 + 6
    for png in ("curves.png", "effects.png", "lr_schedule.png"):
        assert (out / png).stat().st_size > 0 and f"]({png})" in markdown
    assert len(table_without_timings(out)) == 16


def test_report_rerenders_the_same_table_without_training(full_run, tmp_path):
    out, _ = full_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for name in ("results.md", "results.csv", "results.json", "curves.png", "effects.png", "lr_schedule.png"):
        (copy / name).unlink()
    result = subprocess.run([sys.executable, "-m", "ablations.report", str(copy)], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    for name in ("results.md", "results.csv", "results.json"):
        assert (copy / name).read_text() == (out / name).read_text()
    assert result.stdout == (copy / "results.md").read_text()
    assert (copy / "effects.png").exists()


def test_resume_after_sigkill_keeps_finished_cells(full_run, tmp_path):
    out = tmp_path / "out"
    runner = subprocess.Popen(command("--grid", "full", *TINY, "--out", str(out), "--no-plot"), cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(records(out)) < 4:
        assert runner.poll() is None and time.time() < deadline, "the runner ended before it could be killed"
        time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    time.sleep(0.5)  # a worker that outlived the runner would commit its cell meanwhile
    kept = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/record.json")}
    assert 4 <= len(kept) < 16

    result = run("--grid", "full", *TINY, "--out", str(out), "--no-plot")
    assert result.returncode == 0, result.stderr
    assert f"resuming: {len(kept)} of 16 cells already finished" in result.stdout
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert not list(out.glob("cells/*/log.jsonl.partial"))
    assert table_without_timings(out) == table_without_timings(full_run[0])


BROKEN_INIT_PLUGIN = '''
from mainrun.components.inits import INITS


@INITS.register("broken")
def broken(model):
    raise RuntimeError("this init is broken on purpose")
'''


def test_diverged_and_failed_cells_are_recorded_and_the_grid_goes_on(tmp_path):
    (tmp_path / "broken_init.py").write_text(textwrap.dedent(BROKEN_INIT_PLUGIN))
    out = tmp_path / "out"
    # AdamW at lr 1e6 reaches a NaN loss within a few steps at this scale (SGD only grows huge).
    args = ["--axes", "init=default,broken", "opt=adamw", "--lr", "1e6", "--plugin", "broken_init", *TINY,
            "--out", str(out), "--no-plot"]
    env = {"PYTHONPATH": str(tmp_path)}
    result = run(*args, env=env)
    assert result.returncode == 1, result.stderr  # a failed cell
    found = records(out)
    diverged = found["layernorm-learned-default-adamw-seed1337"]
    failed = found["layernorm-learned-broken-adamw-seed1337"]
    assert diverged["status"] == "diverged" and diverged["steps"] < diverged["max_steps"]
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: this init is broken on purpose"
    failed_log = read_jsonl(out / "cells" / "layernorm-learned-broken-adamw-seed1337" / "log.jsonl")
    assert "broken on purpose" in failed_log[-1]["traceback"]
    markdown = (out / "results.md").read_text()
    assert "| 1 diverged" in markdown and "| 1 failed" in markdown
    assert "- `layernorm-learned-broken-adamw-seed1337`: RuntimeError: this init is broken on purpose" in markdown

    diverged_record = out / "cells" / "layernorm-learned-default-adamw-seed1337" / "record.json"
    failed_record = out / "cells" / "layernorm-learned-broken-adamw-seed1337" / "record.json"
    before = diverged_record.stat().st_mtime_ns, failed_record.stat().st_mtime_ns
    again = run(*args, env=env)
    assert "resuming: 1 of 2 cells already finished" in again.stdout
    assert diverged_record.stat().st_mtime_ns == before[0]  # a result: kept
    assert failed_record.stat().st_mtime_ns != before[1]  # no result: retried


def test_submitit_local_backend_runs_cells_as_jobs(full_run, tmp_path):
    out = tmp_path / "out"
    result = run("--backend", "submitit-local", "--axes", "opt=sgd,adamw", *TINY, "--out", str(out), "--no-plot")
    assert result.returncode == 0, result.stderr
    assert "submitit-local backend" in result.stdout.splitlines()[0]
    assert len(list((out / "submitit").glob("*_result.pkl"))) == 2  # one finished job per cell
    reference = records(full_run[0])
    for key, record in records(out).items():
        assert record["status"] == "ok"
        assert record["val_loss"] == pytest.approx(reference[key]["val_loss"], rel=1e-5)


def test_a_second_runner_on_the_same_folder_exits_2(tmp_path):
    out = tmp_path / "out"
    with ResultsDir(out).locked():
        result = run("--grid", "baseline", *TINY, "--out", str(out))
    assert result.returncode == 2
    assert result.stderr == (f"error: {out} is in use by another ablations runner (pid {os.getpid()}); "
                             "wait for it to finish or pass another --out\n")
    assert not (out / "cells").exists()


def test_a_folder_of_another_configuration_is_refused(full_run, capsys):
    out, _ = full_run
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, ["--grid", "full", *TINY, "--lr", "0.01", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "holds results of another configuration" in capsys.readouterr().err


def test_ctrl_c_stops_at_once_and_keeps_finished_cells(tmp_path):
    out = tmp_path / "out"
    # 16 cells: enough that the signal lands mid-grid even when this process is descheduled for a
    # second or two on a loaded machine (with 4 tiny cells the grid sometimes finished first).
    # SIG_DFL first: a shell that starts this suite in the background hands its children SIGINT
    # ignored, and Python keeps an ignored SIGINT ignored, so the runner would never see the Ctrl-C.
    runner = subprocess.Popen(command("--grid", "full", *TINY, "--out", str(out), "--no-plot"),
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not records(out):
        assert runner.poll() is None and time.time() < deadline
        time.sleep(0.05)
    runner.send_signal(signal.SIGINT)
    _, stderr = runner.communicate(timeout=30)
    assert runner.returncode == 130
    assert "interrupted: finished cells are kept" in stderr
    assert 1 <= len(records(out)) < 16
    assert not (out / "results.md").exists()


def test_hyperparameter_axes_train_typed_cells_with_their_fields_and_columns(tmp_path):
    out = tmp_path / "hp"
    result = run("--axes", "opt=adamw", "lr=1e-3,1e-2", "dropout=0.0,0.1", *TINY, "--seeds", "1337,1338",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    found = json.loads((out / "results.json").read_text())
    assert len(found) == 8 and {r["status"] for r in found} == {"ok"}
    assert {(r["lr"], r["dropout"]) for r in found} == {(1e-3, 0.0), (1e-3, 0.1), (1e-2, 0.0), (1e-2, 0.1)}
    # Every hyperparameter is a field, the recipe's default resolved.
    assert all(r["weight_decay"] == 0.1 and r["batch_size"] == 8 and r["opt"] == "adamw" for r in found)
    assert sorted(records(out)) == sorted(
        f"layernorm-learned-default-adamw-lr={lr}-dropout={d}-seed{s}"
        for lr in ("0.001", "0.01") for d in ("0.0", "0.1") for s in (1337, 1338))
    markdown = (out / "results.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("|") and "params" in line)
    assert [c.strip() for c in header.split("|")[1:8]] == ["", "norm", "pos", "init", "opt", "lr", "dropout"]
    assert "Δ vs reference" in header
    reference_rows = [line for line in markdown.splitlines() if line.startswith("| reference ")]
    assert len(reference_rows) == 1  # the first lr listed (adamw's 3e-4 is not), the preset's dropout
    assert [c.strip() for c in reference_rows[0].split("|")[5:8]] == ["adamw", "0.001", "0.1"]
    effects = markdown.split("## Effects")[1]
    assert "lr: 0.001 -> 0.01" in effects and "dropout: 0.1 -> 0.0" in effects and "lr=0.01 x dropout=0.0" in effects
    with open(out / "results.csv") as f:
        assert {"lr", "dropout"} <= set(csv.DictReader(f).fieldnames)
    # The same command resumes: nothing to train.
    again = run("--axes", "opt=adamw", "lr=1e-3,1e-2", "dropout=0.0,0.1", *TINY, "--seeds", "1337,1338",
                "--out", str(out))
    assert again.returncode == 0 and "resuming: 8 of 8 cells already finished" in again.stdout


def test_five_axis_fractional_grid_trains_sixteen_cells_and_reports_five_main_effects(tmp_path):
    out = tmp_path / "fraction"
    result = run("--axes", "norm=layernorm,rmsnorm", "pos=learned,rope", "init=default,kaiming", "opt=sgd,adamw",
                 "dropout=0.0,0.1", "--design", "fractional", *TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "16 cells (16 variants x 1 seed; a 2^(5-1) fraction, resolution V)" in result.stdout
    assert len(records(out)) == 16
    markdown = (out / "results.md").read_text()
    assert "## Design" in markdown and "E = -ABCD" in markdown and "I = -ABCDE" in markdown
    effects = markdown.split("## Effects")[1].split("## Plots")[0]
    mains = [line for line in effects.splitlines() if line.startswith("| ") and " -> " in line]
    assert len(mains) == 5
    run_info = json.loads((out / "run.json").read_text())
    assert run_info["design"]["resolution"] == "V" and run_info["axes"]["dropout"]["reference"] == 0.1


def test_a_plugin_family_trains_by_name_in_a_grid(tmp_path):
    out = tmp_path / "act"
    result = run("--plugin", "examples.activation_family", "--axes", "act=gelu,relu2", "opt=sgd,adamw", *TINY,
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(records(out)) == ["layernorm-learned-default-adamw-act=relu2-seed1337",
                                    "layernorm-learned-default-adamw-seed1337",
                                    "layernorm-learned-default-sgd-act=relu2-seed1337",
                                    "layernorm-learned-default-sgd-seed1337"]
    assert all(r["status"] == "ok" for r in records(out).values())
    markdown = (out / "results.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("|") and "params" in line)
    assert "| act " in header
    assert "act: gelu -> relu2" in markdown and "opt=adamw x act=relu2" in markdown
    # Without the plugin the family is unknown: one line, exit 2.
    bad = run("--axes", "act=gelu,relu2", *TINY, "--out", str(tmp_path / "no-plugin"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown axis 'act'")


def test_a_plugin_family_joins_the_registry_wide_tests_and_benchmarks():
    """`pytest -p MODULE` loads a plugin before collection: its family's members are collected and pass."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "examples.activation_family", "-q",
                             "-p", "no:cacheprovider", "tests/components/test_registry_wide.py",
                             "benchmarks/test_variant_speed.py", "-k", "relu2"],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= 2 + 2, summary  # two registry-wide tests, and act=relu2 in both variant benchmarks


def test_tune_picks_each_variants_lr_on_the_first_seed_and_measures_on_the_rest(tmp_path):
    out = tmp_path / "tune"
    args = ("--axes", "init=default,kaiming", "opt=adamw", "--tune", "lr=1e-3,1e-2", "--tune-extend", "0", *TINY,
            "--seeds", "3", "--out", str(out))
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert "tuned lr: " in result.stdout
    keys = sorted(records(out))
    tuning = [k for k in keys if k.endswith("seed1337")]
    assert len(tuning) == 4 and all("lr=" in k for k in tuning)  # 2 variants x 2 values, first seed only
    measured = [k for k in keys if not k.endswith("seed1337")]
    assert len(measured) == 2 * 2 * 2  # (own lr + shared default) x 2 variants x seeds 1338, 1339
    markdown = (out / "results.md").read_text()
    for section in ("## Tuning: lr per variant, on seed 1337", "## Each variant at its own lr",
                    "## Effects at each variant's tuned lr", "## Effects at the shared default lr (0.0003)",
                    "## Tuned against default"):
        assert section in markdown
    assert "extend it" in markdown or "| chosen" in markdown
    assert (out / "sensitivity_lr.png").stat().st_size > 0
    again = run(*args)
    assert again.returncode == 0 and again.stdout.count("resuming:") == 2


def test_the_modern_stack_trains_and_its_loss_falls(tmp_path):
    """Every new component at once, through the real CLI at the tiny scale."""
    log = tmp_path / "stack.jsonl"
    result = subprocess.run([sys.executable, "-m", "mainrun.train", "--scale", "tiny", "--data", "embedded", "--variant",
                             "mlp=swiglu,init=scaled,opt=muon,mask=title,qknorm=rmsnorm", "--log-file", str(log)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    val = [e["loss"] for e in read_jsonl(log) if e["event"] == "validation_step"]
    assert len(val) >= 2 and val[-1] < val[0] - 0.05  # 2.58 -> 2.44 here, measured
