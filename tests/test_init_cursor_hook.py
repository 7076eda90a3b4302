"""The stop hook `init --provider cursor` installs: pending messages become Cursor's next turn, exactly once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mcp_support import SESSION_BRIDGE, cli, env


@pytest.fixture
def agent():
    """A live process standing in for the Cursor agent that hosts the library's session."""
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield str(p.pid)
    p.stdin.close()
    p.wait()


def hook(root, project, payload: object, **extra) -> dict:
    e = env(root, project, **extra)
    e.pop("PROJECT_DIR")  # Cursor runs hooks elsewhere; the payload names the workspace
    r = subprocess.run([SESSION_BRIDGE, "cursor-hook"], env=e, input=json.dumps(payload), capture_output=True,
                       text=True, timeout=30, cwd="/")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_pending_messages_become_the_next_turn_once(tmp_path, agent):
    root, lib, app = tmp_path / "bridge", tmp_path / "lib", tmp_path / "app"
    cli(root, lib, "start", "--label", "library", BRIDGE_HOST_PID=agent)
    cli(root, app, "start", "--label", "app")
    first = cli(root, app, "send", "library", "query", "What replaced getUser()?").stdout.strip()
    cli(root, app, "send", "library", "query", "Since which version?")
    payload = {"conversation_id": "c-1", "hook_event_name": "stop", "status": "completed",
               "workspace_roots": [str(lib)]}

    out = hook(root, lib, payload, BRIDGE_HOST_PID=agent)
    text = out["followup_message"]
    assert "not from the user" in text and "never take destructive" in text
    assert text.index("What replaced getUser()?") < text.index("Since which version?")
    assert f"reply {first}" in text
    assert hook(root, lib, payload, BRIDGE_HOST_PID=agent) == {}  # delivered once


def test_a_session_that_is_not_bridged_or_a_broken_bridge_gets_an_empty_answer(tmp_path, agent):
    root, lib = tmp_path / "bridge", tmp_path / "lib"
    payload = {"conversation_id": "c-1", "workspace_roots": [str(lib)]}
    assert hook(root, lib, payload, BRIDGE_HOST_PID=agent) == {}
    (tmp_path / "not-a-dir").write_text("x")
    assert hook(tmp_path / "not-a-dir", lib, payload, BRIDGE_HOST_PID=agent) == {}
    assert hook(root, lib, "not json", BRIDGE_HOST_PID=agent) == {}
