"""Who is calling: the agent process above the caller hosts the session, whatever shells sit in between."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from bridge import layout
from support import CLI


def fake_agent(tmp_path, name: str) -> str:
    """An executable whose process name is `name` (a symlink to Python), like the `claude` CLI."""
    d = tmp_path / "agents" / name
    d.mkdir(parents=True, exist_ok=True)
    link = d / name
    if not link.exists():
        link.symlink_to(sys.executable)
    return str(link)


def manifest(bridge, sid: str) -> dict:
    """The session's manifest on disk (the host pid and the agent's session id are recorded there, not shown)."""
    return orjson.loads((bridge.root / layout.SESSIONS / sid / layout.MANIFEST).read_bytes())


def run_under(agent: str, bridge, project: str, *args: str) -> dict:
    """Run the CLI the way an agent's shell tool does: agent -> bash -c -> session-bridge."""
    env = bridge.env(project)
    env.pop("BRIDGE_HOST_PID")
    inner = " ".join([*CLI, *args])
    code = f"import subprocess, sys; sys.exit(subprocess.run(['bash', '-c', {inner!r}]).returncode)"
    r = subprocess.run([agent, "-c", code], env=env, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return orjson.loads(r.stdout)


def test_the_agent_above_the_shell_hosts_the_session(bridge, tmp_path):
    claude = fake_agent(tmp_path, "claude")
    s = run_under(claude, bridge, "lib", "start", "--json")["session"]
    assert s["host"] == "claude-code"
    m = manifest(bridge, s["session_id"])
    assert (m["host"], m["projectPath"]) == ("claude-code", str(bridge.project("lib")))
    assert isinstance(m["pid"], int) and m["pid"] != os.getpid()  # the agent process, not this test


def test_each_agent_cli_is_recognised(bridge, tmp_path):
    for name, host in [("codex", "codex"), ("gemini", "gemini-cli"), ("opencode", "opencode")]:
        s = run_under(fake_agent(tmp_path, name), bridge, f"repo-{name}", "start", "--json")["session"]
        assert s["host"] == host


def live_agent(agent: str, bridge, project: str) -> tuple[subprocess.Popen, dict]:
    """An agent that runs `start` through its shell and stays alive until its stdin closes."""
    env = bridge.env(project)
    env.pop("BRIDGE_HOST_PID")
    inner = " ".join([*CLI, "start", "--json"])
    code = f"import subprocess, sys; subprocess.run(['bash', '-c', {inner!r}]); sys.stdout.flush(); sys.stdin.read()"
    p = subprocess.Popen([agent, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    lines = []
    while not (lines and lines[-1].startswith(b"}")):
        lines.append(p.stdout.readline())
    return p, orjson.loads(b"".join(lines))["session"]


def test_two_live_agents_in_one_repo_are_two_sessions_and_a_restarted_one_resumes(bridge, tmp_path):
    claude = fake_agent(tmp_path, "claude")
    a, first = live_agent(claude, bridge, "repo")
    b, second = live_agent(claude, bridge, "repo")
    try:
        assert first["session_id"] != second["session_id"]
        assert manifest(bridge, first["session_id"])["pid"] != manifest(bridge, second["session_id"])["pid"]
    finally:
        for p in (a, b):
            p.stdin.close()
            p.wait()
    resumed = run_under(claude, bridge, "repo", "start", "--json")  # both agents gone: the session is taken over
    assert resumed["created"] is False
    assert resumed["session"]["session_id"] in (first["session_id"], second["session_id"])


def test_agent_session_id_is_recorded(bridge, tmp_path):
    r = bridge.cli("lib", "start", "--json", check=True, CLAUDE_CODE_SESSION_ID="c0ffee-1234")
    sid = orjson.loads(r.stdout)["session"]["session_id"]
    assert manifest(bridge, sid)["agentSessionId"] == "c0ffee-1234"
