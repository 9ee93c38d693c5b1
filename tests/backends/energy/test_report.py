"""Energy reports: hand-computed MACs, SOPs and energies (STTS eqs. C.1, C.2), counting rules,
rates from traces, and the stable JSON/CSV forms. numpy only (no torch)."""
import csv
import io
import json

import numpy as np
import pytest

from snnc.backends.energy import (LAYER_KEYS, SCHEMA, EnergyError, Rates, build_report,
                                  count_layers, get_table, node_kinds, rates_from_trace)
from snnc.ir import Graph, run

from tests.ir.graphs import conv_net, recurrent_net

from .graphs import hand_graph

E_MAC, E_AC = 4.6, 0.9

# per-step firing rates of the hand graph's neurons (T = 2)
RATES = {"lif1": [0.5, 0.25], "lif3": [0.125, 0.375], "lif2": [0.25, 0.75]}


def known_rates(per_step=RATES, T=2, samples=4) -> Rates:
    return Rates(T, samples, {k: np.asarray(v, dtype=float) * samples for k, v in per_step.items()},
                 "hand")


def rows(report):
    return {r.name: r for r in report.layers}


def test_counting_kinds_and_sources():
    layers = {c.name: c for c in count_layers(hand_graph())}
    assert list(layers) == ["c1", "c3", "pool", "fc1", "fc2", "fc3"]
    assert {n: c.macs for n, c in layers.items()} == {"c1": 288, "c3": 64, "pool": 32, "fc1": 32,
                                                      "fc2": 12, "fc3": 12}
    assert {n: c.input for n, c in layers.items()} == {
        "c1": "input", "c3": "dense", "pool": "spikes", "fc1": "spikes", "fc2": "spikes",
        "fc3": "dense"}
    assert layers["fc1"].sources == ("lif1", "lif3")  # traced through flat and pool
    assert layers["fc2"].sources == ("lif2",)  # through scale
    assert layers["fc2"].inputs == (("scale", 0), ("lif2", 1))
    assert layers["c3"].sources == ("bn2",)
    assert layers["c1"].params == 18 and layers["fc1"].params == 36


def test_hand_computed_energy_per_step_first_layer():
    rep = build_report(hand_graph(), known_rates())
    r = rows(rep)
    assert rep.T == 2 and rep.table.e_mac_pj == E_MAC and rep.table.e_ac_pj == E_AC
    # first layer: analog input, T * MACs (default)
    assert r["c1"].count_as == "MAC" and r["c1"].macs == 2 * 288 and r["c1"].sops == 0
    assert r["c1"].energy_pj == pytest.approx(E_MAC * 576)
    assert r["c1"].input_rate is None
    # BatchNorm output feeding a conv: dense, T * MACs
    assert r["c3"].count_as == "MAC" and r["c3"].macs == 128
    assert r["c3"].energy_pj == pytest.approx(E_MAC * 128)
    # two spike edges summed: rate 0.375 + 0.25 = 0.625; SOP = rate * T * MACs (eq. C.1)
    assert r["pool"].input_rate == pytest.approx(0.625)
    assert r["pool"].sops == pytest.approx(0.625 * 2 * 32) and r["pool"].macs == 0
    assert r["pool"].energy_pj == pytest.approx(E_AC * 40)
    # through Flatten and AvgPool: the same events
    assert r["fc1"].input_rate == pytest.approx(0.625) and r["fc1"].sops == pytest.approx(40)
    # Scale keeps events; the @1 edge sees lif2 one step late: steps [0.25, 0.75 + 0.25]
    assert r["fc2"].input_rate == pytest.approx((0.25 + 1.0) / 2)
    assert r["fc2"].sops == pytest.approx(0.625 * 2 * 12)
    assert r["fc2"].energy_pj == pytest.approx(E_AC * 15)
    # a Linear's dense output feeding a Linear: MACs
    assert r["fc3"].count_as == "MAC" and r["fc3"].energy_pj == pytest.approx(E_MAC * 24)
    total = E_MAC * (576 + 128 + 24) + E_AC * (40 + 40 + 15)
    tot = rep.totals
    assert tot["energy_pj"] == pytest.approx(total)
    assert tot["energy_mac_pj"] == pytest.approx(E_MAC * 728)
    assert tot["energy_ac_pj"] == pytest.approx(E_AC * 95)
    assert tot["macs_per_step"] == 440 and tot["macs"] == 728 and tot["sops"] == pytest.approx(95)
    assert (tot["layers_mac"], tot["layers_ac"]) == (3, 3)
    assert sum(x.share for x in rep.layers) == pytest.approx(1.0)
    assert r["c1"].share == pytest.approx(E_MAC * 576 / total)
    # ANN equivalent: one pass, every layer as MACs
    assert rep.ann["macs"] == 440
    assert rep.ann["energy_pj"] == pytest.approx(E_MAC * 440)
    assert rep.ann["ann_over_snn"] == pytest.approx(E_MAC * 440 / total)
    assert rep.spike_rates == pytest.approx({"lif1": 0.375, "lif3": 0.25, "lif2": 0.5})


