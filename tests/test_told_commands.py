"""Every ``python -m training VERB ...`` that the README, the docs, the demos or an error message tells a
user to type names a verb the real argument parser has, and parses with the arguments shown where those are
literal (a hint like ``training evaluate`` cannot ship again)."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from tests.conftest import ROOT
from training.cli import build_parser

SOURCES = [ROOT / "README.md", *sorted((ROOT / "training").glob("*.md")), *sorted((ROOT / "demos").rglob("*.py")),
           *sorted((ROOT / "training").rglob("*.py")), *sorted((ROOT / "zoo").rglob("*.py"))]
COMMAND = re.compile(r"python -m training ([a-z][a-z-]*)([^`\"'\n|]*)")


def _verbs() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # argparse keeps subparsers here
    return set(sub.choices)


def _told() -> list[tuple[str, str, str | None]]:
    """(file, verb, arguments); the arguments are None where the command wraps onto the next line."""
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for m in COMMAND.finditer(text):
            # wrapped: at a line break, or a Python string that goes on in the next literal ("... --out " "...")
            wrapped = m.end() == len(text) or text[m.end()] == "\n" or m.group(2).endswith(" ")
            found.append((f"{path.relative_to(ROOT)}", m.group(1), None if wrapped else m.group(2)))
    return found


def test_the_sources_tell_commands():
    assert len(_told()) > 20  # the scan finds the commands (a broken pattern would pass everything below)


@pytest.mark.parametrize(("where", "verb", "rest"), _told(), ids=lambda v: v if isinstance(v, str) else None)
def test_told_command_parses(where, verb, rest):
    assert verb in _verbs(), f"{where} tells users to run `python -m training {verb}`, which does not exist"
    if rest is None:
        return  # wrapped onto the next line: the verb is checked
    args = rest.split("#")[0].strip().rstrip(".,;:)")
    if not args or any(c in args for c in "{}<>[]$…") or "..." in args:
        return  # placeholders: the verb is checked
    try:
        argv = [verb, *shlex.split(args)]
    except ValueError:
        return
    try:
        build_parser().parse_args(argv)
    except (SystemExit, argparse.ArgumentError) as exc:
        pytest.fail(f"{where}: `python -m training {' '.join(argv)}` does not parse ({exc})")
