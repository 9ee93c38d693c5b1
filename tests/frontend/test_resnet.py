"""ResNet-18/19 lowering with BCNAS-SNN global backward connections: structure and port numbering,
backward-connection chains and their delay, errors, the classifier after a resnet, interpreter ==
torch backend (float64) at small width, the deploy pipeline, the zoo presets and a short training
run on real data (scikit-learn's 8x8 digits)."""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import snnc
from snnc.errors import LoweringError
from snnc.frontend import lower
from snnc.genome.resnet import DEPTHS, port_names
from snnc.genome import parse, to_text
from snnc.ir import Graph, run, summarize, verify
from snnc.passes import run_pipeline

HEAD = """snnc-genome 1
name "{name}"
T {T}
input {input}
classes {classes}
neuron lif leak=0.5
surrogate triangle gamma=1
"""
ZOO = Path(snnc.__file__).parent / "zoo"


def text(depth: int = 18, back: str = "", *, channels: int = 4, T: int = 3, inp: str = "3x16x16",
         classes: int = 5, head: str = "") -> str:
    edges = "\n".join(f"  {e.strip()}" for e in back.split(";"))  # one edge per line
    body = f" {{\n{edges}\n}}" if back else ""
    head = head or ("classifier hidden=8" if depth == 19 else "classifier")
    return (HEAD.format(name=f"r{depth}", T=T, input=inp, classes=classes)
            + f"resnet r depth={depth} channels={channels}{body}\n{head}\n")


def lowered(*args, seed: int = 0, **kw) -> Graph:
    return lower(parse(text(*args, **kw)), seed=seed)


def excite(g: Graph, seed: int = 1) -> Graph:
    """Random BatchNorm statistics and affine parameters (a trained network's, roughly) so that
    the neurons of a freshly initialised narrow ResNet fire at moderate rates."""
    rng = np.random.default_rng(seed)
    for n in g:
        if n.op == "BatchNorm2d":
            c = n.attrs["num_features"]
            n.params.update(weight=rng.uniform(0.8, 1.6, c), bias=rng.normal(0.2, 0.3, c),
                            running_mean=rng.normal(0, 0.1, c),
                            running_var=rng.uniform(0.3, 0.8, c))
    return g


# ------------------------------------------------------------------ structure
@pytest.mark.parametrize("depth", [18, 19])
def test_ports_are_the_lif_layers_in_forward_order(depth):
    g = lowered(depth)
    order = g.topological_order()
    lifs = [n for n in order if g[n].op == "LIF" and n.startswith("r.")]
    assert port_names("r", depth) == lifs and len(lifs) == 17
    assert lifs[0] == "r.stem.lif" and lifs[1:3] == ["r.s1.b0.lif1", "r.s1.b0.lif2"]
    last = lifs[-1]
    widths = {18: (32, 2, 2), 19: (16, 4, 4)}[depth]
    assert g[last].shape == widths  # 8C at 1/8 resolution (18), 4C at 1/4 (19)


@pytest.mark.parametrize("depth", [18, 19])
def test_basic_blocks_shortcuts_and_residual_sums(depth):
    g = lowered(depth)
    blocks, strides, mults = DEPTHS[depth]
    stem = g["r.stem.conv"].attrs
    assert (stem["kernel"], stem["stride"], stem["padding"], stem["bias"]) == (3, 1, 1, False)
    downs = sorted(n.name for n in g if n.name.endswith(".down.conv"))
    assert downs == [f"r.s{s}.b0.down.conv" for s in range(2, len(blocks) + 1)]
    for s, (nb, stride, mult) in enumerate(zip(blocks, strides, mults), start=1):
        for k in range(nb):
            p = f"r.s{s}.b{k}"
            assert g[f"{p}.conv1"].attrs["stride"] == (stride if k == 0 else 1)
            assert g[f"{p}.conv2"].attrs["out_channels"] == 4 * mult
            srcs = sorted(e.src for e in g.in_edges(f"{p}.lif2"))  # the residual add
            prev = (f"r.s{s}.b{k - 1}.lif2" if k else
                    "r.stem.lif" if s == 1 else f"r.s{s - 1}.b{blocks[s - 2] - 1}.lif2")
            shortcut = f"{p}.down.bn" if f"{p}.down.conv" in downs else prev
            assert srcs == sorted([f"{p}.bn2", shortcut])
            assert all(e.delay == 0 and e.kind == "forward" for e in g.in_edges(f"{p}.lif2"))
    assert not any(e.delay for e in g.edges)


