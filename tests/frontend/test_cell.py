"""SNASNet cells and skeleton (SNASNet section 4.3, 5.1): lowering structure, pruning, backward
connections read one step late, agreement of the torch backend with the interpreter (float64),
the deploy pipeline, the published cells and the presets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc.compiler import compile_genome
from snnc.errors import LoweringError
from snnc.frontend import lower
from snnc.genome import parse, to_text
from snnc.genome.snasnet_code import code_from_genome, genome_from_code
from snnc.ir import BACKWARD, interpret, run, verify
from snnc.ir.summary import summarize
from snnc.passes import run_pipeline
from tests.genome.examples import SNASNET
from tests.genome.test_snasnet_code import CIFAR10, CIFAR100, random_codes

from .genomes import HEADER

ZOO = Path(__file__).resolve().parents[2] / "snnc" / "zoo"
PUBLISHED = [CIFAR100, CIFAR10]
CODES = PUBLISHED + random_codes(6, seed=1)


def small(code: str, order: str = "paper", **kw) -> "Graph":  # noqa: F821
    """The cell of ``code`` in the skeleton at width 4 on 3x8x8 inputs, 3 classes, T = 3."""
    g = genome_from_code(code, name="small", classes=3, channels=4, T=3, input_shape=(3, 8, 8),
                         vote=2, hidden=16, order=order, **kw)
    return lower(g, seed=3)


def excite(g, seed: int = 0):
    """Trained-looking BatchNorm statistics and larger weights, so that every layer spikes."""
    rng = np.random.default_rng(seed)
    for n in g:
        if n.op == "BatchNorm2d":
            c = n.attrs["num_features"]
            n.params.update(weight=rng.uniform(0.8, 2.0, c), bias=rng.normal(0.3, 0.3, c),
                            running_mean=rng.normal(0, 0.1, c), running_var=rng.uniform(0.2, 1, c))
        elif n.op in ("Conv2d", "Linear"):
            n.params["weight"] = n.params["weight"] * 3.0
    return g


def cell_text(edges: str, channels: int = 1, T: int = 5) -> str:
    """A linear encoding stage (1x1 conv, no neuron) then a cell applied in place, then a plain
    classifier; input 1x3x3."""
    return HEADER.format(name="cell", T=T, input="1x3x3", classes=2) + f"""\
