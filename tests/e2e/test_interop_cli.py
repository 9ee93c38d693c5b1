"""Interchange end to end through the CLI: compile a genome, export NIR and ONNX, import the NIR
back, then run `snnc energy` and the Lava backend on the imported model."""
import numpy as np
import pytest
from click.testing import CliRunner

from snnc.cli import cli

# The backward edge has delay 2: the Lava backend needs a cycle's delay to cover its synapse hops.
GENOME = """snnc-genome 1
name "interop"
T 3
input 1x8x8
classes 10
neuron lif tau=3 decay_input=false
stage s1 node channels=4 spiking=false
stage s2 graph nodes=4 channels=6 stride=2 conv=separable {
  0 -> 1
  0 -> 2 @1
  1 -> 3
  2 -> 3
  back 3 -> 1 @2
}
classifier head channels=6 dropout=0.2
"""


@pytest.fixture
def runner():
    return CliRunner(mix_stderr=False)


def _ok(res):
    assert res.exit_code == 0, res.stderr + res.stdout
    return res


@pytest.fixture
def files(runner, tmp_path):
    genome = tmp_path / "interop.genome"
    genome.write_text(GENOME)
    model = tmp_path / "interop.snnir"
    _ok(runner.invoke(cli, ["compile", str(genome), "-o", str(model), "--emit", "none"]))
    return tmp_path, model


@pytest.mark.slow
def test_nir_round_trip_energy_and_lava(runner, files):
    from snnc.backends.lava import simulate
    from snnc.ir import load, run
    from snnc.passes import run_pipeline

    tmp, model = files
    nir_file, back = tmp / "interop.nir", tmp / "back.snnir"
    res = _ok(runner.invoke(cli, ["export", "nir", str(model), "-o", str(nir_file)]))
    assert f"wrote {nir_file}" in res.stderr
    res = _ok(runner.invoke(cli, ["import", "nir", str(nir_file), "-o", str(back)]))
    assert "T=3" in res.stdout and "dt=0.0001 s" in res.stdout
    original, imported = run_pipeline(load(model), "deploy")[0], load(back)
    assert [e.kind for e in imported.edges].count("backward") == 1
    x = np.random.default_rng(0).uniform(0, 1, (2, 1, 8, 8))
    np.testing.assert_allclose(run(imported, x).output, run(original, x).output, atol=1e-12)
    res = _ok(runner.invoke(cli, ["energy", str(back), "--data", "digits", "--samples", "4",
                                  "--backend", "interpreter", "--format", "json"]))
    assert '"sops"' in res.stdout
    lava = simulate(imported, x[:1], T=2)
    ref = run(imported, x[:1], T=2)
    for name, spikes in lava.spikes.items():
        np.testing.assert_array_equal(spikes, ref.outputs[name], err_msg=name)


def test_onnx_export_steps_like_interpreter(runner, files):
    from snnc.backends.onnx import step_onnx
    from snnc.ir import load, run
    from snnc.passes import run_pipeline

    tmp, model = files
    out = tmp / "interop.onnx"
    _ok(runner.invoke(cli, ["export", "onnx", str(model), "-o", str(out)]))
    x = np.random.default_rng(1).uniform(0, 1, (2, 1, 8, 8))
    res, ref = step_onnx(out, x), run(run_pipeline(load(model), "deploy")[0], x)
    np.testing.assert_allclose(res["y"], ref.output, rtol=1e-5, atol=1e-5)


def test_errors_are_one_line(runner, files, tmp_path):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"garbage")
    res = runner.invoke(cli, ["import", "nir", str(bad), "-o", str(tmp_path / "x.snnir")])
    assert res.exit_code == 1 and "bad.nir" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x.snnir").exists()
    genome = tmp_path / "soft.genome"
    genome.write_text(GENOME.replace("decay_input=false", "decay_input=false reset=soft"))
    res = runner.invoke(cli, ["export", "nir", str(genome), "-o", str(tmp_path / "s.nir")])
    assert res.exit_code == 1 and "reset='soft'" in res.stderr
    assert not (tmp_path / "s.nir").exists()