def test_classifier_after_resnet_reads_its_spikes():
    g18, g19 = lowered(18), lowered(19)
    assert "head.lif" not in g18.nodes and "head.lif" not in g19.nodes
    assert [e.dst for e in g18.out_edges("r.s4.b1.lif2")] == ["head.pool"]
    chain = ["head.pool", "head.hidden", "head.hidden_lif", "head.fc", "output"]
    for a, b in zip(chain, chain[1:]):
        assert [e.dst for e in g19.out_edges(a)] == [b]
    assert g19["head.hidden"].attrs["out_features"] == 8 and g19["output"].shape == (5,)


def test_backward_connections_are_delayed_resampled_projections():
    g = lowered(18, "back 8 -> 0 @1 ; back 3 -> 1 @1 ; back 16 -> 16 @1 ; back 12 -> 5 @2")
    ports = port_names("r", 18)
    back = [e for e in g.edges if e.kind == "backward"]
    assert sorted((e.src, e.dst, e.delay) for e in back) == sorted([
        (ports[8], "r.back8_0.up", 1), (ports[3], "r.back3_1.conv", 1),
        (ports[16], "r.back16_16.conv", 1), (ports[12], "r.back12_5_d2.up", 2)])
    assert g["r.back8_0.up"].attrs["scale"] == 2 and g["r.back12_5_d2.up"].attrs["scale"] == 2
    for p, dst, c_in, c_out in (("r.back8_0", ports[0], 8, 4), ("r.back3_1", ports[1], 4, 4),
                                ("r.back16_16", ports[16], 32, 32),
                                ("r.back12_5_d2", ports[5], 16, 8)):
        conv = g[f"{p}.conv"].attrs
        assert (conv["kernel"], conv["in_channels"], conv["out_channels"], conv["bias"]) == (
            1, c_in, c_out, False)
        assert [(e.dst, e.delay, e.kind) for e in g.out_edges(f"{p}.conv")] == [
            (f"{p}.bn", 0, "forward")]
        assert [(e.dst, e.delay, e.kind) for e in g.out_edges(f"{p}.bn")] == [
            (dst, 0, "forward")]
    assert summarize(g).edges_by_kind["backward"] == 4


def test_backward_connection_at_the_first_steps():
    """Delay on the edge out of LIF j: at t < d the chain reads silent spikes and adds the BN
    shift; from t = d on it adds BN(conv(up(S_j[t - d])))."""
    g = excite(lowered(18, "back 8 -> 0 @1"))
    x = np.random.default_rng(0).uniform(0, 2, (2, 3, 16, 16))
    tr = run(g, x)
    bn = g["r.back8_0.bn"].params
    shift = bn["bias"] - bn["running_mean"] * bn["weight"] / np.sqrt(bn["running_var"] + 1e-5)
    np.testing.assert_allclose(tr.outputs["r.back8_0.bn"][0],
                               np.broadcast_to(shift[:, None, None], (2, 4, 16, 16)), atol=1e-12)
    s8 = tr.outputs[port_names("r", 18)[8]]
    assert s8[:-1].any()
    np.testing.assert_array_equal(tr.outputs["r.back8_0.up"][1:],
                                  s8[:-1].repeat(2, axis=-2).repeat(2, axis=-1))
    plain = excite(lowered(18))
    assert not np.array_equal(run(plain, x).outputs["r.stem.lif"], tr.outputs["r.stem.lif"])


@pytest.mark.parametrize("genome_text, match", [
    (text(18, "back 17 -> 0 @1"), r"port 17 is out of range 0\.\.16"),
    (text(18, "back 13 -> 9 @1", inp="3x12x12"), r"nearest interpolation from 2x2 \(port 13\) to "
                                                  r"3x3 \(port 9\)"),
    (text(18, inp="3x16x12", back="back 5 -> 0 @1"), None),
])
def test_backward_connection_errors(genome_text, match):
    if match is None:  # a non-square input whose strides divide it is fine
        assert lower(parse(genome_text))["r.back5_0.up"].attrs["scale"] == 2
        return
    with pytest.raises(LoweringError, match=r"line 9:3: resnet r: back .*" + match):
        lower(parse(genome_text))


def test_depth_channel_and_input_errors():
    with pytest.raises(LoweringError, match=r"line 8:1: resnet r: depth 20 is not lowered; "
                                            r"expected one of 18, 19"):
        lower(parse(text(18).replace("depth=18", "depth=20")))
    vec = text(18, inp="12")
    with pytest.raises(LoweringError, match=r"needs a \(C, H, W\) input"):
        lower(parse(vec))


