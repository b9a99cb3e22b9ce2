"""The runner's folder and placement decisions (ablations/execution/engine.py), on synthetic cells."""
import json
from pathlib import Path

import ablations.execution.engine
from ablations import Study, run_study
from tests.ablations.synthetic import install

TITLES = [f"title number {i} about some thing" for i in range(200)]


def test_one_data_file_spelled_two_ways_is_one_results_folder_that_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "titles.txt").write_text("\n".join(TITLES) + "\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    backend = install(monkeypatch, lambda cfg: 3.0 - 0.1 * (cfg.variant.opt == "adamw"))
    options = dict(axes=["opt=sgd,adamw"], scale="tiny", seeds=2, num_titles=200, plot=False)
    first = run_study(Study.from_options(data="titles.txt", **options))
    trained = len(backend.trained)
    assert trained == 4 and first.root.parent == Path("runs")
    for spelling in ("./sub/../titles.txt", str(tmp_path / "titles.txt")):
        again = run_study(Study.from_options(data=spelling, **options))
        assert again.root == first.root, f"--data {spelling} made another folder: {again.root} vs {first.root}"
        assert len(backend.trained) == trained, f"--data {spelling} retrained cells the first spelling finished"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [first.root.name]


def test_one_cell_left_on_two_cores_runs_as_one_worker_of_two_threads(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ablations.execution.engine, "usable_cores", lambda: 2)
    backend = install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    study = Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", seeds=1, data="embedded", out=str(out),
                               plot=False)
    run_study(study)
    assert "2 workers x 1 thread" in capsys.readouterr().out  # two cells: one worker each
    # One cell's record lost (a crash before it committed): one cell left to run.
    lost = backend.trained[-1]
    (out / "cells" / lost.key / "record.json").unlink()
    run_study(study)
    assert "1 worker x 2 threads" in capsys.readouterr().out, "one cell left did not get both cores"
    assert backend.trained[-1].key == lost.key and backend.trained[-1].context.threads == 2
    run = json.loads((out / "run.json").read_text())
    assert (run["workers"], run["threads"]) == (1, 2)


def test_each_cells_tensorboard_folder_is_named_by_its_cell(tmp_path, monkeypatch):
    from ablations.execution.cells import cell_key

    backend = install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    run_study(Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", seeds=1, data="embedded", out=str(out),
                                 plot=False, tensorboard=True))
    assert sorted(c.context.tensorboard_dir for c in backend.trained) == sorted(
        str(out / "tensorboard" / cell_key(c.point, c.seed)) for c in backend.trained)
    assert len({c.context.tensorboard_dir for c in backend.trained}) == 2


def test_submitit_with_sbatch_on_the_path_places_cells_as_slurm_jobs(monkeypatch):
    import dataclasses
    import shutil

    from ablations.execution.engine import placement

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    execution = Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", data="embedded", backend="submitit").execution
    found = placement(dataclasses.replace(execution, gpus_per_job=1))
    assert (found.backend, found.cluster, found.device, found.gpus, found.cells_get_gpu) == (
        "submitit (slurm)", "slurm", "slurm jobs with 1 GPU(s) each", 1, True)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    found = placement(dataclasses.replace(execution, gpus_per_job=0))
    assert (found.backend, found.cluster, found.device, found.cells_get_gpu) == (
        "submitit (local jobs: no sbatch here)", "local", "cpu", False)


def test_a_folder_written_before_a_setting_existed_resumes_and_run_json_says_it_was_migrated(tmp_path, monkeypatch):
    import re

    backend = install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    study = Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", seeds=1, data="embedded", out=str(out), plot=False)
    run_study(study)
    run = json.loads((out / "run.json").read_text())
    new_hash = run["config_hash"]
    # As an older version wrote it: no lr_scaling setting, and the hash of that config.
    run["config"] = {k: v for k, v in run["config"].items() if not k.endswith("lr_scaling")}
    run["config_hash"] = "0ldha5h0"
    (out / "run.json").write_text(json.dumps(run))
    trained = len(backend.trained)
    run_study(study)
    assert len(backend.trained) == trained, "the migrated folder's finished cells trained again"
    after = json.loads((out / "run.json").read_text())
    assert after["config_hash"] == new_hash and set(after["migrated"]) == {"config_hash", "at"}
    assert after["migrated"]["config_hash"] == "0ldha5h0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", after["migrated"]["at"])


def test_a_cells_record_names_the_lr_it_peaked_at_and_the_scaling_that_made_it():
    from ablations.execution.cells import settings_fields
    from mainrun.config import TrainConfig

    cfg = TrainConfig().with_values(lr_scaling="linear", batch_size=TrainConfig().training.batch_size * 2).resolved()
    fields = settings_fields(cfg)
    assert fields["lr_scaling"] == "linear" and fields["lr"] == cfg.peak_lr
    assert cfg.peak_lr == 2 * settings_fields(TrainConfig().resolved())["lr"]
