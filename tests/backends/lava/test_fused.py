"""The fused process model's program (:mod:`snnc.backends.lava.fused`), without Lava: every Lava
step of every neuron, garbage steps included, equals the numpy model of the per-layer Lava
network (:mod:`.emulator`), and its IR windows equal the reference interpreter."""
import numpy as np
import pytest

from snnc.backends.lava import LavaMappingError, build, plan as make_plan
from snnc.backends.lava.build import resolve_processes
from snnc.backends.lava.fused import FusedProgram
from snnc.backends.lava.simulate import as_sequence
from snnc.ir import run
from snnc.testing.random_graph import random_graph, random_input

from .emulator import emulate
from .graphs import BUILDERS, build as build_graph, membranes


def drive(plan, x, record=None):
    """Run the program as the fused Lava network does: one period per sample, host currents in,
    recorded spikes out. Returns (IR-window spikes per neuron ``[T, B, *shape]``, every step's
    spikes per neuron ``[B * steps, *shape]``, IR layout)."""
    x = as_sequence(plan.graph, x, plan.T)
    record = list(plan.neurons) if record is None else record
    prog = FusedProgram(plan, record)
    cur = plan.host_currents(x)
    B = x.shape[1]
    win = {n: np.zeros((plan.T, B) + plan.neurons[n].shape) for n in record}
    rows = []
    for b in range(B):
        inj = prog.encode(cur, b)
        out = np.stack([prog.step(inj[k]) for k in range(plan.steps)])
        rows.append(out)
        for n, s in prog.decode(out).items():
            win[n][:, b] = s
    rows = np.concatenate(rows)
    full, at = {}, 0
    for n in record:
        shape = plan.neurons[n].shape
        size = int(np.prod(shape))
        r = rows[:, at:at + size].reshape((-1,) + plan.neurons[n].lava_shape)
        full[n] = np.transpose(r, (0, 3, 2, 1)) if len(shape) == 3 else r
        at += size
    return win, full


def _check(plan, x, ref):
    win, full = drive(plan, x)
    emu = emulate(plan, x, full=True)
    for n in plan.neurons:
        np.testing.assert_array_equal(full[n], emu[n], err_msg=f"{n}: all Lava steps")
        np.testing.assert_array_equal(win[n], ref[n], err_msg=f"{n}: IR window")


@pytest.mark.parametrize("name", list(BUILDERS))
def test_program_equals_lava_model_and_interpreter(name):
    """Feedforward, skip paths with delays (quiet windows, shifted resets), a backward cycle with
    a port connection (cyclic: buffers dropped between samples), and pooling/concat/vector
    neurons."""
    g, x = build_graph(name)
    _check(make_plan(g), x, membranes(g, x)[0])


@pytest.mark.parametrize("seed", [3, 11, 19])
def test_program_on_random_graphs(seed):
    g = random_graph(seed)
    for n in g.nodes_of("LIF"):
        n.attrs["reset"] = "hard"
        n.attrs["v_reset"] = min(n.attrs["v_reset"], n.attrs["v_th"])
    x = random_input(g, seed=1, batch=2)
    _check(make_plan(g), x, run(g, x).outputs)


def _fanout_graph(seed=1):  # seed 0: no test batch with a safe margin
    """in -> c1 -> l1, then l1 -> c2 -> l2 and l1 -> c3 -> l3 (one source, one delay, two
    neurons: one stacked product), cat(l2, l3) -> GAP -> Linear -> Output."""
    from snnc.ir import Graph, verify

    from . import graphs
    rng = np.random.default_rng(seed)
    g = Graph({"name": "fanout", "T": 5})
    g.add_node("in", "Input", {"shape": graphs.CHW})
    graphs._conv(g, rng, "c1", 2, 4, 3, padding=1)
    graphs._lif(g, "l1", beta=0.7)
    graphs._conv(g, rng, "c2", 4, 4, 3, padding=1)
    graphs._lif(g, "l2", beta=0.5)
    graphs._conv(g, rng, "c3", 4, 3, 1)
    graphs._lif(g, "l3", beta=0.9)
    g.add_node("cat", "Concat")
    g.add_node("gap", "GlobalAvgPool")
    graphs._linear(g, rng, "fc", 7, 3)
    g.add_node("out", "Output")
    graphs._chain(g, "in", "c1", "l1", "c2", "l2")
    graphs._chain(g, "l1", "c3", "l3")
    g.add_edge("l2", "cat", port=0)
    g.add_edge("l3", "cat", port=1)
    graphs._chain(g, "cat", "gap", "fc", "out")
    g = verify(g)
    graphs.calibrate(g, graphs.sample(g, batch=8, seed=100))
    return g, graphs.safe_input(g, "fanout")


