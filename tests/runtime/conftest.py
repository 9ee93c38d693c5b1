"""Runtime tests that run torch do so single-threaded: the models are tiny, and intra-op threads
only add overhead (and stall badly when the machine's cores are busy with other work)."""
import pytest


@pytest.fixture(autouse=True, scope="package")
def _one_thread():
    try:
        import torch
    except ImportError:  # dataset/loader tests that need no torch still run
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
