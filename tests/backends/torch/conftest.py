"""Torch backend tests run single-threaded: the graphs are tiny, and intra-op threads only add
overhead (and stall badly when the machine's cores are busy with other work)."""
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="package")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
