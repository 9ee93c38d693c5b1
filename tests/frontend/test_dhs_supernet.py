"""SpikeDHS supernets beyond one mixed edge: membrane (eq. 16) and spike (eq. 14) mixing against
hand-computed values, a one-candidate supernet against the plain network (float64), the
layer-level trellis (beta mixes, projections) and layers moving up, torch against the
interpreter."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.errors import LoweringError
from snnc.frontend import lower
from snnc.genome import parse
from snnc.ir import run, verify

from .test_dhs import HEAD, lively

LEAK, V_TH = 0.2, 0.5  # HEAD's neuron: v = 0.2 v + I, threshold 0.5, hard reset to 0


def one_node(mixing: str, C: int = 2) -> str:
    """One node fed by one mixed edge from s1 (the stem: width C, so its skip is the identity)."""
    return (HEAD.format(T=3, input="1x4x4", classes=3)
            + f"cell c dhs channels={C} nodes=1 mixing={mixing} {{\n  -1 -> 0 mix\n}}\n"
            + "layer l1 cell=c level=0\n")


def lif(current: np.ndarray) -> np.ndarray:
    """The canonical LIF of the header by hand: H = 0.2 V + I, S = H > 0.5, V = 0 if S else H."""
    v = np.zeros(current.shape[1:])
    out = []
    for i_t in current:
        h = LEAK * v + i_t
        s = (h > V_TH).astype(float)
        v = np.where(s > 0, 0.0, h)
        out.append(s)
    return np.stack(out)


WEIGHTS = np.array([1.0, 2.0, 3.0]) / 6.0  # softmax of log(1, 2, 3)


def _mixed(mixing: str):
    g = lively(verify(lower(parse(one_node(mixing)), seed=1)), seed=2)
    g["l1.n0.s1.mix"].params["alpha"] = np.log([1.0, 2.0, 3.0])
    x = np.random.default_rng(3).normal(0.5, 1.0, (2, 1, 4, 4))
    return g, run(g, x).outputs


def test_membrane_mix_is_the_weighted_current_into_one_neuron():
    g, out = _mixed("membrane")
    skip, b3, b5 = out["stem.lif"], out["l1.n0.s1.snn_b3.bn"], out["l1.n0.s1.snn_b5.bn"]
    current = WEIGHTS[0] * skip + WEIGHTS[1] * b3 + WEIGHTS[2] * b5  # eq. 16
    np.testing.assert_allclose(out["l1.n0.s1.mix"], current, rtol=1e-12, atol=1e-12)
    assert np.array_equal(out["l1.n0.lif"], lif(current))
    assert 0 < out["l1.n0.lif"].mean() < 1
    assert not any(n.name.startswith("l1.n0.s1.") and n.op == "LIF" for n in g)


def test_spike_mix_fires_every_candidate_then_the_node():
    g, out = _mixed("spike")
    s3, s5 = lif(out["l1.n0.s1.snn_b3.bn"]), lif(out["l1.n0.s1.snn_b5.bn"])
    assert np.array_equal(out["l1.n0.s1.snn_b3.lif"], s3)
    assert np.array_equal(out["l1.n0.s1.snn_b5.lif"], s5)
    mixed = WEIGHTS[0] * out["stem.lif"] + WEIGHTS[1] * s3 + WEIGHTS[2] * s5  # eq. 14
    np.testing.assert_allclose(out["l1.n0.s1.mix"], mixed, rtol=1e-12, atol=1e-12)
    assert np.array_equal(out["l1.n0.lif"], lif(mixed))
    assert not np.isin(mixed, (0.0, 1.0)).all()  # weighted spikes: not binary
    # the candidates keep their own temperatures (eq. 15); the node fires with a fixed one
    assert g["l1.n0.s1.snn_b3.lif"].attrs["surrogate_arg"] == 3.0
    assert g["l1.n0.s1.snn_b5.lif"].attrs["surrogate_arg"] == 5.0
    assert (g["l1.n0.lif"].attrs["surrogate"], g["l1.n0.lif"].attrs["surrogate_arg"]) == \
        ("dspike", 3.0)
    assert "l1.n0.s1.skip.lif" not in g  # an identity skip carries spikes already


def _cell(candidates: str | None, mixed: bool) -> str:
    cand = f' candidates="{candidates}"' if candidates else ""
    op = "mix" if mixed else (candidates or "snn_b3")
    edges = "".join(f"  {s} -> {j} {op}\n" for j in range(2) for s in range(-2, j))
    return (HEAD.format(T=2, input="2x8x8", classes=4) + f"cell c dhs channels=2 nodes=2{cand} {{\n"
            + edges + "}\nlayer l1 cell=c level=0\nlayer l2 cell=c level=1\n")


@pytest.mark.parametrize("op", ["snn_b3", "snn_b5", "skip"])
def test_one_candidate_supernet_equals_the_plain_network(op):
    sup = lively(verify(lower(parse(_cell(op, True)), seed=4)), seed=5)
    plain = verify(lower(parse(_cell(op, False)), seed=4))
    for n in plain:  # the plain network with the supernet's weights
        twin = n.name
        parts = n.name.split(".")
        if len(parts) == 4 and parts[3] in ("conv", "bn"):
            twin = ".".join(parts[:3] + [op, parts[3]])
        assert sup[twin].op == n.op, n.name
        n.params.update({k: v.copy() for k, v in sup[twin].params.items()})
    assert all(m.attrs["k"] == 1 for m in sup.nodes_of("WeightedMix"))
    x = np.random.default_rng(6).normal(0.5, 1.0, (3, 2, 8, 8))
    got, want = run(sup, x), run(plain, x)
    assert np.array_equal(got.output, want.output)
    for n in plain.nodes_of("LIF"):
        assert np.array_equal(got.outputs[n.name], want.outputs[n.name]), n.name
    assert 0 < want.outputs["l2.n1.lif"].mean() < 1
    torch = pytest.importorskip("torch")
    from snnc.backends.torch import compile as compile_torch

    module = compile_torch(sup, dtype=torch.float64).eval()
    with torch.no_grad(), module.probing(ops=("LIF",)):
        y = module(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(y, want.output, rtol=1e-9, atol=1e-9)
    for n in plain.nodes_of("LIF"):
        assert np.array_equal(module.records[n.name].numpy(), want.outputs[n.name]), n.name


def test_bad_candidates_are_refused():
    with pytest.raises(LoweringError, match="candidates='snn_b7': unknown operation"):
        lower(parse(_cell("snn_b7", True)))
    with pytest.raises(LoweringError, match="an operation repeats"):
        lower(parse(_cell("skip skip", True)))


# ------------------------------------------------------------------ trellis
def trellis_text(mixing: str = "membrane", layers: int = 3, levels: int = 3) -> str:
    return (HEAD.format(T=2, input="2x8x8", classes=4)
            + f"cell c dhs channels=2 nodes=2 mixing={mixing} {{\n"
            + "".join(f"  {s} -> {j} mix\n" for j in range(2) for s in range(-2, j))
            + f"}}\ntrellis t cell=c layers={layers} levels={levels}\n")


def test_trellis_structure():
    g = verify(lower(parse(trellis_text()), seed=0))
    betas = {n.name: n.attrs["k"] for n in g.nodes_of("WeightedMix") if "beta" in n.name}
    assert betas == {"t.l1.L0.beta": 1, "t.l1.L1.beta": 1, "t.l2.L0.beta": 2,
                     "t.l2.L1.beta": 2, "t.l2.L2.beta": 1, "t.l3.L0.beta": 2,
                     "t.l3.L1.beta": 3, "t.l3.L2.beta": 2, "head.beta": 3}
    ins = sorted((e.port, e.src) for e in g.in_edges("t.l3.L1.beta"))
    # level 0 (down, projected 4 -> 8 channels), level 1 (as is), level 2 (up, projected 16 -> 8)
    assert ins == [(0, "t.l3.L1.from0.proj.bn"), (1, "t.l2.L1.cat"),
                   (2, "t.l3.L1.from2.proj.bn")]
    assert g["t.l3.L1.from0.down"].attrs == {"kernel": 1, "stride": 2, "padding": 0}
    assert g["t.l3.L1.from2.up"].attrs == {"scale": 2}
    assert g["t.l3.L1.from2.proj.conv"].attrs["kernel"] == 1
    assert g["t.l3.L1.cat"].shape == (8, 4, 4)
    # s0: layer l-2 at the same level, else its highest level, resampled; the stem for l <= 2
    assert [e.src for e in g.in_edges("t.l3.L1.n0.s0.snn_b3.conv")] == ["t.l1.L1.cat"]
    assert [e.src for e in g.in_edges("t.l3.L2.s0.down")] == ["t.l1.L1.cat"]
    assert [e.src for e in g.in_edges("t.l2.L2.s0.down")] == ["stem.lif"]
    assert sorted(e.port for e in g.in_edges("head.beta")) == [0, 1, 2]
    assert [e.src for e in g.in_edges("head.bn")] == ["head.beta"]


@pytest.mark.parametrize("mixing", ["membrane", "spike"])
def test_trellis_torch_matches_interpreter_float64(mixing):
    torch = pytest.importorskip("torch")
    from snnc.backends.torch import compile as compile_torch

    g = lively(verify(lower(parse(trellis_text(mixing)), seed=7)), seed=8)
    rng = np.random.default_rng(9)
    for m in g.nodes_of("WeightedMix"):
        m.params["alpha"] = rng.normal(0, 1, m.attrs["k"])
    x = rng.normal(0.5, 1.0, (2, 2, 8, 8))
    trace = run(g, x)
    module = compile_torch(g, dtype=torch.float64).eval()
    with torch.no_grad(), module.probing():
        y = module(torch.as_tensor(x))
    for node in g:
        got, want = module.records[node.name].numpy(), trace.outputs[node.name]
        if node.op == "LIF":
            assert np.array_equal(got, want), f"{node.name}: spikes differ"
        else:
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=node.name)
    np.testing.assert_allclose(y.numpy(), trace.output, rtol=1e-9, atol=1e-9)
    assert 0 < trace.outputs["t.l3.L2.n1.lif"].mean() < 1


def test_trellis_errors():
    with pytest.raises(LoweringError, match="levels=4 needs the resolution 12x12 to be divisible by 8"):
        lower(parse(trellis_text(levels=4).replace("2x8x8", "2x12x12")))
    text = trellis_text() + "layer l1 cell=c level=0\n"
    with pytest.raises(LoweringError, match="comes after the trellis"):
        lower(parse(text))


def test_layer_moving_up_upsamples_nearest():
    text = _cell("snn_b3", False).replace("layer l1 cell=c level=0\nlayer l2 cell=c level=1\n",
                                          "layer a cell=c level=1\nlayer b cell=c level=0\n")
    g = lively(verify(lower(parse(text), seed=0)), seed=1)
    assert g["b.s1.up"].attrs == {"scale": 2} and [e.src for e in g.in_edges("b.s1.up")] == \
        ["a.cat"]
    out = run(g, np.random.default_rng(2).normal(0.5, 1, (2, 2, 8, 8))).outputs
    assert np.array_equal(out["b.s1.up"], out["a.cat"].repeat(2, -1).repeat(2, -2))
    assert g["b.cat"].shape == (4, 8, 8)
