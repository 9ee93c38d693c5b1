"""A search's scoring workers (and the multiprocessing resource tracker) die with the search
process, however it ends; Ctrl-C is handled once, by the search process."""
import signal

import pytest

from tests.procs import kill_parent_and_wait

pytestmark = pytest.mark.slow

# scores many tiny candidates in 2 workers; "ready" once the first result is stored
CODE = """
import sys, tempfile
from snnc.search.snasnet import SearchConfig, run_search
cfg = SearchConfig(dataset="digits", candidates=400, channels=4, T=2, batch_size=24)
def progress(done, total):
    if done:
        print("ready", flush=True)
try:
    run_search(cfg, tempfile.mkdtemp(), workers=2, progress=progress)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


@pytest.mark.parametrize("sig, group", [(signal.SIGKILL, False), (signal.SIGTERM, False),
                                        (signal.SIGINT, True)])
def test_search_workers_die_with_their_parent(sig, group):
    kids, left, err = kill_parent_and_wait(CODE, sig, "ready", min_children=3, group=group)
    assert len(kids) >= 3, kids  # two workers and the resource tracker
    assert not left, f"{len(left)} of {len(kids)} processes outlived the search"
    if sig == signal.SIGINT:
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
        assert err.count("interrupted") == 1
