"""STTS sampling (STTS section 4.2, Appendix A): presets, determinism, delays, statistics, CLI."""
import dataclasses

import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner

from snnc.cli import cli
from snnc.compiler import compile_genome
from snnc.errors import SnncError
from snnc.genome import Edge, make_block, parse, to_text
from snnc.search.stts import (PRESETS, GraphModel, sample_delays, sample_stts, stage_stats,
                              to_dag)


def graph_stages(g):
    return [b for b in g.blocks if b.kind == "stage" and b.form == "graph"]


def test_tanet_tiny_matches_the_paper():
    g = sample_stts("tanet-tiny", 7)
    stages = graph_stages(g)
    assert [b["nodes"] for b in stages] == [32, 32]
    assert [b["channels"] for b in stages] == [192, 384]  # 2C, 4C with C = 96 (Table 1)
    assert [len(b.edges) for b in stages] == [192, 192]   # BA, M = 8
    assert all(e.delay in (0, 1) and e.src < e.dst and not e.backward
               for b in stages for e in b.edges)
    assert "model=ba nodes=32 m=8 delay_p=0.05" in g.provenance and "seed=7" in g.provenance


def test_tanet_regular_matches_the_paper():
    g = sample_stts("tanet-regular", 3)
    assert [(b["nodes"], len(b.edges)) for b in graph_stages(g)] == [(16, 32)] + [(32, 64)] * 3


def test_same_seed_same_bytes_different_seed_different_genome():
    a, b = to_text(sample_stts("tanet-tiny", 11)), to_text(sample_stts("tanet-tiny", 11))
    assert a == b
    assert to_text(sample_stts("tanet-tiny", 12)) != a
    assert parse(a) == sample_stts("tanet-tiny", 11)


def test_random_topological_order_is_a_dag_of_the_same_graph():
    rng = np.random.default_rng(0)
    und = GraphModel("ws", 12, k=4, p=0.3).sample(rng)
    edges = to_dag(und, rng)
    assert len(edges) == und.number_of_edges()
    assert all(i < j for i, j in edges)
    dag = nx.Graph(edges)
    assert nx.is_isomorphic(dag, und)


def test_delay_rate_and_keep_undelayed():
    rng = np.random.default_rng(1)
    edges = [(i, j) for j in range(1, 40) for i in range(j)]
    d = sample_delays(edges, 0.3, rng, keep_undelayed=False)
    assert abs(np.mean(d) - 0.3) < 0.03
    d = sample_delays(edges, 0.95, np.random.default_rng(2), keep_undelayed=True)
    for j in range(1, 40):
        assert min(dd for (a, b), dd in zip(edges, d) if b == j) == 0


def test_stage_stats_paths_on_a_known_dag():
    block = make_block("stage", "s1", "graph", nodes=5, channels=4, edges=[
        Edge(0, 1), Edge(0, 2, 1), Edge(1, 3), Edge(2, 3)])
    g = dataclasses.replace(sample_stts("mnist-small", 0), blocks=(block,))
    s = stage_stats(g)[0]
    # diamond 0-{1,2}-3 plus the isolated node 4: src-0-1-3-sink, src-0-2-3-sink, src-4-sink
    assert (s.paths, s.edges, s.delayed_edges) == (3, 4, 1)
    assert s.average_path_length == pytest.approx((4 + 4 + 2) / 3)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_compile(preset):
    g = sample_stts(preset, 0)
    graph = compile_genome(g, passes="none").graph
    assert graph.output_node.shape == (g.classes,)


def test_cli_sample_is_byte_identical_and_writes_atomically(tmp_path):
    r = CliRunner(mix_stderr=False)
    one = r.invoke(cli, ["sample", "stts", "--preset", "tanet-tiny", "--seed", "4"])
    two = r.invoke(cli, ["sample", "stts", "--preset", "tanet-tiny", "--seed", "4"])
    assert one.exit_code == 0 and one.stdout == two.stdout
    other = r.invoke(cli, ["sample", "stts", "--preset", "tanet-tiny", "--seed", "5"])
    assert other.stdout != one.stdout
    out = tmp_path / "g.genome"
    res = r.invoke(cli, ["sample", "stts", "--preset", "mnist-small", "--model", "er", "--p", "0.5",
                         "--delay-p", "0.5", "--seed", "1", "-o", str(out), "--stats"])
    assert res.exit_code == 0, res.stderr
    assert "source-to-sink paths" in res.stderr
    assert "model=er nodes=4 p=0.5" in parse(out.read_text()).provenance
    bad = r.invoke(cli, ["sample", "stts", "--preset", "nope"])
    assert bad.exit_code == 2 and "tanet-tiny" in bad.stderr


def test_tanet_presets_follow_the_paper_and_offer_the_code_variant():
    """STTS eq. 1 (alpha = 1/tau), Appendix B.2 (detached reset), section 5.1 (dropout in
    TANet-Tiny only, a voting layer); the code's variant changes neuron and head, not topology."""
    tiny, code = sample_stts("tanet-tiny", 5), sample_stts("tanet-tiny", 5, variant_name="code")
    assert tiny.neuron.get("decay_input") is True and tiny.neuron.get("detach_reset") is True
    assert code.neuron.get("decay_input") is False and code.neuron.get("detach_reset") is False
    head = {g.name: [b for b in g.blocks if b.kind == "classifier"][0] for g in (tiny,)}
    assert head[tiny.name]["vote"] == 10 and head[tiny.name]["dropout"] == 0.2
    code_head = [b for b in code.blocks if b.kind == "classifier"][0]
    assert code_head["vote"] == 0 and code_head["dropout"] == 0.2
    assert graph_stages(tiny) == graph_stages(code)  # same sampled edges and delays
    assert "variant=paper" in tiny.provenance and "variant=code" in code.provenance
    regular = sample_stts("tanet-regular", 5)
    reg_head = [b for b in regular.blocks if b.kind == "classifier"][0]
    assert reg_head["dropout"] == 0.0 and reg_head["vote"] == 0
    reg_code = sample_stts("tanet-regular", 5, variant_name="code")
    assert [b for b in reg_code.blocks if b.kind == "classifier"][0]["dropout"] == 0.2
    with pytest.raises(SnncError, match="variant"):
        sample_stts("tanet-tiny", 5, variant_name="both")


def test_zoo_tanet_presets_are_the_paper_variant_of_seed_0():
    from snnc import zoo

    for name in ("tanet-tiny", "tanet-regular"):
        assert zoo.load(name) == sample_stts(name, 0)
