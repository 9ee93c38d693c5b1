"""The Lava backend refuses Upsample (a cross-resolution backward connection) by name."""
import pytest

from snnc.backends.lava import LavaMappingError, plan
from snnc.ir import verify
from tests.ir.graphs import backward_net


def test_upsample_is_refused_by_name():
    with pytest.raises(LavaMappingError, match=r"node 'bc\.up': op Upsample is not supported.*"
                                               r"nearest upsampling") as info:
        plan(verify(backward_net()))
    assert info.value.node == "bc.up"
