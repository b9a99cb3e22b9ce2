import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """These tests use tiny tensors, where intra-op threads only add synchronisation; on a shared
    2-core machine a descheduled worker thread made each op ~100x slower (0.5 ms -> 100 ms).
    Module scope, because hypothesis rejects function-scoped fixtures; restored afterwards so
    other tests in the session keep torch's default."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
