"""Drawings: what each panel holds (nodes, arcs, delays, backward edges, operations) and that
real SVG/PNG files come out, atomically."""
import pytest
from click.testing import CliRunner

from snnc.views.draw import draw_genome, draw_graph, genome_panels, graph_panel
from snnc.cli import cli
from snnc.errors import SnncError
from snnc.genome import parse
from snnc.testing.random_graph import random_graph
from tests.genome.examples import FAMILIES, STTS

pytest.importorskip("matplotlib")


def test_stage_panel_has_source_sink_and_every_edge_with_its_delay():
    genome = parse(STTS)
    strip, panels = genome_panels(genome)
    assert strip[0].startswith("input") and strip[-1].startswith("output")
    assert len(strip) == len(genome.blocks) + 2
    stages = [b for b in genome.blocks if b.kind == "stage" and b.form == "graph"]
    assert len(panels) == len(stages)
    for block, panel in zip(stages, panels):
        n = block["nodes"]
        assert panel.labels[0] == "source" and panel.labels[-1] == "sink"
        assert len(panel.labels) == n + 2
        inner = [a for a in panel.arcs if 0 < a.src <= n and 0 < a.dst <= n]
        assert sorted((a.src - 1, a.dst - 1, a.delay) for a in inner) == \
            sorted((e.src, e.dst, e.delay) for e in block.edges)
        # nodes without a forward in-edge read the source; without out-edge feed the sink
        no_in = set(range(n)) - {e.dst for e in block.edges if not e.backward}
        assert {a.dst - 1 for a in panel.arcs if a.src == 0} == no_in


def test_cell_panel_keeps_operations_and_backward_edges():
    genome = parse(FAMILIES["snasnet"])
    _, panels = genome_panels(genome)
    (panel,) = panels
    cell = genome.blocks[0]
    got = sorted((panel.labels[a.src], panel.labels[a.dst], a.backward, a.label)
                 for a in panel.arcs)
    assert got == sorted((str(e.src), str(e.dst), e.backward, e.op) for e in cell.edges)
    assert any(a.backward and a.delay == 1 for a in panel.arcs)


def test_dhs_cell_inputs_and_resnet_ports():
    _, (cell,) = genome_panels(parse(FAMILIES["dhs"]))
    assert cell.labels[:2] == ("c(k-2)", "c(k-1)")
    _, (ports,) = genome_panels(parse(FAMILIES["resnet"]))
    assert len(ports.labels) == 17  # ResNet-19: the stem's LIF and two per basic block
    assert ports.labels[0] == "0\nstem.lif" and ports.labels[-1].startswith("16\ns3.")
    assert [(a.src, a.dst) for a in ports.arcs if a.backward] == [(7, 2)]


def test_graph_panel_draws_every_edge():
    g = random_graph(3)
    panel = graph_panel(g)
    assert len(panel.labels) == len(g)
    assert len(panel.arcs) == len(g.edges)
    assert sum(a.backward for a in panel.arcs) == sum(e.kind == "backward" for e in g.edges)
    order = [label.split("\n")[0] for label in panel.labels]
    for e in g.edges:  # forward edges go left to right
        if e.kind != "backward":
            assert order.index(e.src) < order.index(e.dst)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_files_are_real_svg_and_png(tmp_path, family):
    genome = parse(FAMILIES[family])
    svg = draw_genome(genome, tmp_path / "a.svg")
    assert b"<svg" in svg.read_bytes()[:2000]
    png = draw_genome(genome, tmp_path / "a.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_drawing_and_bad_suffix_writes_nothing(tmp_path):
    out = draw_graph(random_graph(11), tmp_path / "g.svg")
    assert b"<svg" in out.read_bytes()[:2000]
    with pytest.raises(SnncError, match="jpg"):
        draw_genome(parse(STTS), tmp_path / "x.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.svg"]


def test_cli_draws_genome_and_model(tmp_path):
    from snnc.genome import to_text
    from snnc.search.stts import sample_stts
    src = tmp_path / "n.genome"
    src.write_text(to_text(sample_stts("mnist-small", 2)))
    model = tmp_path / "n.snnir"
    r = CliRunner().invoke(cli, ["compile", str(src), "-o", str(model)])
    assert r.exit_code == 0, r.output
    for args, name in (([str(src)], "g.png"), ([str(model)], "m.svg"),
                       ([str(src), "--ir"], "i.svg")):
        r = CliRunner().invoke(cli, ["draw", *args, "-o", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
        assert (tmp_path / name).stat().st_size > 1000
    r = CliRunner().invoke(cli, ["draw", str(src), "-o", str(tmp_path / "bad.gif")])
    assert r.exit_code == 1 and "cannot draw" in r.output
