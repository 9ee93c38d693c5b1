"""Planning without Lava: latencies, refusals, and the numpy emulation of the Lava network
(garbage before each neuron's latency included) against the reference interpreter."""
import numpy as np
import pytest

from snnc.backends.lava import LavaMappingError, plan
from snnc.backends.lava.optable import RULES
from snnc.optable import Refused
from snnc.ir import OPS, Graph, run, verify
from snnc.testing.random_graph import random_graph, random_input

from .emulator import emulate
from .graphs import BUILDERS, build, membranes, min_margin


@pytest.mark.parametrize("name", list(BUILDERS))
def test_emulated_lava_equals_interpreter(name):
    g, x = build(name)
    p = plan(g)
    outs, _ = membranes(g, x)
    got = emulate(p, x)
    for k in p.neurons:
        assert 0.05 <= outs[k].mean() <= 0.4, (k, outs[k].mean())
        np.testing.assert_array_equal(got[k], outs[k], err_msg=k)


def test_skip_paths_are_balanced_by_delays():
    g, _ = build("skip_delays")
    p = plan(g)
    assert p.latency == {"l1": 0, "l2": 1, "l3": 2}
    extra = {(s.src, s.dst, s.delay): s.extra for s in p.synapses}
    # e = L_dst - L_src - 1 + D
    assert extra == {("l1", "l2", 0): 0, ("l2", "l3", 0): 0, ("l1", "l3", 1): 2,
                     ("l1", "l3", 2): 3}
    assert set(p.input_fed) == {"l1", "l2"}  # c0 reaches l2 from the Input, one layer deeper
    assert p.reset_step["l1"] == (0 - 2) % p.steps  # quiet for 2 steps: l1 feeds l3 @2
    assert not p.cyclic


def test_balanceable_cycle_uses_port_connection():
    g, _ = build("recurrent")
    p = plan(g)
    assert p.cyclic and p.latency == {"l1": 0, "l2": 1}
    kinds = sorted((s.src, s.dst, s.kind, s.extra) for s in p.synapses)
    assert kinds == [("l1", "l2", "Conv", 0), ("l2", "l1", "Conv", 0), ("l2", "l1", "Port", 0)]


def test_folds_into_one_process_per_layer():
    g, _ = build("mixed")
    p = plan(g)
    assert [(s.src, s.dst, s.kind) for s in p.synapses] == [
        ("l1", "l2", "Conv"), ("l2", "l3", "Dense"), ("l3", "l4", "Dense")]
    assert sorted(p.bias_mant) == ["l2", "l3", "l4"]


def _cycle_graph(delay):
    """l1 -> c -> l2 -> c2 -@delay-> l1: two synapse hops around the cycle."""
    rng = np.random.default_rng(0)
    g = Graph({"T": 3})
    g.add_node("in", "Input", {"shape": (4,)})
    g.add_node("fc0", "Linear", {"in_features": 4, "out_features": 4},
               {"weight": rng.normal(size=(4, 4)), "bias": np.zeros(4)})
    g.add_node("l1", "LIF", {"beta": 0.5})
    g.add_node("fc1", "Linear", {"in_features": 4, "out_features": 4},
               {"weight": rng.normal(size=(4, 4)), "bias": np.zeros(4)})
    g.add_node("l2", "LIF", {"beta": 0.5})
    g.add_node("fc2", "Linear", {"in_features": 4, "out_features": 4},
               {"weight": rng.normal(size=(4, 4)), "bias": np.zeros(4)})
    g.add_node("out", "Output")
    for a, b in (("in", "fc0"), ("fc0", "l1"), ("l1", "fc1"), ("fc1", "l2"), ("l2", "out"),
                 ("l2", "fc2")):
        g.add_edge(a, b)
    g.add_edge("fc2", "l1", delay=delay, kind="backward")
    return verify(g)


def test_unbalanceable_cycle_is_refused_by_name():
    plan(_cycle_graph(2))  # 2 hops, delay 2: fine
    with pytest.raises(LavaMappingError,
                       match=r"cycle l\d (@1 )?-> l\d (@1 )?-> l\d cannot be balanced") as e:
        plan(_cycle_graph(1))
    assert "2 synapse hop(s)" in str(e.value) and "only 1 step(s)" in str(e.value)


