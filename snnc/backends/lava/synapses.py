"""Linear synaptic operators between neurons, and how to fold chains of IR ops into them.

Everything between two spiking layers of a deploy graph is affine: Conv2d, Linear, BatchNorm2d,
Scale, AvgPool2d, GlobalAvgPool, Flatten, Upsample, Dropout, Vote and Concat. The Lava backend splits each
neuron's input ``X_j[t]`` into

* a **host current** — what ``X_j`` would be if every neuron stayed silent (the first layer's
  analog input and every bias), computed by the reference interpreter (:mod:`.planning`), and
* **terms** ``op(s_u[t - D])``: one linear operator per source neuron ``u`` and path delay ``D``,
  each the composition of the ops along its paths (bias-free).

An operator is one of

* :class:`DiagOp` — elementwise scale (identity, BatchNorm, Scale, the neuron's input gain),
* :class:`ConvOp` — a (grouped, strided, padded) cross-correlation, PyTorch convention; a Lava
  ``Conv`` process,
* :class:`DenseOp` — a matrix over C-major flattened units; a Lava ``Dense`` process,
* :class:`SparseOp` — a sparse matrix over C-major flattened units (nearest upsampling, and every
  composition with it: an upsampled backward connection into the next convolution); a Lava
  ``Sparse`` process. Never densified unless it meets a :class:`DenseOp`.

:func:`compose` folds ``outer o inner`` (a pooling into the next conv, BatchNorm into the conv
before it, GAP -> Linear into one matrix, ...) and :func:`merge` sums operators that share a
source and delay (a skip path beside a conv). Conv compositions are exact only where the outer op's
zero padding sees zeros; otherwise, and for shapes a Conv cannot express, the operator becomes a
dense matrix if it has at most :data:`MAX_DENSE` entries, else :class:`~.mapping.LavaMappingError`;
a composition with a :class:`SparseOp` stays sparse (scipy, the ``lava`` extra, imported only then).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Union

import numpy as np

from ...ir.interpret import conv2d
from .mapping import LavaMappingError

#: Largest dense matrix (entries) the backend materialises, 2**24 (128 MiB of float64).
MAX_DENSE = 2 ** 24


def _size(shape) -> int:
    return int(np.prod(shape))


@dataclass
class DiagOp:
    """``y = d * x`` elementwise; ``d`` has the shape of ``x`` (one sample). A Flatten after it
    only relabels the output (``out_shape``, same C-major order)."""

    d: np.ndarray
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...] | None = None

    def __post_init__(self):
        self.in_shape = tuple(self.in_shape)
        self.out_shape = tuple(self.out_shape) if self.out_shape is not None else self.in_shape
        self.d = np.broadcast_to(np.asarray(self.d, dtype=np.float64), self.in_shape)

    def apply(self, x):
        y = x * self.d
        return y.reshape((x.shape[0],) + self.out_shape)

    def per_channel(self) -> np.ndarray | None:
        """The per-channel factors if ``d`` is constant over H and W of a ``(C, H, W)`` map that
        is not flattened; else None."""
        if len(self.in_shape) != 3 or self.out_shape != self.in_shape:
            return None
        flat = self.d.reshape(self.in_shape[0], -1)
        return flat[:, 0].copy() if np.all(flat == flat[:, :1]) else None


@dataclass
class ConvOp:
    """``y = conv2d(x, weight, stride, padding, groups)`` without bias, x ``(C, H, W)``.

    ``weight`` is ``[O, C/groups, k, k]``. ``flat_out`` marks an output that a Flatten has
    turned into a C-major vector (only dense ops can follow)."""

    weight: np.ndarray
    stride: int
    padding: int
    groups: int
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, ...]
    flat_out: bool = False

    @property
    def kernel(self) -> int:
        return self.weight.shape[-1]

    @property
    def map_shape(self) -> tuple[int, int, int]:
        """The output as a feature map ``(O, H', W')`` (also when ``flat_out``)."""
        o = self.weight.shape[0]
        c, h, w = self.in_shape
        k, s, p = self.kernel, self.stride, self.padding
        return (o, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)

    def apply(self, x):  # [B, C, H, W] -> [B, *out_shape]
        y = conv2d(x, self.weight, None, self.stride, self.padding, self.groups)
        return y.reshape((y.shape[0],) + tuple(self.out_shape))

    def adjoint(self, g):
        """The transpose map: ``g [B, *out_shape]`` -> ``[B, C, H, W]``."""
        b = g.shape[0]
        o, cg, k, _ = self.weight.shape
        c, h, w = self.in_shape
        G, s, p = self.groups, self.stride, self.padding
        _, ho, wo = self.map_shape
        g = g.reshape(b, G, o // G, ho, wo)
        wg = self.weight.reshape(G, o // G, cg, k, k)
        xp = np.zeros((b, G, cg, h + 2 * p, w + 2 * p))
        for i in range(k):
            for j in range(k):
                xp[:, :, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s] += np.einsum(
                    "bgohw,goc->bgchw", g, wg[:, :, :, i, j], optimize=True)
        return xp.reshape(b, c, h + 2 * p, w + 2 * p)[:, :, p:p + h, p:p + w]

    def coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The operator as ``(rows, cols, values)`` over the C-major flattened output and input
        (``rows`` index ``out_shape``, ``cols`` index ``in_shape``), without the taps that fall in
        the zero padding; built directly, never as a dense matrix."""
        o, cg, k, _ = self.weight.shape
        c, h, w = self.in_shape
        _, ho, wo = self.map_shape
        s, p, og = self.stride, self.padding, o // self.groups
        oc, ic, ky, kx, y, x = np.meshgrid(np.arange(o), np.arange(cg), np.arange(k),
                                           np.arange(k), np.arange(ho), np.arange(wo),
                                           indexing="ij")
        iy, ix = y * s - p + ky, x * s - p + kx
        inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        cin = (oc // og) * cg + ic
        rows = ((oc * ho + y) * wo + x)[inside]
        cols = ((cin * h + iy) * w + ix)[inside]
        vals = self.weight[oc, ic, ky, kx][inside]
        return rows, cols, vals.astype(np.float64)

    def full_weight(self) -> np.ndarray:
        """The weight as an ungrouped ``[O, C, k, k]`` (block diagonal over the groups)."""
        o, cg, k, _ = self.weight.shape
        G = self.groups
        if G == 1:
            return self.weight
        full = np.zeros((o, cg * G, k, k))
        og = o // G
        for g in range(G):
            full[g * og:(g + 1) * og, g * cg:(g + 1) * cg] = self.weight[g * og:(g + 1) * og]
        return full


@dataclass
class DenseOp:
    """``y = matrix @ x`` over C-major flattened units; ``matrix`` is ``[n_out, n_in]``."""

    matrix: np.ndarray
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]

    def apply(self, x):
        y = x.reshape(x.shape[0], -1) @ self.matrix.T
        return y.reshape((x.shape[0],) + tuple(self.out_shape))


def _sp():
    """scipy.sparse, imported on first use (the ``lava`` extra)."""
    from ...optional import require
    return require("scipy.sparse", feature="Lava synapses with upsampling", extra="lava")


@dataclass
class SparseOp:
    """``y = matrix @ x`` over C-major flattened units; ``matrix`` a scipy CSR ``[n_out, n_in]``
    (float64). Nearest upsampling and what composes with it (:func:`upsample`)."""

    matrix: object
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]

    def __post_init__(self):
        self.in_shape, self.out_shape = tuple(self.in_shape), tuple(self.out_shape)
        self.matrix = _sp().csr_matrix(self.matrix, dtype=np.float64)

    def apply(self, x):
        y = np.asarray((self.matrix @ x.reshape(x.shape[0], -1).T).T)
        return y.reshape((x.shape[0],) + tuple(self.out_shape))


Operator = Union[DiagOp, ConvOp, DenseOp, SparseOp]


def upsample(in_shape, scale: int) -> SparseOp:
    """Nearest upsampling ``(C, H, W) -> (C, s H, s W)`` (IR op Upsample) as a 0/1 matrix: output
    unit ``(c, y, x)`` reads input unit ``(c, y // s, x // s)``; one synapse per output unit."""
    c, h, w = in_shape
    out = (c, h * scale, w * scale)
    cc, yy, xx = np.meshgrid(np.arange(c), np.arange(out[1]), np.arange(out[2]), indexing="ij")
    rows = ((cc * out[1] + yy) * out[2] + xx).ravel()
    cols = ((cc * h + yy // scale) * w + xx // scale).ravel()
    m = _sp().csr_matrix((np.ones(rows.size), (rows, cols)), shape=(rows.size, c * h * w))
    return SparseOp(m, tuple(in_shape), out)


def to_sparse(op: Operator):
    """The operator as a scipy CSR matrix over C-major flattened units (never through a dense
    matrix, except for a :class:`DenseOp`)."""
    sp = _sp()
    if isinstance(op, SparseOp):
        return op.matrix
    if isinstance(op, DiagOp):
        return sp.diags(op.d.reshape(-1).astype(np.float64), format="csr")
    if isinstance(op, ConvOp):
        rows, cols, vals = op.coo()
        return sp.csr_matrix((vals, (rows, cols)),
                             shape=(_size(op.out_shape), _size(op.in_shape)))
    return sp.csr_matrix(op.matrix)


@dataclass
class Term:
    """One synaptic pathway into a neuron: ``op(s_src[t - delay])`` (``via``: the IR nodes it
    folds, for messages and reports)."""

    src: str
    delay: int
    op: Operator
    via: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------- helpers
def _group_compress(full: np.ndarray, groups: int) -> np.ndarray:
    """``[O, C, k, k]`` block diagonal over ``groups`` -> ``[O, C/groups, k, k]``."""
    if groups == 1:
        return full
    o, c = full.shape[:2]
    og, cg = o // groups, c // groups
    return np.concatenate([full[g * og:(g + 1) * og, g * cg:(g + 1) * cg] for g in range(groups)])


def _fail(via, why: str):
    path = " -> ".join(via) or "(identity)"
    raise LavaMappingError(f"cannot map the synapses {path} to Lava: {why}",
                           node=via[-1] if via else None, rule="lava synapses")


def to_dense(op: Operator, via=()) -> DenseOp:
    """The operator as a matrix; refuses one with more than :data:`MAX_DENSE` entries."""
    if isinstance(op, DenseOp):
        return op
    n_in, n_out = _size(op.in_shape), _size(op.out_shape)
    if n_in * n_out > MAX_DENSE:
        _fail(via, f"it would need a dense {n_out}x{n_in} matrix (more than {MAX_DENSE} "
                   f"entries); put a neuron between the convolutions")
    if isinstance(op, DiagOp):
        return DenseOp(np.diag(op.d.reshape(-1).astype(np.float64)), op.in_shape, op.out_shape)
    if isinstance(op, SparseOp):
        return DenseOp(op.matrix.toarray(), op.in_shape, op.out_shape)
    if n_out <= n_in:  # rows through the adjoint
        m = op.adjoint(np.eye(n_out).reshape((n_out,) + tuple(op.out_shape))).reshape(n_out, n_in)
    else:
        m = op.apply(np.eye(n_in).reshape((n_in,) + tuple(op.in_shape))).reshape(n_in, n_out).T
    return DenseOp(np.ascontiguousarray(m), op.in_shape, op.out_shape)


def identity(shape) -> DiagOp:
    return DiagOp(np.ones(shape), tuple(shape))


def _scale_conv_in(conv: ConvOp, s: np.ndarray) -> ConvOp:
    """``conv o diag(s per input channel)``."""
    o, cg = conv.weight.shape[:2]
    og = o // conv.groups
    per_out = s.reshape(conv.groups, cg)[np.arange(o) // og]  # [O, C/groups]
    return replace(conv, weight=conv.weight * per_out[:, :, None, None])


def _compose_convs(b: ConvOp, a: ConvOp) -> ConvOp | None:
    """``b o a`` as one convolution, or None where that is not exact.

    Kernel ``ka + (kb - 1) sa``, stride ``sa sb``, padding ``pa + pb sa``. Exact when ``b`` has no
    padding, or when ``a`` evaluated at the positions of ``b``'s padding reads only zero padding
    (``ka <= sa + pa`` on the left; ``H'_a sa - pa >= H_a`` on the right, per dimension) —
    e.g. a non-overlapping pooling of an even map before a padded conv."""
    ka, sa, pa = a.kernel, a.stride, a.padding
    kb, sb, pb = b.kernel, b.stride, b.padding
    _, ha, wa = a.in_shape
    _, hoa, woa = a.map_shape
    if pb and not (ka <= sa + pa and hoa * sa - pa >= ha and woa * sa - pa >= wa):
        return None
    m = a.weight.shape[0]
    if a.groups == b.groups:
        groups = a.groups
    elif a.groups == m == a.in_shape[0] and a.weight.shape[1] == 1:  # a: per channel (pooling)
        groups = b.groups
    elif b.groups == m == b.weight.shape[0]:  # b: per channel
        groups = a.groups
    else:
        groups = 1
    wa, wb = a.full_weight(), b.full_weight()
    k = ka + (kb - 1) * sa
    full = np.zeros((wb.shape[0], wa.shape[1], k, k))
    for i in range(kb):
        for j in range(kb):
            full[:, :, i * sa:i * sa + ka, j * sa:j * sa + ka] += np.einsum(
                "om,mcyx->ocyx", wb[:, :, i, j], wa, optimize=True)
    out = ConvOp(_group_compress(full, groups), sa * sb, pa + pb * sa, groups, a.in_shape,
                 b.out_shape, b.flat_out)
    return out if out.map_shape == b.map_shape else None


def compose(outer: Operator, inner: Operator, via=()) -> Operator:
    """``outer o inner`` (apply ``inner`` first), as structured as exactness allows."""
    if isinstance(outer, SparseOp) or isinstance(inner, SparseOp):
        if isinstance(outer, DenseOp) or isinstance(inner, DenseOp):
            m = to_sparse(outer) @ to_sparse(inner)
            if m.shape[0] * m.shape[1] <= MAX_DENSE:
                return DenseOp(m.toarray(), inner.in_shape, outer.out_shape)
        return SparseOp(to_sparse(outer) @ to_sparse(inner), inner.in_shape, outer.out_shape)
    if isinstance(outer, DiagOp):
        if isinstance(inner, DiagOp):
            return DiagOp(outer.d * inner.d.reshape(outer.d.shape), inner.in_shape,
                          outer.out_shape)
        if isinstance(inner, ConvOp) and not inner.flat_out:
            pc = outer.per_channel()
            if pc is not None:
                return replace(inner, weight=inner.weight * pc[:, None, None, None])
        inner = to_dense(inner, via)
        return DenseOp(outer.d.reshape(-1, 1) * inner.matrix, inner.in_shape, outer.out_shape)
    if isinstance(outer, ConvOp):
        if isinstance(inner, DiagOp):
            pc = inner.per_channel()
            if pc is not None:
                return _scale_conv_in(outer, pc)
            outer_m = to_dense(outer, via)
            return DenseOp(outer_m.matrix * inner.d.reshape(1, -1), inner.in_shape,
                           outer.out_shape)
        if isinstance(inner, ConvOp) and not inner.flat_out:
            fused = _compose_convs(outer, inner)
            if fused is not None:
                return fused
        outer_m, inner_m = to_dense(outer, via), to_dense(inner, via)
        return DenseOp(outer_m.matrix @ inner_m.matrix, inner.in_shape, outer.out_shape)
    # outer is dense
    if isinstance(inner, DiagOp):
        return DenseOp(outer.matrix * inner.d.reshape(1, -1), inner.in_shape, outer.out_shape)
    if isinstance(inner, ConvOp):  # rows of the matrix through the conv's adjoint
        n_out = outer.matrix.shape[0]
        if n_out * _size(inner.in_shape) > MAX_DENSE:
            _fail(via, f"it would need a dense {n_out}x{_size(inner.in_shape)} matrix (more than "
                       f"{MAX_DENSE} entries)")
        rows = inner.adjoint(outer.matrix.reshape((n_out,) + tuple(inner.out_shape)))
        return DenseOp(rows.reshape(n_out, -1), inner.in_shape, outer.out_shape)
    return DenseOp(outer.matrix @ inner.matrix, inner.in_shape, outer.out_shape)


def reshape(op: Operator, out_shape) -> Operator:
    """The same operator with its output relabelled (Flatten)."""
    out_shape = tuple(out_shape)
    if isinstance(op, DiagOp):
        return replace(op, out_shape=out_shape)
    if isinstance(op, ConvOp):
        return replace(op, out_shape=out_shape, flat_out=len(out_shape) != 3)
    return replace(op, out_shape=out_shape)  # DenseOp, SparseOp: C-major rows already


def embed(op: Operator, offset: int, channels: int, via=()) -> Operator:
    """Place ``op``'s output channels at ``[offset, offset + C)`` of ``channels`` (Concat)."""
    shape = op.out_shape
    if isinstance(op, DiagOp) and len(shape) == 3:
        c = shape[0]
        pc = op.per_channel()
        if pc is not None:
            w = np.zeros((c, c, 1, 1))
            w[np.arange(c), np.arange(c), 0, 0] = pc
            op = ConvOp(w, 1, 0, 1, shape, shape)
    if isinstance(op, ConvOp) and not op.flat_out:
        w = op.full_weight()
        big = np.zeros((channels,) + w.shape[1:])
        big[offset:offset + w.shape[0]] = w
        return ConvOp(big, op.stride, op.padding, 1, op.in_shape, (channels,) + tuple(shape[1:]))
    per = _size(shape[1:]) if len(shape) > 1 else 1
    if isinstance(op, SparseOp):
        m = op.matrix.tocoo()
        big = _sp().csr_matrix((m.data, (m.row + offset * per, m.col)),
                               shape=(channels * per, m.shape[1]))
        return SparseOp(big, op.in_shape, (channels,) + tuple(shape[1:]))
    m = to_dense(op, via).matrix
    big = np.zeros((channels * per, m.shape[1]))
    big[offset * per:offset * per + m.shape[0]] = m
    return DenseOp(big, op.in_shape, (channels,) + tuple(shape[1:]))


def _merge_convs(a: ConvOp, b: ConvOp) -> ConvOp | None:
    if a.stride != b.stride or a.in_shape != b.in_shape or a.map_shape != b.map_shape \
            or a.flat_out or b.flat_out:
        return None
    lo = min(-a.padding, -b.padding)
    hi = max(-a.padding + a.kernel, -b.padding + b.kernel)
    groups = a.groups if a.groups == b.groups else 1
    wa, wb = (a.weight, b.weight) if groups > 1 else (a.full_weight(), b.full_weight())
    w = np.zeros(wa.shape[:2] + (hi - lo, hi - lo))
    for op, wt in ((a, wa), (b, wb)):
        at = -op.padding - lo
        w[:, :, at:at + op.kernel, at:at + op.kernel] += wt
    out = ConvOp(w, a.stride, -lo, groups, a.in_shape, a.out_shape)
    return out if out.map_shape == a.map_shape else None


def add(a: Operator, b: Operator, via=()) -> Operator | None:
    """``a + b`` as one operator, or None to keep them as two pathways."""
    if isinstance(a, DiagOp) and isinstance(b, DiagOp):
        return DiagOp(a.d + b.d, a.in_shape, a.out_shape)
    if (isinstance(a, SparseOp) or isinstance(b, SparseOp)) \
            and not (isinstance(a, DenseOp) or isinstance(b, DenseOp)):
        return SparseOp(to_sparse(a) + to_sparse(b), a.in_shape, a.out_shape)
    if isinstance(a, DenseOp) or isinstance(b, DenseOp):
        if _size(a.in_shape) * _size(a.out_shape) > MAX_DENSE:
            return None
        ma, mb = to_dense(a, via), to_dense(b, via)
        return DenseOp(ma.matrix + mb.matrix, a.in_shape, a.out_shape)
    if isinstance(a, DiagOp):
        a, b = b, a
    if isinstance(b, DiagOp):  # conv + per-channel diag -> conv + 1x1 depthwise conv
        pc = b.per_channel()
        if pc is None or a.flat_out:
            return None
        c = pc.size
        b = ConvOp(pc.reshape(c, 1, 1, 1), 1, 0, c, b.in_shape, b.in_shape)
    return _merge_convs(a, b)


def merge(terms: list[Term]) -> list[Term]:
    """Sum terms that share source and delay where one operator can hold the sum."""
    out: list[Term] = []
    for t in terms:
        for i, u in enumerate(out):
            if (u.src, u.delay) == (t.src, t.delay) and u.op.in_shape == t.op.in_shape:
                via = tuple(dict.fromkeys(u.via + t.via))
                s = add(u.op, t.op, via)
                if s is not None:
                    out[i] = Term(u.src, u.delay, s, via)
                    break
        else:
            out.append(t)
    return out


def scale(op: Operator, alpha: float) -> Operator:
    if isinstance(op, DiagOp):
        return replace(op, d=op.d * alpha)
    if isinstance(op, ConvOp):
        return replace(op, weight=op.weight * alpha)
    return replace(op, matrix=op.matrix * alpha)  # DenseOp, SparseOp
