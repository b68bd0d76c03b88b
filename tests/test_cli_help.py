"""Every command's --help, in-process: it exits 0, lists every option the parser defines, and
never imports the heavy libraries (the CLI imports the API only when a command runs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from churnlens import cli

COMMANDS = ("demo", "report", "explain", "segment", "evaluate", "validate", "customer")


def _options(command: str) -> list[str]:
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    return [s for a in sub.choices[command]._actions for s in a.option_strings if s.startswith("--")]


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: churnlens {command}")
    options = _options(command)
    assert "--help" in options and len(options) >= 3
    for option in options:
        assert option in out, option


def test_help_does_not_import_the_library():
    code = ("import sys\nfrom churnlens import cli\ntry:\n    cli.main(['report', '--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('churnlens.api', 'lightgbm', 'shap', 'pandas') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd="/")