_RESNET_BC = """snnc-genome 1
name "r-bc"
T 2
input 1x8x8
classes 4
neuron lif leak=0.5
surrogate triangle gamma=1

resnet r18 depth=18 channels=4 {
  back 4 -> 1 @2
}
classifier
"""


def _real_neuron_path(g, a, b):
    """IR delay of a path a -> ... -> b that passes no other neuron (None if there is none)."""
    stack, seen = [(a, 0)], set()
    while stack:
        n, d = stack.pop()
        for e in g.out_edges(n):
            if e.dst == b:
                return d + e.delay
            if g[e.dst].op != "LIF" and (e.dst, d + e.delay) not in seen:
                seen.add((e.dst, d + e.delay))
                stack.append((e.dst, d + e.delay))
    return None


def test_resnet_backward_connection_refusal_names_real_edges_and_delay():
    """A same-resolution backward connection at delay 2 whose cycle passes a residual skip:
    the skip cannot become a port connection (its block's two convs need 2 steps), and the
    message names the cycle by its real edges with the real delay (it used to name a reversed
    skip edge and say "0 step(s) of IR delay")."""
    import re

    from snnc.compiler import compile_genome
    from snnc.genome import parse

    g = compile_genome(parse(_RESNET_BC), target="lava").graph
    with pytest.raises(LavaMappingError) as e:
        plan(g)
    msg = str(e.value)
    head = msg.split(" cannot be balanced")[0].removeprefix("backward cycle ")
    assert head == ("r18.s1.b1.lif2 @2 -> r18.s1.b0.lif1 -> r18.s1.b0.lif2 -> r18.s1.b1.lif2")
    assert "3 synapse hop(s)" in msg and "only 2 step(s) of IR delay" in msg
    assert "0 step(s) of IR delay" not in msg.split(";")[0]
    # every named step, in the cycle and in the conflicting path, is a real IR path with that delay
    for chain in (head, msg.split("but the path ")[1].split(" has ")[0]):
        nodes = re.findall(r"(r18\.[\w.]+)", chain)
        delays = [int(m) if m else 0 for m in re.findall(r"(?:@(\d+) )?->", chain)]
        for a, b, d in zip(nodes, nodes[1:], delays):
            assert _real_neuron_path(g, a, b) == d, (a, b, d)
    assert "unit identity r18.s1.b0.lif2 -> r18.s1.b1.lif2 a port connection" in msg


def _long_delay_graph(delay):
    """skip_delays with its ``sk -> l3`` edge delayed by ``delay`` steps."""
    g, _ = build("skip_delays")
    (e,) = [e for e in g.edges if e.src == "sk"]
    g.remove_edge(e)
    g.add_edge("sk", "l3", delay=delay)
    return verify(g)


def test_long_delay_is_refused_by_edge_and_limit():
    """A delay of 1500 steps would be a delay line of 1501 Lava (OS) processes: refused before
    anything is built, naming the synapse, the IR edge and the limit (it was a RecursionError)."""
    from snnc.backends.lava.planning import MAX_DELAY_LINE

    with pytest.raises(LavaMappingError) as e:
        plan(_long_delay_graph(1500))
    msg = str(e.value)
    assert "synapse l1 -> sk -> l3 (IR delay 1500: sk -> l3 @1500)" in msg
    assert "delay line of 1501 steps" in msg and f"the limit is {MAX_DELAY_LINE}" in msg
    assert e.value.node == "l3" and e.value.rule == "lava delays"
    p = plan(_long_delay_graph(MAX_DELAY_LINE - 1))  # extra = delay + 1: at the limit, planned
    assert max(s.extra for s in p.synapses) == MAX_DELAY_LINE


def test_other_refusals():
    g = _cycle_graph(2)
    g["l2"].attrs["reset"] = "soft"
    with pytest.raises(LavaMappingError, match="neuron 'l2': reset='soft'"):
        plan(g)
    g = Graph({"T": 2})  # no neurons at all
    g.add_node("in", "Input", {"shape": (2,)})
    g.add_node("out", "Output")
    g.add_edge("in", "out")
    with pytest.raises(LavaMappingError, match="no LIF neurons"):
        plan(verify(g))


