"""The lava-dl ``netx`` HDF5 network description (as lava-dl 0.6.0 reads it), written with h5py.

Layout (what ``lava.lib.dl.netx.hdf5.Network`` reads, with the descriptors lava-dl's own
``slayer`` exporter writes beside them)::

    /simulation/Ts, /simulation/tSample           1 and the network's T
    /layer/0     type "input", shape [C, H, W] or [F]        (no neuron: the input is graded)
    /layer/i     type "conv":  shape [C, H, W] (output), inChannels, outChannels, kernelSize,
                 stride, padding, dilation ([y, x] pairs), groups, weight [O, I/groups, kH, kW]
                 (cross-correlation, PyTorch layout; netx flips it for Lava's convolution),
                 bias [O] (optional), neuron/{type "CUBA", iDecay, vDecay, vThMant, refDelay,
                 gradedSpike}
    /layer/i     type "flatten", shape [N]     (between a 3-D and a 1-D block; C, H, W order)
    /layer/i     type "dense": shape [out], inFeatures, outFeatures, weight [out, in], bias
                 [out] (optional), delay [out, in] (optional), neuron/{...}
    /snnc        attributes: producer, T, classes, input_scale, input_message_bits, readout,
                 names (JSON: the IR neuron of each block), scales (JSON), exact

Shapes are channel-first (netx reverses them to Lava's ``W, H, C``); types are fixed-length
ASCII ``(1,)`` datasets as slayer writes them; weights and biases are integers (netx casts them
with ``astype(int)``). ``/snnc`` is ours: netx ignores it; :func:`read_netx` reads it back.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import NetxError
from ...optional import require
from .fixed import FixedLayer


def _h5py():
    return require("h5py", feature="netx export", extra="interop")


def _type(group, name: str) -> None:
    group.create_dataset("type", (1,), "S10", [name.encode("ascii")])


def _neuron(group, layer: FixedLayer) -> None:
    group.create_dataset("neuron/type", data="CUBA")
    group.create_dataset("neuron/iDecay", data=np.int64(layer.i_decay))
    group.create_dataset("neuron/vDecay", data=np.int64(layer.v_decay))
    group.create_dataset("neuron/vThMant", data=np.int64(layer.vth))
    group.create_dataset("neuron/refDelay", data=np.int64(1))
    group.create_dataset("neuron/gradedSpike", data=False)


def write_layers(fh, layers: list[FixedLayer], *, T: int, classes: int, input_scale: float,
                 input_message_bits: int, name: str = "") -> None:
    """Write the netx description of ``layers`` into the open binary file ``fh``."""
    h5py = _h5py()
    with h5py.File(fh, "w") as f:
        f.create_dataset("simulation/Ts", data=np.int64(1))
        f.create_dataset("simulation/tSample", data=np.int64(T))
        i = 0

        def group():
            nonlocal i
            g = f.create_group(f"layer/{i}")
            i += 1
            return g

        first = layers[0].layer.synapse
        g = group()
        _type(g, "input")
        g.create_dataset("shape", data=np.array(first.in_shape, np.int64))
        prev_shape = tuple(first.in_shape)
        for layer in layers:
            syn = layer.layer.synapse
            if syn.kind == "dense" and len(prev_shape) == 3:
                g = group()
                _type(g, "flatten")
                g.create_dataset("shape", data=np.array([int(np.prod(prev_shape))], np.int64))
            g = group()
            if syn.kind == "conv":
                _type(g, "conv")
                k = int(layer.weight.shape[-1])
                g.create_dataset("shape", data=np.array(syn.out_shape, np.int64))
                g.create_dataset("inChannels", data=np.int64(syn.in_shape[0]))
                g.create_dataset("outChannels", data=np.int64(syn.out_shape[0]))
                g.create_dataset("kernelSize", data=np.array([k, k], np.int64))
                g.create_dataset("stride", data=np.array([syn.stride] * 2, np.int64))
                g.create_dataset("padding", data=np.array([syn.padding] * 2, np.int64))
                g.create_dataset("dilation", data=np.array([1, 1], np.int64))
                g.create_dataset("groups", data=np.int64(syn.groups))
            else:
                _type(g, "dense")
                g.create_dataset("shape", data=np.array(syn.out_shape, np.int64))
                g.create_dataset("inFeatures", data=np.int64(layer.weight.shape[1]))
                g.create_dataset("outFeatures", data=np.int64(layer.weight.shape[0]))
                if syn.delay:
                    g.create_dataset("delay", data=np.full(layer.weight.shape, syn.delay, np.int64))
            g.create_dataset("weight", data=layer.weight.astype(np.int64))
            if layer.bias is not None:
                g.create_dataset("bias", data=layer.bias.astype(np.int64))
            _neuron(g, layer)
            prev_shape = tuple(syn.out_shape)
        meta = f.create_group("snnc")
        meta.attrs["producer"] = "snnc"
        meta.attrs["name"] = name
        meta.attrs["T"] = int(T)
        meta.attrs["classes"] = int(classes)
        meta.attrs["input_scale"] = float(input_scale)
        meta.attrs["input_message_bits"] = int(input_message_bits)
        meta.attrs["readout"] = bool(layers[-1].layer.readout)
        meta.attrs["names"] = json.dumps([la.name for la in layers])
        meta.attrs["scales"] = json.dumps([la.scale for la in layers])
        meta.attrs["exact"] = bool(all(la.exact for la in layers))


def read_netx(path: str | Path) -> dict:
    """The file as plain Python: ``{"layers": [{"type", "shape", ... , "neuron": {...}}, ...],
    "simulation": {...}, "snnc": {...}}`` (arrays as numpy, strings decoded).

    Raises:
        NetxError: the file is missing, not HDF5, or has no ``layer`` group (names the file).
    """
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise NetxError(f"{path}: cannot be read as an HDF5 netx file: {exc}") from None
    with f:
        if "layer" not in f:
            raise NetxError(f"{path}: not a netx network description (no 'layer' group)")

        def value(ds):
            v = ds[()]
            if isinstance(v, bytes):
                return v.decode("ascii")
            if isinstance(v, np.ndarray) and v.dtype.kind == "S":
                return v[0].decode("ascii")
            return v

        def load(g):
            return {k: load(g[k]) if isinstance(g[k], h5py.Group) else value(g[k]) for k in g}

        layers = [load(f["layer"][str(i)]) for i in range(len(f["layer"]))]
        out = {"layers": layers, "simulation": load(f["simulation"]) if "simulation" in f else {}}
        meta = {}
        if "snnc" in f:
            for k, v in f["snnc"].attrs.items():
                meta[k] = json.loads(v) if k in ("names", "scales") else (
                    v.item() if hasattr(v, "item") else v)
        out["snnc"] = meta
    return out
