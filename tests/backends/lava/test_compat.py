"""The compat hook (lava-nc 0.10.0 on Python 3.11) and lazy importing of lava."""
import subprocess
import sys
from pathlib import Path

import pytest

from snnc.backends.lava import compat


def _py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])


def test_rewrite_source_turns_instance_defaults_into_factories():
    src = ("from dataclasses import dataclass\n@dataclass\nclass A:\n    n: int = 0\n"
           "@dataclass\nclass B:\n    x: A = A()\n    y: A = A()\n    z: int = 3\n")
    new, count = compat.rewrite_source(src)
    assert count == 2
    assert new.count("\n") == src.count("\n")  # line numbers unchanged
    ns: dict = {}
    exec(compile(new, "<test>", "exec"), ns)
    b1, b2 = ns["B"](), ns["B"]()
    assert b1.x == ns["A"]() and b1.x is not b2.x and b1.z == 3


def test_importing_snnc_backend_does_not_import_lava():
    r = _py("import sys, snnc.backends.lava as L\n"
            "from tests.backends.lava.graphs import mlp\n"
            "L.plan(mlp())\n"
            "assert not [m for m in sys.modules if m == 'lava' or m.startswith('lava.')], "
            "sorted(m for m in sys.modules if m.startswith('lava'))\n"
            "print('ok')")
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the fault only exists on Python >= 3.11")
def test_var_model_needs_the_hook_on_311():
    r = _py("import lava.magma.compiler.var_model")
    assert r.returncode != 0 and "mutable default" in r.stderr


def test_hook_makes_lava_importable():
    r = _py("from snnc.backends.lava import compat\n"
            "compat.install(); compat.install()\n"
            "import sys\n"
            "assert sum(isinstance(f, compat.LavaCompatFinder) for f in sys.meta_path) == 1\n"
            "import lava.magma.core.run_configs, lava.magma.compiler.var_model as vm\n"
            "from lava.proc.lif.process import LIF\n"
            "a, b = vm.CoreEncoder(), vm.CoreEncoder()\n"
            "assert a.x is not b.x\n"
            "print('ok')")
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr
