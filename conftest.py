import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

# deadline=None: CPU timings on a shared 2-core machine are too noisy for per-example deadlines.
settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parent
# Real HN titles live beside the checkout (never inside it); CI has them too.
HN_TITLES = Path(os.environ.get("MAINRUN_HN_TITLES", REPO.parent / "shared" / "data" / "hn_titles.txt"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests share one tokenizer cache of their own, never the user's."""
    if "MAINRUN_CACHE" not in os.environ:
        os.environ["MAINRUN_CACHE"] = str(tmp_path_factory.mktemp("mainrun-cache"))
    yield


@pytest.fixture
def hn_titles() -> Path:
    if not HN_TITLES.exists():
        pytest.skip(f"real HN titles not found at {HN_TITLES} (set MAINRUN_HN_TITLES)")
    return HN_TITLES


@pytest.fixture(scope="module")
def single_torch_thread():
    """For tests on tiny tensors, where intra-op threads only add synchronisation; on a shared
    2-core machine a descheduled worker thread made each op ~100x slower (0.5 ms -> 100 ms).
    Module scope, because hypothesis rejects function-scoped fixtures; restored afterwards so
    other tests in the session keep torch's default."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
