"""Design checks: each genome family parses to the meaning it should have (the frontend lowers only
STTS so far; the others must already parse and round-trip so that later families are schema work)."""
from snnc.genome import Edge, canonical_neuron, parse, to_text

from .examples import DHS, RESNET, SNASNET, STTS


def test_stts_stages_edges_and_overrides():
    g = parse(STTS)
    assert (g.name, g.T, g.input_shape, g.classes, g.encoding) == \
        ("tanet-tiny-demo", 4, (3, 32, 32), 10, "direct")
    assert g.provenance == "stts model=ba m=8 p=0.05 seed=3"
    s1, s2, s3, head = g.blocks
    assert (s1.kind, s1.name, s1.form, s1["spiking"], s1["stride"]) == ("stage", "s1", "node", False, 1)
    assert s3.form == "graph" and s3["conv"] == "separable" and s3["nodes"] == 32
    assert s3.edges == (Edge(0, 4), Edge(0, 7, 1), Edge(1, 4, 2), Edge(9, 3, 1, True))
    assert s3.neuron.get("tau") == 2.0 and s3.surrogate is None
    assert (head.kind, head.name, head["channels"], head["dropout"], head["vote"], head["pool"]) == \
        ("classifier", "head", 1280, 0.2, 0, "gap")


def test_snasnet_cell_ops_backward_op_and_skeleton():
    g = parse(SNASNET)
    cell, skel = g.blocks
    assert (cell.kind, cell.name, cell.form, cell["nodes"], cell["channels"]) == \
        ("cell", "c1", "snasnet", 4, 128)
    assert cell.edges == (Edge(0, 1, op="conv3x3"), Edge(0, 3, op="conv1x1"),
                          Edge(1, 2, op="skip"), Edge(2, 1, 1, True, "conv3x3"))
    assert (skel.kind, skel.name, skel.form, skel["cell"], skel["vote"]) == \
        ("skeleton", None, "snasnet", "c1", 10)
    c = canonical_neuron(g.neuron)
    assert (c["beta"], c["alpha"], c["detach_reset"]) == (0.25, 0.75, True)  # SNASNet tau 4/3


def test_resnet_backward_connections_between_lif_layers():
    g = parse(RESNET)
    r19, head = g.blocks
    assert (r19["depth"], r19["channels"]) == (19, 128)
    assert r19.edges == (Edge(7, 2, 1, True),)
    assert head.kind == "classifier" and head.name is None
    assert g.surrogate.kind == "triangle" and canonical_neuron(g.neuron)["beta"] == 0.5


def test_spikedhs_cells_and_layer_overrides():
    g = parse(DHS)
    c3, l1, l4, l5 = g.blocks
    assert c3["nodes"] == 3
    assert c3.edges == (Edge(-2, 0, op="snn_b3"), Edge(-1, 1, op="snn_b5"), Edge(0, 2, op="skip"))
    assert (l4["cell"], l4["level"]) == ("c3", 2)
    assert l4.neuron.kind == "alif" and l4.neuron.get("leak") == 0.2 and l4.neuron.get("v_th") == 0.5
    assert l4.surrogate.as_dict() == {"b": 4.0}
    assert l1.neuron is None and l5.neuron.kind == "relu"
    assert canonical_neuron(l4.neuron)["rho"] == 0.2
    text = to_text(g)
    assert "layer l4 cell=c3 level=2 {\n  neuron alif leak=0.2 v_th=0.5\n  surrogate dspike b=4\n}" \
        in text
