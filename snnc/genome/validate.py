"""Apply the schema tables: typed values, complete attribute lists, edge rules, genome-wide rules.

Every check raises :class:`Problem` with a message and ``at``, which names the offending part so
that the caller can point at it: the parser maps it to a token's line and column, the
``make_*`` constructors to the construct's ``loc``. ``at`` is one of::

    None                  the statement as a whole (its keyword)
    ("kind",)             the neuron/surrogate model word
    ("name",) ("form",)   a block's name or form word
    ("key", i) ("value", i)        the i-th given attribute's key or value
    ("edge", i, part)     the i-th given edge; part in src, dst, delay, op, edge
    ("block", i, key)     the i-th block (genome-wide rules); key an attribute name or None
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from . import schema as S
from .ast import Block, Edge, Spec
from .lexical import is_name, show


class Problem(Exception):
    """A schema violation; see the module docstring for ``at``."""

    def __init__(self, message: str, at: tuple | None = None):
        super().__init__(message)
        self.message = message
        self.at = at


# ----------------------------------------------------------------------------- values
def as_int(v: Any) -> int | None:
    """``v`` as a plain int when it is an integer (numpy's too), else None; bools are not ints."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        return None
    return int(v)


def coerce(p: S.Param, v: Any, owner: str) -> Any:
    """``v`` as the type of ``p`` (an int becomes a float for float params), or Problem."""
    t = p.type
    if t == "int":
        ok = as_int(v) is not None
        v = as_int(v) if ok else v
    elif t == "float":
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool)
        if ok:
            try:
                v = float(v)
            except OverflowError:
                ok = False
            else:
                ok = math.isfinite(v)
                v = v + 0.0  # -0.0 -> 0.0: one spelling per value
    elif t == "bool":
        ok = isinstance(v, bool)
    elif t == "name":
        ok = is_name(v)
    elif t == "text":
        ok = isinstance(v, str)
    else:  # shape
        if as_int(v) is not None:
            v = (v,)
        elif isinstance(v, list):
            v = tuple(v)
        ok = (isinstance(v, tuple) and 1 <= len(v) <= 3 and
              all(as_int(d) is not None and d >= 1 for d in v))
        v = tuple(as_int(d) for d in v) if ok else v
    if not ok:
        raise Problem(f"{owner}{p.name} must be {p.describe()}, got {show(v)}")
    if p.choices and v not in p.choices:
        raise Problem(f"{owner}{p.name} must be {p.describe()}, got {show(v)}")
    if t in ("int", "float") and not _in_range(p, v):
        raise Problem(f"{owner}{p.name} must be {p.describe()}, got {show(v)}{p.hint}")
    return v


def _in_range(p: S.Param, v: float) -> bool:
    if p.lo is not None and (v <= p.lo if p.lo_open else v < p.lo):
        return False
    if p.hi is not None and (v >= p.hi if p.hi_open else v > p.hi):
        return False
    return not p.odd or v % 2 == 1


def _keys(given: Sequence[tuple[str, Any]], allowed: Sequence[str], what: str) -> None:
    """Unknown or repeated keys -> Problem at the key."""
    seen = set()
    for i, (k, _) in enumerate(given):
        if k not in allowed:
            raise Problem(f"unknown attribute {k!r} for {what}; expected one of "
                          f"{', '.join(allowed) or 'none'}", ("key", i))
        if k in seen:
            raise Problem(f"attribute {k!r} is given twice", ("key", i))
        seen.add(k)


# ----------------------------------------------------------------------------- specs
def spec_kind(role: str, kind: Any) -> S.SpecKind:
    """The table entry of neuron/surrogate ``kind``, or Problem at ("kind",)."""
    table = S.SPECS[role]
    if not isinstance(kind, str) or kind not in table:
        raise Problem(f"unknown {role} {show(kind)}; expected one of {', '.join(table)}", ("kind",))
    return table[kind]


