"""Every op documents itself: ``help(snnc.ir.ops.LIF)`` shows its meaning and equations."""
import pydoc
import re

import pytest

from snnc.ir.ops import OPS, SPIKING_NEURON_OPS


@pytest.mark.parametrize("name", list(OPS))
def test_every_op_class_has_a_docstring_naming_each_attribute(name):
    cls = OPS[name]
    doc = cls.__dict__.get("__doc__") or ""
    assert len(doc) > 60, f"{name} has no docstring of its own"
    missing = [a for a in cls.attrs if not re.search(rf"\b{a}\b", doc)]
    assert not missing, f"{name}'s docstring does not mention attribute(s) {missing}"
    assert cls.doc and cls.doc in " ".join(doc.split()).replace("::", ":")


@pytest.mark.parametrize("name", SPIKING_NEURON_OPS)
def test_spiking_neurons_show_their_equations_in_help(name):
    text = pydoc.render_doc(OPS[name], renderer=pydoc.plaintext)
    for piece in ("H[t] =", "S[t] = H[t] >", "V[t] =", "hard", "soft"):
        assert piece in text, (name, piece)


def test_papers_are_cited():
    cited = {"STTS", "SNASNet", "BCNAS-SNN", "SpikeDHS", "Fang et al. 2021"}
    text = " ".join(cls.__doc__ for cls in OPS.values())
    assert {c for c in cited if c in text} == cited
