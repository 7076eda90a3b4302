"""Driving a peer that runs in tmux, through the front-ends: `read-peer`, `detect-question`, `respond` and `push` (and
their MCP tools, with the same JSON keys), and `watch --driver tmux`, the notifier that pastes a pointer into the
agent's pane when it is idle. Real tmux, a real bridge, a fake agent drawing Claude Code's screens
(tests/tmux_support.py; the real Claude Code TUI is driven in tests/test_tmux_driver.py)."""

from __future__ import annotations

import subprocess

import anyio
import orjson
from mcp import Client

from support import CLI, wait_until
from tmux_support import CLAUDE_BUSY, CLAUDE_IDLE, CLAUDE_MENU, Tmux, fake_agent, read

from bridge.mcp import tools


def in_pane(bridge, hosts, tmux: Tmux, pane, project: str) -> dict:
    """Start `project`'s session as if its agent ran in `pane` (the hooks and commands see $TMUX and $TMUX_PANE);
    the environment to act as that agent."""
    env = dict(TMUX=f"{tmux.socket},1,0", TMUX_PANE=pane.pane, BRIDGE_HOST_PID=hosts("claude").pid)
    bridge.cli(project, "start", "--label", project, check=True, **env)
    return env


def json_of(r) -> dict:
    assert r.returncode == 0, r.err + r.out
    return orjson.loads(r.stdout)


def state_of(bridge, msg_id: str) -> str:
    """The delivery state app's outbox shows for one message."""
    return {m["id"]: m["state"] for m in json_of(bridge.cli("app", "outbox", "--json"))["messages"]}[msg_id]


def mcp_call(bridge, monkeypatch, project: str, tool: str, **args) -> dict:
    async def main():
        async with Client(tools.server) as client:
            bridge.use(project, monkeypatch)
            r = await client.call_tool(tool, args)
            assert not r.is_error, r.content[0].text
            return r.structured_content

    return anyio.run(main)


def test_read_and_detect_a_peer_screen_the_same_through_the_cli_and_mcp(bridge, hosts, tmux, tmp_path, monkeypatch):
    pane, _ = fake_agent(tmux, tmp_path, CLAUDE_IDLE, "web")
    in_pane(bridge, hosts, tmux, pane, "web")
    bridge.start("app", "app")
    screen = json_of(bridge.cli("app", "read-peer", "web", "--json"))
    assert "Claude Code v2.1.329" in screen["screen"]
    over_mcp = mcp_call(bridge, monkeypatch, "app", "bridge_read_peer", peer="web")
    assert set(over_mcp) == set(screen) and over_mcp["screen"] == screen["screen"]
    found = json_of(bridge.cli("app", "detect-question", "web", "--json"))
    assert found["state"] == "idle" and found["options"] == []
    assert mcp_call(bridge, monkeypatch, "app", "bridge_detect_question", peer="web") == found
    assert bridge.cli("app", "detect-question", "web").out.startswith("idle")


def test_respond_answers_a_permission_menu_and_refuses_what_the_screen_does_not_ask(bridge, hosts, tmux, tmp_path,
                                                                                   monkeypatch):
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_MENU, "ops")
    in_pane(bridge, hosts, tmux, pane, "ops")
    bridge.start("app", "app")
    found = json_of(bridge.cli("app", "detect-question", "ops", "--json"))
    assert found["state"] == "menu" and found["question"] == "Do you want to proceed?"
    assert [o["number"] for o in found["options"]] == [1, 2, 3, 4]
    refused = bridge.cli("app", "respond", "ops", "--text", "rm -rf ~")  # a menu takes a choice, not text
    assert refused.returncode == 1 and refused.out.startswith("refused:")
    over_mcp = mcp_call(bridge, monkeypatch, "app", "bridge_respond", peer="ops", text="yes")
    assert over_mcp["status"] == "refused"
    sent = json_of(bridge.cli("app", "respond", "ops", "--choice", "2", "--json"))
    assert set(sent) == set(over_mcp) and sent["status"] == "sent"
    wait_until(lambda: read(log).endswith(b"2"), 30, "the choice reaches the agent")
    assert b"rm -rf" not in read(log) and b"yes" not in read(log)


def test_watch_pastes_a_pointer_into_an_idle_pane_and_waits_while_the_agent_is_busy(bridge, hosts, tmux, tmp_path):
    busy, busy_log = fake_agent(tmux, tmp_path, CLAUDE_BUSY, "busy")
    idle, idle_log = fake_agent(tmux, tmp_path, CLAUDE_IDLE, "idle")
    notifiers = []
    try:
        for project, pane in (("worker", busy), ("web", idle)):
            env = in_pane(bridge, hosts, tmux, pane, project)
            bridge.cli(project, "delivery", "tmux", check=True, **env)
            notifiers.append(subprocess.Popen([*CLI, "watch", "--driver", "tmux"], stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE,
                                              env=bridge.env(project, BRIDGE_NOTIFIER_RECHECK="0.5", **env)))
        bridge.start("app", "app")
        body = "what changed in v2?\nSECRET-BODY"
        to_web = bridge.cli("app", "send", "web", "query", body, check=True).out.strip()
        to_worker = bridge.cli("app", "send", "worker", "query", body, check=True).out.strip()
        got = wait_until(lambda: read(idle_log) if read(idle_log).endswith(b"\r") else None, 60, "a pointer")
        assert got.startswith(b"\x1b[200~session-bridge: query " + to_web.encode())  # one bracketed paste, then Enter
        assert b'"what changed in v2?"' in got and b"SECRET-BODY" not in got and got.count(b"\r") == 1
        wait_until(lambda: state_of(bridge, to_web) == "noticed", 30, "noticed once pasted (not read)")
        wait_until(lambda: any("not now" in p.read_text() for p in bridge.root.glob("logs/tmux-*.log")), 60,
                   "the busy agent's notifier says it waits")
        assert read(busy_log) == b"" and state_of(bridge, to_worker) == "queued"  # nothing typed into a busy agent
    finally:
        for n in notifiers:
            n.kill()
            n.wait()
