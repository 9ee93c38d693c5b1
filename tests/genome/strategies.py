"""Hypothesis strategies for valid genomes, derived from the schema tables (not hand-picked).

``values(param)`` draws valid values of any schema parameter, ``specs(role)`` any neuron or
surrogate in any parameterisation, ``blocks_of(kind, form, ...)`` any block with random edges
obeying the form's edge rules, ``genomes()`` whole genomes. Everything is built with
``make_spec``/``make_block`` so the objects are complete, as the parser would produce them.
"""
from __future__ import annotations

from hypothesis import strategies as st

from snnc.genome import Edge, Genome, make_block, make_spec, schema as S

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}(-[a-z0-9]{1,3})?", fullmatch=True).filter(
    lambda s: s not in S.RESERVED)
# any text, including quotes, backslashes, newlines, control characters and lone surrogates
texts = st.text(max_size=24) | st.text(alphabet='"\\\n\r\t\x00\x7f\ud800 ab#{}', max_size=8)


def values(p: S.Param, small: bool = False) -> st.SearchStrategy:
    """Valid values of ``p`` (``small``: ints capped at 12, for node counts)."""
    if p.choices:
        return st.sampled_from(p.choices)
    if p.type == "int":
        lo = int(p.lo) + (1 if p.lo_open else 0) if p.lo is not None else -10**6
        hi = int(p.hi) - (1 if p.hi_open else 0) if p.hi is not None else (
            lo + 11 if small else 10**9)
        ints = st.integers(lo, hi)
        return ints.filter(lambda v: v % 2 == 1) if p.odd else ints
    if p.type == "float":
        return st.floats(p.lo if p.lo is not None else -1e6, p.hi if p.hi is not None else 1e6,
                         exclude_min=p.lo_open, exclude_max=p.hi_open, allow_nan=False,
                         allow_infinity=False)
    if p.type == "bool":
        return st.booleans()
    if p.type == "name":
        return names
    if p.type == "text":
        return texts
    return st.lists(st.integers(1, 64), min_size=1, max_size=3).map(tuple)


@st.composite
def specs(draw, role: str, kind: str | None = None):
    """A neuron or surrogate spec in a random parameterisation with random optional values."""
    sk = S.SPECS[role][kind or draw(st.sampled_from(sorted(S.SPECS[role])))]
    form = draw(st.sampled_from(sk.forms)) if sk.forms else ()
    others = {k for g in sk.forms for k in g} - set(form)
    params = {}
    for p in sk.params:
        if p.name in others:
            continue
        if p.required or draw(st.booleans()):
            params[p.name] = draw(values(p))
    if form and form[0] not in params:  # name the parameterisation
        params[form[0]] = draw(values(sk.param(form[0])))
    return make_spec(sk.name, role, **params)


@st.composite
def edges_for(draw, rules: S.EdgeRules, attrs: dict):
    """Random edges obeying ``rules``: forward i < j, backward i >= j with delay >= 1."""
    n = attrs[rules.nodes] if rules.nodes else draw(st.integers(1, 12))
    ids = range(rules.min_src, n)
    out = {}
    op = st.sampled_from(rules.ops) if rules.ops else st.none()
    if rules.forward:
        pairs = [(i, j) for i in ids for j in range(max(0, i + 1), n)]
        for i, j in draw(st.lists(st.sampled_from(pairs), max_size=25)) if pairs else []:
            d = draw(st.integers(0, 3)) if rules.forward_delays else 0
            out[(i, j, d, False)] = Edge(i, j, d, False, draw(op))
    if rules.backward:
        pairs = [(i, j) for i in range(0, n) for j in range(0, i + 1)]
        for i, j in draw(st.lists(st.sampled_from(pairs), max_size=5)):
            d = draw(st.integers(1, 3))
            out[(i, j, d, True)] = Edge(i, j, d, True, draw(op))
    edges = list(out.values())
    return draw(st.permutations(edges)) if edges else []


@st.composite
def blocks_of(draw, kind: str, form: str | None, name: str | None, cells: list[str]):
    """A block of ``kind``/``form`` with random attributes, edges and overrides."""
    bk = S.BLOCKS[kind]
    f = bk.form(form)
    attrs = {}
    for p in bk.params_for(f):
        if p.ref:
            attrs[p.name] = draw(st.sampled_from(cells))
        elif p.required or draw(st.booleans()):
            attrs[p.name] = draw(values(p, small=p.name == "nodes"))
    full = dict(make_block(kind, name, form, **attrs).attrs)
    edges = draw(edges_for(f.edges, full)) if f.edges else []
    return make_block(kind, name, form, edges=edges, **attrs,
                      neuron=draw(st.none() | specs("neuron")),
                      surrogate=draw(st.none() | specs("surrogate")))


@st.composite
def genomes(draw):
    """A valid genome: random header, blocks of every kind (cells before their references), at
    most one classifier, last."""
    blocks, cells = [], []
    kinds = [k for k in S.BLOCKS if not S.BLOCKS[k].last]
    for i in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(kinds))
        bk = S.BLOCKS[kind]
        if bk.single and any(x.kind == kind for x in blocks):
            continue  # at most one (a SpikeDHS stem)
        if any(p.ref for p in bk.params) and not cells:
            kind, bk = "cell", S.BLOCKS["cell"]
        form = draw(st.sampled_from([f.name for f in bk.forms]))
        name = f"b{i}" if bk.naming == "required" else None
        blocks.append(draw(blocks_of(kind, form, name, cells)))
        if kind == "cell":
            cells.append(name)
    for kind, bk in S.BLOCKS.items():
        if bk.last and draw(st.booleans()):
            name = draw(st.none() | st.just("head")) if bk.naming == "optional" else "head"
            blocks.append(draw(blocks_of(kind, bk.forms[0].name, name, cells)))
            break
    header = {h.field: draw(values(h.param)) for h in S.HEADERS.values()
              if h.param is not None and h.field != "version"}
    if draw(st.booleans()):
        header["provenance"] = None
    return Genome(neuron=draw(specs("neuron")), surrogate=draw(specs("surrogate")),
                  blocks=tuple(blocks), **header)