# ------------------------------------------------------------------ semantics
@lru_cache(maxsize=None)
def small_case(depth: int, back: str) -> tuple[Graph, np.ndarray, object]:
    g = verify(excite(lowered(depth, back, T=3)))
    x = np.random.default_rng(depth).uniform(0, 2, (2, 3, 16, 16))
    return g, x, run(g, x)


CASES = [(18, ""), (18, "back 8 -> 0 @1 ; back 3 -> 1 @1"), (19, ""),
         (19, "back 12 -> 0 @1 ; back 16 -> 2 @1 ; back 6 -> 6 @1")]


@pytest.mark.parametrize("depth, back", CASES)
def test_neurons_fire(depth, back):
    g, _, tr = small_case(depth, back)
    rates = [tr.outputs[n].mean() for n in port_names("r", depth)]
    assert min(rates) > 0.01 and max(rates) < 0.9 and np.mean(rates) > 0.1


@pytest.mark.parametrize("depth, back", CASES)
def test_interpreter_equals_torch_float64(depth, back):
    torch = pytest.importorskip("torch")
    from snnc.backends.torch import compile as compile_torch

    g, x, tr = small_case(depth, back)
    m = compile_torch(g, dtype=torch.float64).eval()
    assert any(u.cyclic for u in m._plan) == bool(back)
    with torch.no_grad(), m.probing(membranes=True):
        y = m(torch.as_tensor(x))
    for node in g:
        got, ref = m.records[node.name].numpy(), tr.outputs[node.name]
        if node.op == "LIF":
            assert np.array_equal(got, ref), node.name
            np.testing.assert_allclose(m.membranes[node.name].numpy(), tr.v[node.name],
                                       rtol=1e-9, atol=1e-9)
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9, err_msg=node.name)
    np.testing.assert_allclose(y.numpy(), tr.output, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("depth, back", CASES)
def test_deploy_pipeline_keeps_outputs(depth, back):
    g, x, tr = small_case(depth, back)
    deployed, _ = run_pipeline(g, "deploy")
    assert not any(n.op == "BatchNorm2d" for n in deployed)  # every BN folded, the BC's too
    assert sum(e.kind == "backward" for e in deployed.edges) == back.count("back")
    out = run(deployed, x)
    for name in port_names("r", depth):
        assert np.array_equal(out.outputs[name], tr.outputs[name]), name
    np.testing.assert_allclose(out.output, tr.output, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ presets
#: preset -> (trainable parameters: Conv2d/Linear weights and biases, BatchNorm weights and
#: biases; MACs per sample per time step). See the module docstring of snnc.frontend.resnet.
PRESETS = {
    "resnet18": (11_173_962, 555_430_912),
    "resnet19": (12_697_994, 2_285_406_720),
    "resnet18-bc": (11_186_506, 568_013_824),
    "resnet19-bc": (12_747_658, 2_335_738_368),
}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset(preset):
    path = ZOO / f"{preset}.genome"
    source = path.read_text()
    comment, _, body = source.partition("\n")
    assert comment.startswith("# BCNAS-SNN") and "Table" in comment
    g = parse(source)
    assert to_text(g) == body and g.name == preset  # canonical
    graph = lower(g)
    verify(graph)
    trainable = sum(p.size for n in graph for k, p in n.params.items()
                    if n.op in ("Conv2d", "Linear", "BatchNorm2d") and k in ("weight", "bias"))
    assert (trainable, summarize(graph).macs_per_step) == PRESETS[preset]
    depth = 18 if "18" in preset else 19
    assert sum(e.kind == "backward" for e in graph.edges) == (2 if preset.endswith("-bc") else 0)
    assert len(port_names(g.blocks[0].name, depth)) == 17


# ------------------------------------------------------------------ training
@pytest.mark.slow
def test_reduced_resnet_trains_on_digits(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from snnc.backends.torch import compile as compile_torch
    from snnc.runtime.data import load_dataset
    from snnc.runtime.loader import batches
    from snnc.runtime.train import TrainConfig, ce_loss, train

    source = text(18, "back 8 -> 0 @1 ; back 3 -> 1 @1", channels=8, T=2, inp="1x8x8",
                  classes=10).replace('name "r18"', 'name "digits-resnet"')
    path = tmp_path / "r.genome"
    path.write_text(source)
    config = TrainConfig(dataset="digits", epochs=1, batch_size=16, optimizer="adamw", lr=0.01,
                         threads=1)  # ~10 s on one thread
    ds = load_dataset("digits")
    xb, yb = next(batches(ds.test_x, ds.test_y, len(ds.test_y), shuffle=False, mean=ds.mean,
                          std=ds.std))

    def test_loss(module) -> float:
        with torch.no_grad():
            return float(ce_loss(module.eval()(xb), yb))

    before = test_loss(compile_torch(lower(parse(source), seed=config.seed)))
    result = train(path, config, tmp_path / "run", progress=False)
    after = test_loss(result.module)
    assert after < 0.85 * before, (before, after)  # measured: 2.31 -> below 1.85
    assert result.test_acc > 0.2  # chance is 0.1


def test_genome_language_example_lowers():
    from tests.genome.examples import FAMILIES

    g = lower(parse(FAMILIES["resnet"]))
    ports = port_names("r19", 19)
    (e,) = [e for e in g.edges if e.kind == "backward"]
    assert (e.src, e.dst, e.delay) == (ports[7], "r19.back7_2.up", 1)
    assert [x.dst for x in g.out_edges("r19.back7_2.bn")] == [ports[2]]


def test_hand_built_block_errors():
    """Blocks built without the parser (a searcher's AST) are checked by the lowering too."""
    from snnc.genome.ast import Block, Edge, Loc

    g = parse(text(18))
    good = g.blocks[0]
    for edge, match in ((Edge(3, 1, 1, False, loc=Loc(9, 3)), "line 9:3: .*backward connection"),
                        (Edge(1, 3, 1, True, loc=Loc(9, 3)), "line 9:3: .*backward connection"),
                        (Edge(3, 1, 0, True, loc=Loc(9, 3)), "delay >= 1"),
                        (Edge(3, 1, 1, True, "conv3x3", Loc(9, 3)), "carry no operation")):
        bad = dataclasses.replace(good, edges=(edge,))
        with pytest.raises(LoweringError, match=match):
            lower(dataclasses.replace(g, blocks=(bad,) + g.blocks[1:]))
    empty = dataclasses.replace(g, blocks=(Block("resnet", "r", loc=Loc(8, 1)),) + g.blocks[1:])
    with pytest.raises(LoweringError, match=r"line 8:1: resnet r: depth None is not lowered"):
        lower(empty)


# ----------------------------------------------------------------------------- supernets
def test_choice_marker_makes_an_optional_backward_connection():
    """``back j -> i @d choice`` round-trips and lowers to a Choice (k=1, optional) at the end of
    the connection's chain; -1 leaves the chain unused, and resolve-choices then removes it."""
    import torch

    from snnc.backends.torch import compile
    from snnc.passes import resolve_choices

    src = text(18, "back 4 -> 1 @1 choice; back 16 -> 0 @2", inp="3x8x8")
    genome = parse(src)
    assert to_text(genome) == to_text(parse(to_text(genome)))
    assert "back 4 -> 1 @1 choice" in to_text(genome)
    g = lower(genome)
    c = g["r.back4_1.choice"]
    assert (c.op, c.attrs) == ("Choice", {"k": 1, "optional": True})
    assert [e.src for e in g.in_edges("r.s1.b0.lif1")] == ["r.s1.b0.bn1", c.name]
    assert g.in_edges("r.back4_1.conv")[0].kind == "backward"
    assert not g.nodes_of("Choice")[1:]  # the other connection stays fixed
    x = np.random.default_rng(0).normal(0.5, 1.0, (2, 3, 8, 8))
    m = compile(g, dtype=torch.float64).eval()
    for port in (0, -1):
        want = run(g, x, assignment={c.name: port})
        plain = resolve_choices(g, {c.name: port})
        assert ("r.back4_1.conv" in plain.nodes) == (port == 0)
        np.testing.assert_allclose(run(plain, x).output, want.output, rtol=1e-12, atol=1e-12)
        with torch.no_grad(), m.probing():
            y = m(torch.as_tensor(x), assignment={c.name: port})
        np.testing.assert_allclose(y.numpy(), want.output, rtol=1e-12, atol=1e-12)
        assert ("r.back4_1.conv" in m.records) == (port == 0)


def test_other_words_on_a_resnet_edge_are_refused():
    from snnc.errors import GenomeSyntaxError

    with pytest.raises(GenomeSyntaxError, match=r"edges here carry no operation \(only the "
                                                r"marker choice\), got 'conv3x3'"):
        parse(text(18, "back 4 -> 1 @1 conv3x3"))
