"""Auto-mode waking a live session through the tmux driver: real tmux, a fake agent drawing Claude Code's idle and
busy screens (tests/tmux_support.py), a real `auto run`. A pointer is pasted into the idle pane (never the body),
nothing is typed into a busy one, and a message past the hop limit is never pushed."""

from __future__ import annotations

import json
import subprocess

from support import CLI, wait_until
from tmux_support import CLAUDE_BUSY, CLAUDE_IDLE, Tmux, fake_agent, read


def in_room(bridge, hosts, tmux: Tmux, pane, role: str) -> None:
    """Start role@shop's session as if its agent ran in `pane`."""
    env = dict(TMUX=f"{tmux.socket},1,0", TMUX_PANE=pane.pane, BRIDGE_HOST_PID=hosts("claude").pid)
    bridge.cli(role, "start", "--json", check=True, BRIDGE_ROOM="shop", BRIDGE_ROLE=role, **env)


def events(bridge, event: str, role: str) -> list[dict]:
    path = bridge.root / "logs" / "auto.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["event"] == event and e["role"] == role]


def test_auto_mode_pushes_a_pointer_into_an_idle_pane_and_waits_for_a_busy_one(bridge, hosts, tmux, tmp_path):
    idle, idle_log = fake_agent(tmux, tmp_path, CLAUDE_IDLE, "idle")
    busy, busy_log = fake_agent(tmux, tmp_path, CLAUDE_BUSY, "busy")
    in_room(bridge, hosts, tmux, idle, "web")
    in_room(bridge, hosts, tmux, busy, "infra")
    bridge.cli("boss", "start", check=True, BRIDGE_ROOM="shop", BRIDGE_ROLE="manager")
    bridge.cli("admin", "auto", "on", "shop", check=True)
    bridge.cli("admin", "auto", "on", "shop", "infra", check=True)
    runner = subprocess.Popen([*CLI, "auto", "run"], env=bridge.env("admin"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        to_web = bridge.cli("boss", "send", "web", "query", "what changed?\nSECRET-BODY", check=True).out.strip()
        got = wait_until(lambda: read(idle_log) if read(idle_log).endswith(b"\r") else None, 60, "a pointer")
        assert got.startswith(b"\x1b[200~session-bridge: query " + to_web.encode()) and b"SECRET-BODY" not in got
        woke = wait_until(lambda: events(bridge, "woke", "web"), 30, "the wake logged")
        assert woke[0]["driver"] == "tmux" and woke[0]["msg"] == to_web
        bridge.cli("boss", "send", "infra", "query", "deploy?", check=True)
        wait_until(lambda: events(bridge, "later", "infra"), 60, "the busy pane left alone, to be tried later")
        assert read(busy_log) == b""
    finally:
        runner.terminate()
        runner.wait(timeout=30)
