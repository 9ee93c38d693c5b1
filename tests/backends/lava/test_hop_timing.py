"""Hardware timing and the Lava planner: a hop-timed graph plans with the pass's latencies, no
port connection and exact spikes (emulated, no Lava started); an IR-timed loop short of delay is
refused with the loop, its hops, delay, shortfall and the fix."""
import numpy as np
import pytest

from snnc.backends.lava import LavaMappingError, plan
from snnc.backends.lava.planning import extract_terms
from snnc.compiler import compile_genome
from snnc.genome.snasnet_code import genome_from_code
from snnc.ir import run
from snnc.ir.hops import hop_latency, neuron_links, neurons_of
from snnc.passes import HopTiming, prepare
from snnc.testing.loops import random_loops
from snnc.testing.random_graph import random_graph, random_input

from .emulator import emulate
from .graphs import min_margin


@pytest.mark.parametrize("make", [lambda s: random_loops(s), lambda s: random_graph(s, max_nodes=40)],
                         ids=["loops", "stages"])
def test_links_are_the_planners_terms(make):
    """The pass's links (snnc.ir.hops) are the planner's synaptic terms: same source, target and
    IR delay."""
    for seed in range(10):
        g = make(seed)
        terms = {(t.src, j, t.delay) for j, ts in extract_terms(g).items() for t in ts}
        assert {(k.src, k.dst, k.delay) for k in neuron_links(g)} == terms, seed


@pytest.mark.parametrize("seed", range(16))
def test_hop_timed_graphs_run_exactly(seed):
    g = random_loops(seed)
    timed = HopTiming()(g)
    p = plan(timed.graph)
    neurons = neurons_of(g)
    assert p.latency == hop_latency(neurons, [k for k in neuron_links(g) if not k.backward])
    assert not any(s.direct for s in p.synapses)  # every link a real synapse, as on the chip
    x = random_input(timed.graph, seed=seed, batch=2)
    if min_margin(timed.graph, x) > 1e-9:
        ref = run(timed.graph, x)
        got = emulate(p, x)
        for k in p.neurons:
            np.testing.assert_array_equal(got[k], ref.outputs[k], err_msg=k)
    if timed.changed:
        with pytest.raises(LavaMappingError, match="--timing hardware"):
            plan(g)


def _snasnet(T=6):
    """The zoo's SNASNet-Bw CIFAR-10 cell (0303 0030 2002 0200) at width 4, 8x8 input."""
    return genome_from_code("0303 0030 2002 0200", name="snasnet-bw-tiny", classes=4,
                            channels=4, T=T, input_shape=(1, 8, 8), vote=2, hidden=16,
                            dropout=0.0, order="code")


def test_snasnet_bw_ir_timing_is_refused_with_the_loop_and_the_fix():
    g = compile_genome(_snasnet(), target="lava").graph
    with pytest.raises(LavaMappingError) as e:
        plan(g)
    msg = str(e.value)
    assert msg.startswith("backward cycle cell1.b3_1.lif @1 -> cell1.f1_2.lif -> cell1.f2_3.lif "
                          "-> cell1.b3_1.lif cannot be balanced for Lava: it has 3 synapse hop(s)")
    assert "only 1 step(s) of IR delay, 2 step(s) short" in msg
    assert ("the loop's nodes: cell1.b3_1.lif -> cell1.b3_1.conv -> cell1.f1_2.lif -> "
            "cell1.f1_2.conv -> cell1.f2_3.lif -> cell1.f2_3.conv -> cell1.n3 -> cell1.b3_1.lif"
            in msg)
    assert "`snnc train GENOME --timing hardware`" in msg and "2 more step(s) of delay" in msg


def test_snasnet_bw_hardware_timing_deploys_exactly():
    """Hop-timed on the training graph, then folded for Lava: the planner accepts it with the
    latencies the pass computed, and the emulated Lava network (thresholds lowered so that every
    layer of the untrained network fires) equals the interpreter."""
    train = compile_genome(_snasnet(), target="train", seed=0).graph
    timed = HopTiming()(train)
    assert [e.delay for e in timed.graph.edges if e.kind == "backward"] == [3, 3, 3, 3]
    deploy, _ = prepare(timed.graph, "lava")
    assert not HopTiming()(deploy).changed  # the folds keep every link's delay
    p = plan(deploy)
    assert not any(s.direct for s in p.synapses)
    neurons = neurons_of(train)
    L = hop_latency(neurons, [k for k in neuron_links(train) if not k.backward])
    assert p.latency == {n: L[n] for n in p.neurons}
    for n in deploy.nodes_of("LIF"):  # hard resets (detach_reset only matters to training)
        assert n.attrs["reset"] == "hard"
    for n in deploy.nodes_of("LIF"):
        n.attrs["v_th"] = 0.1
    p = plan(deploy)
    x = random_input(deploy, seed=3, batch=2)
    assert min_margin(deploy, x) > 1e-9
    ref = run(deploy, x)
    got = emulate(p, x)
    assert all(float(ref.outputs[k].mean()) > 0.1 for k in p.neurons)  # none silent
    for k in p.neurons:
        np.testing.assert_array_equal(got[k], ref.outputs[k], err_msg=k)