def spec(role: str, kind: Any, given: Sequence[tuple[str, Any]]) -> Spec:
    """A complete :class:`Spec` (``loc`` unset) from ``[(key, value)]`` in the user's order.

    The parameterisation is the group whose keys were given (the first group when none was);
    mixing groups is an error. Stored: that group's keys and the keys outside every group, in table
    order, defaults filled in.
    """
    sk = spec_kind(role, kind)
    owner = f"{role} {sk.name}: "
    _keys(given, [p.name for p in sk.params], f"{role} {sk.name!r}")
    given_keys = [k for k, _ in given]
    grouped = {k: g for g in sk.forms for k in g}
    chosen = None
    for i, k in enumerate(given_keys):
        g = grouped.get(k)
        if g is None or g is chosen:
            continue
        if chosen is not None:
            alts = " | ".join(" ".join(x if j == 0 else f"[{x}]" for j, x in enumerate(f))
                              for f in sk.forms)
            raise Problem(f"{owner}{chosen[0]} and {k} are alternative parameterisations; give "
                          f"one of: {alts}", ("key", i))
        chosen = g
    chosen = chosen or (sk.forms[0] if sk.forms else ())
    values = {}
    for i, (k, v) in enumerate(given):
        try:
            values[k] = coerce(sk.param(k), v, owner)
        except Problem as e:
            raise Problem(e.message, ("value", i)) from None
    params = []
    for p in sk.params:
        if p.name in grouped and p.name not in chosen:
            continue
        if p.name in values:
            params.append((p.name, values[p.name]))
        elif p.required:
            needed_by = next((k for k in chosen if k in values), None)
            why = f" ({needed_by} needs it)" if needed_by else ""
            raise Problem(f"{owner}missing parameter {p.name!r}{why}", ("kind",))
        else:
            params.append((p.name, coerce(p, p.default, owner)))
    return Spec(sk.name, tuple(params))


# ----------------------------------------------------------------------------- blocks
def block_kind(kind: Any) -> S.BlockKind:
    if not isinstance(kind, str) or kind not in S.BLOCKS:
        raise Problem(f"unknown statement {show(kind)}; expected one of "
                      f"{', '.join(S.STATEMENTS)}")
    return S.BLOCKS[kind]


def label(kind: str, name: str | None) -> str:
    """How messages name a block: ``stage s3``, ``classifier``."""
    return f"{kind} {name}" if name else kind


def block_form(bk: S.BlockKind, name: Any, form: Any) -> S.Form:
    """Check the name and form words; returns the form."""
    if bk.naming == "required" and name is None:
        raise Problem(f"{bk.keyword} needs a name, e.g. '{bk.keyword} b1 ...'")
    if bk.naming == "none" and name is not None:
        raise Problem(f"{bk.keyword} takes no name", ("name",))
    if name is not None and not is_name(name):
        raise Problem(f"a block name must be a name (letters, digits, _ and -), got {show(name)}",
                      ("name",))
    if not bk.has_forms:
        if form is not None:
            raise Problem(f"{bk.keyword} takes no form, got {show(form)}", ("form",))
        return bk.forms[0]
    names = ", ".join(f.name for f in bk.forms)
    if form is None:
        raise Problem(f"{label(bk.keyword, name)} needs a form: one of {names}")
    found = bk.form(form) if isinstance(form, str) else None
    if found is None:
        raise Problem(f"unknown form {show(form)} for {bk.keyword!r}; expected one of {names}",
                      ("form",))
    return found


