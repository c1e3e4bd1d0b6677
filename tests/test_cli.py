import subprocess
import sys

import pytest

from semantic_restore.cli import SUBCOMMANDS, main
from semantic_restore.version import __version__


def _run(*args):
    return subprocess.run([sys.executable, "-m", "semantic_restore", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_subcommands():
    out = _run("--help")
    assert out.returncode == 0
    for name in SUBCOMMANDS:
        assert name in out.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["frobnicate"], [], ["colorize"], ["colorize", "a.png", "-o"], ["bench", "nope"]])
def test_bad_arguments_one_line_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error:" in err and "Traceback" not in err


def test_user_errors_one_line_not_traceback(tmp_path):
    out = _run("colorize", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png"), "--reference", "r.png")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and out.stderr.strip().count("\n") == 0
    assert "does not exist" in out.stderr


def test_output_is_never_overwritten(tmp_path, capsys):
    existing = tmp_path / "o.png"
    existing.write_bytes(b"precious")
    code = main(["colorize", "in.png", "-o", str(existing), "--reference", "r.png"])
    assert code == 1 and "already exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"precious"
