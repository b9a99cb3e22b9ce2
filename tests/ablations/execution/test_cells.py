"""A cell's record (ablations/execution/cells.py): what it trained with, and where its data came from even when it
failed before training reported anything."""
import json

import pytest

import ablations.execution.cells
from ablations import run
from ablations.study.axes import Point
from ablations.execution.cells import Cell, run_cell
from mainrun.config import RunContext, TrainConfig
from mainrun.data import sources
from mainrun.variant import Variant
from tests.ablations.synthetic import install


def test_the_record_states_the_lr_the_cell_trained_at_under_lr_scaling(tmp_path, monkeypatch):
    backend = install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    assert run.main(["--axes", "opt=sgd,adamw", "--batch-size", "16", "--lr-scaling", "linear", "--seeds", "1",
                     "--scale", "tiny", "--data", "embedded", "--no-plot", "--out", str(out)]) == 0
    # The tiny preset's batch is 8: batch 16 doubles each recipe's lr (SGD's 6e-3, AdamW's 3e-4).
    recorded = {cell.config.variant.opt: json.loads((out / "cells" / cell.key / "record.json").read_text())["lr"]
                for cell in backend.trained}
    assert recorded == {"sgd": pytest.approx(1.2e-2), "adamw": pytest.approx(6e-4)}, "the record's lr is unscaled"
    assert all(recorded[cell.config.variant.opt] == cell.config.peak_lr for cell in backend.trained)


def test_a_failed_cells_record_names_its_data_source_and_fingerprint(tmp_path, monkeypatch):
    source = sources.resolve("embedded")
    config = TrainConfig.from_scale("tiny", source="embedded", variant=Variant()).resolved()
    cell = Cell(Point(Variant()), config, RunContext(threads=1), (), source.name, source.fingerprint)

    def dies_before_reporting(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(ablations.execution.cells, "train", dies_before_reporting)
    written = run_cell(cell, str(tmp_path))
    on_disk = json.loads((tmp_path / "cells" / cell.key / "record.json").read_text())
    assert written["status"] == on_disk["status"] == "failed" and "out of memory" in on_disk["error"]
    assert (on_disk["data"], on_disk["fingerprint"]) == ("embedded", source.fingerprint), \
        "the failed cell's record does not say what data it was given"


def test_a_resumed_cells_log_drops_only_the_line_a_crash_cut_and_every_line_parses(tmp_path, monkeypatch):
    import dataclasses

    from ablations.execution.store import ResultsDir
    from mainrun import training
    from mainrun.train import train

    source = sources.resolve("embedded")
    config = TrainConfig.from_scale("tiny", source="embedded", variant=Variant(opt="adamw"), max_steps=6,
                                    evals_per_epoch=79).resolved()  # evaluations at steps 1, 2, 4, 6
    cell = Cell(Point(config.variant), config, RunContext(threads=1), (), source.name, source.fingerprint)
    store = ResultsDir(tmp_path)
    log = store.partial_log(cell.key)
    log.parent.mkdir(parents=True)
    # The cell's first attempt dies in its third evaluation, after step 2's checkpoint, mid-way through
    # writing a log line.
    real, calls = training.evaluate, []

    def dies_in_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(training, "evaluate", dies_in_the_third)
        with pytest.raises(KeyboardInterrupt):
            train(config, dataclasses.replace(cell.context, log_file=str(log), checkpoint_dir=str(log.parent)),
                  progress=False)
    whole = log.read_text().splitlines()
    with open(log, "a", encoding="utf-8") as f:
        f.write('{"event": "training_step", "step": 5, "lo')  # the line the crash cut
    written = run_cell(cell, str(tmp_path))
    assert written["status"] == "ok" and written["resumed_from"] == 2
    lines = (store.cell_dir(cell.key) / "log.jsonl").read_text().splitlines()
    for number, line in enumerate(lines, 1):
        try:
            json.loads(line)
        except ValueError:
            pytest.fail(f"log.jsonl line {number} is not one JSON object: {line[:160]}")
    assert lines[:len(whole)] == whole, "the resumed log lost lines written before the crash"
    assert json.loads(lines[len(whole)])["event"] == "device_info"  # the resumed run's first line, on its own
