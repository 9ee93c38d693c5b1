"""``ALIFReset``: a Lava process (lava-nc 0.10.0) of adaptive-threshold LIF neurons, and its
floating-point process model.

Lava has no neuron with an adaptive threshold (SpikeDHS eq. 5-8); this process is Lava's
``LIFReset`` (same ports, ``u``/``v``/``du``/``dv``/``bias_mant``/``vth``, the same state reset
once every ``reset_interval`` steps at ``reset_offset``, which :mod:`.planning` uses for clean
starts) plus the threshold increment ``a`` and its parameters ``rho`` and ``adapt``. The step is
:func:`.alif.alif_step`. Only a ``floating_pt`` model exists (no fixed-point one).

This module imports lava: :func:`.build.lava_modules` imports it, never the package's
``__init__``.
"""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from .alif import alif_step


class ALIFReset(AbstractProcess):
    """Adaptive-threshold LIF neurons of ``shape`` that zero their state (``u``, ``v``, ``a``)
    when ``time_step % reset_interval == reset_offset`` (as Lava's ``LIFReset``).

    Ports: ``a_in`` (synaptic input), ``s_out`` (spikes). Vars: ``u``, ``v``, ``a`` (state,
    ``shape``), ``bias_mant`` (``shape``), ``du``, ``dv``, ``vth``, ``rho``, ``adapt`` (scalars).

    Raises:
        ValueError: ``reset_interval < 1`` or ``reset_offset < 0``.
    """

    def __init__(self, *, shape: tuple[int, ...], du: float = 0.0, dv: float = 0.0,
                 bias_mant: ty.Union[float, np.ndarray] = 0.0, vth: float = 10.0,
                 rho: float = 0.2, adapt: float = 1.8, reset_interval: int = 1,
                 reset_offset: int = 0, name: ty.Optional[str] = None) -> None:
        if reset_interval < 1:
            raise ValueError("reset_interval must be >= 1")
        if reset_offset < 0:
            raise ValueError("reset_offset must be >= 0")
        super().__init__(shape=shape, name=name, reset_interval=reset_interval,
                         reset_offset=reset_offset)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0.0)
        self.v = Var(shape=shape, init=0.0)
        self.a = Var(shape=shape, init=0.0)
        self.bias_mant = Var(shape=shape, init=bias_mant)
        self.du = Var(shape=(1,), init=du)
        self.dv = Var(shape=(1,), init=dv)
        self.vth = Var(shape=(1,), init=vth)
        self.rho = Var(shape=(1,), init=rho)
        self.adapt = Var(shape=(1,), init=adapt)


@implements(proc=ALIFReset, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyALIFResetModelFloat(PyLoihiProcessModel):
    """Float model of :class:`ALIFReset`: receive, reset if due, :func:`.alif.alif_step`, send."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    a: np.ndarray = LavaPyType(np.ndarray, float)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, float)
    du: float = LavaPyType(float, float)
    dv: float = LavaPyType(float, float)
    vth: float = LavaPyType(float, float)
    rho: float = LavaPyType(float, float)
    adapt: float = LavaPyType(float, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_interval = proc_params["reset_interval"]
        self.reset_offset = proc_params["reset_offset"] % self.reset_interval

    def run_spk(self):
        a_in = self.a_in.recv()
        reset = (self.time_step % self.reset_interval) == self.reset_offset
        u, v, a, s = alif_step(self.u, self.v, self.a, a_in, du=self.du, dv=self.dv,
                               bias=self.bias_mant, vth=self.vth, rho=self.rho,
                               adapt=self.adapt, reset=reset)
        self.u[:] = u
        self.v[:] = v
        self.a[:] = a
        self.s_out.send(s)