def test_first_layer_once_is_eq_c2_as_printed():
    per_step = build_report(hand_graph(), known_rates())
    once = build_report(hand_graph(), known_rates(), first_layer="once")
    assert rows(once)["c1"].macs == 288
    assert rows(once)["c1"].energy_pj == pytest.approx(E_MAC * 288)
    # only the analog first layer changes; other MAC layers still run every step
    assert rows(once)["c3"].macs == 128
    assert per_step.energy_pj - once.energy_pj == pytest.approx(E_MAC * 288)
    assert once.to_dict()["counting"]["first_layer"] == "once"
    with pytest.raises(EnergyError, match="first_layer"):
        build_report(hand_graph(), known_rates(), first_layer="twice")


def test_rate_encoded_input_is_spikes():
    rates = known_rates({**RATES, "in": [0.2, 0.4]})
    rep = build_report(hand_graph(), rates, encoding="rate")
    c1 = rows(rep)["c1"]
    assert c1.input == "spikes" and c1.count_as == "AC"
    assert c1.input_rate == pytest.approx(0.3) and c1.sops == pytest.approx(0.3 * 2 * 288)
    with pytest.raises(EnergyError, match="'in'"):
        build_report(hand_graph(), known_rates(), encoding="rate")  # the Input's rate is needed


def test_other_tables_and_missing_rate():
    rep = build_report(hand_graph(), known_rates(), "45nm-int8")
    assert rep.table.name == "45nm-int8"
    assert rep.totals["energy_pj"] == pytest.approx(0.23 * 728 + 0.03 * 95)
    rates = known_rates({"lif1": [0.5, 0.5], "lif2": [0.1, 0.1]})
    with pytest.raises(EnergyError, match="lif3"):
        build_report(hand_graph(), rates)


def test_concat_rate_is_size_weighted_and_mixed_inputs_are_dense():
    g = Graph({"name": "cat", "T": 1, "classes": 8})
    g.add_node("in", "Input", {"shape": (2, 2, 2)})
    g.add_node("a", "LIF", {"beta": 0.5})
    g.add_node("b.conv", "Conv2d", {"in_channels": 2, "out_channels": 6, "kernel": 1},
               {"weight": np.ones((6, 2, 1, 1))})
    g.add_node("b", "LIF", {"beta": 0.5})
    g.add_node("cat", "Concat")
    g.add_node("gap", "GlobalAvgPool")
    g.add_node("mix", "GlobalAvgPool")  # spikes of a + the analog input: dense
    g.add_node("fc", "Linear", {"in_features": 2, "out_features": 8},
               {"weight": np.ones((8, 2)), "bias": np.zeros(8)})
    g.add_node("out", "Output")
    for e in [("in", "a"), ("in", "b.conv"), ("b.conv", "b"), ("cat", "gap"), ("gap", "out"),
              ("in", "mix"),
              ("a", "mix"), ("mix", "fc"), ("fc", "out")]:
        g.add_edge(*e)
    g.add_edge("a", "cat", port=0)
    g.add_edge("b", "cat", port=1)
    rep = build_report(g, known_rates({"a": [0.5], "b": [0.1]}, T=1))
    r = rows(rep)
    assert r["gap"].macs_per_step == 32 and r["gap"].input == "spikes"
    assert r["gap"].input_rate == pytest.approx((8 * 0.5 + 24 * 0.1) / 32)
    assert r["mix"].input == "dense" and r["mix"].count_as == "MAC"
    assert r["fc"].input == "dense"  # a mean of spikes and analog values
    assert node_kinds(g)["cat"] == "spikes" and node_kinds(g)["mix"] == "dense"
    assert r["b.conv"].input == "input"


def _with_lif2_as(op, attrs=None):
    g = hand_graph()
    g["lif2"].op, g["lif2"].attrs = op, dict(attrs or {})
    return g


