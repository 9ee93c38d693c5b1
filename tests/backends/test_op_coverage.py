"""Every backend's op table covers the whole op catalogue: each op is implemented or refused
with a reason, and a graph holding a refused op gets an SnncError that names the node, the op,
the backend and the reason (docs/ARCHITECTURE.md, "Backends and op tables")."""
from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest

from snnc.errors import SnncError
from snnc.ir import OPS, Graph
from snnc.optable import OpTable, Refused


def _to_nir(g):
    from snnc.backends.nir import to_nir
    return to_nir(g)


def _to_onnx(g):
    pytest.importorskip("onnx")
    from snnc.backends.onnx import to_onnx
    return to_onnx(g)


def _lava_plan(g):
    from snnc.backends.lava import plan
    return plan(g)


def _torch_compile(g):
    from snnc.backends.torch import compile
    return compile(g)


def _to_netx(g):
    from snnc.backends.netx import to_netx
    return to_netx(g)


def _energy_count(g):
    from snnc.backends.energy import count_layers
    return count_layers(g)


#: (module, table attribute, entry point run on a graph) for every table keyed by IR op. Drawings
#: (snnc.views.draw) have no table: they style a node by its op's kind, which every op declares.
BACKENDS = [
    ("snnc.backends.energy.count", "ENERGY_OPS", _energy_count),
    ("snnc.backends.torch.optable", "TORCH_OPS", _torch_compile),
    ("snnc.backends.lava.optable", "RULES", _lava_plan),
    ("snnc.backends.nir", "EXPORT", _to_nir),
    ("snnc.backends.onnx", "RULES", _to_onnx),
    ("snnc.backends.netx.chain", "SYNAPSE_OPS", _to_netx),
]


def _table(module: str, attr: str) -> OpTable:
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("module, attr, run", BACKENDS, ids=[b[0] + "." + b[1] for b in BACKENDS])
def test_table_covers_the_catalogue(module, attr, run):
    table = _table(module, attr)
    assert isinstance(table, OpTable) and table.backend
    assert set(table) == set(OPS), (f"{table.backend}: ops without an entry "
                                    f"{sorted(set(OPS) - set(table))}, entries for no op "
                                    f"{sorted(set(table) - set(OPS))}")
    for op, impl in table.items():
        assert impl is not None, op
        if isinstance(impl, Refused):
            assert impl.reason.strip(), f"{table.backend}: {op} refused without a reason"


def _tiny(op: str) -> Graph:
    """Input (1, 4, 4) -> conv -> LIF -> ``op`` -> LIF -> flatten -> Output; a multi-port op
    (Concat, Choice, WeightedMix) also reads the conv on port 1."""
    g = Graph({"name": "tiny", "T": 2})
    g.add_node("in", "Input", {"shape": (1, 4, 4)})
    g.add_node("conv", "Conv2d", {"in_channels": 1, "out_channels": 1, "kernel": 1, "bias": False},
               {"weight": np.ones((1, 1, 1, 1))})
    g.add_node("lif1", "LIF", {"beta": 0.5})
    attrs = {"Upsample": {"scale": 2}, "Choice": {"k": 2}, "WeightedMix": {"k": 2},
             "LoihiLIF": {"dv": 2048, "vth": 64}}.get(op, {})
    attrs.update({k: 0.5 for k in ("beta",) if k in OPS[op].attrs})
    g.add_node("x", op, attrs, {"alpha": np.zeros(2)} if op == "WeightedMix" else None)
    g.add_node("lif2", "LIF", {"beta": 0.5})
    g.add_node("flat", "Flatten")
    g.add_node("out", "Output")
    for s, d in (("in", "conv"), ("conv", "lif1"), ("lif1", "x"), ("x", "lif2"), ("lif2", "flat"),
                 ("flat", "out")):
        g.add_edge(s, d)
    if OPS[op].multi_port:
        g.add_edge("conv", "x", port=1)
    return g


_REFUSED = [(m, a, run, op) for m, a, run in BACKENDS
            for op in _table(m, a).refused()]


@pytest.mark.parametrize("module, attr, run, op", _REFUSED,
                         ids=[f"{m}.{a}:{op}" for m, a, _, op in _REFUSED])
def test_refused_op_is_named(module, attr, run, op):
    table = _table(module, attr)
    with pytest.raises(SnncError) as exc:
        run(_tiny(op))
    msg = str(exc.value)
    assert "'x'" in msg and op in msg and table.refused()[op] in msg, msg
    assert table.backend.split()[0] in msg, msg


def test_unknown_op_is_refused_by_name():
    table = OpTable("toy", {"A": 1})
    with pytest.raises(SnncError, match=r"node 'n' \(B\).*toy backend.*no entry"):
        table.lookup(SimpleNamespace(name="n", op="B"))
    with pytest.raises(ValueError, match="reason"):
        Refused(" ")


# ---------------------------------------------------------------------------------- NIR import
def _nir_types(nir) -> dict[str, type]:
    """Every node type the installed nir package defines, by class name."""
    def subclasses(cls):
        return {s for c in cls.__subclasses__() for s in {c} | subclasses(c)}
    return {c.__name__: c for c in subclasses(nir.NIRNode) if c.__module__.startswith("nir.")}


def test_nir_import_table_covers_every_nir_node_type():
    nir = pytest.importorskip("nir")
    from snnc.backends.nir import IMPORT

    kinds = set(_nir_types(nir))
    assert kinds <= set(IMPORT), f"NIR node types without an entry: {sorted(kinds - set(IMPORT))}"
    for kind, reason in IMPORT.refused().items():
        assert reason.strip(), kind


def _nir_refused():
    from snnc.backends.nir import IMPORT
    return list(IMPORT.refused())


@pytest.mark.parametrize("kind", _nir_refused())
def test_nir_import_refuses_by_name(kind):
    nir = pytest.importorskip("nir")
    from snnc.backends.nir import IMPORT, from_nir

    cls = _nir_types(nir)[kind]
    node = cls.__new__(cls)  # only its type is read before the refusal
    ng = SimpleNamespace(nodes={"in": nir.Input(input_type={"input": np.array([3])}), "x": node,
                                "out": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("in", "x"), ("x", "out")], metadata={"dt": 1e-4, "T": 2})
    with pytest.raises(SnncError) as exc:
        from_nir(ng)
    msg = str(exc.value)
    assert f"node 'x' ({kind})" in msg and IMPORT.refused()[kind] in msg and "NIR" in msg
