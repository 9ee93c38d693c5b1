"""Nearest upsampling (BCNAS-SNN's cross-resolution backward connections) as Lava synapse weights:
the sparse operator and its compositions against the interpreter's Upsample, planned networks
emulated (no Lava), and one tiny real Lava run of a global backward connection."""
import numpy as np
import pytest

from snnc.backends.lava import plan
from snnc.backends.lava import synapses as syn
from snnc.ir import Graph, run, verify
from snnc.ir.interpret import conv2d
from snnc.passes import run_pipeline
from tests.ir.graphs import backward_net

from .emulator import emulate
from .graphs import _chain, _conv, _lif, _linear, calibrate, membranes, safe_input, sample


def _up(x, s):
    return np.repeat(np.repeat(x, s, axis=2), s, axis=3)


def test_upsample_operator_and_compositions_equal_interpreter():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 3, 4, 5))
    up = syn.upsample((3, 4, 5), 2)
    assert isinstance(up, syn.SparseOp) and up.matrix.nnz == 3 * 8 * 10  # one synapse per unit
    np.testing.assert_array_equal(up.apply(x), _up(x, 2))
    np.testing.assert_array_equal(syn.to_dense(up).apply(x), _up(x, 2))
    w = rng.normal(size=(6, 3, 3, 3))
    conv = syn.ConvOp(w, 1, 1, 1, (3, 8, 10), (6, 8, 10))
    fused = syn.compose(conv, up, ("up", "conv"))  # the conv after the upsampling: one matrix
    assert isinstance(fused, syn.SparseOp)
    np.testing.assert_allclose(fused.apply(x), conv2d(_up(x, 2), w, None, 1, 1), atol=1e-12)
    bn = syn.DiagOp(rng.uniform(0.5, 1.5, (6, 1, 1)) * np.ones((6, 8, 10)), (6, 8, 10))
    np.testing.assert_allclose(syn.compose(bn, fused).apply(x), bn.apply(fused.apply(x)),
                               atol=1e-12)
    # beside a same-shape path (a skip), summed into one operator; placed in a Concat
    skip = syn.compose(syn.ConvOp(rng.normal(size=(6, 3, 1, 1)), 1, 0, 1, (3, 8, 10),
                                  (6, 8, 10)), up)
    total = syn.add(fused, skip)
    np.testing.assert_allclose(total.apply(x), fused.apply(x) + skip.apply(x), atol=1e-12)
    cat = syn.embed(fused, 2, 9)
    want = np.zeros((3, 9, 8, 10))
    want[:, 2:8] = fused.apply(x)
    np.testing.assert_allclose(cat.apply(x), want, atol=1e-12)
    # a dense head after it (GAP -> Linear) becomes a dense matrix
    gap = syn.DenseOp(np.kron(np.eye(6), np.full((1, 80), 1 / 80)), (6, 8, 10), (6,))
    head = syn.compose(gap, fused)
    assert isinstance(head, syn.DenseOp)
    np.testing.assert_allclose(head.apply(x), fused.apply(x).mean(axis=(2, 3)), atol=1e-12)
    np.testing.assert_allclose(syn.scale(fused, 0.5).apply(x), 0.5 * fused.apply(x))


def _backward(delay=2):
    """tests/ir/graphs.backward_net (b.lif -@d-> Upsample -> 1x1 conv -> BN -> a.lif) after the
    deploy pipeline, hard resets, calibrated; the cycle a.lif -> b.lif -> a.lif has 2 hops."""
    g = verify(backward_net())
    (e,) = [e for e in g.edges if e.dst == "bc.up"]
    g.remove_edge(e)
    g.add_edge("b.lif", "bc.up", delay=delay, kind="backward")
    g, _ = run_pipeline(verify(g), "deploy")
    calibrate(g, sample(g, batch=8, seed=100))
    return g, safe_input(g, "backward_net")


