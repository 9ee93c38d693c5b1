"""PassManager, the registry, pipeline specs, error wrapping, hooks and purity."""
import dataclasses
import subprocess
import sys
from dataclasses import dataclass
from typing import ClassVar

import pytest

from snnc.errors import GraphError, PassError
from snnc.ir import Graph
from snnc.passes.loihi_fixed import QuantizeLoihi
from snnc.passes import (PASSES, PIPELINES, DropTraining, FoldBatchNorm, FoldDepthwise, FoldScale,
                         FreezePLIF, HopTiming, Pass, PassManager, PassRecord, RemoveDead,
                         ResolveChoices, parse_pipeline, run_pipeline)

from .helpers import case, snapshot


@dataclass(frozen=True)
class Boom(Pass):
    name: ClassVar[str] = "boom"

    def apply(self, graph, notes):
        raise ValueError("kaboom")


@dataclass(frozen=True)
class Vandal(Pass):
    """Leaves an invalid graph: removes the Output."""
    name: ClassVar[str] = "vandal"

    def apply(self, graph, notes):
        graph.remove_node_and_edges(graph.output_node.name)
        return True


def test_registry_and_pipelines():
    assert PASSES == {"drop-training": DropTraining, "freeze-plif": FreezePLIF,
                      "remove-dead": RemoveDead, "fold-bn": FoldBatchNorm,
                      "fold-depthwise": FoldDepthwise, "fold-scale": FoldScale,
                      "resolve-choices": ResolveChoices, "quantize-loihi": QuantizeLoihi,
                      "hop-timing": HopTiming}
    assert PIPELINES["none"] == []
    assert PIPELINES["deploy"] == ["drop-training", "freeze-plif", "remove-dead", "fold-bn",
                                   "fold-depthwise", "fold-scale"]
    for name, cls in PASSES.items():
        assert cls.name == name
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
        assert "Expects" in cls.__doc__ and "Guarantees" in cls.__doc__
    with pytest.raises(dataclasses.FrozenInstanceError):
        FoldScale().mode = "input"


def test_parse_pipeline():
    assert [type(p) for p in parse_pipeline("deploy")] == [PASSES[n] for n in PIPELINES["deploy"]]
    assert parse_pipeline("none") == [] and parse_pipeline("") == []
    assert parse_pipeline("fold-bn, fold-depthwise") == [FoldBatchNorm(), FoldDepthwise()]
    assert parse_pipeline(["fold-bn", "none"]) == [FoldBatchNorm()]
    assert parse_pipeline("fold-scale{mode=input},fold-depthwise{grouped=true}") == \
        [FoldScale(mode="input"), FoldDepthwise(grouped=True)]
    assert parse_pipeline("deploy,fold-bn")[-1] == FoldBatchNorm()


def test_spec_round_trip():
    passes = [cls() for cls in PASSES.values()] + [FoldScale(mode="input"),
                                                   FoldDepthwise(grouped=True)]
    spec = ",".join(map(str, passes))
    assert spec.endswith("fold-scale{mode=input},fold-depthwise{grouped=true}")
    assert parse_pipeline(spec) == passes


@pytest.mark.parametrize("spec, match", [
    ("fold-bm", r"unknown pass 'fold-bm'; did you mean 'fold-bn'\? known passes: drop-training, "
                r"freeze-plif, remove-dead, fold-bn, fold-depthwise, fold-scale, resolve-choices, "
                r"quantize-loihi, hop-timing; pipelines: "
                r"deploy, none"),
    ("frobnicate", r"unknown pass 'frobnicate' known passes: drop-training"),
    ("fold-scale{volts=1}", r"pass fold-scale: unknown option 'volts'; options: mode"),
    ("fold-scale{mode}", r"option 'mode' needs a value"),
    ("fold-scale{mode=volts}", r"option mode='volts' must be one of"),
    ("fold-depthwise{grouped=maybe}", r"option grouped='maybe' is not a bool"),
    ("fold-scale{mode=input", r"options must be 'name\{key=value key=value\}'"),
    ("deploy{x=1}", r"pipeline 'deploy' takes no options"),
])
def test_parse_errors(spec, match):
    with pytest.raises(PassError, match=match):
        parse_pipeline(spec)


def test_records_and_hook():
    g = case(2)[0]
    snap = snapshot(g)
    seen = []
    out, records = PassManager(parse_pipeline("deploy"),
                               hook=lambda rec, graph: seen.append((rec.name, len(graph)))).run(g)
    assert snapshot(g) == snap  # the manager is pure too
    assert [r.name for r in records] == PIPELINES["deploy"]
    assert seen == [(r.name, r.nodes_after) for r in records]
    assert records[0].nodes_before == len(g) and records[-1].nodes_after == len(out)
    for a, b in zip(records, records[1:]):
        assert a.nodes_after == b.nodes_before and a.edges_after == b.edges_before
    for r in records:
        assert isinstance(r, PassRecord) and r.ms >= 0
        assert r.changed == (bool(r.notes) and not all(n.startswith("kept") for n in r.notes))
    fold = records[PIPELINES["deploy"].index("fold-bn")]
    assert fold.changed and fold.notes[0].startswith("folded ") and \
        fold.notes[0].endswith(" BatchNorm2d into Conv2d")
    text = str(fold)
    assert text.startswith(f"fold-bn: changed, {fold.nodes_before} -> {fold.nodes_after} nodes, ")
    assert "\n  folded " in text


def test_errors_are_wrapped():
    g = case(0)[0]
    with pytest.raises(PassError, match=r"^error in pass boom after passes "
                                        r"\[drop-training, fold-bn\]: kaboom$") as info:
        PassManager([DropTraining(), FoldBatchNorm(), Boom(), RemoveDead()]).run(g)
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(PassError, match=r"^error in pass boom after passes \[\]: kaboom$"):
        run_pipeline(g, [Boom()])
    with pytest.raises(PassError, match=r"^error in pass vandal after passes \[fold-bn\]: it left "
                                        r"an invalid graph: graph must have exactly one Output"):
        run_pipeline(g, [FoldBatchNorm(), Vandal()])
    out, _ = run_pipeline(g, [Vandal()], verify_each=False)
    assert not out.nodes_of("Output")


def test_invalid_input():
    g = Graph()
    g.add_node("in", "Input", {"shape": (2,)})
    with pytest.raises(PassError, match="^input graph does not verify: graph must have exactly "
                                        "one Output") as info:
        run_pipeline(g, "deploy")
    assert isinstance(info.value.__cause__, GraphError)
    with pytest.raises(PassError, match="not a pass"):
        PassManager(["fold-bn"])


def test_none_pipeline_returns_a_verified_copy():
    g = case(1)[0]
    out, records = run_pipeline(g, "none")
    assert records == [] and out is not g and snapshot(out) == snapshot(g)


def test_imports_need_numpy_and_networkx_only():
    code = ("import sys, snnc.passes, snnc.testing.random_graph; "
            "bad = {'torch', 'lava', 'snnc.genome', 'snnc.frontend', 'snnc.backends'} & "
            "{m.split('.')[0] if m.split('.')[0] != 'snnc' else '.'.join(m.split('.')[:2]) "
            "for m in sys.modules}; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