def test_stacked_fanout_equals_lava_model_and_interpreter():
    g, x = _fanout_graph()
    p = make_plan(g)
    assert [len(w[3].dsts) for w in FusedProgram(p, []).work] == [2]  # l1 -> l2, l3: one product
    _check(p, x, membranes(g, x)[0])


@pytest.mark.parametrize("name", ["skip_delays", "mixed", "fanout"])
def test_synapse_products_equal_lavas_bit_for_bit(name):
    """Every synapse's event-driven product, computed as the program does (stacked with the other
    synapses of its source and delay, sliced to the spiking columns), equals the one Lava's
    Sparse/Dense process computes (``W @ s`` on its weight matrix) in every bit, at several firing
    rates."""
    from snnc.backends.lava.build import SPARSE_FROM, lava_matrix
    from snnc.backends.lava import synapses as syn

    g, _ = _fanout_graph() if name == "fanout" else build_graph(name)
    p = make_plan(g)
    prog = FusedProgram(p, [])
    rng = np.random.default_rng(0)
    lava = {}
    for s, (dst, src, e, kind, data) in zip([s for s in p.synapses if not s.direct], prog.hops):
        op = s.op
        sparse = (isinstance(op, syn.DiagOp) and int(np.prod(op.in_shape)) > SPARSE_FROM
                  or isinstance(op, syn.ConvOp))  # as build.LavaNetwork._connection decides
        lava[(src.start, e, dst.start)] = lava_matrix(op, sparse)
    kinds, checked, stacked = set(), 0, 0
    for src, e, kind, payload in prog.work:
        kinds.add(kind)
        for rate in (0.05, 0.3, 0.9):
            spikes = (rng.uniform(size=src.stop - src.start) < rate).astype(np.float64)
            act = np.flatnonzero(spikes)
            a = np.zeros(prog.n)
            if kind == "fanout":
                payload.add(a, act)
                dsts = [d for d, _, _ in payload.dsts]
            else:
                dst, data = payload
                a[dst] += data.dot(spikes)
                dsts = [dst]
            stacked += len(dsts) > 1
            for dst in dsts:
                want = lava[(src.start, e, dst.start)].dot(spikes)
                assert np.array_equal(a[dst], want)  # equal floats: equal bits (but the sign of 0)
                checked += 1
    assert checked == 3 * len(prog.hops)
    assert kinds == ({"fanout", "dense"} if name == "mixed" else {"fanout"})
    assert bool(stacked) == (name == "fanout")


def test_default_is_fused_where_exact():
    """Fused by default; layer for Lava's float32 Conv processes, and for a neuron kind the fused
    model lacks (refused by name when fused is asked for)."""
    import dataclasses

    g, _ = build_graph("mlp")
    p = make_plan(g)
    assert resolve_processes(p, None) == "fused"
    assert resolve_processes(p, "layer") == "layer"
    assert resolve_processes(p, None, conv="conv") == "layer"
    with pytest.raises(LavaMappingError, match="float32"):
        resolve_processes(p, "fused", conv="conv")

    @dataclasses.dataclass(frozen=True)
    class OtherNeuron:
        shape: tuple

    p.neurons["l2"] = OtherNeuron(p.neurons["l2"].shape)
    assert resolve_processes(p, None) == "layer"
    with pytest.raises(LavaMappingError, match="'l2' is a OtherNeuron"):
        resolve_processes(p, "fused")
    with pytest.raises(ValueError, match="processes must be"):
        resolve_processes(make_plan(g), "stage")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["skip_delays", "recurrent"])
def test_fused_lava_equals_layer_lava(name):
    """On Lava itself: the one-process network and the per-layer network give the same spikes
    (and the reference's) with a fraction of the OS processes."""
    g, x = build_graph(name)
    ref = membranes(g, x)[0]
    res, kids = {}, {}
    for mode in ("fused", "layer"):
        with build(g, processes=mode) as net:
            res[mode] = net.run(x)
            kids[mode] = len(net._children)
    assert type(net).__name__ == "LavaNetwork"
    for n in ref:
        if g[n].op == "LIF":
            np.testing.assert_array_equal(res["fused"].spikes[n], res["layer"].spikes[n], err_msg=n)
            np.testing.assert_array_equal(res["fused"].spikes[n], ref[n], err_msg=n)
    np.testing.assert_array_equal(res["fused"].output, res["layer"].output)
    # fused: the network, one injector, one extractor, Lava's runtime service and its
    # shared-memory manager
    assert kids["fused"] <= 5 < kids["layer"], kids