stage s1 node channels={channels} kernel=1 spiking=false
cell c1 snasnet channels={channels} {{
{edges}
}}
classifier head channels=0 vote=0
"""


# ------------------------------------------------------------------ structure
def test_published_cifar100_cell_structure():
    g = verify(lower(genome_from_code(CIFAR100, name="c", classes=100, channels=8, vote=5)))
    for p in ("cell1", "cell2"):
        assert [f"{p}.n{i}" in g for i in range(4)] == [True] * 4
        assert g[f"{p}.n0"].op == "Scale" and g[f"{p}.n0"].attrs["scale"] == 1.0
        assert [g[f"{p}.{op}.conv"].attrs["kernel"] for op in ("f0_1", "f0_3", "f1_2", "f2_3",
                                                               "b2_0")] == [3, 1, 3, 3, 3]
        assert g.predecessors(f"{p}.f0_1.conv") == [f"{p}.f0_1.lif"]  # spiking neuron first
        assert g.successors(f"{p}.f0_1.conv") == [f"{p}.f0_1.bn"]
        assert not g[f"{p}.f0_1.conv"].attrs["bias"]
    back = [e for e in g.edges if e.kind == BACKWARD]
    assert [(e.src, e.dst, e.delay) for e in back] == [("cell1.b2_0.bn", "cell1.n0", 1),
                                                       ("cell2.b2_0.bn", "cell2.n0", 1)]
    assert all(e.delay == 0 for e in g.edges if e.kind != BACKWARD)
    assert g.in_edges("cell1.b2_0.lif")[0].src == "cell1.n2"  # reads node 2 at step t
    assert g["cell1.n0"].shape == (8, 32, 32) and g["cell2.n0"].shape == (16, 16, 16)
    assert g["head.fc1"].attrs["in_features"] == 16 * 8 * 8 and g["head.fc"].shape == (500,)
    assert g["head.vote"].shape == (100,) and g["output"].shape == (100,)
    assert g.strongly_connected_components()  # the backward connection closes a cycle


def test_skeleton_paper_and_code_orders():
    paper, code = small(CIFAR100, "paper"), small(CIFAR100, "code")
    chain = ["red.conv", "red.bn", "red.lif", "red.pool", "cell2.n0"]
    assert [g for a, g in zip(chain, chain[1:]) if paper.successors(a) != [g]] == []
    chain = ["cell1.n3", "red.bn0", "red.lif", "red.conv", "red.bn", "red.pool", "cell2.n0"]
    assert all(code.successors(a) == [b] for a, b in zip(chain, chain[1:]))
    assert code.successors("cell2.n3") == ["last.bn"] and paper.successors("cell2.n3") == \
        ["head.pool"]
    assert paper.successors("head.pool") == ["head.flatten"]
    assert paper["head.pool"].shape == (8, 2, 2) and paper["stem.conv"].shape == (4, 8, 8)
    assert not paper["head.fc1"].attrs["bias"] and paper["head.fc"].attrs["bias"]


def test_example_genome_prunes_nodes_that_cannot_reach_the_output():
    """tests/genome/examples.py: 0->1, 0->3, 1->2, back 2->1: nodes 1 and 2 reach only each
    other."""
    g = lower(parse(SNASNET.replace("channels=128", "channels=4")))
    cell = sorted(n for n in g.nodes if n.startswith("cell1."))
    assert cell == ["cell1.f0_3.bn", "cell1.f0_3.conv", "cell1.f0_3.lif", "cell1.n0", "cell1.n3"]
    assert not [e for e in g.edges if e.kind == BACKWARD]


@pytest.mark.parametrize("edges, live, kept_ops", [
    ("0 -> 3 skip\n0 -> 1 conv3x3", {0, 3}, set()),  # 1 reaches nothing
    ("0 -> 3 skip\n2 -> 3 conv3x3", {0, 3}, set()),  # 2 is reached from nowhere
    ("0 -> 3 skip\n0 -> 2 zero\n2 -> 3 conv1x1", {0, 3}, set()),  # a zero op is no connection
    # node 1 is reached only over a backward connection: it stays
    ("0 -> 3 skip\n1 -> 3 conv1x1\nback 3 -> 1 @1 avgpool3x3", {0, 1, 3}, {"f1_3", "b3_1"}),
])
def test_pruning(edges, live, kept_ops):
    g = lower(parse(cell_text(edges)))
    assert {int(n[len("c1.n"):]) for n in g.nodes if n.startswith("c1.n")} == live
    ops = {n.split(".")[1] for n in g.nodes if n.startswith("c1.") and not n.startswith("c1.n")}
    assert ops == kept_ops


# ------------------------------------------------------------------ semantics
def _lif(x, beta, alpha, v_th=1.0):
    v, out = np.zeros_like(x[0]), []
    for xt in x:
        h = beta * v + alpha * xt
        s = (h > v_th).astype(float)
        v = np.where(s > 0, 0.0, h)
        out.append(s)
    return np.array(out)


def _avgpool3(x):  # [..., H, W], stride 1, zero padding 1 counted in the mean
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)])
    h, w = x.shape[-2:]
    return sum(p[..., i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9


def test_backward_connections_arrive_one_step_late():
    """Code 0101 0010 2004 0100, written out (nodes are sums, section 4.3):
    v0 = x + B[t-1], B = BN(conv1x1(LIF(v2)))  (the neuron integrates v2[t] at step t)
    v1 = v0 + v3[t-1];  v2 = v1;  v3 = v0 + avgpool(v2)."""
    edges = ("0 -> 1 skip\n0 -> 3 skip\n1 -> 2 skip\n2 -> 3 avgpool3x3\n"
             "back 2 -> 0 @1 conv1x1\nback 3 -> 1 @1 skip")
    g = lower(parse(cell_text(edges, T=6)), seed=2)
    g["c1.b2_0.conv"].params["weight"] = np.full((1, 1, 1, 1), 0.7)
    g["c1.b2_0.bn"].params.update(weight=np.full(1, 1.5), bias=np.full(1, 0.2),
                                  running_mean=np.full(1, 0.1), running_var=np.full(1, 0.5))
    lif = g["c1.b2_0.lif"].attrs
    g["s1.conv"].params.update(weight=np.ones((1, 1, 1, 1)), bias=np.zeros(1))
    x = np.random.default_rng(4).normal(0.5, 1.0, size=(2, 1, 3, 3))
    tr = run(g, x)
    stem = tr.outputs["s1.bn"]  # [T, B, 1, 3, 3]
    bn = g["c1.b2_0.bn"].params

    def branch(v2_history):
        s = _lif(np.array(v2_history), lif["beta"], lif["alpha"])[-1]
        return (0.7 * s - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5) * bn["weight"] \
            + bn["bias"]

    T = stem.shape[0]
    v = {k: np.zeros_like(stem) for k in range(4)}
    back = np.zeros_like(stem)
    for t in range(T):
        v[0][t] = stem[t] + (back[t - 1] if t else 0)
        v[1][t] = v[0][t] + (v[3][t - 1] if t else 0)
        v[2][t] = v[1][t]
        v[3][t] = v[0][t] + _avgpool3(v[2][t])
        back[t] = branch(v[2][:t + 1])
    for k in range(4):
        np.testing.assert_allclose(tr.outputs[f"c1.n{k}"], v[k], rtol=1e-12, atol=1e-12)
    assert tr.outputs["c1.b2_0.lif"].any() and not tr.outputs["c1.b2_0.lif"].all()
    back_edges = [e for e in g.edges if e.kind == BACKWARD]
    assert sorted((e.src, e.dst, e.delay) for e in back_edges) == \
        [("c1.b2_0.bn", "c1.n0", 1), ("c1.n3", "c1.n1", 1)]


def _torch_trace(g, x, mode):
    torch = pytest.importorskip("torch")
    from snnc.backends.torch import compile as compile_torch

    m = compile_torch(g, dtype=torch.float64, mode=mode).eval()
    with torch.no_grad(), m.probing(membranes=True):
        y = m(torch.as_tensor(x))
    return y.numpy(), dict(m.records), dict(m.membranes)


@pytest.mark.parametrize("order", ["paper", "code"])
@pytest.mark.parametrize("code", CODES)
def test_torch_backend_equals_interpreter(code, order):
    g = excite(small(code, order), seed=len(code) + CODES.index(code))
    x = np.random.default_rng(CODES.index(code)).normal(size=(2, 3, 8, 8))
    trace = run(g, x)
    spiking = [n.name for n in g if n.op == "LIF"]
    assert sum(trace.outputs[n].any() for n in spiking) >= len(spiking) // 2
    for mode in ("multi", "step"):
        y, records, membranes = _torch_trace(g, x, mode)
        np.testing.assert_allclose(y, trace.output, rtol=1e-9, atol=1e-9)
        for n in g:
            if n.op == "LIF":
                assert np.array_equal(records[n.name].numpy(), trace.outputs[n.name]), n.name
                np.testing.assert_allclose(membranes[n.name].numpy(), trace.v[n.name],
                                           rtol=1e-9, atol=1e-9)
            else:
                np.testing.assert_allclose(records[n.name].numpy(), trace.outputs[n.name],
                                           rtol=1e-9, atol=1e-9, err_msg=n.name)


@pytest.mark.parametrize("order", ["paper", "code"])
@pytest.mark.parametrize("code", PUBLISHED)
def test_deploy_pipeline_keeps_outputs(code, order):
    g = excite(small(code, order), seed=7)
    x = np.random.default_rng(8).normal(size=(3, 3, 8, 8))
    deployed, _ = run_pipeline(g, "deploy")
    assert not deployed.nodes_of("BatchNorm2d", "Dropout") or order == "code"
    assert len(deployed) < len(g)
    ref, out = interpret(g, x), interpret(deployed, x)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)
    back = [e for e in deployed.edges if e.kind == BACKWARD]
    assert back and all(e.delay == 1 for e in back)


@pytest.mark.parametrize("code", CODES)
def test_published_and_sampled_cells_compile(code):
    genome = genome_from_code(code, name="c", classes=10, channels=4, input_shape=(3, 16, 16))
    res = compile_genome(to_text(genome))
    verify(res.graph)
    assert res.graph.output_node.shape == (10,)
    assert code_from_genome(res.genome) == code


# ------------------------------------------------------------------ errors
def test_errors():
    with pytest.raises(LoweringError, match=r"line 9:1: cell c1: no path from node 0"):
        lower(parse(cell_text("0 -> 1 conv3x3\n2 -> 3 skip")))
    with pytest.raises(LoweringError, match=r"cell c1: the cell maps \[3, H, W\]"):
        lower(parse(cell_text("0 -> 3 skip").replace("snasnet channels=1", "snasnet channels=3")))
    text = to_text(genome_from_code(CIFAR10, name="e", classes=10, channels=4, pool=3))
    with pytest.raises(LoweringError, match=r"skeleton: input resolution 32x32 is not divisible "
                                            r"by 2 \* pool = 6"):
        lower(parse(text))


# ------------------------------------------------------------------ presets
#: preset -> (trainable parameters: conv/linear weights and biases, BN weights and biases;
#: all stored params incl. BN running statistics; MACs per sample per time step)
# (trainable, all stored incl. BN statistics, MACs per step); STTS Table 2 quotes SNASNet at 20M
# (CIFAR-10) and 21M (CIFAR-100) parameters: the skeleton as the authors' code builds it.
PRESETS = {
    "snasnet-bw-cifar10": (19_520_356, 19_532_644, 5_250_715_648),
    "snasnet-bw-cifar100": (20_624_500, 20_629_876, 1_564_659_712),
}
PRESET_SOURCE = {
    "snasnet-bw-cifar10": (CIFAR10, 10, 256, 10, {"order": "code", "pool": 4}),
    "snasnet-bw-cifar100": (CIFAR100, 100, 128, 5, {"order": "code"}),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets(name):
    text = (ZOO / f"{name}.genome").read_text()
    comment = text.split("\n", 1)[0]
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    assert comment.startswith("# SNASNet-Bw") and "Table 1" in comment
    genome = parse(text)
    assert to_text(genome) == body  # canonical
    code, classes, channels, vote, skeleton = PRESET_SOURCE[name]
    assert genome == genome_from_code(code, name=name, classes=classes, channels=channels,
                                      vote=vote, provenance=f"snasnet-code {code}", **skeleton)
    assert code_from_genome(genome) == code
    g = verify(lower(genome))
    trainable = sum(v.size for n in g for k, v in n.params.items() if k in ("weight", "bias"))
    s = summarize(g)
    assert (trainable, s.num_params, s.macs_per_step) == PRESETS[name]
    assert ZOO.joinpath(f"{name}.genome").exists() and sorted(p.stem for p in ZOO.glob(
        "snasnet-*.genome")) == sorted(PRESETS)
