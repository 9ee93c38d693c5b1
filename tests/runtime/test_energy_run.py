"""Rates measured by probes over real data (torch backend and the reference interpreter), the energy
report of a model on a dataset, and ``snnc energy``."""
import csv
import io
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from snnc.backends.energy import SCHEMA
from snnc.cli import cli
from snnc.compiler import compile_genome
from snnc.errors import InputShapeError, LavaMappingError, RunError
from snnc.ir.artifact import save
from snnc.runtime.energy_run import energy_report, measure_rates

GENOME = """snnc-genome 1
name "energy-small"
T 3
input 1x8x8
classes 10
neuron lif tau=2 decay_input=false
stage s1 node channels=4 spiking=false
stage s2 graph nodes=4 channels=8 stride=2 conv=separable {
  0 -> 1
  0 -> 2 @1
  1 -> 3
  2 -> 3
  back 3 -> 1 @1
}
classifier head channels=8 dropout=0.2
"""


@pytest.fixture(scope="module")
def graph():
    return compile_genome(GENOME, passes="none", seed=3).graph


@pytest.mark.parametrize("passes", ["none", "deploy"])
def test_torch_rates_equal_interpreter_rates(passes):
    g = compile_genome(GENOME, passes=passes, seed=3).graph
    x = np.random.default_rng(0).normal(0.5, 2.0, (12, 1, 8, 8))
    a = measure_rates(g, x, backend="torch", dtype="float64", batch_size=5)
    b = measure_rates(g, x, backend="interpreter", batch_size=12)
    assert a.samples == b.samples == 12 and a.T == b.T == 3
    assert a.backend == "torch" and b.backend == "interpreter"
    assert set(a.sums) == set(b.sums) == {n.name for n in g if n.op in ("LIF", "Input")}
    for name in a.sums:
        np.testing.assert_allclose(a.sums[name], b.sums[name], rtol=0, atol=1e-9, err_msg=name)
    assert any(a.mean(n) > 0 for n in a.sums if n != "input")  # something spikes


def test_rates_of_a_spike_sequence_and_bad_inputs(graph):
    x = (np.random.default_rng(1).random((3, 4, 1, 8, 8)) < 0.3).astype(np.float32)
    r = measure_rates(graph, torch.from_numpy(x), backend="torch", batch_size=3)
    assert r.samples == 4 and r.T == 3
    np.testing.assert_allclose(r.per_step("input"), x.reshape(3, 4, -1).mean(-1).mean(-1),
                               rtol=1e-6)
    with pytest.raises(InputShapeError, match="fits neither"):
        measure_rates(graph, np.zeros((2, 3, 3)))
    with pytest.raises(RunError, match="backend"):
        measure_rates(graph, np.zeros((2, 1, 8, 8)), backend="loihi")
    with pytest.raises(LavaMappingError, match=r"cycle s2\.n1\.lif -> s2\.n3\.lif @1"):
        measure_rates(graph, np.zeros((2, 1, 8, 8)), backend="lava")  # refused before Lava starts


def test_energy_report_on_digits(graph):
    lava = energy_report(graph, "digits", samples=32, dtype="float64", target="lava")
    paper = energy_report(graph, "digits", samples=32, backend="interpreter")
    assert lava.rates_backend == "torch" and paper.rates_backend == "interpreter"
    assert lava.samples == paper.samples == 32 and lava.dataset == "digits"
    assert (lava.target, paper.target) == ("lava", "paper")
    # the passes keep every spike: the same rates, float64 torch vs the interpreter
    assert lava.spike_rates.keys() <= paper.spike_rates.keys()
    for k, v in lava.spike_rates.items():
        assert v == pytest.approx(paper.spike_rates[k], abs=1e-12)
    # paper: separable convs stay depthwise + pointwise, both counted as ACs at the rate of the
    # spikes entering the depthwise conv (STTS Table 5 counts every layer after the first as AC)
    rows = {r.name: r for r in paper.layers}
    assert rows["s2.n0.pw"].input == rows["s2.n0.dw"].input == "spikes"
    assert rows["s2.n0.pw"].input_rate == pytest.approx(rows["s2.n0.dw"].input_rate)
    assert {r.input for r in lava.layers} == {"input", "spikes"}
    assert [r.name for r in lava.layers if r.input == "input"] == ["s1.conv"]
    assert "fold-depthwise" in lava.to_dict()["counting"]["passes"]
    assert "fold-depthwise" not in paper.to_dict()["counting"]["passes"]
    first = lava.layers[0]
    assert first.macs == 3 * first.macs_per_step and first.count_as == "MAC"  # every step
    assert paper.layers[0].macs == paper.layers[0].macs_per_step  # once: eq. C.2
    # the ANN equivalent is the unfolded architecture for both targets
    assert lava.ann["macs"] == paper.ann["macs"] == sum(r.macs_per_step for r in paper.layers)
    assert sum(r.macs_per_step for r in lava.layers) > lava.ann["macs"]  # folded dense convs
    # per-element spike counts from the torch probes give the interpreter's exact events
    lava_ref = energy_report(graph, "digits", samples=32, backend="interpreter", target="lava")
    assert lava.to_dict()["counting"]["ac"] == "synaptic_events"
    assert [r.sops for r in lava.layers] == pytest.approx([r.sops for r in lava_ref.layers],
                                                          rel=1e-12)
    assert any(r.count_as == "AC" and r.sops > 0 for r in lava.layers)
    assert rows["head.pool"].count_as == "AC"  # paper: the pooled rate, counted as a layer
    assert {r.name: r for r in lava.layers}["head.pool"].folded_into == ("head.fc",)
    with pytest.raises(RunError, match="measured on data"):
        energy_report(graph)
    with pytest.raises(RunError, match="samples"):
        energy_report(graph, "digits", samples=0)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, graph):
    path = tmp_path_factory.mktemp("energy") / "small.snnir"
    save(graph, path)
    return path