def test_threshold_below_reset_only_where_silence_is_needed():
    g, x = build("skip_delays")
    g["l3"].attrs["v_reset"] = g["l3"].attrs["v_th"] + 0.1  # l3 needs no quiet window: fine
    p = plan(g)
    assert p.neurons["l3"].vth < 0
    np.testing.assert_array_equal(emulate(p, x)["l3"], run(g, x).outputs["l3"])
    g["l1"].attrs["v_reset"] = g["l1"].attrs["v_th"] + 0.1  # l1 feeds l3 with delay 2
    with pytest.raises(LavaMappingError, match="neuron 'l1': v_th=.* is below v_reset"):
        plan(g)


def test_linear_cycle_without_a_neuron_is_refused():
    g = _cycle_graph(2)
    g.add_node("echo", "Scale", {"scale": 0.5})
    g.add_edge("fc1", "echo")
    g.add_edge("echo", "echo", delay=1, kind="backward")
    g.add_edge("echo", "l2")
    with pytest.raises(LavaMappingError, match="cycle echo -> echo has no neuron"):
        plan(verify(g))


def test_unsupported_op_is_refused_by_name(monkeypatch):
    monkeypatch.setitem(RULES, "Vote", Refused("no rule in this test"))
    g, _ = build("mixed")
    with pytest.raises(LavaMappingError, match="node 'vote': op Vote is not supported"):
        plan(g)


def test_random_graphs_emulated():
    """Random TANet-like graphs (soft resets made hard): the emulated Lava network equals the
    interpreter wherever no membrane sits within rounding of its threshold."""
    checked = refused = 0
    for seed in range(12):
        g = random_graph(seed, max_nodes=40)
        for n in g.nodes_of("LIF"):
            n.attrs["reset"] = "hard"
            n.attrs["v_reset"] = min(n.attrs["v_reset"], n.attrs["v_th"])
        x = random_input(g, seed=1, batch=2)
        try:
            p = plan(g)
        except LavaMappingError as e:
            assert "cannot be balanced" in str(e)
            refused += 1
            continue
        if min_margin(g, x) < 1e-9:
            continue
        ref = run(g, x)
        got = emulate(p, x)
        for k in p.neurons:
            np.testing.assert_array_equal(got[k], ref.outputs[k], err_msg=f"seed {seed} {k}")
        checked += 1
    assert checked >= 8 and refused <= 3


@pytest.mark.parametrize("op, words", [
    ("ReLU", "non-spiking"),
    ("PLIF", "freeze-plif"),
])
def test_other_neuron_models_are_refused_by_name(op, words):
    g, _ = build("conv_chain")
    node = g["l2"]
    node.op = op
    node.attrs = {k: v for k, v in node.attrs.items() if k in OPS[op].attrs}
    with pytest.raises(LavaMappingError, match=rf"neuron 'l2': op {op} is not supported by the "
                                               rf"Lava backend: .*{words}") as exc:
        plan(g)
    assert exc.value.node == "l2" and exc.value.rule == "lava neurons"


def test_trained_plif_deploys_as_its_lif():
    """A PLIF with the same leak and gain as a calibrated LIF: refused as such, and after the
    deploy pipeline (freeze-plif) planned and emulated with the interpreter's spikes."""
    from snnc.passes import run_pipeline

    g, x = build("conv_chain")
    for name in ("l1", "l2"):
        a = g[name].attrs
        g[name].op = "PLIF"  # alpha (1 - beta) with beta = 0.5: the LIF's gain 1, exactly
        g[name].attrs = {**a, "beta": 0.5, "alpha": 2.0, "decay_input": True}
    g = verify(g)
    ref_plif, _ = membranes(g, x)
    with pytest.raises(LavaMappingError, match="freeze-plif"):
        plan(g)
    deployed, _ = run_pipeline(g, "deploy")
    assert not deployed.nodes_of("PLIF") and deployed["l1"].attrs["alpha"] == 1.0
    p = plan(deployed)
    got = emulate(p, x)
    for k in ("l1", "l2"):
        np.testing.assert_array_equal(got[k], ref_plif[k], err_msg=k)
        assert 0.05 <= ref_plif[k].mean() <= 0.5
