"""Lava's worker processes (one OS process per process model) die with the process that built
the network, however it ends; Ctrl-C is handled once, by that process."""
import signal

import pytest

from tests.procs import kill_parent_and_wait

pytestmark = pytest.mark.slow

# runs a small network for ever; Ctrl-C ends it the way the CLI does (one line, exit 130)
CODE = """
import sys
from tests.backends.lava.graphs import build
from snnc.backends.lava import build as build_lava
g, x = build("skip_delays")
try:
    with build_lava(g) as net:
        net.run(x[:1])
        print("ready", flush=True)
        while True:
            net.run(x)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


@pytest.mark.parametrize("sig, group", [(signal.SIGKILL, False), (signal.SIGTERM, False),
                                        (signal.SIGINT, True)])
def test_lava_processes_die_with_their_parent(sig, group):
    kids, left, err = kill_parent_and_wait(CODE, sig, "ready", min_children=5, group=group)
    assert len(kids) >= 5, kids  # Lava's processes were there
    assert not left, f"{len(left)} of {len(kids)} Lava processes outlived the parent"
    if sig == signal.SIGINT:  # Ctrl-C reaches the whole group: one line, no traceback
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
        assert err.count("interrupted") == 1
