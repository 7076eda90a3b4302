"""Fixtures: a private bridge dir per test (`bridge`), and stand-in agent processes (`hosts`). Helpers are in
support.py.

Every session created by a test (in-process or through a subprocess) is hosted by this pytest process
(BRIDGE_HOST_PID), so the in-process core and the CLI agree on who "this session" is.
"""

from __future__ import annotations

import os

import pytest

from support import BIN, Bridge, Host

os.environ["BRIDGE_HOST_PID"] = str(os.getpid())
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.pop("BRIDGE_SESSION_ID", None)
os.environ.pop("CLAUDE_ENV_FILE", None)


@pytest.fixture
def bridge(tmp_path, monkeypatch) -> Bridge:
    """A private bridge dir (BRIDGE_DIR) for this test, acting as project "default" in-process."""
    b = Bridge(tmp_path)
    monkeypatch.setenv("BRIDGE_DIR", str(b.root))
    monkeypatch.setenv("PROJECT_DIR", str(b.project("default")))
    return b


@pytest.fixture
def hosts(tmp_path):
    """hosts() makes a live stand-in agent process (hosts("claude"): one that looks like Claude Code); all are
    ended after the test."""
    made: list[Host] = []

    def make(agent: str | None = None) -> Host:
        made.append(Host(agent, tmp_path))
        return made[-1]

    yield make
    for h in made:
        if h.proc.poll() is None:
            h.exit()


@pytest.fixture
def tmux(tmp_path):
    """A private tmux server (tests/tmux_support.py), killed after the test; tmux itself is required."""
    from support import require_tool
    from tmux_support import Tmux, clean_env

    require_tool("tmux")
    t = Tmux(tmp_path, clean_env(tmp_path))
    yield t
    t.kill()