def block_attrs(bk: S.BlockKind, form: S.Form, name: str | None,
                given: Sequence[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    """The complete attribute list of a block in table order, defaults filled in."""
    params = bk.params_for(form)
    applies = {p.name: p for p in params}
    for i, (k, _) in enumerate(given):
        if k not in applies and any(p.name == k for p in bk.params):
            raise Problem(f"attribute {k!r} does not apply to '{bk.keyword} {form.name}'",
                          ("key", i))
    _keys(given, [p.name for p in bk.params], repr(bk.keyword))
    owner = label(bk.keyword, name) + ": "
    values = {}
    for i, (k, v) in enumerate(given):
        try:
            values[k] = coerce(applies[k], v, owner)
        except Problem as e:
            raise Problem(e.message, ("value", i)) from None
    out = []
    for p in params:
        if p.name in values:
            out.append((p.name, values[p.name]))
        elif p.required:
            raise Problem(f"{owner}missing attribute {p.name!r} ({p.describe()})")
        else:
            out.append((p.name, coerce(p, p.default, owner)))
    return tuple(out)


def edges(bk: S.BlockKind, form: S.Form, name: str | None, attrs: dict[str, Any],
          given: Sequence[Edge]) -> tuple[Edge, ...]:
    """Check a block's edges against its form's rules; returns them sorted by ``Edge.sort_key``."""
    owner = label(bk.keyword, name) + ": "
    rules = form.edges
    if rules is None:
        if given:
            where = f"'{bk.keyword} {form.name}'" if form.name else repr(bk.keyword)
            raise Problem(f"{owner}{where} takes no edges", ("edge", 0, "edge"))
        return ()
    hi = attrs.get(rules.nodes) if rules.nodes else None
    seen = set()
    given = [_plain(e) for e in given]
    for i, e in enumerate(given):
        text = f"{'back ' if e.backward else ''}{e.src} -> {e.dst}"
        for part, v, lo in (("src", e.src, rules.min_src), ("dst", e.dst, 0)):
            if as_int(v) is None:
                raise Problem(f"{owner}{rules.what} id {show(v)} is not an integer",
                              ("edge", i, part))
            if v < lo or (hi is not None and v >= hi):
                rng = f"{lo}..{hi - 1}" if hi is not None else f">= {lo}"
                raise Problem(f"{owner}{rules.what} {v} is out of range {rng}", ("edge", i, part))
        if as_int(e.delay) is None or e.delay < 0:
            raise Problem(f"{owner}edge {text}: delay must be an integer >= 0, got "
                          f"{show(e.delay)}", ("edge", i, "delay"))
        if e.backward:
            if not rules.backward:
                raise Problem(f"{owner}edge {text}: '{bk.keyword} {form.name}' takes no backward "
                              f"edges", ("edge", i, "edge"))
            if e.src < e.dst:
                raise Problem(f"{owner}backward edge {e.src} -> {e.dst} must go from a later (or "
                              f"the same) {rules.what} to an earlier one; write `{e.src} -> "
                              f"{e.dst}` for a forward edge", ("edge", i, "edge"))
            if e.delay < 1:
                raise Problem(f"{owner}backward edge {e.src} -> {e.dst} needs a delay >= 1, e.g. "
                              f"`back {e.src} -> {e.dst} @1`", ("edge", i, "delay"))
        else:
            if not rules.forward:
                raise Problem(f"{owner}edge {text}: {bk.keyword} edges are backward connections; "
                              f"write `back {e.src} -> {e.dst} @1`", ("edge", i, "edge"))
            if e.src >= e.dst:
                raise Problem(f"{owner}forward edge {e.src} -> {e.dst} must go from a lower to a "
                              f"higher {rules.what} id; write `back {e.src} -> {e.dst} @1` for a "
                              f"backward connection", ("edge", i, "edge"))
            if e.delay and not rules.forward_delays:
                raise Problem(f"{owner}edge {text}: forward edges of '{bk.keyword} {form.name}' "
                              f"carry no delay", ("edge", i, "delay"))
        if rules.ops is None and e.op is not None and e.op not in rules.markers:
            also = f" (only the marker{'s' if len(rules.markers) > 1 else ''} "\
                   f"{', '.join(rules.markers)})" if rules.markers else ""
            raise Problem(f"{owner}edge {text}: edges here carry no operation{also}, got "
                          f"{show(e.op)}", ("edge", i, "op"))
        if rules.ops is not None and e.op not in rules.ops + rules.markers:
            got = "none" if e.op is None else show(e.op)
            raise Problem(f"{owner}edge {text} needs an operation, one of "
                          f"{', '.join(rules.ops + rules.markers)}; got {got}",
                          ("edge", i, "edge" if e.op is None else "op"))
        key = (e.src, e.dst, e.delay, e.backward)
        if key in seen:
            delay = f" @{e.delay}" if e.delay else ""
            raise Problem(f"{owner}duplicate edge {text}{delay}", ("edge", i, "edge"))
        seen.add(key)
    return tuple(sorted(given, key=Edge.sort_key))


def _plain(e: Edge) -> Edge:
    """``e`` with numpy integers made plain ints (what a searcher's arrays give)."""
    parts = (e.src, e.dst, e.delay)
    ints = tuple(as_int(x) for x in parts)
    if None in ints or all(type(x) is int for x in parts):
        return e  # already plain, or not integers at all (reported by the caller)
    return replace(e, src=ints[0], dst=ints[1], delay=ints[2])


def genome_blocks(blocks: Sequence[Block]) -> None:
    """Genome-wide rules: unique block names, single/last kinds, references to earlier blocks."""
    names: dict[str, str] = {}
    for i, b in enumerate(blocks):
        bk = S.BLOCKS.get(b.kind)
        if bk is None:
            raise Problem(f"unknown block kind {b.kind!r}", ("block", i, None))
        if b.name is not None:
            if b.name in names:
                raise Problem(f"block name {b.name!r} is already used by an earlier "
                              f"{names[b.name]}", ("block", i, "name"))
            names[b.name] = b.kind
        if bk.single and any(x.kind == b.kind for x in blocks[:i]):
            raise Problem(f"a genome has at most one {b.kind}", ("block", i, None))
        if i and S.BLOCKS.get(blocks[i - 1].kind, bk).last:
            raise Problem(f"the {blocks[i - 1].kind} must be the last block; "
                          f"{label(b.kind, b.name)} comes after it", ("block", i, None))
        for p in bk.params:
            if p.ref is None or b.get(p.name) is None:
                continue
            target = b.get(p.name)
            if names.get(target) != p.ref:
                defined = [n for n, k in names.items() if k == p.ref]
                so_far = f"; {p.ref} blocks so far: {', '.join(defined)}" if defined else ""
                raise Problem(f"{label(b.kind, b.name)}: {p.name}={target} names no earlier "
                              f"{p.ref} block{so_far}", ("block", i, p.name))
