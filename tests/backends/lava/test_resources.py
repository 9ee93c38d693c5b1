"""Loihi 2 resource estimate of a Lava plan, checked against brute force on dense matrices (no
Lava): counts, fan-in/out, per-core memory and axons of the reported split, every limit met, the
binding limit, refusals, delay lines, JSON."""
import json
import math

import numpy as np
import pytest

from snnc.backends.lava import plan
from snnc.backends.lava import resources
from snnc.backends.lava import synapses as syn
from snnc.backends.lava.resources import (LIMITS, PROBE, SCHEMA, Loihi2Limits, _orders,
                                         estimate)
from snnc.errors import BackendError
from snnc.ir import Graph, verify

from .graphs import BUILDERS


def _dense_conns(p, delays="relay"):
    """(src, dst, 0/1 matrix [n_dst, n_src], delay bits) for every connection the chip would
    hold, built independently of the module: dense matrices, relays per delay step (or delay
    fields), host injections."""
    size = {n: int(np.prod(v.shape)) for n, v in p.neurons.items()}
    longest = {}
    for s in p.synapses:
        if not s.direct and s.extra:
            longest[s.src] = max(longest.get(s.src, 0), s.extra)
    conns, layers = [], {}
    for name in p.neurons:
        layers[name] = p.neurons[name].shape
        for k in range(1, (longest.get(name, 0) if delays == "relay" else 0) + 1):
            layers[f"{name}~{k}"] = p.neurons[name].shape
            conns.append((name if k == 1 else f"{name}~{k - 1}", f"{name}~{k}",
                          np.eye(size[name], dtype=bool), 0))
    for s in p.synapses:
        relay = delays == "relay" and not s.direct and s.extra
        src = f"{s.src}~{s.extra}" if relay else s.src
        m = (np.eye(size[s.src], dtype=bool) if s.direct
             else syn.to_dense(s.op).matrix != 0)
        bits = 0 if delays == "relay" or s.direct else len(bin(s.extra)) - 2 if s.extra else 0
        conns.append((src, s.dst, m, bits))
    for name in p.fed:
        conns.append(("<host>", name, np.eye(size[name], dtype=bool), 0))
    return layers, conns


def _brute(p, report, w=8):
    """Per layer: synapses, fan-in/out arrays, and per-core (memory, in-axons, out-axons) of the
    split the report names."""
    layers, conns = _dense_conns(p, report.delays)
    rows = {r.name: r for r in report.layers}
    chunks = {}
    for name, shape in layers.items():
        if rows[name].cores:  # 0: not packed, after a layer that does not fit
            chunks[name] = np.array_split(_orders(shape)[rows[name].split], rows[name].cores)
    head = set(p.head_neurons)
    # per connection and source unit: how many of the target's cores it has a synapse on
    reached = {(src, d, id(m)): sum((m[dch].any(0).astype(int) for dch in chunks.get(d, [])),
                                    np.zeros(m.shape[1], int)) for src, d, m, _ in conns}
    out = {}
    for name, shape in layers.items():
        n = int(np.prod(shape))
        inc = [m for s, d, m, _ in conns if d == name and s != "<host>"]
        outg = [(d, m) for s, d, m, _ in conns if s == name]
        fan_in = sum((m.sum(1) for m in inc), np.zeros(n, int))
        fan_out = sum((m.sum(0) for _, m in outg), np.zeros(n, int))
        mem, ax_in, ax_out = [], [], []
        for ch in chunks.get(name, []):
            bits = axons = 0
            for s, d, m, db in conns:
                if d != name:
                    continue
                sub = m[ch]
                a = int(sub.any(0).sum())
                nnz = int(sub.sum())
                idx = max(1, math.ceil(math.log2(max(len(ch), 2))))
                bits += min(a * len(ch) * (w + db), nnz * (w + db + idx))
                axons += a
            mem.append(bits)
            ax_in.append(axons)
            o = len(ch) if name in head else 0
            for d, m in outg:  # (neuron, destination core) pairs
                o += int(reached[(name, d, id(m))][ch].sum())
            ax_out.append(o)
        out[name] = dict(synapses=int(sum(m.sum() for m in inc)), fan_in=fan_in, fan_out=fan_out,
                         mem=mem, ax_in=ax_in, ax_out=ax_out, sizes=[len(c) for c in chunks.get(name, [])])
    return out