def test_matrix_not_in_column_order_is_multiplied_whole(monkeypatch):
    """A Sparse matrix whose rows are not stored in column order cannot be summed column by
    column in Lava's order: the program multiplies it whole (csr @ s, as Lava's process does)."""
    import importlib

    from scipy import sparse as sp

    lava_build = importlib.import_module("snnc.backends.lava.build")  # the module, not build()
    real = lava_build.lava_matrix

    def unsorted(op, sparse):
        m = real(op, sparse)
        if not sparse:
            return m
        idx, dat = m.indices.copy(), m.data.copy()
        for r in range(m.shape[0]):  # each row's entries stored in reverse column order
            a, b = m.indptr[r], m.indptr[r + 1]
            idx[a:b], dat[a:b] = idx[a:b][::-1], dat[a:b][::-1]
        out = sp.csr_matrix((dat, idx, m.indptr.copy()), shape=m.shape)
        assert not out.has_canonical_format
        return out

    monkeypatch.setattr(lava_build, "lava_matrix", unsorted)
    g, x = build_graph("skip_delays")
    p = make_plan(g)
    prog = FusedProgram(p, [])
    assert {h[3] for h in prog.hops} == {"csr"} and {w[2] for w in prog.work} == {"csr"}
    _check(p, x, membranes(g, x)[0])


@pytest.mark.parametrize("name,alif,seed", [(n, "all", 1) for n in BUILDERS]
                         + [(n, ["l2"], 1) for n in ("conv_chain", "skip_delays", "mlp")]
                         + [("recurrent", ["l2"], 3)])
def test_program_runs_alif_networks(name, alif, seed):
    """ALIF layers (every neuron, or one among LIF neurons; seeds with a safe margin): every Lava
    step equals the emulator's ALIFReset model, the IR windows the interpreter's, and the plan
    runs fused by default."""
    g, x = build_graph(name, seed=seed, alif=alif)
    p = make_plan(g)
    assert resolve_processes(p, None) == "fused"
    _check(p, x, membranes(g, x)[0])


@pytest.mark.parametrize("make", ["_links", "_recurrent_hops", "_mixed_folded"])
def test_program_fixed_point_equals_integer_reference(make):
    """A quantize-loihi graph: the program's integer neurons and synapses (Lava's bit-accurate
    models: 8-bit mantissas shifted by weight_exp, int32 host currents) give the integer
    reference interpreter's spikes exactly; fused is the default for such plans."""
    from . import test_fixed

    q = test_fixed._quantised(getattr(test_fixed, make)())
    x = test_fixed.graphs.sample(q, batch=2, seed=7)
    ref = run(q, x).outputs
    p = make_plan(q)
    assert p.fixed and resolve_processes(p, None) == "fused"
    prog = FusedProgram(p, [])
    assert {h[3] for h in prog.hops} == {"fixed"}
    assert any(h[4][1] != 0 for h in prog.hops)  # some weight_exp shifts (left or right)
    win, _ = drive(p, x)
    for n in p.neurons:
        assert win[n].mean() > 0.02, n
        np.testing.assert_array_equal(win[n], ref[n], err_msg=n)


def _alif_mlp():
    g, x = build_graph("mlp", seed=1, alif=["l2"])
    return g, x, membranes(g, x)[0]


def _fixed_links():
    from . import test_fixed

    q = test_fixed._quantised(test_fixed._links())
    x = test_fixed.graphs.sample(q, batch=2, seed=7)
    return q, x, run(q, x).outputs


@pytest.mark.slow
@pytest.mark.parametrize("make", [_alif_mlp, _fixed_links], ids=["alif", "fixed"])
def test_fused_lava_runs_alif_and_fixed_point(make):
    """On Lava: an ALIF layer, and a fixed-point plan (per-layer: Lava's fixed_pt models), run
    fused by default with the per-layer network's spikes and the reference's."""
    g, x, ref = make()
    res = {}
    for mode in (None, "layer"):
        with build(g, processes=mode) as net:
            res[mode] = net.run(x)
            if mode is None:
                assert type(net).__name__ == "FusedLavaNetwork"
    for n in res[None].spikes:
        assert res[None].spikes[n].mean() > 0.02, n
        np.testing.assert_array_equal(res[None].spikes[n], res["layer"].spikes[n], err_msg=n)
        np.testing.assert_array_equal(res[None].spikes[n], ref[n], err_msg=n)
    np.testing.assert_array_equal(res[None].output, res["layer"].output)