def test_relu_neuron_feeds_macs_not_acs():
    """A ReLU neuron's output is analog (SpikeDHS HNS): the synapses it feeds multiply, so fc2
    (fed by ReLU lif2 directly and through the Scale) costs T * MACs, like the first layer
    (STTS eq. C.2), and needs no firing rate."""
    g = _with_lif2_as("ReLU")
    layers = {c.name: c for c in count_layers(g)}
    assert layers["fc2"].input == "analog" and node_kinds(g)["lif2"] == "analog"
    rep = build_report(g, known_rates({k: v for k, v in RATES.items() if k != "lif2"}))
    r = rows(rep)
    assert r["fc2"].count_as == "MAC" and r["fc2"].macs == 2 * 12 and r["fc2"].sops == 0
    assert r["fc2"].energy_pj == pytest.approx(E_MAC * 24)
    spiking = build_report(hand_graph(), known_rates())
    assert rep.energy_pj - spiking.energy_pj == pytest.approx(E_MAC * 24 - E_AC * 15)
    assert "lif2" not in rep.spike_rates
    tot = rep.totals
    assert tot["layers_analog"] == 1 and tot["energy_analog_pj"] == pytest.approx(E_MAC * 24)
    assert spiking.totals["layers_analog"] == 0 and spiking.totals["energy_analog_pj"] == 0


@pytest.mark.parametrize("op, attrs", [("ALIF", {"beta": 0.5, "v_th": 0.5}),
                                       ("PLIF", {"beta": 0.5, "decay_input": True})])
def test_spiking_neuron_models_feed_acs(op, attrs):
    rep = build_report(_with_lif2_as(op, attrs), known_rates())
    assert rep.to_dict() == build_report(hand_graph(), known_rates()).to_dict()


def test_rates_from_known_trace():
    g = hand_graph()
    lif1 = np.zeros((2, 3, 2, 4, 4))
    lif1[0, :, 0] = 1.0  # step 0: channel 0 of 2 fires everywhere -> 0.5
    lif1[1, 0] = 1.0  # step 1: sample 0 of 3 fires everywhere -> 1/3
    lif2 = np.ones((2, 3, 4))
    rates = rates_from_trace(g, {"lif1": lif1, "lif2": lif2}, backend="x")
    assert rates.T == 2 and rates.samples == 3 and rates.backend == "x"
    assert rates.per_step("lif1") == pytest.approx([0.5, 1 / 3])
    assert rates.mean("lif1") == pytest.approx((0.5 + 1 / 3) / 2)
    assert rates.mean("lif2") == 1.0 and "lif3" not in rates
    both = rates.merge(rates_from_trace(g, {"lif1": np.zeros((2, 1, 2, 4, 4)),
                                            "lif2": np.zeros((2, 1, 4))}))
    assert both.samples == 4 and both.per_step("lif1") == pytest.approx([1.5 / 4, 1 / 4])
    with pytest.raises(EnergyError, match="shape"):
        rates_from_trace(g, {"lif1": np.zeros((2, 3, 4))})
    with pytest.raises(EnergyError, match="nope"):
        rates_from_trace(g, {"nope": np.zeros((2, 3, 4))})
    with pytest.raises(EnergyError, match="T=3"):
        rates_from_trace(g, {"lif1": lif1, "lif2": np.zeros((3, 3, 4))})


@pytest.mark.parametrize("build", [conv_net, recurrent_net])
def test_interpreter_trace_sops_match_direct_count(build):
    """SOP of every AC layer = (number of input spikes delivered) * fan-out MACs / input size,
    computed straight from the interpreter's trace."""
    g = build()
    x = np.random.default_rng(1).normal(0, 1.5, (6,) + tuple(next(
        n for n in g if n.op == "Input").attrs["shape"]))
    trace = run(g, x)
    rep = build_report(g, rates_from_trace(g, trace.outputs, backend="interpreter"))
    T = trace.output.shape[0]
    assert rep.T == T and rep.samples == 6
    for r in rep.layers:
        if r.count_as != "AC":
            continue
        # the layer's input as the interpreter gathers it, averaged over samples and elements;
        # with only LIF -> (Flatten/Dropout/AvgPool/Concat) paths, its mean is the event rate
        delivered = 0.0
        for e in g.in_edges(r.name):
            out = trace.outputs[e.src]
            if e.delay < T:
                seen = out[:T - e.delay].reshape(T - e.delay, out.shape[1], -1)
                delivered += seen.mean(-1).sum() / out.shape[1]
        assert r.sops == pytest.approx(delivered * r.macs_per_step, rel=1e-12), r.name
        assert r.energy_pj == pytest.approx(E_AC * r.sops)


