"""Every ``notifier`` command shown in runbook.md and README.md is one the CLI accepts.

The runbook's commands were run as written; this keeps them true when an option is renamed.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from notifier.cli import _parser

REPO = Path(__file__).resolve().parents[2]
SHELL_VARIABLES = {"$job": "appointment_reminders", "$t": "2026-03-08T10:00:00Z"}
STOP_TOKENS = {"|", "2>&1", ">", ">>", "&&", ";"}


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for name in ("runbook.md", "README.md"):
        for block in re.findall(r"```bash\n(.*?)```", (REPO / name).read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                if not re.search(r"\bnotifier\b", line):
                    continue
                words = shlex.split(line, comments=True)
                while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                    words.pop(0)  # VAR=value prefixes
                if words and words[0].endswith("notifier"):
                    found.append((name, line.strip()))
    return found


def argv(line: str) -> list[str]:
    words = [SHELL_VARIABLES.get(w, w) for w in shlex.split(line, comments=True)]
    while re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words.pop(0)
    cut = next((i for i, w in enumerate(words) if w in STOP_TOKENS), len(words))
    return words[1:cut]


def test_the_documents_show_every_command() -> None:
    shown = {argv(line)[0] for _, line in documented_commands()}
    assert shown >= {"check", "migrate", "worker", "run", "preview", "upcoming", "dev"}


@pytest.mark.parametrize(("document", "line"), documented_commands())
def test_the_cli_accepts_the_documented_command(document: str, line: str) -> None:
    _parser().parse_args(argv(line))
