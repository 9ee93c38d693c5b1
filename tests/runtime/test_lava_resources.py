"""``snnc lava MODEL --resources``: the Loihi 2 resource estimate of a genome or artifact, as a
table and as JSON, without simulating; refusals by node name."""
import json

import pytest
from click.testing import CliRunner

from snnc.backends.lava import plan
from snnc.backends.lava.resources import SCHEMA, estimate
from snnc.cli import cli
from snnc.compiler import compile_genome
from snnc.ir.artifact import save
from snnc.passes.targets import prepare
from snnc.runtime.lava_resources import lava_resources

GENOME = """snnc-genome 1
name "res-small"
T 3
input 1x8x8
classes 10
neuron lif tau=2
stage s1 node channels=4 spiking=false
stage s2 graph nodes=3 channels=8 stride=2 {
  0 -> 1
  0 -> 2 @2
  1 -> 2
}
classifier head channels=0
"""


@pytest.fixture()
def no_simulation(monkeypatch):
    """Building a Lava network fails the test: the estimate must not simulate."""
    from snnc.backends.lava.build import LavaNetwork

    def refuse(*a, **k):
        raise AssertionError("--resources built a Lava network")

    monkeypatch.setattr(LavaNetwork, "__init__", refuse)


def _run(*args):
    return CliRunner(mix_stderr=False).invoke(cli, ["lava", *map(str, args)])


def test_genome_and_artifact_give_the_same_json(tmp_path, no_simulation):
    genome = tmp_path / "g.genome"
    genome.write_text(GENOME)
    graph = compile_genome(GENOME, passes="none", seed=0).graph
    save(graph, tmp_path / "m.snnir")
    outs = []
    for model in (genome, tmp_path / "m.snnir"):
        res = _run(model, "--resources", "--format", "json")
        assert res.exit_code == 0, res.stderr
        outs.append(json.loads(res.stdout))
    a, b = outs
    assert a["schema"] == SCHEMA and a["fits"] is True and a["chips"] == 1
    for key in ("layers", "totals", "cores", "limits"):
        assert a[key] == b[key]
    # the same numbers as the library on the lava target's plan
    want = estimate(plan(prepare(graph, "lava")[0])).to_dict()
    assert a["layers"] == want["layers"] and a["totals"] == want["totals"]
    names = [x["name"] for x in a["layers"]]
    assert "s2.n0.lif~2" in names  # the @2 edge's delay line, as relays
    assert a["totals"]["synapses"] > 0 and a["weight_bits"] == 8


def test_table_and_weight_bits(tmp_path, no_simulation):
    genome = tmp_path / "g.genome"
    genome.write_text(GENOME)
    res = _run(genome, "--resources")
    assert res.exit_code == 0, res.stderr
    assert "Loihi 2 resources" in res.stdout and "fits on 1 chip" in res.stdout
    assert "s2.n1.lif" in res.stdout and "total" in res.stdout
    r8 = lava_resources(genome)
    r2 = lava_resources(genome, weight_bits=2)
    assert r2.totals["memory_bits"] < r8.totals["memory_bits"]
    assert r2.totals["synapses"] == r8.totals["synapses"]
    res = _run(genome, "--resources", "--delays", "synaptic", "--format", "json")
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["delays"] == "synaptic" and d["totals"]["delay_neurons"] == 0
    assert r8.totals["delay_neurons"] > 0


def test_refusal_names_the_node(tmp_path):
    genome = tmp_path / "relu.genome"
    genome.write_text(GENOME.replace("neuron lif tau=2", "neuron relu"))  # analog: refused
    res = _run(genome, "--resources")
    assert res.exit_code == 1
    assert "ReLU" in res.stderr and "s2.n0" in res.stderr and "Traceback" not in res.stderr


def test_resource_options_need_resources(tmp_path):
    res = _run(tmp_path / "m.snnir", "--delays", "synaptic")
    assert res.exit_code == 2 and "apply to --resources only" in res.stderr


def test_missing_model_is_one_message(tmp_path):
    res = _run(tmp_path / "nope", "--resources")
    assert res.exit_code == 1 and "nope" in res.stderr and "Traceback" not in res.stderr