def _decoder(seed=0):
    """A forward upsampling into a Concat with a full-resolution path, then a padded 3x3 conv:
    in -> c1 (stride 2) -> l1 (4,4,4) -> up x2 -> cat:0; in -> c0 -> l0 -> cat:1; cat -> c2 -> l2
    (3,8,8) -> GAP -> fc -> out."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "decoder", "T": 4})
    g.add_node("in", "Input", {"shape": (2, 8, 8)})
    _conv(g, rng, "c1", 2, 4, 3, padding=1, stride=2)
    _lif(g, "l1", beta=0.6)
    g.add_node("up", "Upsample", {"scale": 2})
    _conv(g, rng, "c0", 2, 2, 3, padding=1)
    _lif(g, "l0", beta=0.7)
    g.add_node("cat", "Concat")
    _conv(g, rng, "c2", 6, 3, 3, padding=1)
    _lif(g, "l2", beta=0.8)
    g.add_node("gap", "GlobalAvgPool")
    _linear(g, rng, "fc", 3, 3)
    g.add_node("out", "Output")
    _chain(g, "in", "c1", "l1", "up")
    _chain(g, "in", "c0", "l0")
    g.add_edge("up", "cat", port=0)
    g.add_edge("l0", "cat", port=1)
    _chain(g, "cat", "c2", "l2", "gap", "fc", "out")
    verify(g)
    calibrate(g, sample(g, batch=8, seed=100))
    return g, safe_input(g, "decoder")


@pytest.mark.parametrize("make", [_backward, _decoder])
def test_upsampling_networks_emulated_equal_interpreter(make):
    g, x = make()
    p = plan(g)
    ups = [s for s in p.synapses if any(g[n].op == "Upsample" for n in s.via)]
    assert ups and all(s.kind == "Sparse" and isinstance(s.op, syn.SparseOp) for s in ups)
    outs, _ = membranes(g, x)
    got = emulate(p, x)
    for k in p.neurons:
        assert 0.05 <= outs[k].mean() <= 0.4, (k, outs[k].mean())
        np.testing.assert_array_equal(got[k], outs[k], err_msg=k)


def test_backward_upsampling_folds_into_one_synapse():
    """b.lif -> Upsample -> 1x1 conv -> BN -> a.lif is one Sparse synapse (no hop per op), with
    the IR delay of the backward edge."""
    g, _ = _backward()
    p = plan(g)
    (s,) = [s for s in p.synapses if s.src == "b.lif" and s.dst == "a.lif"]
    assert s.via[:2] == ("bc.up", "bc.conv") and s.delay == 2 and s.extra == 0 and p.cyclic


def test_resnet_bc_upsampling_maps_and_only_timing_is_refused():
    """A reduced ResNet-18 with a cross-resolution backward connection (BCNAS-SNN): at delay 1 the
    planner refuses the cycle's timing (hops > delay), not the Upsample; with enough delay the
    upsampled connection is planned as one Sparse synapse."""
    from snnc.backends.lava import LavaMappingError
    from snnc.compiler import compile_genome
    from snnc.genome import parse

    text = ('snnc-genome 1\nname "r-bc"\nT 2\ninput 1x8x8\nclasses 4\nneuron lif leak=0.5\n'
            'surrogate triangle gamma=1\n\nresnet r18 depth=18 channels=4 {\n  back 8 -> 0 @%d\n'
            '}\nclassifier\n')
    g = compile_genome(parse(text % 1), target="lava").graph
    assert g.nodes_of("Upsample")
    with pytest.raises(LavaMappingError, match="cannot be balanced") as e:
        plan(g)
    assert "Upsample" not in str(e.value)
    g = compile_genome(parse(text % 12), target="lava").graph
    p = plan(g)
    (up,) = [s for s in p.synapses if any(".up" in n for n in s.via)]
    assert up.kind == "Sparse" and up.delay == 12 and up.dst == "r18.stem.lif"


@pytest.mark.slow
def test_lava_runs_backward_upsampling():
    """One tiny real Lava run: the backward connection through Upsample (a cyclic plan), every
    spike equal to the interpreter's."""
    from snnc.backends.lava import simulate

    g, x = _backward()
    outs = run(g, x).outputs
    res = simulate(g, x)
    for k in ("a.lif", "b.lif"):
        np.testing.assert_array_equal(res.spikes[k], outs[k], err_msg=k)
    np.testing.assert_allclose(res.output, outs[g.output_node.name], rtol=1e-9, atol=1e-9)
