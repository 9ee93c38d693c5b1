"""Named architecture presets of the four papers, each one canonical genome file in this folder.

A preset is ``<name>.genome``: leading ``#`` lines cite the paper, table and published figures,
then the canonical genome text. ``snnc zoo`` lists them and writes any of them out; every preset
compiles through the same frontend as any other genome.

Example::

    >>> from snnc import zoo
    >>> "tanet-tiny" in zoo.names()
    True
    >>> genome = zoo.load("tanet-tiny")        # parsed Genome
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import SnncError

#: The folder holding the preset genomes.
PRESET_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Preset:
    """One preset: its name, the file, and the citation lines (without ``#``)."""

    name: str
    path: Path
    about: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def summary(self) -> str:
        """The first citation line (what and where from)."""
        return self.about[0] if self.about else ""


def names() -> list[str]:
    """Every preset name, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.genome"))


def get(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        SnncError: no such preset (the message lists the known ones).
    """
    path = PRESET_DIR / f"{name}.genome"
    if not name or "/" in name or not path.is_file():
        raise SnncError(f"unknown preset {name!r}; known presets: {', '.join(names())}")
    about = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        about.append(line.lstrip("#").strip())
    return Preset(name, path, tuple(about))


def presets() -> list[Preset]:
    """Every preset, sorted by name."""
    return [get(n) for n in names()]


def load(name: str):
    """The preset parsed as a :class:`~snnc.genome.Genome` (its file name in parse errors)."""
    from ..genome import parse
    p = get(name)
    return parse(p.text, filename=str(p.path))
