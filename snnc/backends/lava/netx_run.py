"""Run a lava-dl ``netx`` file with lava-dl's own loader on Lava's fixed-point models.

This is the consumer's side of ``snnc export netx`` (:mod:`snnc.backends.netx`):
``lava.lib.dl.netx.hdf5.Network(net_config=FILE)`` builds the blocks (Lava processes) from the
file, and :func:`run_netx` drives them with ``Loihi2SimCfg(select_tag="fixed_pt")`` (netx's block
models are tagged ``fixed_pt``), one sample per period of ``T`` steps: the network's own reset
(``reset_interval=T``, ``reset_offset=1``) zeroes block ``k``'s neurons at the step where the
sample's first frame reaches it, so samples do not leak into each other.

lava-dl 0.6.0 declares Python < 3.11 and torch < 2.4; installed with ``--no-deps`` (Makefile) it
loads on Python 3.11 with torch 2.13 except for one import: ``netx.hdf5`` imports
``lava.lib.dl.slayer.neuron.rf``, and importing the ``lava.lib.dl.slayer`` package first runs its
``__init__``, which imports ``slayer.object_detection`` and so ``cv2`` (opencv) and
``torchvision``, neither of which netx uses. :func:`netx_modules` registers
``lava.lib.dl.slayer`` as a bare package (its real folder as ``__path__``, its ``__init__`` not
run), so that ``slayer.neuron`` and the modules it needs import normally and nothing else does.
Nothing of lava-dl is copied or patched.

Timing: the source sends frame ``t`` of sample ``b`` at Lava step ``b T + t + 1``; block ``k``
(1-based) computes it at step ``b T + t + 1 + k`` (one step per synaptic hop), the monitor's
row ``b T + t + k``.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
import types
from dataclasses import dataclass, field

import numpy as np

from ...children import ForkGuard
from ...errors import NetxError
from ...optional import require
from . import compat

_SLAYER = "lava.lib.dl.slayer"


def netx_modules() -> types.SimpleNamespace:
    """Import lava-dl's ``netx`` and the Lava pieces :func:`run_netx` uses (module docstring).

    Raises:
        MissingDependencyError: lava-nc or lava-dl is not installed.
    """
    compat.install()
    require("lava.magma.core.run_configs", feature="netx on Lava", extra="lava")
    if _SLAYER not in sys.modules:
        spec = importlib.util.find_spec("lava.lib.dl")
        if spec is None or spec.submodule_search_locations is None:
            require("lava.lib.dl.netx", feature="netx on Lava", extra="lava")
        path = [os.path.join(p, "slayer") for p in spec.submodule_search_locations]
        bare = types.ModuleType(_SLAYER)
        bare.__path__ = path
        bare.__package__ = _SLAYER
        sys.modules[_SLAYER] = bare
    netx = require("lava.lib.dl.netx", feature="netx on Lava", extra="lava")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor
    return types.SimpleNamespace(netx=netx, RunSteps=RunSteps, Loihi2SimCfg=Loihi2SimCfg,
                                 RingBuffer=RingBuffer, Monitor=Monitor)


@dataclass
class NetxRun:
    """Spikes and readout of a netx network on Lava, in IR time.

    ``spikes[i]``: block ``i``'s spikes ``[T, B, *shape]`` (IR layout ``C, H, W``), for every
    block; ``v[i]``: its membrane potential ``[T, B, *shape]`` for the blocks asked for
    (``record_v``); ``blocks``: the Network's block count; ``seconds``: wall time of the run
    (compile included)."""

    spikes: list[np.ndarray]
    v: dict[int, np.ndarray] = field(default_factory=dict)
    blocks: int = 0
    seconds: float = 0.0
    table: str = ""


def _to_lava(a: np.ndarray) -> np.ndarray:
    """``[..., C, H, W]`` -> ``[..., W, H, C]``."""
    n = a.ndim
    return np.transpose(a, tuple(range(n - 3)) + (n - 1, n - 2, n - 3))


def run_netx(path, x_int: np.ndarray, T: int, *, input_message_bits: int,
             record_v: tuple[int, ...] = ()) -> NetxRun:
    """Load ``path`` with ``netx.hdf5.Network`` and run every sample of ``x_int`` on Lava.

    Samples share one Lava run, one period of ``T`` steps each, unless a block has synaptic
    delays: netx's reset clears neurons, not the in-flight spikes of a ``DelayDense``, so the
    previous sample's last spikes would arrive in the next sample's first steps. Then each
    sample gets a Lava run of its own (a fresh network, as a deployment would have to reset it).

    Args:
        x_int: ``[B, *input_shape]`` (the same frame at every step) or ``[T, B, *input_shape]``,
            integers (graded input, ``input_message_bits > 0``) or 0/1 spikes; IR layout.
        T: steps per sample (also the network's reset interval).
        input_message_bits: ``hdf5.Network``'s parameter (0: binary spikes).
        record_v: block indices whose membrane potential to return (e.g. the readout).
    Raises:
        NetxError: lava-dl refuses the file (its message, with the file's name).
    """
    x_int = np.asarray(x_int)
    in_ndim, delays = _file_facts(path)
    seq = x_int if x_int.ndim == in_ndim + 2 else np.broadcast_to(x_int, (T,) + x_int.shape)
    if delays:
        runs = [_run_once(path, seq[:, b:b + 1], T, input_message_bits, record_v)
                for b in range(seq.shape[1])]
    else:
        runs = [_run_once(path, seq, T, input_message_bits, record_v)]
    first = runs[0]
    return NetxRun([np.concatenate([r.spikes[i] for r in runs], axis=1)
                    for i in range(len(first.spikes))],
                   {i: np.concatenate([r.v[i] for r in runs], axis=1) for i in first.v},
                   first.blocks, sum(r.seconds for r in runs), first.table)


def _file_facts(path) -> tuple[int, bool]:
    """``(input rank, any synaptic delays)`` of a netx file."""
    h5py = require("h5py", feature="netx on Lava", extra="interop")
    try:
        with h5py.File(path, "r") as f:
            layers = f["layer"]
            return (len(layers["0"]["shape"][()]), any("delay" in layers[k] for k in layers))
    except (OSError, KeyError) as exc:
        raise NetxError(f"{path}: not a readable netx file: {exc}") from None


def _run_once(path, seq: np.ndarray, T: int, input_message_bits: int,
              record_v: tuple[int, ...]) -> NetxRun:
    """One Lava run of the samples ``seq [T, B, *input_shape]``, one period of ``T`` each."""
    lv = netx_modules()
    try:
        net = lv.netx.hdf5.Network(net_config=str(path), input_message_bits=input_message_bits,
                                   reset_interval=T, reset_offset=1)
    except (KeyError, ValueError, RuntimeError, NotImplementedError, OSError) as exc:
        raise NetxError(f"{path}: lava-dl's netx cannot load it: {type(exc).__name__}: {exc}") \
            from None
    in_shape = tuple(net.inp.shape)
    B, n = seq.shape[1], len(net.layers)
    frames = seq[:T].reshape((T, B, -1)) if len(in_shape) == 1 else _to_lava(seq[:T])
    steps = B * T + n + 1
    data = np.zeros(in_shape + (steps,), np.int64)
    for b in range(B):
        for t in range(T):
            data[..., b * T + t] = frames[t, b]
    source = lv.RingBuffer(data=data)
    source.s_out.connect(net.inp)
    monitors = []  # a Lava Monitor records one port or Var
    for block in net.layers:
        monitors.append(lv.Monitor())
        monitors[-1].probe(block.neuron.s_out, steps)
    for i in record_v:
        monitors.append(lv.Monitor())
        monitors[-1].probe(net.layers[i].neuron.v, steps)
    cfg = lv.Loihi2SimCfg(select_tag="fixed_pt")
    t0 = time.perf_counter()
    guard = ForkGuard().open()
    try:
        net.run(condition=lv.RunSteps(num_steps=steps), run_cfg=cfg)
        # Lava names a sub-process after its attribute ("neuron" in every block), so the
        # monitors' dicts are read by position: one monitor, one target
        got = [next(iter(next(iter(m.get_data().values())).values())) for m in monitors]
    finally:
        try:
            net.stop()
        finally:
            guard.close()
    seconds = time.perf_counter() - t0
    out = NetxRun([], {}, n, seconds, str(net))
    for k, block in enumerate(net.layers, start=1):
        out.spikes.append(_take(got[k - 1], tuple(block.neuron.s_out.shape), B, T, k))
    for j, i in enumerate(record_v):
        out.v[i] = _take(got[n + j], tuple(net.layers[i].neuron.v.shape), B, T, i + 1)
    return out


def _take(rows: np.ndarray, shape, B: int, T: int, k: int) -> np.ndarray:
    """Monitor rows ``[steps, prod(shape)]`` -> ``[T, B, *IR shape]`` for block ``k``."""
    rows = np.asarray(rows).reshape((rows.shape[0],) + tuple(shape))
    idx = np.array([[b * T + t + k for b in range(B)] for t in range(T)])
    sel = rows[idx]  # [T, B, *lava shape]
    return _to_lava(sel) if len(shape) == 3 else sel
