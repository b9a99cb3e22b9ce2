"""Pins behaviour of ablations/study/study.py, ablations/execution/plans.py, ablations/analysis/summary.py and
ablations/execution/worker.py that the rest of the suite left unchecked: where a job's cells train without
--gpus-per-job, the plugins a study carries, the staged axes a sweep's study.toml leaves out, the hash naming
a sweep's default folder, the default rows of a tune without a shared default, and the worker's start-up."""
import hashlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ablations import Study, run_study
from ablations.analysis.summary import summarise
from ablations.execution import worker
from ablations.execution.engine import config_hash
from ablations.execution.plans import SweepPlan, plan_for
from ablations.study.study import Execution
from mainrun.variant import Variant
from tests.ablations.synthetic import install

RUNNER = SimpleNamespace(source=SimpleNamespace(fingerprint="fp"))


# --- Execution.cells_get_gpu: a job backend without --gpus-per-job follows this machine's CUDA ---

@pytest.mark.parametrize("backend", ["submitit", "submitit-local"])
@pytest.mark.parametrize("cuda", [True, False])
def test_a_job_without_gpus_per_job_gets_a_gpu_where_this_machine_has_cuda(monkeypatch, backend, cuda):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    execution = Execution(backend=backend)
    assert execution.gpus_per_job is None
    assert execution.cells_get_gpu() is cuda
    # Given, --gpus-per-job decides whatever this machine has.
    assert Execution(backend=backend, gpus_per_job=0).cells_get_gpu() is False
    assert Execution(backend=backend, gpus_per_job=1).cells_get_gpu() is True


# --- Study.from_options: a study carries its plugins, loads them, and writes them to study.toml ---

def test_a_study_carries_loads_and_writes_its_plugins(tmp_path, monkeypatch):
    module = "survivors_study_plugin_probe"
    (tmp_path / f"{module}.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    study = Study.from_options(axes=["opt=sgd,adamw"], plugin=module, scale="tiny", seeds=2, data="embedded")
    assert study.plugins == (module,)
    assert module in sys.modules, "the plugin was not imported"
    text = study.to_toml(data="embedded", out=Path("."))
    assert f'plugin = ["{module}"]' in text.split("[study]\n", 1)[1].split("\n\n", 1)[0]
    path = tmp_path / "study.toml"
    path.write_text(text)
    assert Study.from_toml(path).plugins == (module,)
    listed = Study.from_options(axes=["opt=sgd,adamw"], plugin=[module], scale="tiny", seeds=2, data="embedded")
    assert listed.plugins == (module,)
    assert Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", seeds=2, data="embedded").plugins == ()


# --- Study.to_toml: a sweep's staged axes are no settings of its study.toml ---

def test_a_sweeps_study_toml_leaves_its_staged_axes_out_and_reads_back(tmp_path):
    study = Study.from_options(stage=["batch-size=4,16"], scale="tiny", seeds=2, data="embedded")
    assert study.base.get("batch_size") == 8, "the preset sets the staged axis: the file must leave it out"
    text = study.to_toml(data="embedded", out=Path("."))
    assert "batch_size" not in text
    training = text.split("[training]\n", 1)[1].split("\n\n", 1)[0]
    assert training == 'grad_accum = 1\nepochs = 1\nbudget = 1.0\nevals_per_epoch = 2\nprecision = "fp32"'
    path = tmp_path / "study.toml"
    path.write_text(text)
    again = Study.from_toml(path)  # a staged axis written as a setting too would be refused here
    assert again.stages == study.stages and again.base == study.base and again.seeds == study.seeds
    assert again.to_toml(data="embedded", out=Path(".")) == text


# --- SweepPlan.folders: the default folder's name hashes the sweep's identity, its config included ---

def test_a_sweeps_default_folder_is_named_after_the_hash_of_its_identity(capsys):
    study = Study.from_options(stage=["lr=1e-3,1e-2"], variant="opt=adamw", seeds=2, scale="tiny", data="embedded")
    plan = plan_for(study, RUNNER)
    assert type(plan) is SweepPlan
    first = next(plan.folders())
    base = study.base.with_values(variant=Variant(opt="adamw"))
    identity = json.dumps({"variant": str(Variant(opt="adamw")), "stages": ["lr=1e-3,1e-2"], "seeds": [1337, 1338],
                           "config": config_hash(base, "fp")}, sort_keys=True)
    expected = Path("runs") / f"sweep-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"
    assert plan.root == expected and first.root == expected / "stage1-lr"
    # The config is part of the identity: another fingerprint names another folder.
    other = plan_for(study, SimpleNamespace(source=SimpleNamespace(fingerprint="other")))
    next(other.folders())
    assert other.root != plan.root and other.root.name.startswith("sweep-") and len(other.root.name) == 14
    capsys.readouterr()


# --- summarise_tuned: without a shared default, the tuning has no default rows ---

def test_a_tune_without_a_shared_default_has_no_default_rows(tmp_path, monkeypatch):
    install(monkeypatch, lambda cfg: 2.0 + 0.1 * (cfg.variant.opt == "adamw") + 0.01 * (cfg.training.seed - 1337))
    out = tmp_path / "tuned"
    run_study(Study.from_options(axes=["opt=sgd,adamw"], tune="lr=1e-3,1e-2", tune_extend=0, shared_default=False,
                                 seeds=3, scale="tiny", data="embedded", out=str(out), plot=False))
    s = summarise(out)
    assert s.tuning.tune.shared_default is False
    assert s.tuning.default_rows == []
    assert s.tuning.default_effects is None and s.tuning.default_resolution is None
    assert s.tuning.default_label == "lr"
    assert [r.label for r in s.rows] == ["lr=0.001", "opt=adamw, lr=0.001"]  # each at its own pick
    assert s.cells == 2 * 2 * 1 + 2 * 2  # tuning, then measuring: no cells at a shared default


# --- worker.main: the start-up, in process ---

def test_the_worker_main_starts_up_and_serves_its_connection(monkeypatch):
    calls = []
    fake_signal = SimpleNamespace(SIGINT="SIGINT", SIG_IGN="SIG_IGN", SIG_UNBLOCK="SIG_UNBLOCK",
                                  signal=lambda sig, handler: calls.append(("signal", sig, handler)),
                                  pthread_sigmask=lambda how, sigs: calls.append(("sigmask", how, set(sigs))))
    monkeypatch.setattr(worker, "signal", fake_signal)
    monkeypatch.setattr(worker, "die_with_runner", lambda pid: calls.append(("die_with_runner", pid)))
    monkeypatch.setattr(worker, "tqdm", SimpleNamespace(set_lock=lambda lock: calls.append(("set_lock", type(lock)))))

    class FakeConnection:
        def __init__(self, fd):
            self.fd = fd
            calls.append(("connection", fd))

    monkeypatch.setattr(worker, "Connection", FakeConnection)
    served = []
    monkeypatch.setattr(worker, "serve", lambda connection: (served.append(connection), calls.append(("serve",))))
    assert worker.main(["5", "4321"]) == 0
    [connection] = served
    assert type(connection) is FakeConnection and connection.fd == 5
    import threading

    assert calls == [("signal", "SIGINT", "SIG_IGN"), ("sigmask", "SIG_UNBLOCK", {"SIGINT"}),
                     ("die_with_runner", 4321), ("set_lock", type(threading.RLock())), ("connection", 5), ("serve",)]
    with pytest.raises(ValueError):
        worker.main(["five", "4321"])
