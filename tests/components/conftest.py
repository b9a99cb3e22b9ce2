import pytest


@pytest.fixture(scope="module", autouse=True)
def _tiny_tensors_run_single_threaded(single_torch_thread):
    yield
