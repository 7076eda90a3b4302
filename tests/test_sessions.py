"""Sessions: register and resume, who the caller is, naming peers, liveness, gc."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
import pytest

from bridge import layout, message, sessions
from bridge.cli import WORDS
from bridge.errors import BridgeError, PeerNotFound

REFERENCE_KEYS = {"sessionId", "projectName", "projectPath", "startedAt", "lastHeartbeat", "status", "capabilities"}


def test_start_writes_a_reference_readable_manifest_pointer_and_env_file(bridge, monkeypatch, tmp_path):
    env_file = tmp_path / "claude.env"
    monkeypatch.setenv("CLAUDE_ENV_FILE", str(env_file))
    s, created = sessions.register(layout.bridge_dir(), "library")
    assert created and len(s.id) == 6 and all(c in "abcdefghijklmnopqrstuvwxyz0123456789" for c in s.id)
    m = orjson.loads((s.dir / "manifest.json").read_bytes())
    assert REFERENCE_KEYS <= m.keys() and m["status"] == "active"
    assert m["projectPath"] == str(bridge.project("default")) and m["projectName"] == "default"
    assert m["pid"] == os.getpid() and m["label"] == "library"
    assert (bridge.project("default") / ".claude" / "bridge-session").read_text() == s.id  # no newline
    assert env_file.read_text() == f"export BRIDGE_SESSION_ID={s.id}\n"
    assert (s.dir / "manifest.json").stat().st_mode & 0o777 == 0o600


def test_start_again_resumes_the_same_session(bridge):
    a, created_a = sessions.register(layout.bridge_dir())
    b, created_b = sessions.register(layout.bridge_dir(), "lib")
    assert (created_a, created_b) == (True, False) and a.id == b.id
    assert sessions.current(layout.bridge_dir()).manifest["label"] == "lib"


def test_a_subdirectory_resolves_to_the_projects_session(bridge, monkeypatch):
    s, _ = sessions.register(layout.bridge_dir())
    sub = bridge.project("default") / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.setenv("PROJECT_DIR", str(sub))
    assert sessions.current(layout.bridge_dir()).id == s.id


def test_two_agents_in_one_repo_get_two_sessions(bridge):
    """Each agent process hosts its own session even in the same project directory."""
    hosts = [subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
             for _ in range(2)]
    try:
        ids = [
            orjson.loads(bridge.cli("repo", "start", "--json", check=True, BRIDGE_HOST_PID=str(h.pid)).stdout)[
                "session"]["session_id"] for h in hosts]
        assert ids[0] != ids[1]
        again = [orjson.loads(bridge.cli("repo", "whoami", "--json", check=True, BRIDGE_HOST_PID=str(h.pid)).stdout)[
            "session"]["session_id"] for h in hosts]
        assert again == ids
    finally:
        for h in hosts:
            h.stdin.close()
            h.wait()


def test_a_taken_label_is_refused(bridge, monkeypatch):
    sessions.register(layout.bridge_dir(), "lib")
    monkeypatch.setenv("PROJECT_DIR", str(bridge.project("other")))
    with pytest.raises(BridgeError, match="label 'lib' is taken"):
        sessions.register(layout.bridge_dir(), "lib")


def _session_in(bridge, monkeypatch, project: str, label: str | None = None):
    monkeypatch.setenv("PROJECT_DIR", str(bridge.project(project)))
    return sessions.register(layout.bridge_dir(), label)[0]


def test_peers_by_id_prefix_label_and_project_name(bridge, monkeypatch):
    lib = _session_in(bridge, monkeypatch, "library-repo", "lib")
    me = _session_in(bridge, monkeypatch, "app")
    root = layout.bridge_dir()
    for name in (lib.id, lib.id[:3], "lib", "library-repo"):
        assert sessions.find_peer(root, name, me).id == lib.id


def test_unknown_peer_error_lists_the_live_sessions(bridge, monkeypatch):
    lib = _session_in(bridge, monkeypatch, "library-repo", "lib")
    me = _session_in(bridge, monkeypatch, "app")
    with pytest.raises(PeerNotFound) as e:
        sessions.find_peer(layout.bridge_dir(), "backend", me)
    assert f"live sessions: {lib.id} (library-repo, lib)" in str(e.value) and e.value.next.action == "peers"
    assert e.value.worded(WORDS).endswith("; see: session-bridge peers")  # as the CLI says it


@pytest.mark.parametrize("name", ["../../etc", "a/b", "..", ""])
def test_peer_names_that_look_like_paths_are_refused(bridge, name):
    with pytest.raises(PeerNotFound, match="invalid peer name"):
        sessions.find_peer(layout.bridge_dir(), name, None)


def test_ambiguous_peer_names_ask_for_the_id(bridge, monkeypatch):
    _session_in(bridge, monkeypatch, "a/svc")
    _session_in(bridge, monkeypatch, "b/svc")
    me = _session_in(bridge, monkeypatch, "app")
    with pytest.raises(PeerNotFound, match="matches several sessions.*name one by its id"):
        sessions.find_peer(layout.bridge_dir(), "svc", me)


def _manifest(heartbeat_age_s: float, **extra) -> dict:
    hb = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - heartbeat_age_s))
    return {"sessionId": "ref001", "lastHeartbeat": hb, **extra}


def test_liveness_without_pid_follows_the_heartbeat():
    assert sessions.liveness(_manifest(10)) == "active"
    assert sessions.liveness(_manifest(6 * 60)) == "stale"
    assert sessions.liveness(_manifest(31 * 60)) == "gone"
    assert not sessions.removable(_manifest(6 * 60)) and sessions.removable(_manifest(31 * 60))


def test_liveness_with_pid_follows_the_process_even_if_pid_is_reused():
    assert sessions.liveness(_manifest(99999, pid=os.getpid(), pidStartedAt=sessions.identity.this_process().started)) == "active"
    assert sessions.liveness(_manifest(0, pid=os.getpid(), pidStartedAt=1.0)) == "gone"  # same pid, other process


def test_gc_removes_long_gone_sessions_and_their_pointers(bridge, monkeypatch):
    s = _session_in(bridge, monkeypatch, "old")
    keep = _session_in(bridge, monkeypatch, "fresh")
    old_hb = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    sessions.update(s, pid=None, lastHeartbeat=old_hb)
    report = sessions.gc(layout.bridge_dir())
    assert report["removed"] == [s.id]
    assert not s.dir.exists() and keep.dir.exists()
    assert not (bridge.project("old") / ".claude" / "bridge-session").exists()


def test_heartbeat_refresh_is_rate_limited(bridge):
    s, _ = sessions.register(layout.bridge_dir())
    before = s.manifest["lastHeartbeat"]
    sessions.touch(s)
    assert s.manifest["lastHeartbeat"] == before
    sessions.update(s, lastHeartbeat="2020-01-01T00:00:00Z")
    sessions.touch(s)
    assert message.parse_iso(s.manifest["lastHeartbeat"]) > time.time() - 5
