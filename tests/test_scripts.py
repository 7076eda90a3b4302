"""The ten scripts of the reference contract (DESIGN.md): arguments, environment, output, exit codes."""

from __future__ import annotations

import orjson
import pytest

from reference import ReferenceSession


def test_register_prints_the_id_and_reuses_the_projects_session(bridge, tmp_path):
    env_file = tmp_path / "env"
    r = bridge.script("lib", "register.sh", CLAUDE_ENV_FILE=str(env_file))
    sid = r.out
    assert r.returncode == 0 and len(sid) == 6 and "\n" not in sid
    assert f"BRIDGE_SESSION_ID={sid}" in env_file.read_text()
    assert bridge.script("lib", "register.sh").out == sid
    assert (bridge.project("lib") / ".claude" / "bridge-session").read_text() == sid


def test_get_session_id(bridge):
    sid = bridge.script("lib", "register.sh").out
    assert bridge.script("lib", "get-session-id.sh").out == sid
    sub = bridge.project("lib/src/pkg")
    assert bridge.script(str(sub), "get-session-id.sh").out == sid
    r = bridge.script("elsewhere", "get-session-id.sh")
    assert (r.returncode, r.out, r.err.strip()) == (1, "", "NO_BRIDGE_SESSION")


def test_connect_peer(bridge):
    lib = bridge.script("lib", "register.sh").out
    bridge.script("app", "register.sh")
    r = bridge.script("app", "connect-peer.sh", lib)
    assert (r.returncode, r.out) == (0, f"Connected to 'lib' ({lib}) at {bridge.project('lib')}\n")
    r = bridge.script("app", "connect-peer.sh", "zzzzzz")
    assert r.returncode == 1 and "not found" in r.err


def test_send_message_writes_pending_inbox_and_sent_outbox_copies(bridge):
    lib = bridge.script("lib", "register.sh").out
    app = bridge.script("app", "register.sh").out
    r = bridge.script("app", "send-message.sh", lib, "query", "What's new?")
    mid = r.out
    assert r.returncode == 0 and mid.startswith("msg-") and "\n" not in mid
    inbox_copy = orjson.loads((bridge.root / "sessions" / lib / "inbox" / f"{mid}.json").read_bytes())
    outbox_copy = orjson.loads((bridge.root / "sessions" / app / "outbox" / f"{mid}.json").read_bytes())
    assert (inbox_copy["status"], outbox_copy["status"]) == ("pending", "sent")
    assert inbox_copy["content"] == "What's new?" and inbox_copy["inReplyTo"] is None
    reply = bridge.script("lib", "send-message.sh", app, "response", "Lots", mid).out
    assert orjson.loads((bridge.root / "sessions" / app / "inbox" / f"{reply}.json").read_bytes())["inReplyTo"] == mid
    r = bridge.script("app", "send-message.sh", "nope00", "query", "x")
    assert r.returncode == 1 and "Error: Target session nope00 not found" in r.err


def test_bridge_listen_prints_the_reference_fields(bridge):
    lib = bridge.script("lib", "register.sh").out
    app = bridge.script("app", "register.sh").out
    mid = bridge.script("app", "send-message.sh", lib, "query", "line one\nline two").out
    r = bridge.script("lib", "bridge-listen.sh", "5")
    assert r.returncode == 0
    assert r.out == (f"MESSAGE_ID={mid}\nFROM_ID={app}\nTO_ID={lib}\nFROM_PROJECT=app\nTYPE=query\nIN_REPLY_TO=\n"
                     "---\nline one\nline two\n")
    # explicit session id + timeout; nothing pending -> exit 1 after the timeout
    r = bridge.script("elsewhere", "bridge-listen.sh", lib, "1")
    assert (r.returncode, r.out) == (1, "")
    r = bridge.script("lib", "bridge-listen.sh", "nosuch", "1")
    assert r.returncode == 1 and "not found" in r.err


def test_bridge_listen_delivers_pings_unlike_the_cli(bridge):
    lib = bridge.script("lib", "register.sh").out
    app = bridge.script("app", "register.sh").out
    bridge.script("app", "connect-peer.sh", lib)
    r = bridge.script("lib", "bridge-listen.sh", "5")
    assert "TYPE=ping" in r.out and r.out.endswith("---\nconnected\n")
    assert f"FROM_ID={app}" in r.out


