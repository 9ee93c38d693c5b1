"""A trained MNIST model leaves snnc through the CLI (NIR and ONNX) and two third-party NIR
consumers (snnTorch, SpikingJelly) and onnxruntime reproduce its outputs on real test images.

The network is delay-free and feed-forward (what the consumers accept) with SpikingJelly's LIF
(tau = 2: alpha = 1 - beta), trained for one short epoch on MNIST with the PyTorch backend."""
import numpy as np
import pytest
from click.testing import CliRunner

from snnc.cli import cli

pytest.importorskip("nir")
pytest.importorskip("onnxruntime")
pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")

GENOME = """snnc-genome 1
name "mnist-nir"
T 4
input 1x28x28
classes 10
neuron lif tau=2
stage s1 node channels=8 stride=2 spiking=false
stage s2 node channels=16 stride=2
classifier head
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from snnc.ir import load, run
    from snnc.passes import run_pipeline
    from snnc.runtime.data import load_dataset
    from snnc.runtime.evaluate import model_data

    tmp = tmp_path_factory.mktemp("mnist-nir")
    genome = tmp / "m.genome"
    genome.write_text(GENOME)
    runner = CliRunner(mix_stderr=False)
    res = runner.invoke(cli, ["train", str(genome), "--data", "mnist", "--epochs", "1",
                              "--limit-train", "2048", "--limit-test", "256", "--optimizer",
                              "adamw", "--lr", "0.01", "--batch-size", "64", "--threads", "1",
                              "--run-dir", str(tmp / "run")])
    assert res.exit_code == 0, res.stderr + res.stdout
    model = tmp / "run" / "model.snnir"
    for fmt in ("nir", "onnx"):
        res = runner.invoke(cli, ["export", fmt, str(model), "-o", str(tmp / f"m.{fmt}")])
        assert res.exit_code == 0, res.stderr + res.stdout
    md = model_data(model)
    ds = load_dataset("mnist")
    mean = np.asarray(md.pre.mean)[:, None, None]
    std = np.asarray(md.pre.std)[:, None, None]
    x = ((ds.test_x[:8] - mean) / std).astype(np.float64)  # [8, 1, 28, 28]
    graph = run_pipeline(load(model), "deploy")[0]
    trace = run(graph, x)
    assert (trace.output.mean(0).argmax(-1) == ds.test_y[:8]).mean() >= 0.5  # it learned
    return tmp, x, trace


def _consumer_outputs(module_for_sample, x, T):
    from tests.backends.test_nir import _step
    outs = []
    for b in range(x.shape[0]):  # NIR's Flatten flattens a batch axis too: one sample at a time
        xs = np.broadcast_to(x[b:b + 1], (T, 1) + x.shape[1:]).astype(np.float32)
        outs.append(_step(module_for_sample(), xs).reshape(T, -1))
    return np.stack(outs, axis=1)  # [T, B, classes]


def _same(got, trace):
    np.testing.assert_allclose(got, trace.output, rtol=1e-4, atol=1e-4)
    assert np.array_equal(got.mean(0).argmax(-1), trace.output.mean(0).argmax(-1))


def test_snntorch_reproduces_the_trained_model(trained):
    import nir
    from snntorch.import_nir import import_from_nir
    tmp, x, trace = trained
    graph = nir.read(tmp / "m.nir")
    _same(_consumer_outputs(lambda: import_from_nir(graph), x, trace.output.shape[0]), trace)


def test_spikingjelly_reproduces_the_trained_model(trained):
    import nir
    from tests.backends.test_nir import _lava_first
    _lava_first()
    from spikingjelly.activation_based import nir_exchange
    tmp, x, trace = trained
    graph = nir.read(tmp / "m.nir")
    dt = float(graph.metadata["dt"])
    _same(_consumer_outputs(lambda: nir_exchange.import_from_nir(graph, dt=dt), x,
                            trace.output.shape[0]), trace)


def test_onnxruntime_reproduces_the_trained_model(trained):
    from snnc.backends.onnx import step_onnx
    tmp, x, trace = trained
    res = step_onnx(tmp / "m.onnx", x)
    _same(res["y"], trace)
    for name, spikes in trace.outputs.items():
        if f"s.{name}" in res:
            assert np.array_equal(res[f"s.{name}"], spikes), name
