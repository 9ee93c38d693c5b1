"""SpikeDHS cells and the SpikeDHS-CLA network (SpikeDHS section 4.1, eq. 12-17; 5.1.1): structure,
verifier, what the lowered graph computes (reference interpreter), torch backend and deploy
pipeline agreement in float64, per-layer neuron/surrogate overrides, training, the preset."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from snnc.errors import LoweringError
from snnc.frontend import lower
from snnc.genome import parse, parse_file, to_text
from snnc.ir import Edge, run, verify
from snnc.ir.summary import summarize
from snnc.passes import run_pipeline

ZOO = Path(__file__).resolve().parents[2] / "snnc" / "zoo"

HEAD = """snnc-genome 1
name "dhs-small"
T {T}
input {input}
classes {classes}
neuron lif leak=0.2 v_th=0.5
surrogate dspike b=3
"""
#: The published cell's topology (authors' cell_arch) with one skip (1 -> 2) and one snn_b5-only
#: node: node 0 <- s0, s1 (b3); node 1 <- s0 (b3), s1 (b5); node 2 <- n0 (b5), n1 (skip).
CELL = """cell c dhs channels={C} nodes=3 {{
  -2 -> 0 snn_b3
  -1 -> 0 snn_b3
  -2 -> 1 snn_b3
  -1 -> 1 snn_b5
  0 -> 2 snn_b5
  1 -> 2 skip
}}
"""
LEVELS = (0, 0, 1, 1, 1, 2, 2, 2)  # the authors' network path
#: Per-layer overrides as DGS / TPS would emit them (l5: TPS leak; l8: IF with a DGS temperature).
OVERRIDES = {5: "{ neuron lif leak=0.35 v_th=0.5 }",
             8: "{ neuron if v_th=0.5\n  surrogate dspike b=4.2 }"}


def small_text(C: int = 4, input: str = "3x16x16", T: int = 2, classes: int = 10,
               overrides: dict[int, str] | None = None) -> str:
    overrides = OVERRIDES if overrides is None else overrides
    layers = "".join(f"layer l{i} cell=c level={lv} {overrides.get(i, '')}\n"
                     for i, lv in enumerate(LEVELS, 1))
    return HEAD.format(T=T, input=input, classes=classes) + CELL.format(C=C) + layers


def small(seed: int = 0, **kw):
    return lower(parse(small_text(**kw)), seed=seed)


def lively(g, seed: int):
    """A copy of ``g`` with random BatchNorm statistics and affine parameters (and a positive bias
    so that deep layers keep firing), for tests that need spikes everywhere."""
    g = g.copy(copy_params=True)
    rng = np.random.default_rng(seed)
    for bn in g.nodes_of("BatchNorm2d"):
        c = bn.attrs["num_features"]
        bn.params.update(weight=rng.uniform(0.8, 2.0, c), bias=rng.uniform(0.0, 0.5, c),
                         running_mean=rng.normal(0, 0.1, c), running_var=rng.uniform(0.5, 1.5, c))
    return g


def _in(g, name):
    return sorted((e.src, e.port) for e in g.in_edges(name))


# ------------------------------------------------------------------ structure
def test_stem_cells_and_head_structure():
    g = small()
    assert _in(g, "stem.conv") == [("input", 0)]
    assert [g[n].op for n in ("stem.conv", "stem.bn", "stem.lif")] == \
        ["Conv2d", "BatchNorm2d", "LIF"]
    stem = g["stem.conv"].attrs
    assert (stem["in_channels"], stem["out_channels"], stem["kernel"], stem["stride"]) == \
        (3, 12, 3, 1)
    # layer 1 reads the stem as s0 and s1; layer 2 reads the stem as s0, layer 1 as s1
    assert _in(g, "l1.n0.s0.conv") == _in(g, "l1.n0.s1.conv") == [("stem.lif", 0)]
    assert _in(g, "l2.n0.s0.conv") == [("stem.lif", 0)]
    assert _in(g, "l2.n0.s1.conv") == [("l1.cat", 0)]
    # mixing at the membrane potential: ONE neuron per node, fed by its operations' BN outputs
    assert _in(g, "l1.n0.lif") == [("l1.n0.s0.bn", 0), ("l1.n0.s1.bn", 0)]
    assert _in(g, "l1.n1.lif") == [("l1.n1.s0.bn", 0), ("l1.n1.s1.bn", 0)]
    assert _in(g, "l1.n2.lif") == [("l1.n1.lif", 0), ("l1.n2.n0.bn", 0)]  # skip: identity
    assert _in(g, "l1.n2.n0.conv") == [("l1.n0.lif", 0)]
    assert sum(n.op == "LIF" for n in g if n.name.startswith("l1.")) == 3
    # cell output: channel concatenation of the nodes in order
    assert _in(g, "l1.cat") == [("l1.n0.lif", 0), ("l1.n1.lif", 1), ("l1.n2.lif", 2)]
    assert g["l1.cat"].op == "Concat" and g["l1.cat"].shape == (12, 16, 16)
    for name in ("l1.n0.s0.conv", "l1.n1.s1.conv", "l1.n2.n0.conv"):
        a = g[name].attrs
        assert (a["kernel"], a["stride"], a["padding"], a["bias"]) == (3, 1, 1, True)
    # widths double per level: 4, 8, 16 per node; 12, 24, 48 per cell
    for i, lv in enumerate(LEVELS, 1):
        assert g[f"l{i}.cat"].shape == (12 * 2 ** lv, 16 >> lv, 16 >> lv)
        assert g[f"l{i}.n2.n0.conv"].attrs["in_channels"] == 4 * 2 ** lv
    assert g["l3.n0.s0.conv"].attrs["in_channels"] == 12
    assert g["l4.n0.s1.conv"].attrs["in_channels"] == 24
    # head: GAP -> spiking neuron -> Linear -> BN -> output
    chain = ["l8.cat", "head.pool", "head.lif", "head.fc", "head.bn", "output"]
    for a, b in zip(chain, chain[1:]):
        assert g.out_edges(a) == [Edge(a, b)] or Edge(a, b) in g.out_edges(a)
    assert g["head.fc"].attrs["in_features"] == 48 and g["head.bn"].shape == (10,)
    assert not [n for n in g if n.name.startswith("aux")]


def test_nearest_resampling_between_levels():
    g = small()
    # layer 3 moves down: s1 (layer 2) halved; s0 (layer 1, level 0) halved to match
    for name, src in (("l3.s1.down", "l2.cat"), ("l3.s0.down", "l1.cat")):
        node = g[name]
        assert node.op == "AvgPool2d" and _in(g, name) == [(src, 0)]
        assert (node.attrs["kernel"], node.attrs["stride"]) == (1, 2)
    assert _in(g, "l3.n0.s1.conv") == [("l3.s1.down", 0)]
    # layer 4 stays at level 1, but its s0 (layer 2) is still at level 0
    assert "l4.s1.down" not in g and g["l4.s0.down"].attrs["stride"] == 2
    assert "l5.s0.down" not in g and "l5.s1.down" not in g
    # a two-level gap (layer 3 at level 2 reads the stem as s0) resamples by 4 at once
    text = HEAD.format(T=1, input="1x8x8", classes=2) + CELL.format(C=2) + (
        "layer a cell=c level=1\nlayer b cell=c level=2\n")
    g2 = lower(parse(text))
    assert g2["b.s0.down"].attrs["stride"] == 4 and _in(g2, "b.s0.down") == [("stem.lif", 0)]
    assert g2["a.s0.down"].attrs["stride"] == 2 and g2["b.cat"].shape == (24, 2, 2)


def test_skip_from_a_wider_cell_is_a_1x1_projection():
    text = HEAD.format(T=1, input="3x8x8", classes=3) + """cell c dhs channels=2 nodes=2 {
  -1 -> 0 skip
  -2 -> 1 skip
  0 -> 1 skip
}
layer a cell=c level=0
"""
    g = lower(parse(text))
    conv = g["a.n0.s1.conv"].attrs
    assert (conv["in_channels"], conv["out_channels"], conv["kernel"], conv["padding"]) == \
        (4, 2, 1, 0)
    assert _in(g, "a.n0.lif") == [("a.n0.s1.bn", 0)]
    assert _in(g, "a.n1.lif") == [("a.n0.lif", 0), ("a.n1.s0.bn", 0)]
    assert g["a.cat"].shape == (4, 8, 8)


def test_locations_point_at_the_layer_lines():
    g = small()
    lines = small_text().splitlines()
    row = int(g["l3.n1.lif"].loc.split(":")[0])
    assert lines[row - 1].startswith("layer l3 ")
    assert g["stem.conv"].loc == g["l1.cat"].loc and g["head.fc"].loc == g["l8.cat"].loc


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("layers, message", [
    ("layer a cell=c level=1\nlayer b cell=c level=2\nlayer d cell=c level=0\n",
     r"line 18:1: layer d: level 0 after level 2: a layer moves at most one level up or down"),
    ("layer a cell=c level=0\nlayer b cell=c level=2\n",
     r"layer b: level 2 after level 0: a layer moves at most one level up or down"),
    ("layer a cell=c level=3\n", r"layer a: level 3 after level 0|level 3 needs"),
    ("layer stem cell=c level=0\n", r"layer stem: the layer name 'stem' is taken"),
    ("layer a cell=c level=0\nclassifier head\n", r"classifier head: comes after a SpikeDHS layer"),
    ("layer a cell=c level=0\n"
     "cell d dhs channels=2 { -1 -> 0 skip\n -1 -> 1 skip\n -1 -> 2 skip }\n",
     r"cell d: comes after the last layer"),
])
def test_layer_errors(layers, message):
    text = HEAD.format(T=1, input="3x12x12", classes=2) + CELL.format(C=2) + layers
    with pytest.raises(LoweringError, match=message):
        lower(parse(text))


def test_resolution_must_divide():
    text = HEAD.format(T=1, input="3x6x6", classes=2) + CELL.format(C=2) + (
        "layer a cell=c level=1\nlayer b cell=c level=2\n")
    with pytest.raises(LoweringError, match=r"layer b: level 2 needs the resolution 6x6 to be "
                                            r"divisible by 4"):
        lower(parse(text))


def test_cell_node_without_operation():
    text = HEAD.format(T=1, input="3x8x8", classes=2) + """cell c dhs channels=2 nodes=3 {
  -1 -> 0 snn_b3
  0 -> 2 snn_b3
}
layer a cell=c level=0
"""
    with pytest.raises(LoweringError, match=r"line 8:1: cell c: node 1 has no incoming operation"):
        lower(parse(text))


def test_first_layer_follows_the_input():
    text = HEAD.format(T=1, input="3x8x8", classes=2) + "stage s1 node channels=4\n" + \
        CELL.format(C=2) + "layer a cell=c level=0\n"
    with pytest.raises(LoweringError, match=r"layer a: the first layer must follow the network "
                                            r"input"):
        lower(parse(text))


HYBRID = {4: "{ neuron alif leak=0.2 rho=0.2 v_th=0.5 }", 5: "{ neuron plif tau=2 }",
          6: "{ neuron relu }"}


def test_layer_neuron_models_lower_to_their_ops():
    """TPS / HNS results: ALIF, PLIF and ReLU layers (SpikeDHS eq. 5-8; HNS's ANN layers)."""
    g = small(overrides=HYBRID)
    want = {4: "ALIF", 5: "PLIF", 6: "ReLU"}
    for i in range(1, 9):
        for j in range(3):
            node = g[f"l{i}.n{j}.lif"]
            assert node.op == want.get(i, "LIF"), (i, j)
            if node.op == "ReLU":
                assert node.attrs == {}
            else:
                assert node.attrs["surrogate"] == "dspike"


@pytest.mark.parametrize("mode", ["multi", "step"])
def test_hybrid_layers_torch_matches_interpreter_float64(mode):
    torch = pytest.importorskip("torch")
    from snnc.backends.torch import compile as compile_torch

    g = lively(small(seed=3, overrides=HYBRID), seed=4)
    x = np.random.default_rng(5).normal(0.5, 1.0, (2, 3, 16, 16))
    trace = run(g, x)
    m = compile_torch(g, dtype=torch.float64, mode=mode).eval()
    with torch.no_grad(), m.probing():
        y = m(torch.as_tensor(x))
    for node in g:
        got, ref = m.records[node.name].numpy(), trace.outputs[node.name]
        if node.op in ("LIF", "ALIF", "PLIF"):
            assert np.array_equal(got, ref), f"{node.name}: spikes differ"
        else:
            assert np.allclose(got, ref, 1e-9, 1e-9), f"{node.name} differs"
    assert np.allclose(y.numpy(), trace.output, 1e-9, 1e-9)


# ------------------------------------------------------------------ overrides
def test_layer_overrides_reach_the_layer_neurons_only():
    g = small()
    for i in range(1, 9):
        for j in range(3):
            a = g[f"l{i}.n{j}.lif"].attrs
            beta = {5: 0.35, 8: 1.0}.get(i, 0.2)
            assert (a["beta"], a["alpha"], a["v_th"], a["reset"], a["v_reset"]) == \
                (pytest.approx(beta), 1.0, 0.5, "hard", 0.0), (i, j)
            assert a["surrogate"] == "dspike"
    for name in ("stem.lif", "head.lif"):  # the genome's neuron and surrogate
        a = g[name].attrs
        assert (a["beta"], a["v_th"], a["surrogate"], a["surrogate_arg"]) == \
            (pytest.approx(0.2), 0.5, "dspike", 3.0)


def test_time_constant_forms_of_the_override():
    """SpikingJelly's tau (beta = 1 - 1/tau) and the canonical beta/alpha reach the nodes too."""
    g = small(overrides={2: "{ neuron lif tau=4 decay_input=false v_th=0.5 }",
                         7: "{ neuron lif beta=0.6 alpha=0.5 v_th=0.4 reset=soft }"})
    for j in range(3):
        a2, a7 = g[f"l2.n{j}.lif"].attrs, g[f"l7.n{j}.lif"].attrs
        assert (a2["beta"], a2["alpha"]) == (pytest.approx(0.75), 1.0)
        assert (a7["beta"], a7["alpha"], a7["v_th"], a7["reset"]) == (0.6, 0.5, 0.4, "soft")
        assert g[f"l3.n{j}.lif"].attrs["beta"] == pytest.approx(0.2)


def test_surrogate_temperature_per_node():
    g = small(overrides={3: "{ surrogate dspike b=2 }", 6: "{ surrogate atan alpha=2 }"})
    for i in range(1, 9):
        b = [g[f"l{i}.n{j}.lif"].attrs["surrogate_arg"] for j in range(3)]
        kinds = {g[f"l{i}.n{j}.lif"].attrs["surrogate"] for j in range(3)}
        if i == 3:    # a layer override wins
            assert b == [2.0, 2.0, 2.0] and kinds == {"dspike"}
        elif i == 6:
            assert b == [2.0, 2.0, 2.0] and kinds == {"atan"}
        else:         # n0: snn_b3 only; n1: b3 and b5 -> genome's b=3; n2: snn_b5 and skip -> 5
            assert b == [3.0, 3.0, 5.0] and kinds == {"dspike"}
    text = small_text(overrides={}).replace("surrogate dspike b=3", "surrogate atan alpha=2")
    g = lower(parse(text))
    assert g["l1.n1.lif"].attrs["surrogate"] == "atan"     # mixed temperatures: the genome's
    assert g["l1.n0.lif"].attrs["surrogate"] == "dspike"   # snn_b3 only: Dspike b=3


# ------------------------------------------------------------------ semantics
def test_interpreter_semantics_of_a_layer():
    """Eq. 12/16: H = 0.2 V + sum of the node's operations; cell output = concat of node spikes;
    nearest downsampling = x[:, ::2, ::2]; head = BN(fc(spikes of LIF(GAP))."""
    g = lively(small(), seed=1)
    x = np.random.default_rng(2).normal(0.5, 1.0, (3, 3, 16, 16))
    tr = run(g, x)
    out = tr.outputs
    for node in ("l1.n1", "l4.n2", "l8.n0"):
        lif = g[f"{node}.lif"]
        current = sum(out[e.src] for e in g.in_edges(lif.name))
        beta, v, spikes = lif.attrs["beta"], np.zeros_like(current[0]), []
        for t in range(current.shape[0]):
            h = beta * v + current[t]
            s = h > 0.5
            v = np.where(s, 0.0, h)
            spikes.append(s)
        assert np.array_equal(np.array(spikes, dtype=float), out[lif.name])
        assert 0.02 < out[lif.name].mean() < 0.98, node  # every tested node really fires
    cat = np.concatenate([out[f"l5.n{j}.lif"] for j in range(3)], axis=2)
    assert np.array_equal(out["l5.cat"], cat)
    assert np.array_equal(out["l6.s1.down"], out["l5.cat"][..., ::2, ::2])
    assert np.array_equal(out["l3.s0.down"], out["l1.cat"][..., ::2, ::2])
    assert np.allclose(out["head.pool"], out["l8.cat"].mean(axis=(3, 4)))
    assert out["head.lif"].mean() > 0


# ------------------------------------------------------------------ torch backend, deploy
@pytest.mark.parametrize("mode", ["multi", "step"])
def test_torch_backend_matches_interpreter_float64(mode):
    torch = pytest.importorskip("torch")
    from snnc.backends.torch import compile as compile_torch

    g = lively(small(seed=3), seed=4)
    x = np.random.default_rng(5).normal(0.5, 1.0, (2, 3, 16, 16))
    trace = run(g, x)
    m = compile_torch(g, dtype=torch.float64, mode=mode).eval()
    with torch.no_grad(), m.probing(membranes=True):
        y = m(torch.as_tensor(x))
    fired = 0
    for node in g:
        got, ref = m.records[node.name].numpy(), trace.outputs[node.name]
        if node.op == "LIF":
            assert np.array_equal(got, ref), f"{node.name}: spikes differ"
            assert np.allclose(m.membranes[node.name].numpy(), trace.v[node.name], 1e-9, 1e-9)
            fired += ref.any()
        else:
            assert np.allclose(got, ref, 1e-9, 1e-9), f"{node.name} differs"
    assert np.allclose(y.numpy(), trace.output, 1e-9, 1e-9)
    assert fired == len(g.nodes_of("LIF"))


def test_torch_backend_32x32_input_and_surrogate_gradients():
    torch = pytest.importorskip("torch")
    from snnc.backends.torch import compile as compile_torch

    g = lively(small(input="3x32x32", overrides={}), seed=6)
    x = np.random.default_rng(7).normal(0.5, 1.0, (1, 3, 32, 32))
    m = compile_torch(g, dtype=torch.float64).eval()
    with torch.no_grad():
        y = m(torch.as_tensor(x)).numpy()
    assert np.allclose(y, run(g, x).output, 1e-9, 1e-9)
    m.train()
    m(torch.as_tensor(x)).sum().backward()
    grads = {n: p.grad for n, p in m.named_parameters() if "stem" in n or "l1__n0" in n}
    assert grads and all(gr is not None and gr.abs().sum() > 0 for gr in grads.values())


def test_deploy_pipeline_keeps_the_interpreter_outputs():
    g = lively(small(seed=8), seed=9)
    out, records = run_pipeline(g, "deploy")
    assert not out.nodes_of("BatchNorm2d")  # every conv-BN pair and the head's Linear-BN folded
    assert len(out.nodes_of("Conv2d")) == len(g.nodes_of("Conv2d"))
    x = np.random.default_rng(10).normal(0.5, 1.0, (2, 3, 16, 16))
    ref, got = run(g, x), run(out, x)
    for lif in g.nodes_of("LIF"):
        assert np.array_equal(got.outputs[lif.name], ref.outputs[lif.name]), lif.name
        assert np.allclose(got.v[lif.name], ref.v[lif.name], 1e-9, 1e-9)
    assert np.allclose(got.output, ref.output, 1e-9, 1e-9)


# ------------------------------------------------------------------ training on real data
def test_reduced_width_spikedhs_cla_learns_digits_in_one_epoch():
    """channels=4 SpikeDHS-CLA (8 layers, levels 8x8 -> 4x4 -> 2x2) on scikit-learn's 8x8 digits,
    T=2, one epoch: the loss of the last batches is well below that of the first."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from snnc.backends.torch import compile as compile_torch
    from snnc.runtime.data import load_dataset
    from snnc.runtime.loader import batches
    from snnc.runtime.train import ce_loss

    g = lower(parse(small_text(C=4, input="1x8x8", T=2, overrides={})), seed=0)
    ds = load_dataset("digits")
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # float64: a one-epoch outcome of a 4-channel network hangs on single spikes, and float32
        # rounding (which any kernel change may move) flips some of them
        m = compile_torch(g, dtype=torch.float64).train()
        opt = torch.optim.AdamW(m.parameters(), lr=0.01)
        losses = []
        for xb, yb in batches(ds.train_x, ds.train_y, 32, seed=0, mean=ds.mean, std=ds.std):
            loss = ce_loss(m(xb, T=2), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        m.eval()
        with torch.no_grad():
            xt = torch.as_tensor((ds.test_x - np.reshape(ds.mean, (1, -1, 1, 1)))
                                 / np.reshape(ds.std, (1, -1, 1, 1)), dtype=torch.float64)
            acc = float((m(xt, T=2).mean(0).argmax(-1).numpy() == ds.test_y).mean())
    finally:
        torch.set_num_threads(threads)
    assert len(losses) >= 30 and all(math.isfinite(v) for v in losses)
    first, last = np.mean(losses[:8]), np.mean(losses[-8:])
    assert last < 0.85 * first, (first, last)
    assert acc > 0.3  # chance is 0.1


# ------------------------------------------------------------------ preset
PRESET_PARAMS = 14_293_758  # trainable: conv/linear weights and biases, BN weights and biases
PRESET_MACS = 2_000_154_240  # per sample per time step


def test_preset_spikedhs_cla_cifar10():
    path = ZOO / "spikedhs-cla-cifar10.genome"
    text = path.read_text()
    first, body = text.split("\n", 1)
    assert first.startswith("# SpikeDHS-CLA") and "Table 2" in first
    genome = parse_file(path)
    assert to_text(genome) == body  # canonical
    g = verify(lower(genome))
    trainable = sum(v.size for n in g for k, v in n.params.items()
                    if n.op in ("Conv2d", "Linear", "BatchNorm2d") and k in ("weight", "bias"))
    assert trainable == PRESET_PARAMS and round(trainable / 1e6) == 14  # Table 2: 14M
    s = summarize(g)
    assert s.macs_per_step == PRESET_MACS
    assert [g[f"l{i}.cat"].shape for i in (1, 3, 6, 8)] == [(144, 32, 32), (288, 16, 16),
                                                            (576, 8, 8), (576, 8, 8)]
    assert g.meta["T"] == 6 and g["head.fc"].attrs["in_features"] == 576
    assert re.search(r"-1 -> 1 snn_b5", body)
