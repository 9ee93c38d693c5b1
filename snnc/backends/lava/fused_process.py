"""The whole network in one Lava process: :class:`FusedNetwork` (an ``AbstractProcess``) and its
float process model, which advances a :class:`~.fused.FusedProgram` by one step per ``run_spk``.

One ``Injector`` feeds the concatenated host currents of every fed neuron into ``a_in``; one
``Extractor`` reads the concatenated spikes of the recorded neurons from ``s_out``. With Lava's
runtime service that is a handful of OS processes for any network, instead of one per neuron,
synapse, delay-line hop, injector and extractor (:mod:`.build`). Importing this module imports
lava (:func:`.build.lava_modules` first installs the compatibility hook).
"""
from __future__ import annotations

import time

import numpy as np

from .build import LavaNetwork, lava_modules
from .fused import FusedProgram
from .planning import LavaPlan

lava_modules()  # the py3.11 hook must be in place before the imports below

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.ports.ports import InPort, OutPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402


class FusedNetwork(AbstractProcess):
    """A whole :class:`~.planning.LavaPlan` as one Lava process.

    Ports: ``a_in`` ``(max(n_in, 1),)`` -- the injected currents of ``program.fed`` (Lava layout,
    concatenated); ``s_out`` ``(max(n_out, 1),)`` -- the spikes of ``program.record``
    (concatenated). The program travels to the process model in ``proc_params`` (Lava forks its
    workers, so nothing is pickled)."""

    def __init__(self, *, program: FusedProgram, name: str | None = None) -> None:
        super().__init__(program=program, name=name)
        self.a_in = InPort(shape=(max(program.n_in, 1),))
        self.s_out = OutPort(shape=(max(program.n_out, 1),))


@implements(proc=FusedNetwork, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyFusedNetworkModelFloat(PyLoihiProcessModel):
    """Float model: each ``run_spk`` is one Lava step of every neuron and synapse of the plan, as
    the per-layer processes would compute it (:mod:`.fused`). A fixed-point plan's program
    computes in integers inside; its ports carry integer host currents and 0/1 spikes as floats
    (exact), so the same model serves both."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.program: FusedProgram = proc_params["program"]

    def run_spk(self) -> None:
        injected = self.a_in.recv()
        out = self.program.step(injected[:self.program.n_in])
        self.s_out.send(out if out.size else np.zeros(1))


class FusedLavaNetwork(LavaNetwork):
    """:class:`~.build.LavaNetwork`'s interface (``run``, ``close``, ``with``) over one
    :class:`FusedNetwork` process, plus one ``Injector`` (if any neuron is fed) and one
    ``Extractor`` (if any neuron is recorded)."""

    def __init__(self, plan: LavaPlan, record=None):
        t0 = time.perf_counter()
        self.plan, self.conv = plan, "sparse"
        lv = self.lv = lava_modules()
        self.record = self._resolve_record(plan, record)
        self.program = FusedProgram(plan, self.record)
        N = plan.steps
        self.fused = FusedNetwork(program=self.program, name="fused")
        self.lif, self.conns, self._taps = {}, [], {}
        self.sources, self.sinks = {}, {}
        self.injector = self.extractor = None
        if self.program.n_in:
            self.injector = lv.Injector(shape=(self.program.n_in,), buffer_size=N)
            self.injector.out_port.connect(self.fused.a_in)
        if self.program.n_out:
            self.extractor = lv.Extractor(shape=(self.program.n_out,), buffer_size=N)
            self.fused.s_out.connect(self.extractor.in_port)
        self._runtime_proc = self.fused
        # keyed by instance (Lava's compiler looks the process up first: no model discovery,
        # which would execute every module of this package standalone) and by class
        models = {self.fused: PyFusedNetworkModelFloat, FusedNetwork: PyFusedNetworkModelFloat,
                  lv.Injector: lv.PyLoihiInjectorModel, lv.Extractor: lv.PyLoihiExtractorModel}
        models.update({p: models[type(p)] for p in (self.injector, self.extractor) if p})
        self._cfg = lv.Loihi2SimCfg(select_tag="floating_pt", exception_proc_model_map=models)
        self._started = self._closed = False
        self.timing = {"build_s": time.perf_counter() - t0, "compile_s": 0.0, "run_s": 0.0,
                       "io_s": 0.0, "steps": 0, "samples": 0}

    def _send(self, currents: dict[str, np.ndarray], b: int) -> None:
        """Sample ``b``'s host currents as the program's concatenated injector rows."""
        if self.injector is not None:
            for row in self.program.encode(currents, b):
                self.injector.send(row)

    def _receive(self, spikes: dict[str, np.ndarray], b: int) -> None:
        """One period of the extractor's concatenated rows, split per recorded neuron."""
        if self.extractor is not None:
            rows = np.stack([self.extractor.receive() for _ in range(self.plan.steps)])
            for name, s in self.program.decode(rows).items():
                spikes[name][:, b] = s