def test_bridge_receive(bridge):
    lib = bridge.script("lib", "register.sh").out
    app = bridge.script("app", "register.sh").out
    mid = bridge.script("app", "send-message.sh", lib, "query", "q").out
    bridge.script("lib", "send-message.sh", app, "response", "the answer", mid)
    r = bridge.script("app", "bridge-receive.sh", app, mid, "5")
    assert (r.returncode, r.out) == (0, "Response from lib:\nthe answer\n")
    r = bridge.script("app", "bridge-receive.sh", app, mid, "1")
    assert (r.returncode, r.out) == (1, "No response received after 1s. The peer may be inactive.\n")


def test_list_peers(bridge):
    assert bridge.script("x", "list-peers.sh").out == "No active bridge sessions.\n"
    lib = bridge.script("lib", "register.sh").out
    old = ReferenceSession(bridge.root, bridge.project("old"), heartbeat_age_s=600)
    lines = bridge.script("x", "list-peers.sh").out.splitlines()
    assert lines[0].split() == ["SESSION", "PROJECT", "STATUS", "PATH"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows[lib] == ["lib", "active", str(bridge.project("lib"))]
    assert rows[old.id] == ["old", "stale", str(bridge.project("old"))]


def test_check_inbox(bridge):
    assert orjson.loads(bridge.script("unbridged", "check-inbox.sh").out) == {"continue": True}
    lib = bridge.script("lib", "register.sh").out
    app = bridge.script("app", "register.sh").out
    assert orjson.loads(bridge.script("lib", "check-inbox.sh").out) == {"continue": True}
    mid = bridge.script("app", "send-message.sh", lib, "query", "Is 2.1 out?").out
    out = orjson.loads(bridge.script("lib", "check-inbox.sh").out)
    assert out["continue"] is True
    text = out["systemMessage"]
    assert text.startswith("=== CLAUDE BRIDGE: 1 pending message(s) ===")
    assert f"from 'app' ({app}) [query]" in text and "Content: Is 2.1 out?" in text
    assert f'scripts/send-message.sh" {app} response "Your answer" {mid}' in text
    assert orjson.loads(bridge.script("lib", "check-inbox.sh").out) == {"continue": True}  # marked read
    summary = orjson.loads(bridge.script("lib", "check-inbox.sh", "--summary-only").out)
    assert f"- app ({app})" in summary["systemMessage"]


def test_check_inbox_never_breaks_a_hook(bridge, tmp_path):
    bridge.script("lib", "register.sh")
    unsafe = tmp_path / "unsafe"
    unsafe.mkdir()
    unsafe.chmod(0o777)  # the bridge refuses it; the hook must still answer
    r = bridge.script("lib", "check-inbox.sh", BRIDGE_DIR=str(unsafe))
    assert r.returncode == 0 and orjson.loads(r.out) == {"continue": True}


def test_heartbeat(bridge):
    assert bridge.script("nobody", "heartbeat.sh").returncode == 0
    lib = bridge.script("lib", "register.sh").out
    manifest = bridge.root / "sessions" / lib / "manifest.json"
    m = orjson.loads(manifest.read_bytes())
    manifest.write_bytes(orjson.dumps(dict(m, lastHeartbeat="2020-01-01T00:00:00Z")))
    r = bridge.script("lib", "heartbeat.sh")
    assert (r.returncode, r.out) == (0, "")
    assert orjson.loads(manifest.read_bytes())["lastHeartbeat"] > "2026"


def test_cleanup_tells_peers_and_removes_the_session(bridge):
    lib = bridge.script("lib", "register.sh").out
    app = bridge.script("app", "register.sh").out
    bridge.script("app", "send-message.sh", lib, "query", "hi")
    gone = ReferenceSession(bridge.root, bridge.project("ancient"), heartbeat_age_s=3600)
    r = bridge.script("app", "cleanup.sh")
    assert (r.returncode, r.out) == (0, "")
    assert not (bridge.root / "sessions" / app).exists() and not gone.dir.exists()
    assert not (bridge.project("app") / ".claude" / "bridge-session").exists()
    ended = [m for m in map(lambda p: orjson.loads(p.read_bytes()),
                            (bridge.root / "sessions" / lib / "inbox").glob("*.json")) if m["type"] == "session-ended"]
    assert [(m["from"], m["content"]) for m in ended] == [(app, "Session ended")]
    assert bridge.script("app", "cleanup.sh").returncode == 0  # no session: silent


@pytest.mark.parametrize("script", ["register.sh", "get-session-id.sh", "connect-peer.sh", "send-message.sh",
                                    "bridge-listen.sh", "bridge-receive.sh", "list-peers.sh", "check-inbox.sh",
                                    "heartbeat.sh", "cleanup.sh"])
def test_scripts_are_thin(script):
    from support import SCRIPTS

    text = (SCRIPTS / script).read_text()
    assert len(text.splitlines()) <= 4 and "exec " in text and "jq" not in text
