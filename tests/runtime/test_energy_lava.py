"""Firing rates from Lava feed the energy report: on the same inputs the Lava backend's rates
equal the torch probes' (float64) exactly, and the report has the same schema, saying which
source it used."""
import json

import pytest
from click.testing import CliRunner

from snnc.cli import cli
from snnc.compiler import compile_genome
from snnc.ir.artifact import save
from snnc.runtime.energy_run import energy_report

GENOME = """snnc-genome 1
name "energy-lava"
T 3
input 1x8x8
classes 10
neuron lif tau=2
stage s1 node channels=4 spiking=false
stage s2 graph nodes=3 channels=8 stride=2 {
  0 -> 1
  0 -> 2 @1
  1 -> 2
}
classifier head channels=0
"""


def _keys(d, prefix=""):
    """Every key path of a JSON object (lists of objects: the keys of their items)."""
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _keys(v, prefix + k + ".")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                out |= _keys(item, prefix + k + "[].")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("target", ["lava", "paper"])
def test_lava_rates_equal_torch_rates_and_schema(tmp_path, target):
    graph = compile_genome(GENOME, passes="none", seed=1).graph
    save(graph, tmp_path / "m.snnir")
    res = CliRunner(mix_stderr=False).invoke(
        cli, ["energy", str(tmp_path / "m.snnir"), "--data", "digits", "--samples", "6",
              "--batch-size", "4", "--backend", "lava", "--target", target, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    lava = json.loads(res.stdout)
    torch64 = energy_report(tmp_path / "m.snnir", "digits", samples=6, batch_size=4, backend="torch",
                            dtype="float64", target=target).to_dict()
    assert lava["rates_from"]["backend"] == "lava" and torch64["rates_from"]["backend"] == "torch"
    assert _keys(lava) == _keys(torch64)
    assert lava["layers"] == torch64["layers"] and lava["totals"] == torch64["totals"]
    assert any(row["input_rate"] for row in lava["layers"][1:])  # spikes were counted
    lava["rates_from"]["backend"] = "torch"
    assert lava == torch64


def test_lava_backend_refusal_is_one_message(tmp_path):
    text = GENOME.replace("neuron lif tau=2", "neuron relu")  # an analog layer: refused by Lava
    save(compile_genome(text, passes="none", seed=1).graph, tmp_path / "a.snnir")
    res = CliRunner(mix_stderr=False).invoke(
        cli, ["energy", str(tmp_path / "a.snnir"), "--data", "digits", "--samples", "2",
              "--backend", "lava"])
    assert res.exit_code == 1 and "ReLU" in res.stderr and "Traceback" not in res.stderr
