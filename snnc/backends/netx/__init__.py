"""IR -> lava-dl ``netx`` HDF5 network description (lava-dl 0.6.0), in Loihi 2's integer formats.

    >>> from snnc.backends.netx import export_netx
    >>> report = export_netx(graph, "out/model.net")      # prepares for the "netx" target first
    >>> [(la.name, la.scale, la.exact) for la in report.layers]

Pieces: :mod:`.chain` (the graph as a chain of netx blocks; what netx cannot express is refused
by node name), :mod:`.fixed` (integer weights, biases, thresholds and decays; a numpy model of
Lava's fixed-point run of the file, bit-exact), :mod:`.hdf5` (the file, written with h5py, and
read back). Loading and running the file with lava-dl itself lives with the Lava backend
(:mod:`snnc.backends.lava.netx_run`), as it imports Lava. Imports numpy and h5py only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ...errors import NetxError
from ...ir.graph import Graph
from .chain import SYNAPSE_OPS, Chain, Layer, Synapse, extract_chain
from .fixed import FixedLayer, FixedTrace, quantize, quantize_input, readout_values, run_fixed
from .hdf5 import read_netx, write_layers

__all__ = ["NetxError", "NetxExport", "SYNAPSE_OPS", "Chain", "Layer", "Synapse", "FixedLayer",
           "FixedTrace", "extract_chain", "quantize", "quantize_input", "run_fixed",
           "readout_values", "to_netx", "export_netx", "read_netx", "message_bits"]


@dataclass(frozen=True)
class NetxExport:
    """What :func:`to_netx` made: the blocks in integers, and the settings a reader of the file
    needs (``T``, ``classes``, ``input_scale``: ``x_int = round(x input_scale)``,
    ``input_message_bits``: ``hdf5.Network(..., input_message_bits=...)``)."""

    layers: list[FixedLayer]
    T: int
    classes: int
    input_scale: float
    input_message_bits: int
    name: str = ""

    @property
    def exact(self) -> bool:
        """Every weight, bias, threshold and leak is represented without rounding."""
        return all(la.exact for la in self.layers)


def message_bits(input_scale: float, input_max: float) -> int:
    """Bits of a graded input message carrying ``round(x input_scale)``, ``|x| <= input_max``
    (0: binary spikes, when ``input_scale == input_max == 1``)."""
    top = round(input_scale * input_max)
    if top <= 1 and input_scale == 1:
        return 0
    return max(1, math.ceil(math.log2(top + 1)))


def to_netx(graph: Graph, *, input_scale: float | None = None, input_max: float = 1.0,
            exact: bool = False) -> NetxExport:
    """The netx blocks of a deploy-ready graph (no file).

    Args:
        graph: an IR graph after the ``netx`` target's passes (:func:`export_netx` runs them).
        input_scale: integer units per input unit (default 255 for direct encoding, the 8-bit
            intensities of image datasets; 1 for ``encoding == "rate"``, binary spikes).
        input_max: the largest ``|x|`` of an input (1 for intensities in [0, 1]).
        exact: refuse any rounding (see :mod:`.fixed`).
    Raises:
        NetxError: what netx cannot express, by node name (:func:`.chain.extract_chain`,
            :func:`.fixed.quantize`).
    """
    enc = str(graph.meta.get("encoding", "direct"))
    if input_scale is None:
        input_scale = 1.0 if enc == "rate" else 255.0
    chain = extract_chain(graph)
    layers = quantize(chain, input_scale=input_scale, input_max=input_max, exact=exact)
    return NetxExport(layers, int(graph.meta.get("T", 1)), int(graph.output_node.shape[0]),
                      float(input_scale), message_bits(input_scale, input_max), chain.graph_name)


def export_netx(graph: Graph, path: str | Path, *, target: str = "netx",
                input_scale: float | None = None, input_max: float = 1.0,
                exact: bool = False) -> NetxExport:
    """Prepare ``graph`` for ``target`` (default ``netx``: every deploy fold; see
    :mod:`snnc.passes.targets`), map it with :func:`to_netx` and write ``path`` atomically.

    Everything is checked before the file is opened: a refused graph leaves no file behind.

    Raises:
        NetxError: as :func:`to_netx`; OSError: the file cannot be written (nothing is left).
    """
    from ...atomic import atomic_write
    from ...passes.targets import prepare

    graph, _ = prepare(graph, target)
    res = to_netx(graph, input_scale=input_scale, input_max=input_max, exact=exact)
    atomic_write(path, lambda fh: write_layers(
        fh, res.layers, T=res.T, classes=res.classes, input_scale=res.input_scale,
        input_message_bits=res.input_message_bits, name=res.name))
    return res