def _check(p, report, limits):
    brute = _brute(p, report)
    assert [r.name for r in report.layers] == list(brute)
    for r in report.layers:
        b = brute[r.name]
        assert r.synapses == b["synapses"], r.name
        assert r.fan_in_max == b["fan_in"].max() and r.fan_in_mean == pytest.approx(
            b["fan_in"].mean())
        assert r.fan_out_max == b["fan_out"].max() and r.fan_out_mean == pytest.approx(
            b["fan_out"].mean())
        if not r.cores:
            assert not report.fits
            continue
        assert r.memory_bits == sum(b["mem"]), r.name
        assert r.input_axons == max(b["ax_in"]) and r.output_axons == max(b["ax_out"]), r.name
        if report.fits:
            assert max(b["sizes"]) <= limits.neurons_per_core
            assert max(b["mem"]) <= limits.synapse_bits_per_core
            assert max(b["ax_in"]) <= limits.input_axons_per_core
            assert max(b["ax_out"]) <= limits.output_axons_per_core
    assert report.cores == sum(r.cores for r in report.layers)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_counts_and_split_equal_brute_force(name):
    g = BUILDERS[name]()
    p = plan(g)
    limits = Loihi2Limits()
    r = estimate(p)
    assert r.fits and r.chips == 1
    assert all(x.cores == 1 and x.binding == "-" for x in r.layers)
    _check(p, r, limits)


@pytest.mark.parametrize("delays", ["relay", "synaptic"])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_tight_limits_are_met_by_the_split(name, delays):
    """Limits small enough that every kind binds somewhere; each core of the reported split
    meets each of them (recounted by brute force)."""
    g = BUILDERS[name]()
    p = plan(g)
    limits = Loihi2Limits(neurons_per_core=12, synapse_bits_per_core=4000,
                          input_axons_per_core=60, output_axons_per_core=90, cores_per_chip=8)
    r = estimate(p, limits=limits, delays=delays)
    _check(p, r, limits)
    if r.fits:
        assert r.chips == max(1, math.ceil(r.cores / 8))
        assert any(x.cores > 1 for x in r.layers)
        n = r.totals["neurons"]
        assert math.ceil(n / 12) <= r.cores_shared <= r.cores


@pytest.mark.parametrize("name", ["conv_chain", "mixed", "recurrent"])
def test_chunk_by_chunk_sources_equal_brute_force(name, monkeypatch):
    """Large splits find each chunk's sources on its bounding box (strided, padded and grouped
    convolutions here), not through one transposed convolution of every chunk's mask."""
    monkeypatch.setattr(resources, "SMALL", 0)
    p = plan(BUILDERS[name]())
    limits = Loihi2Limits(neurons_per_core=7, input_axons_per_core=40)
    r = estimate(p, limits=limits)
    assert any(x.cores > 1 for x in r.layers)
    _check(p, r, limits)


def test_large_splits_are_probed_then_checked_in_full():
    """Over :data:`PROBE` chunks a layer is probed on a spread of chunks first; the final split
    still meets every limit on every chunk."""
    p = plan(BUILDERS["conv_chain"]())
    limits = Loihi2Limits(neurons_per_core=4, input_axons_per_core=17, synapse_bits_per_core=900)
    r = estimate(p, limits=limits)
    assert max(x.cores for x in r.layers) > PROBE
    _check(p, r, limits)


