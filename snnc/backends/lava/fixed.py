"""Fixed-point pieces of the Lava backend (``Loihi2SimCfg(select_tag="fixed_pt")``).

A graph after the ``quantize-loihi`` pass (:mod:`snnc.passes.loihi_fixed`) has LoihiLIF neurons
and weights in ``a_in`` units: every synapse operator the planner composes is an integer matrix.
:func:`synapse_weights` writes one as lava-nc 0.10's fixed-point ``Dense``/``Sparse`` take it (an
8-bit mantissa and ``weight_exp``, :func:`snnc.ir.loihi.lava_weights`), or refuses it by name
where no exponent makes it exact (e.g. a skip connection merged with a convolution of the same
source and delay into one synapse whose weights span more than 8 bits). lava-nc 0.10's
fixed-point ``Conv`` ignores ``weight_exp`` and ``num_weight_bits`` (REFERENCE-NOTES), so a
``Conv`` process is used only for exponent 0 (:func:`conv_weights`).

This module imports lava: :mod:`.build` imports it only when a fixed-point network is built.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.io.injector import Injector, PyLoihiInjectorModel

from ...ir.loihi import lava_weights, split_weights
from .mapping import LavaMappingError


@implements(proc=Injector, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLoihiInjectorModelFixed(PyLoihiInjectorModel):
    """Lava's Injector sending int32: a fixed-point LIF shifts ``a_in`` with ``np.left_shift``,
    which a float message (the stock model's) makes fail."""

    out_port: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)


def _refuse(what: str, values) -> LavaMappingError:
    v = np.asarray(values, dtype=np.float64)
    frac = bool(np.any(v != np.rint(v)))
    why = ("its weights are not integers in a_in units (run quantize-loihi on the graph)" if frac
           else f"its integer weights (|w| up to {np.abs(v).max():g}) need more than an 8-bit "
                f"mantissa with one exponent")
    return LavaMappingError(f"synapse {what} cannot run on Loihi's fixed-point synapses exactly: "
                            f"{why}", node=what.split(" -> ")[-1], rule="lava fixed point")


def snap(values) -> np.ndarray:
    """Weights that are integers up to float rounding, as those integers: the planner composes
    the quantised weights with pooling and scale factors in float (``9 m 2^e`` times ``1/9``),
    which is exact only up to a last bit; anything further from an integer stays as it is and
    is refused."""
    v = np.asarray(values, dtype=np.float64)
    r = np.rint(v)
    close = np.abs(v - r) <= 1e-9 * np.maximum(1.0, np.abs(v))
    return np.where(close, r, v)


def synapse_weights(values, what: str) -> tuple[np.ndarray, int]:
    """Integer weights (array or the ``data`` of a sparse matrix) -> ``(weights, weight_exp)``
    for a fixed-point ``Dense``/``Sparse``.

    Raises:
        LavaMappingError: naming ``what`` (``src -> dst``), where no 8-bit mantissa and exponent
            represent every weight exactly.
    """
    values = snap(values)
    split = split_weights(values)
    if split is None:
        raise _refuse(what, values)
    return lava_weights(*split)


def conv_weights(weight: np.ndarray, what: str) -> np.ndarray:
    """Integer weights of a ``Conv`` process (exponent 0 only: lava-nc 0.10's fixed-point Conv
    ignores ``weight_exp``).

    Raises:
        LavaMappingError: naming ``what``, when the weights need an exponent above 0.
    """
    weight = snap(weight)
    split = split_weights(weight)
    if split is None:
        raise _refuse(what, weight)
    m, e = split
    if e:
        raise LavaMappingError(
            f"synapse {what}: its weights need weight exponent {e}, and lava-nc 0.10's fixed-point "
            f"Conv ignores weight_exp; use conv='sparse' (the default)", node=what.split(" -> ")[-1],
            rule="lava fixed point")
    return m.astype(np.float64)
