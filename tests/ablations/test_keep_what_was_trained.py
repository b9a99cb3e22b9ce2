"""Nothing trained is lost or hidden: cells resume from checkpoints, keep best.pt, heal damaged files,
and refuse to mix code versions (ablations/execution/cells.py, ablations/execution/store.py, ablations/run.py)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablations.study.grid import single_grid

from mainrun import checkpoint

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TINY = ["--scale", "tiny", "--data", "embedded", "--no-plot", "--seeds", "1"]


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "ablations.run", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_single_grid_leaves_best_pt_in_every_cell_and_samples_from_it(tmp_path):
    out = tmp_path / "single"
    result = run("--grid", "single", *TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    cells = sorted((out / "cells").iterdir())
    assert len(cells) == len(single_grid())  # the baseline and one swap per non-reference member
    for cell in cells:
        assert (cell / checkpoint.BEST).exists(), cell.name
        assert not (cell / checkpoint.CHECKPOINT).exists(), f"{cell.name}: a finished cell keeps no optimizer state"
    sample = subprocess.run([sys.executable, "-m", "mainrun.sample", str(cells[0] / checkpoint.BEST), "--num", "5",
                             "--seed", "3"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert sample.returncode == 0, sample.stderr
    lines = sample.stdout.splitlines()
    assert len(lines) == 5 and all(line.strip() for line in lines)
    again = subprocess.run([sys.executable, "-m", "mainrun.sample", str(cells[0] / checkpoint.BEST), "--num", "5",
                            "--seed", "3"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.stdout == sample.stdout, "the same seed gives the same titles"


def test_a_grid_killed_during_a_cell_resumes_that_cell_from_its_checkpoint(tmp_path):
    out = tmp_path / "killed"
    args = ["--axes", "opt=sgd,adamw", "--scale", "tiny", "--data", "embedded", "--no-plot", "--workers", "1",
            "--epochs", "3", "--out", str(out)]
    runner = subprocess.Popen([sys.executable, "-m", "ablations.run", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    partial = None
    while partial is None:
        assert runner.poll() is None and time.time() < deadline, "the grid ended before it could be killed"
        for ckpt in out.glob("cells/*/checkpoint.pt"):
            state = checkpoint.load(ckpt)["state"]
            if state["step"] > 1 and not (ckpt.parent / "record.json").exists():
                partial = (ckpt.parent.name, state["step"])
        time.sleep(0.02)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    result = run(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    key, step = partial
    assert f"{key}: ok" in result.stderr and "resumed from its checkpoint at step" in result.stderr
    record = json.loads((out / "cells" / key / "record.json").read_text())
    assert record["resumed_from"] >= step  # at most the steps since the last evaluation were redone


def test_damaged_files_are_moved_aside_and_retrained_never_a_traceback(tmp_path):
    out = tmp_path / "damaged"
    args = ["--axes", "opt=sgd,adamw", *TINY, "--out", str(out)]
    assert run(*args).returncode == 0
    cells = sorted((out / "cells").iterdir())
    (cells[0] / "record.json").write_text('{"status": "ok", "val_lo')  # truncated
    (cells[1] / "curve.json").write_text("[[1, 2.5], [")
    (cells[0] / "checkpoint.pt").write_text("not a checkpoint")  # as if the cell had died mid-run
    report = subprocess.run([sys.executable, "-m", "ablations.report", str(out), "--no-plot"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0 and "Traceback" not in report.stderr
    assert f"cell {cells[0].name}: record.json cannot be read" in report.stderr
    result = run(*args)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "resuming:" not in result.stdout and "[2/2]" in result.stderr  # both cells trained again
    assert f"cell {cells[0].name}: record.json cannot be read" in result.stderr
    assert f"cell {cells[1].name}: curve.json cannot be read" in result.stderr
    assert (cells[0] / "record.json.damaged-1").exists() and (cells[1] / "curve.json.damaged-1").exists()
    assert (cells[0] / "checkpoint.pt.damaged-1").exists() and "not a mainrun checkpoint" in result.stderr
    assert json.loads((cells[0] / "record.json").read_text())["status"] == "ok"


def test_damaged_tokenizer_cache_is_rebuilt_with_one_warning(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "MAINRUN_CACHE": str(cache)}
    train = [sys.executable, "-m", "mainrun.train", "--scale", "tiny", "--data", "embedded", "--max-steps", "2",
             "--log-file", str(tmp_path / "log.jsonl")]
    assert subprocess.run(train, cwd=REPO, env=env, capture_output=True, timeout=120).returncode == 0
    for damage in ("tokenizer.json", "meta.json", "ids.pt"):
        entry = next((cache / "corpus").glob("*/meta.json")).parent
        (entry / damage).write_text("{truncated")
        result = subprocess.run(train, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (damage, result.stderr[-2000:])
        assert "cannot be read" in result.stderr and "rebuilding it" in result.stderr, damage


def test_unwritable_outputs_fail_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = [
        ([sys.executable, "-m", "mainrun.train", "--scale", "tiny", "--data", "embedded", "--log-file",
          str(blocker / "log.jsonl")], "--log-file"),
        ([sys.executable, "-m", "mainrun.train", "--scale", "tiny", "--data", "embedded", "--log-file",
          str(tmp_path)], "is a folder, not a file"),
        ([sys.executable, "-m", "ablations.run", *TINY, "--out", str(blocker / "out")], "--out"),
    ]
    for command, message in cases:
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_a_folder_made_by_other_code_is_refused_unless_allowed(tmp_path):
    out = tmp_path / "code"
    args = ["--grid", "baseline", *TINY, "--out", str(out)]
    assert run(*args).returncode == 0
    run_file = out / "run.json"
    run_info = json.loads(run_file.read_text())
    ours = run_info["code"]["source"]
    run_info["code"]["source"] = "0123456789ab"
    run_file.write_text(json.dumps(run_info))
    before = (out / "results.md").read_text()
    refused = run(*args)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "0123456789ab" in refused.stderr and ours in refused.stderr
    assert (out / "results.md").read_text() == before and json.loads(run_file.read_text())["code"]["source"] == "0123456789ab"
    allowed = run(*args, "--allow-code-change")
    assert allowed.returncode == 0
    changes = json.loads(run_file.read_text())["code_changes"]
    assert changes[-1]["from"] == "0123456789ab" and changes[-1]["to"] == ours
    assert "**Mixed code**" in (out / "results.md").read_text()


def test_tensorboard_events_hold_every_cells_curves(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "board"
    result = run("--axes", "opt=sgd,adamw", *TINY, "--tensorboard", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    cells = sorted((out / "tensorboard").iterdir())
    assert [c.name for c in cells] == sorted(p.name for p in (out / "cells").iterdir())
    for cell in cells:
        events = EventAccumulator(str(cell))
        events.Reload()
        tags = set(events.Tags()["scalars"])
        assert {"train/loss", "train/lr", "val/loss", "val/loss_full", "val/bpb", "speed/tokens_per_s"} <= tags
        record = json.loads((out / "cells" / cell.name / "record.json").read_text())
        val = events.Scalars("val/loss")
        assert val[-1].step == record["steps"] and val[-1].value == pytest.approx(record["val_loss"], rel=1e-6)
        assert len(events.Scalars("train/loss")) == record["steps"]


def test_report_pdf_renders_to_pages(tmp_path):
    import shutil

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not found (Debian's poppler-utils; .ci/run installs it)")
    out = tmp_path / "pdf"
    result = run("--grid", "single", "--scale", "tiny", "--data", "embedded", "--seeds", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    pages = tmp_path / "pages"
    pages.mkdir()
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(out / "report.pdf"), str(pages / "page")], check=True,
                   timeout=120)
    rendered = sorted(pages.glob("page-*.png"))
    # Summary, table, effects/curves/schedule images, samples, configuration.
    assert len(rendered) >= 3 and all(p.stat().st_size > 0 for p in rendered)
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True).stdout
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(out / "report.pdf"), "-"], capture_output=True,
                           text=True).stdout
    # Page 1 leads with three sentences and the chart; the results table is typeset, every row in it.
    assert "Grid `single`" in first and "Best:" in first and "against the baseline" in first
    assert "Results (best in bold" in text and "Samples" in text and "Configuration and machine" in text
    labels = ["baseline", "norm=rmsnorm", "pos=rope", "opt=adamw", "mask=title", "qknorm=rmsnorm"]
    assert all(label in text for label in labels)
    import matplotlib.image as mpimg
    shapes = [mpimg.imread(p).shape[:2] for p in rendered]
    assert any(width > height for height, width in shapes), "the tables sit on landscape pages"