def _mlp(w1, w2):
    g = Graph({"name": "m", "T": 2})
    g.add_node("in", "Input", {"shape": (w1.shape[1],)})
    g.add_node("fc1", "Linear", {"in_features": w1.shape[1], "out_features": w1.shape[0],
                                 "bias": False}, {"weight": w1})
    g.add_node("a", "LIF", {"beta": 0.5})
    g.add_node("fc2", "Linear", {"in_features": w2.shape[1], "out_features": w2.shape[0],
                                 "bias": False}, {"weight": w2})
    g.add_node("b", "LIF", {"beta": 0.5})
    g.add_node("out", "Output")
    for u, v in (("in", "fc1"), ("fc1", "a"), ("a", "fc2"), ("fc2", "b"), ("b", "out")):
        g.add_edge(u, v)
    return verify(g)


def test_hand_counted_mlp():
    """a: 4 neurons fed by the host; b: 3 neurons, weights with 2 zeros (10 synapses)."""
    w2 = np.arange(1.0, 13.0).reshape(3, 4)
    w2[0, 1] = w2[2, 3] = 0.0
    r = estimate(plan(_mlp(np.ones((4, 5)), w2)))
    a, b = r.layers
    assert (a.name, a.neurons, a.synapses, a.injected) == ("a", 4, 0, True)
    assert (b.name, b.neurons, b.synapses, b.injected) == ("b", 3, 10, False)
    assert (b.fan_in_max, b.fan_in_mean) == (4, pytest.approx(10 / 3))
    assert (a.fan_out_max, a.fan_out_mean) == (3, pytest.approx(10 / 4))
    # b's core: 4 source axons; dense 4*3*8 = 96 bits < sparse 10*(8+2) = 100
    assert b.memory_bits == 96 and b.input_axons == 4
    # a's core: 4 host axons; dense 4*4*8 = 128 > sparse 4*(8+2) = 40
    assert a.memory_bits == 40 and a.input_axons == 4
    assert a.output_axons == 4 and b.output_axons == 3  # b is read by the host
    assert r.totals["synapses"] == 10 and r.weight_bits == 8
    assert estimate(plan(_mlp(np.ones((4, 5)), w2)), weight_bits=4).layers[1].memory_bits == 48


def test_binding_limits_named():
    g = _mlp(np.ones((8, 5)), np.ones((6, 8)))
    p = plan(g)
    r = estimate(p, limits=Loihi2Limits(neurons_per_core=3))
    assert [(x.cores, x.binding) for x in r.layers] == [(3, "neurons_per_core"),
                                                         (2, "neurons_per_core")]
    r = estimate(p, limits=Loihi2Limits(synapse_bits_per_core=8 * 8 * 3))  # 3 dense rows of b
    assert r.layers[1].binding == "synapse_bits_per_core" and r.layers[1].cores == 2
    r = estimate(p, limits=Loihi2Limits(output_axons_per_core=12))  # a -> 1 core of b: 8 each
    assert r.fits
    r = estimate(p, limits=Loihi2Limits(output_axons_per_core=3))
    assert r.fits and [x.binding for x in r.layers] == ["output_axons_per_core"] * 2
    _check(p, r, Loihi2Limits(output_axons_per_core=3))
    r = estimate(p, limits=Loihi2Limits(output_axons_per_core=2))  # b alone needs 6 cores
    assert not r.fits and "output axons" in r.reason and "layer 'a'" in r.reason


def test_fan_in_over_the_axon_limit_does_not_fit():
    r = estimate(plan(_mlp(np.ones((4, 5)), np.ones((3, 4)))),
                 limits=Loihi2Limits(input_axons_per_core=3))
    assert not r.fits
    assert "layer 'b'" in r.reason and "input_axons_per_core" in r.reason
    assert r.verdict().startswith("does not fit: a single neuron of layer 'b' needs 4 axons")
    assert [bool(x.over_limit) for x in r.layers] == [False, True]
    assert all(x.cores > 0 for x in r.layers)  # every layer is still split and counted
    assert r.layers[1].cores == 3 and r.cores == 5