@pytest.fixture
def runner():
    return CliRunner(mix_stderr=False)


def test_cli_json_csv_and_table(runner, model_file, tmp_path):
    res = runner.invoke(cli, ["energy", str(model_file), "--data", "digits", "--samples", "16",
                              "--format", "json"])
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["schema"] == SCHEMA and d["T"] == 3 and d["model"] == str(model_file)
    assert d["rates_from"] == {"backend": "torch", "samples": 16, "dataset": "digits"}
    assert d["table"]["name"] == "45nm-fp32" and d["table"]["e_mac_pj"] == 4.6
    assert d["totals"]["energy_pj"] == pytest.approx(sum(r["energy_pj"] for r in d["layers"]))
    assert d["ann"]["energy_pj"] == pytest.approx(4.6 * d["totals"]["macs_per_step"])
    assert d["counting"]["target"] == "paper" and d["counting"]["first_layer"] == "once"

    table = tmp_path / "t.json"
    table.write_text(json.dumps({"name": "t", "e_mac_pj": 1.0, "e_ac_pj": 0.5}))
    res = runner.invoke(cli, ["energy", str(model_file), "--data", "digits", "--samples", "16",
                              "--format", "csv", "--table", str(table), "--backend",
                              "interpreter", "--first-layer", "once"])
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["name"] for r in rows] == [r["name"] for r in d["layers"]]
    assert float(rows[0]["macs"]) == d["layers"][0]["macs_per_step"]  # counted once
    assert float(rows[0]["energy_pj"]) == pytest.approx(1.0 * d["layers"][0]["macs_per_step"])

    res = runner.invoke(cli, ["energy", str(model_file), "--data", "digits", "--samples", "8",
                              "--target", "lava", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    lava = json.loads(res.stdout)
    assert lava["counting"]["target"] == "lava" and lava["counting"]["first_layer"] == "per_step"
    assert lava["ann"]["macs"] == d["ann"]["macs"]  # the unfolded architecture either way
    assert lava["counting"]["ac"] == "synaptic_events" and d["counting"]["ac"] == "rate_x_T_x_macs"
    assert [r["folded_into"] for r in lava["layers"] if r["count_as"] == "folded"] == [["head.fc"]]

    res = runner.invoke(cli, ["energy", str(model_file), "--data", "digits", "--samples", "8"])
    assert res.exit_code == 0, res.stderr
    assert "total" in res.stdout and "ANN equivalent" in res.stdout
    assert "s1.conv" in res.stdout
    assert "AC = input spike rate x T" in res.stdout  # the caption says how ACs were counted
    res = runner.invoke(cli, ["energy", str(model_file), "--data", "digits", "--samples", "8",
                              "--target", "lava"])
    assert res.exit_code == 0, res.stderr
    assert "AC = one synaptic event" in res.stdout


def test_cli_refuses_without_data_and_bad_table(runner, model_file):
    res = runner.invoke(cli, ["energy", str(model_file)])
    assert res.exit_code == 1
    assert "measured on data" in res.stderr and "Traceback" not in res.stderr
    res = runner.invoke(cli, ["energy", str(model_file), "--data", "digits", "--table", "3nm"])
    assert res.exit_code == 1 and "unknown energy table" in res.stderr
