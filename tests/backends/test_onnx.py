"""ONNX export of one time step: the model passes onnx.checker, and stepping it T times with
onnxruntime reproduces the reference interpreter's spikes and output."""
import json

import numpy as np
import onnx
import pytest

from snnc.backends.onnx import OnnxError, export_onnx, initial_state, step_onnx, to_onnx
from snnc.errors import InputShapeError
from snnc.ir import run, verify
from snnc.testing.random_graph import random_graph, random_input
from snnc.passes import run_pipeline
from tests.ir.graphs import backward_net, conv_net, mlp, recurrent_net, sample_input


def _check(g, x, path, dtype="float32", atol=1e-5):
    export_onnx(g, path, dtype=dtype)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    res = step_onnx(path, x)
    trace = run(g, x)
    spiking = [n.name for n in g.nodes_of("LIF")]
    assert sorted(k[2:] for k in res if k.startswith("s.")) == sorted(spiking)
    for name in spiking:
        np.testing.assert_array_equal(res["s." + name], trace.outputs[name], err_msg=name)
    np.testing.assert_allclose(res["y"], trace.output, rtol=1e-5, atol=atol)
    return model, res, trace


@pytest.mark.parametrize("seed", range(10))
def test_random_graphs_step_equal_to_interpreter(tmp_path, seed):
    """Delays, backward edges, soft and hard resets, BatchNorm leftovers; float32 on ORT."""
    g, _ = run_pipeline(random_graph(seed, max_nodes=30), "deploy")
    _check(g, random_input(g, seed=seed), tmp_path / "m.onnx")


@pytest.mark.parametrize("build", [conv_net, recurrent_net, backward_net])
def test_example_graphs_without_passes(tmp_path, build):
    """BatchNorm, Dropout, Vote, Concat ports, a delay-2 read, a BCNAS-SNN backward connection
    through a nearest Upsample, undeployed."""
    g = verify(build())
    _check(g, sample_input(g), tmp_path / "m.onnx")


def test_relu_neurons_of_hybrid_networks(tmp_path):
    """ReLU (non-spiking, SpikeDHS HNS) among LIF layers, from random graphs with every neuron
    model; ALIF (threshold adaptation state) is refused by name."""
    from snnc.testing.random_graph import random_graph as rg
    done = 0
    for seed in range(40):
        g = rg(seed, max_nodes=30, neurons=("LIF", "ReLU"))
        if not g.nodes_of("ReLU"):
            continue
        g, _ = run_pipeline(g, "deploy")
        _check(g, random_input(g, seed=seed), tmp_path / f"r{seed}.onnx")
        done += 1
        if done == 3:
            break
    assert done == 3
    from tests.ir.graphs import neuron_zoo
    with pytest.raises(OnnxError, match=r"'a.alif' \(ALIF\)"):
        to_onnx(verify(neuron_zoo()))


def test_float64_model_on_onnxruntime(tmp_path):
    """Double precision where onnxruntime's CPU kernels have it (Gemm; its Conv is float only)."""
    g = verify(mlp(dtype=np.float64))
    for n in g.nodes_of("LIF"):
        n.attrs["v_th"] = 0.2
    x = sample_input(g)
    _, res, trace = _check(g, x, tmp_path / "m.onnx", dtype="float64", atol=1e-12)
    assert res["y"].dtype == np.float64 and trace.output.any()


def test_metadata_and_state_names(tmp_path):
    g = verify(recurrent_net())
    model = to_onnx(g)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["snnc.T"] == "5" and props["snnc.classes"] == "3"
    neurons = json.loads(props["snnc.neurons"])
    assert neurons["b.lif"] == {"beta": 0.9, "alpha": 0.5, "v_th": 0.3, "v_reset": 0.0,
                                "v_rest": 0.0, "reset": "soft"}
    state = {s["input"]: s for s in json.loads(props["snnc.state"])}
    # b.lif is read @1 (backward), a.lif @2 (Concat), gap @1 (fc_late)
    assert state["buf.a.lif"]["shape"] == [2, "B", 4, 6, 6]
    assert state["buf.b.lif"]["shape"] == [1, "B", 4, 6, 6]
    assert state["v.a.lif"]["output"] == "v.a.lif.next"
    init = initial_state(model, batch=3)
    assert init["buf.gap"].shape == (1, 3, 8) and not init["buf.gap"].any()
    inputs = {i.name for i in model.graph.input}
    outputs = {o.name for o in model.graph.output}
    assert inputs == {"x"} | set(state)
    assert {s["output"] for s in state.values()} | {"y", "s.a.lif", "s.b.lif"} == outputs


def test_errors(tmp_path):
    with pytest.raises(OnnxError, match="dtype"):
        to_onnx(verify(mlp()), dtype="float16")
    g = verify(mlp())
    path = tmp_path / "m.onnx"
    export_onnx(g, path)
    with pytest.raises(InputShapeError, match="fits neither"):
        step_onnx(path, np.zeros((2, 5)))
    bare = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    with pytest.raises(OnnxError, match="snnc.state"):
        initial_state(bare, 1)
