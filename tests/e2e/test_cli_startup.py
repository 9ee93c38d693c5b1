"""`snnc` starts without the heavy optional packages: commands import them when they run."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "lava", "onnx", "onnxruntime", "matplotlib")


def _modules_after(code: str) -> set[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code + "\nimport json, sys\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_import_cli_loads_no_heavy_package():
    loaded = _modules_after("import snnc.cli")
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_show_and_compile_load_no_heavy_package():
    genome = str(ROOT / "examples" / "tanet-tiny.genome")
    loaded = _modules_after(
        "from click.testing import CliRunner\nfrom snnc.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['show', {genome!r}, '--no-layers'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(cli, ['compile', {genome!r}, '--passes', 'none'])\n"
        "assert r.exit_code == 0, r.output\n")
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_help_loads_no_heavy_package():
    # Rendering help builds every option's default, the lazy ones included (search snasnet's are
    # read from SearchConfig, whose module imports torch, only when that command's help is shown).
    loaded = _modules_after(
        "from click.testing import CliRunner\nfrom snnc.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\nassert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(cli, ['train', '--help'])\nassert r.exit_code == 0, r.output\n"
        "assert '[default: 10' in r.output")
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_search_defaults_are_shown_and_used(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import snnc.search.snasnet as snasnet
    from snnc.cli import cli
    from snnc.errors import SearchError

    r = CliRunner().invoke(cli, ["search", "snasnet", "--help"])
    assert r.exit_code == 0, r.output
    assert f"[default: {snasnet.SearchConfig.space}]" in r.output and "(dynamic)" not in r.output
    seen = []

    def fake_run_search(config, *args, **kwargs):
        seen.append(config)
        raise SearchError("stop here")

    monkeypatch.setattr(snasnet, "run_search", fake_run_search)
    r = CliRunner().invoke(cli, ["search", "snasnet", "--out", str(tmp_path), "--T", "3"])
    assert r.exit_code == 1 and "stop here" in r.output
    assert seen == [snasnet.SearchConfig(T=3)]


def test_search_without_torch_is_a_message_not_a_traceback(tmp_path):
    code = ("import sys\nsys.modules['torch'] = None  # as if torch were not installed\n"
            "from click.testing import CliRunner\nfrom snnc.cli import cli\n"
            "r = CliRunner(mix_stderr=False).invoke(cli, ['--help'])\nassert r.exit_code == 0\n"
            f"r = CliRunner(mix_stderr=False).invoke(cli, ['search', 'snasnet', '--out', "
            f"{str(tmp_path)!r}])\n"
            "print(r.exit_code, r.stderr)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("1 Error: snnc search needs the 'torch' package: pip install "
                          "'snnc[torch]'"), out
