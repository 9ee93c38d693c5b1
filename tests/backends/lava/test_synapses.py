"""The synaptic operator algebra: every fold equals applying the ops one after another."""
import numpy as np
import pytest

from snnc.backends.lava import LavaMappingError
from snnc.backends.lava import synapses as syn
from snnc.ir.interpret import avg_pool2d

RNG = np.random.default_rng(0)


def _conv(cin, cout, k, s=1, p=0, g=1, hw=8):
    w = RNG.normal(size=(cout, cin // g, k, k))
    ho = (hw + 2 * p - k) // s + 1
    return syn.ConvOp(w, s, p, g, (cin, hw, hw), (cout, ho, ho))


def _pool(c, k, hw, s=None, p=0):
    s = s or k
    ho = (hw + 2 * p - k) // s + 1
    return syn.ConvOp(np.full((c, 1, k, k), 1 / k ** 2), s, p, c, (c, hw, hw), (c, ho, ho))


def _x(shape, n=3):
    return RNG.normal(size=(n,) + tuple(shape))


def test_pool_matches_interpreter():
    x = _x((3, 8, 8))
    np.testing.assert_allclose(_pool(3, 2, 8).apply(x), avg_pool2d(x, 2, 2))


@pytest.mark.parametrize("outer, inner, fused", [
    # pool -> padded conv; conv -> pool; grouped; padded conv after conv (not exact as a conv);
    # depthwise after conv
    (lambda: _conv(3, 4, 3, p=1, hw=4), lambda: _pool(3, 2, 8), syn.ConvOp),
    (lambda: _pool(4, 2, 8), lambda: _conv(3, 4, 3, p=1), syn.ConvOp),
    (lambda: _conv(4, 6, 3, s=2, p=1, g=2), lambda: _pool(4, 2, 16), syn.ConvOp),
    (lambda: _conv(4, 4, 3, p=1), lambda: _conv(3, 4, 3, p=1), syn.DenseOp),
    (lambda: _conv(4, 4, 1, g=4), lambda: _conv(3, 4, 3, p=1, g=1), syn.ConvOp),
])
def test_compose_convs(outer, inner, fused):
    b, a = outer(), inner()
    c = syn.compose(b, a)
    assert isinstance(c, fused)
    x = _x(a.in_shape)
    np.testing.assert_allclose(c.apply(x), b.apply(a.apply(x)), atol=1e-10)


def test_adjoint_and_dense():
    op = _conv(4, 6, 3, s=2, p=1, g=2)
    x, y = _x(op.in_shape, 1), _x(op.out_shape, 1)
    assert np.vdot(op.apply(x), y) == pytest.approx(np.vdot(x, op.adjoint(y)))
    m = syn.to_dense(op).matrix
    np.testing.assert_allclose(m @ x.reshape(-1), op.apply(x).reshape(-1), atol=1e-10)


def test_dense_after_conv_uses_rows():
    conv = syn.reshape(_conv(3, 4, 3, p=1), (4 * 8 * 8,))
    lin = syn.DenseOp(RNG.normal(size=(5, 256)), (256,), (5,))
    x = _x((3, 8, 8))
    c = syn.compose(lin, conv)
    np.testing.assert_allclose(c.apply(x), lin.apply(conv.apply(x)), atol=1e-10)


def test_diag_folds_into_conv_and_merge_sums():
    conv = _conv(3, 3, 3, p=1)
    bn = syn.DiagOp(np.arange(1, 4).reshape(3, 1, 1) * np.ones((3, 8, 8)), (3, 8, 8))
    x = _x((3, 8, 8))
    c = syn.compose(bn, conv)
    assert isinstance(c, syn.ConvOp)
    np.testing.assert_allclose(c.apply(x), bn.apply(conv.apply(x)))
    skip = syn.identity((3, 8, 8))
    s = syn.add(c, skip)  # conv + identity skip -> one conv
    assert isinstance(s, syn.ConvOp)
    np.testing.assert_allclose(s.apply(x), c.apply(x) + x, atol=1e-12)


def test_embed_for_concat():
    op = _conv(3, 2, 3, p=1)
    e = syn.embed(op, 1, 5)
    x = _x((3, 8, 8))
    y = e.apply(x)
    np.testing.assert_allclose(y[:, 1:3], op.apply(x))
    assert not y[:, [0, 3, 4]].any()


def test_too_large_dense_is_refused(monkeypatch):
    monkeypatch.setattr(syn, "MAX_DENSE", 100)
    with pytest.raises(LavaMappingError, match="dense"):
        syn.to_dense(_conv(3, 4, 3, p=1), ("a", "b"))


@pytest.mark.parametrize("make", [
    lambda: _conv(3, 4, 3, p=1),
    lambda: _conv(4, 6, 3, s=2, p=1, g=2, hw=9),
    lambda: _conv(4, 4, 3, p=1, g=4, hw=5),
    lambda: _conv(2, 3, 5, s=2, p=2, hw=7),
    lambda: _pool(3, 2, 8),
])
def test_conv_coo_equals_dense_matrix(make):
    """The unrolled convolution built directly in COO form equals the dense matrix, also in
    Lava's (W, H, C) layout, without ever densifying."""
    from snnc.backends.lava.build import _perm, lava_matrix
    op = make()
    rows, cols, vals = op.coo()
    n_out, n_in = int(np.prod(op.out_shape)), int(np.prod(op.in_shape))
    m = np.zeros((n_out, n_in))
    np.add.at(m, (rows, cols), vals)
    np.testing.assert_array_equal(m, syn.to_dense(op).matrix)
    assert len(set(zip(rows.tolist(), cols.tolist()))) == rows.size  # no duplicate taps
    lava = lava_matrix(op, sparse=True).toarray()
    np.testing.assert_array_equal(lava, m[_perm(op.out_shape)][:, _perm(op.in_shape)])
