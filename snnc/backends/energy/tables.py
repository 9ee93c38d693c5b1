"""Technology tables: the energy of one multiply-accumulate (MAC) and one accumulate (AC), in pJ.

STTS Appendix C (after Li et al. 2021, Che et al. 2022) uses 32-bit floating point in 45 nm CMOS
from Horowitz (ISSCC 2014, "Computing's energy problem (and what we can do about it)"):
``E_MAC = 4.6 pJ`` (3.7 pJ multiply + 0.9 pJ add) and ``E_AC = 0.9 pJ`` (one add). The other
built-in rows are the same paper's numbers for other arithmetic (a MAC is one multiply plus one add
of that type).

A user table is a JSON object ``{"name": str, "e_mac_pj": number, "e_ac_pj": number,
"source": str}`` (``name`` defaults to the file's stem, ``source`` to the file's path).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ...errors import EnergyError


_HOROWITZ = ("M. Horowitz, Computing's energy problem (and what we can do about it), ISSCC 2014, "
             "pp. 10-14, 45 nm")


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation: ``e_mac_pj`` per multiply-accumulate, ``e_ac_pj`` per accumulate
    (pJ); ``source`` cites where the numbers come from."""

    name: str
    e_mac_pj: float
    e_ac_pj: float
    source: str

    def to_dict(self) -> dict:
        return {"name": self.name, "e_mac_pj": self.e_mac_pj, "e_ac_pj": self.e_ac_pj,
                "source": self.source}


#: Built-in tables by name. "45nm-fp32" is STTS Appendix C's (eq. C.2).
TABLES: dict[str, EnergyTable] = {t.name: t for t in (
    EnergyTable("45nm-fp32", 4.6, 0.9, _HOROWITZ + ", 32-bit float (mult 3.7 + add 0.9 pJ)"),
    EnergyTable("45nm-fp16", 1.5, 0.4, _HOROWITZ + ", 16-bit float (mult 1.1 + add 0.4 pJ)"),
    EnergyTable("45nm-int32", 3.2, 0.1, _HOROWITZ + ", 32-bit int (mult 3.1 + add 0.1 pJ)"),
    EnergyTable("45nm-int8", 0.23, 0.03, _HOROWITZ + ", 8-bit int (mult 0.2 + add 0.03 pJ)"),
)}
#: Short names.
ALIASES = {"45nm": "45nm-fp32"}
DEFAULT_TABLE = "45nm-fp32"


def get_table(spec: str | Path | EnergyTable | None = None) -> EnergyTable:
    """A table by built-in name (:data:`TABLES`, :data:`ALIASES`), from a JSON file, or as given;
    ``None`` is :data:`DEFAULT_TABLE`.

    Raises:
        EnergyError: an unknown name that is not a readable file, or a malformed file.
    """
    if isinstance(spec, EnergyTable):
        return spec
    if spec is None:
        return TABLES[DEFAULT_TABLE]
    key = str(spec)
    key = ALIASES.get(key, key)
    if key in TABLES:
        return TABLES[key]
    path = Path(spec)
    if path.suffix.lower() == ".json" or path.exists():
        return load_table_file(path)
    raise EnergyError(f"unknown energy table {str(spec)!r}; built-in: "
                      f"{', '.join(list(TABLES) + list(ALIASES))}, or a JSON file")


def load_table_file(path: str | Path) -> EnergyTable:
    """Read a user table (see the module docstring). Raises EnergyError naming the file and the
    fault."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EnergyError(f"{path}: no such energy table file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnergyError(f"{path}: cannot read energy table ({exc})") from None
    except json.JSONDecodeError as exc:
        raise EnergyError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise EnergyError(f"{path}: an energy table is a JSON object with e_mac_pj and e_ac_pj")
    unknown = set(data) - {"name", "e_mac_pj", "e_ac_pj", "source"}
    if unknown:
        raise EnergyError(f"{path}: unknown keys {sorted(unknown)}; expected name, e_mac_pj, "
                          f"e_ac_pj, source")
    values = {}
    for key in ("e_mac_pj", "e_ac_pj"):
        v = data.get(key)
        if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                or v < 0):
            raise EnergyError(f"{path}: {key} must be a non-negative number (pJ), got {v!r}")
        values[key] = float(v)
    name, source = data.get("name", path.stem), data.get("source", str(path))
    if not isinstance(name, str) or not isinstance(source, str):
        raise EnergyError(f"{path}: name and source must be strings")
    return EnergyTable(name, values["e_mac_pj"], values["e_ac_pj"], source)
