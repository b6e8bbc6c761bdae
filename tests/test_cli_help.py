"""`dspark-chat --help`, per-command help, --version and NO_COLOR, through the installed console script."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest

from dspark_chat.app.cli import build_parser
from dspark_chat.app.cli_help import EXIT_CODES

from .clitools import ROOT, run_cli, run_in_terminal

SGR = re.compile(rb"\x1b\[[0-9;]*m")  # colour and style escape sequences
COLOUR = re.compile(rb"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[25];[0-9;]+)m")


def registered_commands() -> list[str]:
    _, names, _ = build_parser()
    return sorted(names)


def test_main_help_lists_commands_examples_and_every_exit_code():
    r = run_cli("--help")
    assert r.returncode == 0 and r.stderr == ""
    out = r.stdout
    for name in registered_commands():
        assert re.search(rf"^\s+{name}\s+\S", out, re.M), f"{name} missing from the command list"
    assert "examples:" in out and "environment:" in out and "NO_COLOR" in out
    listed = dict(re.findall(r"^\s+(\d+)\s+(\S.*)$", out.split("exit codes:")[1].split("environment:")[0], re.M))
    assert {int(c) for c in listed} == {code for code, _ in EXIT_CODES}


@pytest.mark.parametrize("command", registered_commands())
def test_each_command_has_help_with_examples_and_verbose(command):
    r = run_cli(command, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: dspark-chat {command}")
    assert "--verbose" in r.stdout
    assert "Exit codes:" in r.stdout
    assert "examples:" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_version_names_the_engine_it_runs_on():
    r = run_cli("--version")
    assert r.returncode == 0
    line = r.stdout.strip()
    assert line.startswith(f"dspark-chat {version('dspark-chat')} ")
    assert f"llama-cpp-python {version('llama-cpp-python')}" in line
    assert "Python 3." in line


def test_docs_list_every_exit_code():
    text = (ROOT / "docs" / "cli.md").read_text()
    for code, _ in EXIT_CODES:
        assert re.search(rf"^\|\s*{code}\s*\|", text, re.M), f"exit code {code} missing from docs/cli.md"


def test_colour_on_a_terminal_and_none_with_no_color():
    code, coloured = run_in_terminal("doctor", "--no-load", env={"NO_COLOR": None})
    assert code == 0
    assert COLOUR.search(coloured), "a terminal without NO_COLOR should get colour (else this test proves nothing)"
    code, plain = run_in_terminal("doctor", "--no-load", env={"NO_COLOR": "1"})
    assert code == 0
    assert not SGR.search(plain), plain[:400]
    assert b"native DSpark API" in plain


def test_no_color_wins_over_force_color_and_pipes_get_no_colour():
    r = run_cli("doctor", "--no-load", env={"NO_COLOR": "1", "FORCE_COLOR": "1"})
    assert "\x1b[" not in r.stdout
    r = run_cli("doctor", "--no-load", env={"NO_COLOR": None, "FORCE_COLOR": None})
    assert "\x1b[" not in r.stdout


def test_progress_is_live_on_a_terminal_and_plain_in_pipes(smollm_q4):
    args = ("ask", "--raw", "Hello", "--target", smollm_q4, "--drafter", "none", "--max-tokens", "2",
            "--temperature", "0")
    code, screen = run_in_terminal(*args, env={"NO_COLOR": None})
    assert code == 0, screen[-600:]
    assert "✓ loading".encode() in SGR.sub(b"", screen)  # a finished phase, drawn by the live display
    r = run_cli(*args)
    assert r.returncode == 0
    assert f"dspark-chat: loading {smollm_q4.name}" in r.stderr_lines
    assert "\x1b[" not in r.stderr
    quiet = run_cli(*args, "--json")
    assert quiet.returncode == 0 and quiet.stderr == ""