def test_small_layers_share_a_core():
    r = estimate(plan(_mlp(np.ones((4, 5)), np.ones((3, 4)))))
    assert (r.cores, r.cores_shared, r.chips_shared) == (2, 1, 1)
    assert estimate(plan(_mlp(np.ones((4, 5)), np.ones((3, 4)))),
                    limits=Loihi2Limits(neurons_per_core=4)).cores_shared == 2


def test_synaptic_delays_replace_relays():
    p = plan(BUILDERS["skip_delays"]())
    relay, field = estimate(p), estimate(p, delays="synaptic")
    assert not [x for x in field.layers if x.kind == "delay"]
    assert [x.name for x in field.layers] == list(p.neurons)
    assert field.totals["synapses"] == relay.totals["synapses"] - relay.totals["delay_neurons"]
    assert field.to_dict()["delays"] == "synaptic"
    _check(p, field, Loihi2Limits())
    with pytest.raises(BackendError, match="delays"):
        estimate(p, delays="axonal")


def test_delay_lines_become_relay_layers():
    p = plan(BUILDERS["skip_delays"]())
    r = estimate(p)
    longest = max(s.extra for s in p.synapses if s.src == "l1")
    relays = [x for x in r.layers if x.kind == "delay"]
    assert [x.name for x in relays if x.source == "l1"] == [f"l1~{k}" for k in
                                                             range(1, longest + 1)]
    assert all(x.fan_in_max == 1 and x.synapses == x.neurons for x in relays)
    assert r.totals["delay_neurons"] == sum(x.neurons for x in relays) > 0


def test_chip_count_and_json():
    p = plan(BUILDERS["conv_chain"]())
    r = estimate(p, limits=Loihi2Limits(neurons_per_core=16, cores_per_chip=4), model="cc")
    assert r.chips == math.ceil(r.cores / 4) and r.cores > 4
    d = json.loads(json.dumps(r.to_dict()))
    assert d["schema"] == SCHEMA and d["model"] == "cc" and d["fits"] is True
    assert d["verdict"] == (f"fits on {r.chips} chips ({r.cores} cores; {r.cores_shared} if "
                            f"small layers share cores)")
    assert d["delays"] == "relay" and d["cores_shared"] == r.cores_shared <= r.cores
    assert set(d["limits"]) == set(LIMITS)
    assert all(v["source"] and isinstance(v["estimate"], bool) for v in d["limits"].values())
    assert d["limits"]["neurons_per_core"]["value"] == 16
    assert [x["name"] for x in d["layers"]] == [x.name for x in r.layers]
    assert d["totals"]["cores"] == r.cores
    again = estimate(plan(BUILDERS["conv_chain"]()),
                     limits=Loihi2Limits(neurons_per_core=16, cores_per_chip=4), model="cc")
    assert again.to_dict() == r.to_dict()


def test_bad_arguments_are_refused():
    p = plan(BUILDERS["mlp"]())
    with pytest.raises(BackendError, match="weight_bits"):
        estimate(p, weight_bits=0)
    with pytest.raises(BackendError, match="neurons_per_core"):
        estimate(p, limits=Loihi2Limits(neurons_per_core=0))


@pytest.mark.parametrize("which", ["backward", "decoder"])
def test_upsampling_synapses_equal_brute_force(which):
    """Nearest upsampling is a scipy sparse synapse matrix (SparseOp); its counts and every
    core of a tight split equal the brute-force recount."""
    from .test_upsample import _backward, _decoder
    g, _ = {"backward": _backward, "decoder": _decoder}[which]()
    p = plan(g)
    assert any(isinstance(s.op, syn.SparseOp) for s in p.synapses)
    for limits in (Loihi2Limits(), Loihi2Limits(neurons_per_core=12, input_axons_per_core=20)):
        r = estimate(p, limits=limits)
        _check(p, r, limits)
    assert any(x.cores > 1 for x in r.layers)
