"""Every command that the README, the docs, the model cards, the scripts, the app, the dashboard or an error
message tells a user to type (``python -m training VERB``, ``python -m training.speedrun``, ``cvzoo VERB``,
``python -m pblite VERB``) names a verb the real argument parser has, and parses with the arguments shown
where those are literal (a hint like ``training evaluate`` cannot ship again)."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable

import pytest

from pblite.cli import build_parser as pblite_parser
from tests.conftest import ROOT
from training.cli import build_parser as training_parser
from training.speedrun import build_parser as speedrun_parser
from zoo.cli import build_parser as cvzoo_parser

SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "training").glob("*.md")),
           *sorted((ROOT / "pblite").glob("*.md")), *sorted((ROOT / "demos").glob("*.md")),
           *sorted((ROOT / "zoo" / "weights").glob("*/README.md")), *sorted((ROOT / "scripts").glob("*.sh")),
           *sorted((ROOT / "demos").rglob("*.py")), *sorted((ROOT / "training").rglob("*.py")),
           *sorted((ROOT / "zoo").rglob("*.py")), *sorted((ROOT / "pblite").rglob("*.py"))]
END = r"([^`\"'\n|]*)"
# (how the command is written, its parser, whether the first word is a sub-command)
PROGRAMS: dict[str, tuple[re.Pattern[str], Callable[[], argparse.ArgumentParser], bool]] = {
    "python -m training": (re.compile(r"python -m training ([a-z][a-z-]*)" + END), training_parser, True),
    "python -m training.speedrun": (re.compile(r"python -m training\.speedrun()" + END), speedrun_parser, False),
    "cvzoo": (re.compile(r"(?:^|`|\$ |bin/)(?:cvzoo|python -m zoo) ([a-z][a-z-]*)" + END, re.M), cvzoo_parser, True),
    "python -m pblite": (re.compile(r"python -m pblite ([a-z][a-z-]*)" + END), pblite_parser, True),
}


def _verbs(parser: argparse.ArgumentParser) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def _told() -> list[tuple[str, str, str, str | None]]:
    """(program, file, verb, arguments); the arguments are None where the command wraps onto the next line."""
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for program, (pattern, _, _) in PROGRAMS.items():
            for m in pattern.finditer(text):
                # wrapped: at a line break, a shell continuation, or a Python string that goes on in the next
                # literal ("... --out " "...")
                wrapped = (m.end() == len(text) or text[m.end()] == "\n" or m.group(2).endswith((" ", "\\"))
                           or m.group(2).rstrip().endswith("\\"))
                found.append((program, f"{path.relative_to(ROOT)}", m.group(1), None if wrapped else m.group(2)))
    return found


def test_the_sources_tell_commands():
    """The scan finds each program's commands (a broken pattern would pass everything below)."""
    counts = {program: sum(1 for t in _told() if t[0] == program) for program in PROGRAMS}
    assert counts["python -m training"] > 20 and min(counts.values()) >= 3, counts


@pytest.mark.parametrize(("program", "where", "verb", "rest"), _told(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_told_command_parses(program, where, verb, rest):
    _, make_parser, has_verbs = PROGRAMS[program]
    parser = make_parser()
    if has_verbs:
        assert verb in _verbs(parser), f"{where} tells users to run `{program} {verb}`, which does not exist"
    if rest is None:
        return  # wrapped onto the next line: the verb is checked
    args = rest.split("#")[0].strip().rstrip(".,;:)")
    if not args or any(c in args for c in "{}<>[]$…") or "..." in args:
        return  # a mention of the verb, or placeholders: the verb is checked
    try:
        words = shlex.split(args)
    except ValueError:
        return
    # an upper-case placeholder (RUN_DIR, N) stands for a value: "1" is a valid path and number
    argv = ([verb] if has_verbs else []) + [("1" if re.fullmatch(r"[A-Z][A-Z_0-9]*", w) else w) for w in words]
    try:
        parser.parse_args(argv)
    except (SystemExit, argparse.ArgumentError) as exc:
        pytest.fail(f"{where}: `{program} {' '.join(argv)}` does not parse ({exc})")
