"""Helpers for tests that play Claude Code: stand-in host processes and the recorded hook payloads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

PAYLOADS = Path(__file__).with_name("fixtures") / "claude_hooks"


class Host:
    """A stand-in for one Claude Code process (BRIDGE_HOST_PID): alive until exit()."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        self.pid = str(self.proc.pid)

    def exit(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


@pytest.fixture
def hosts():
    """hosts() makes a live stand-in Claude process; all are ended after the test."""
    made: list[Host] = []

    def make() -> Host:
        made.append(Host())
        return made[-1]

    yield make
    for h in made:
        if h.proc.poll() is None:
            h.exit()


def payload(event: str, project: Path, **fields) -> bytes:
    """The recorded stdin of a Claude Code hook event, with cwd and the given fields replaced."""
    data = orjson.loads((PAYLOADS / f"{event}.json").read_bytes())
    data.update(cwd=str(project), **fields)
    return orjson.dumps(data)