def test_json_schema_is_stable():
    d = build_report(hand_graph(), known_rates(), model="m.snnir", dataset="digits",
                     passes="deploy").to_dict()
    assert list(d) == ["schema", "model", "T", "table", "counting", "layers", "totals", "ann",
                       "spike_rates", "rates_from"]
    assert d["schema"] == SCHEMA == "snnc-energy/4"
    assert d["model"] == "m.snnir" and d["T"] == 2
    assert list(d["table"]) == ["name", "e_mac_pj", "e_ac_pj", "source"]
    assert "Horowitz" in d["table"]["source"]
    assert d["counting"] == {"target": None, "first_layer": "per_step", "encoding": "direct",
                             "passes": "deploy", "ac": "rate_x_T_x_macs",
                             "ac_rule": d["counting"]["ac_rule"]}
    assert "eq. C.1" in d["counting"]["ac_rule"]
    assert all(tuple(row) == LAYER_KEYS for row in d["layers"])
    assert list(d["totals"]) == ["macs_per_step", "macs", "sops", "energy_mac_pj", "energy_ac_pj",
                                 "energy_pj", "layers_mac", "layers_ac", "layers_analog",
                                 "energy_analog_pj"]
    assert list(d["ann"]) == ["macs", "energy_pj", "ann_over_snn", "counted_on"]
    assert d["rates_from"] == {"backend": "hand", "samples": 4, "dataset": "digits"}
    assert json.loads(json.dumps(d)) == d  # plain JSON types only
    assert d["layers"][0]["shape"] == [2, 4, 4] and d["layers"][0]["input_rate"] is None


def test_csv_parses_back():
    rep = build_report(hand_graph(), known_rates())
    got = list(csv.DictReader(io.StringIO(rep.to_csv())))
    assert [r["name"] for r in got] == [r.name for r in rep.layers]
    assert tuple(got[0]) == LAYER_KEYS
    by = {r["name"]: r for r in got}
    assert by["c1"]["shape"] == "2x4x4" and by["c1"]["input_rate"] == ""
    assert by["fc1"]["sources"] == "lif1;lif3"
    for row, r in zip(got, rep.layers):
        assert float(row["energy_pj"]) == r.energy_pj and float(row["sops"]) == r.sops
        assert int(row["macs_per_step"]) == r.macs_per_step


def test_tables(tmp_path):
    assert get_table().name == "45nm-fp32" and get_table("45nm") is get_table("45nm-fp32")
    t = get_table("45nm")
    assert (t.e_mac_pj, t.e_ac_pj) == (4.6, 0.9)
    p = tmp_path / "chip.json"
    p.write_text(json.dumps({"name": "chip", "e_mac_pj": 2, "e_ac_pj": 0.05,
                             "source": "datasheet"}))
    u = get_table(str(p))
    assert (u.name, u.e_mac_pj, u.e_ac_pj, u.source) == ("chip", 2.0, 0.05, "datasheet")
    rep = build_report(hand_graph(), known_rates(), u)
    assert rep.energy_pj == pytest.approx(2 * 728 + 0.05 * 95)
    bad = tmp_path / "bad.json"
    for text, msg in [("[1]", "JSON object"), ('{"e_mac_pj": -1, "e_ac_pj": 1}', "e_mac_pj"),
                      ('{"e_mac_pj": 1}', "e_ac_pj"), ("{", "not JSON"),
                      ('{"e_mac_pj": 1, "e_ac_pj": 1, "x": 2}', "unknown keys")]:
        bad.write_text(text)
        with pytest.raises(EnergyError, match=msg):
            get_table(bad)
    with pytest.raises(EnergyError, match="unknown energy table"):
        get_table("7nm")
    with pytest.raises(EnergyError, match="no such"):
        get_table(tmp_path / "missing.json")


def test_energy_backend_imports_neither_torch_nor_another_backend():
    from pathlib import Path

    import snnc.backends.energy as energy

    for path in Path(energy.__file__).parent.glob("*.py"):
        text = path.read_text()
        for banned in ("import torch", "backends.torch", "backends.lava", "import click",
                       "import lava"):
            assert banned not in text, (path.name, banned)
