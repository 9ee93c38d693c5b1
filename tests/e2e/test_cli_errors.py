"""How `snnc` reports failures: one line for the user's errors (exit 1), an internal-error line
with what to do for snnc's bugs (exit 2), "interrupted" for Ctrl-C (exit 130); --debug or
SNNC_DEBUG=1 adds the traceback."""
from pathlib import Path

import pytest
from click.testing import CliRunner

import snnc.compiler
from snnc.cli import cli
from snnc.errors import LoweringError

ROOT = Path(__file__).resolve().parents[2]
GENOME = str(ROOT / "examples" / "tanet-tiny.genome")


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.delenv("SNNC_DEBUG", raising=False)
    return CliRunner(mix_stderr=False)


def _raise(exc):
    def load_model(*args, **kwargs):
        raise exc
    return load_model


def _show(runner, monkeypatch, exc, *pre):
    monkeypatch.setattr(snnc.compiler, "load_model", _raise(exc))
    return runner.invoke(cli, [*pre, "show", GENOME])


def test_snnc_error_is_one_line_exit_1(runner, monkeypatch):
    res = _show(runner, monkeypatch, LoweringError("family xyz is not lowered"))
    assert res.exit_code == 1
    assert res.stderr == "snnc: error: family xyz is not lowered\n"
    assert res.stdout == ""


@pytest.mark.parametrize("exc", [ValueError("bad shape (3, 4)"), KeyError("conv"),
                                 ZeroDivisionError("division by zero"),
                                 OSError("no file named")])
def test_other_exceptions_are_internal_errors_exit_2(runner, monkeypatch, exc):
    res = _show(runner, monkeypatch, exc)
    assert res.exit_code == 2
    first, second = res.stderr.splitlines()
    assert first == f"snnc: internal error: {type(exc).__name__}: {exc}"
    assert "bug in snnc" in second and "--debug" in second
    assert "Traceback" not in res.stderr


def test_file_errors_name_the_path_exit_1(runner, monkeypatch, tmp_path):
    missing = tmp_path / "nowhere" / "model.snnir"
    res = _show(runner, monkeypatch, FileNotFoundError(2, "No such file or directory",
                                                       str(missing)))
    assert res.exit_code == 1
    assert res.stderr == f"snnc: error: {missing}: No such file or directory\n"
    # a real one: writing into a folder that does not exist
    res = runner.invoke(cli, ["zoo", "tanet-tiny", "-o", str(missing)])
    assert res.exit_code == 1, res.stderr
    assert res.stderr.startswith("snnc: error: ") and str(missing.parent) in res.stderr
    assert "Traceback" not in res.stderr


def test_keyboard_interrupt_exit_130(runner, monkeypatch):
    res = _show(runner, monkeypatch, KeyboardInterrupt())
    assert res.exit_code == 130
    assert res.stderr == "snnc: interrupted\n"


@pytest.mark.parametrize("how", ["option", "env"])
def test_debug_shows_the_traceback(runner, monkeypatch, how):
    pre = ("--debug",) if how == "option" else ()
    if how == "env":
        monkeypatch.setenv("SNNC_DEBUG", "1")
    res = _show(runner, monkeypatch, ZeroDivisionError("division by zero"), *pre)
    assert res.exit_code == 2
    assert res.stderr.startswith("Traceback (most recent call last):")
    assert "in load_model" in res.stderr
    assert res.stderr.splitlines()[-2] == "snnc: internal error: ZeroDivisionError: division by zero"
    res = _show(runner, monkeypatch, LoweringError("family xyz is not lowered"), *pre)
    assert res.exit_code == 1
    assert "Traceback" in res.stderr
    assert res.stderr.endswith("snnc: error: family xyz is not lowered\n")


def test_debug_off_by_zero(runner, monkeypatch):
    monkeypatch.setenv("SNNC_DEBUG", "0")
    res = _show(runner, monkeypatch, ZeroDivisionError("division by zero"))
    assert res.exit_code == 2 and "Traceback" not in res.stderr


def test_usage_errors_stay_click_errors(runner):
    res = runner.invoke(cli, ["zoo", "-o", "x.genome"])
    assert res.exit_code == 2
    assert "-o needs a preset NAME" in res.stderr and "internal error" not in res.stderr
