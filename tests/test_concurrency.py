"""Sessions under concurrency and crashes, with real processes: concurrent starts agree on one session and one
label holder, manifest updates never undo each other, a stop is one rename and gc finishes whatever a killed stop or
start left, hostile manifest and pointer files hang nothing, and everything is private whatever the umask.

Workers wait at a barrier (tests/procs.py: they say ready, then block until their stdin closes), so their racing
steps start together; a subprocess timeout is the only hang detector."""

from __future__ import annotations

from contextlib import contextmanager

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from bridge import layout, sessions
from bridge.errors import NoSession
from bridge.sessions import Session

from support import CLI

PROCS = str(Path(__file__).with_name("procs.py"))
HANG_S = 20  # a command that takes this long is stuck (they take well under a second)


def together(bridge, workers: list[tuple[str, list[str]]], timeout: float = 120) -> list[dict]:
    """Run procs.py workers [(project, args)], release them at once from the barrier, and return each one's last
    JSON report."""
    procs = [subprocess.Popen([sys.executable, PROCS, *args], env=bridge.env(project), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for project, args in workers]
    try:
        for p in procs:
            line = p.stdout.readline()
            assert line and orjson.loads(line) == {"ready": True}, p.communicate(timeout=timeout)[1].decode()
        for p in procs:
            release(p)
        return [_last_report(p, timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def release(p: subprocess.Popen) -> None:
    """Let a worker past its barrier: close its stdin (and forget it, so communicate() does not flush it)."""
    p.stdin.close()
    p.stdin = None


def _last_report(p: subprocess.Popen, timeout: float) -> dict:
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0 and out.strip(), err.decode()
    return orjson.loads(out.splitlines()[-1])


def session_dirs(bridge) -> set[str]:
    """Entries of sessions/ that are sessions (not .ended-* removals in progress)."""
    return {n for n in os.listdir(bridge.root / "sessions") if not n.startswith(".")}


def leftovers(bridge) -> list[str]:
    return [n for n in os.listdir(bridge.root / "sessions") if n.startswith(".")]


def peer_ids(bridge, project: str) -> list[str]:
    r = bridge.cli(project, "peers", "--json", timeout=HANG_S, check=True)
    return [s["session_id"] for s in orjson.loads(r.stdout)["peers"]]


def gc(bridge, project: str = "janitor") -> dict:
    return orjson.loads(bridge.cli(project, "gc", "--json", timeout=HANG_S, check=True).stdout)


# --- 1, 2: start is serialized -----------------------------------------------------------------------------------


def test_concurrent_starts_in_one_project_make_one_session(bridge):
    reports = together(bridge, [("repo", ["register"])] * 8)
    ids = {r["session_id"] for r in reports}
    assert len(ids) == 1, f"{len(ids)} sessions for one project and host"
    assert sorted(r["created"] for r in reports) == [False] * 7 + [True]
    assert session_dirs(bridge) == ids
    assert (bridge.project("repo") / ".claude" / "bridge-session").read_text() == ids.pop()


def test_concurrent_cli_starts_in_one_project_make_one_session(bridge):
    procs = [bridge.spawn("repo", "start", "--json") for _ in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err.decode() for _, err in outs]
    results = [orjson.loads(out) for out, _ in outs]
    ids = {r["session"]["session_id"] for r in results}
    assert len(ids) == 1 and session_dirs(bridge) == ids
    assert sorted(r["created"] for r in results) == [False] * 7 + [True]


def test_concurrent_starts_with_one_label_give_it_to_one_live_session(bridge):
    reports = together(bridge, [(f"proj{i}", ["register", "shared"]) for i in range(6)])
    winners = [r["session_id"] for r in reports if "session_id" in r]
    losers = [r for r in reports if "error" in r]
    assert len(winners) == 1 and len(losers) == 5, reports
    for r in losers:
        assert f"label 'shared' is taken by live session {winners[0]}" in r["error"] and r["code"] == 1
    assert session_dirs(bridge) == set(winners), "a loser still made a session"
    holders = [s["session_id"] for s in orjson.loads(bridge.cli("observer", "peers", "--json", check=True).stdout)[
        "peers"] if s["label"] == "shared"]
    assert holders == winners


# --- 3: manifest updates are read-modify-write -------------------------------------------------------------------


def test_concurrent_remember_peer_keeps_every_connection(bridge):
    hub = bridge.start("hub")
    wanted = [f"peer{i:02d}" for i in range(8)]
    reports = together(bridge, [("hub", ["remember", p]) for p in wanted])
    assert reports == [{"remembered": p} for p in wanted]
    manifest = orjson.loads((bridge.root / "sessions" / hub / "manifest.json").read_bytes())
    assert sorted(manifest["connections"]) == wanted


def test_a_late_write_to_a_stopped_session_fails_and_recreates_nothing(bridge):
    hub = bridge.start("hub")
    worker = subprocess.Popen([sys.executable, PROCS, "remember", "peer01"], env=bridge.env("hub"),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert orjson.loads(worker.stdout.readline()) == {"ready": True}  # it holds the manifest as it was
        bridge.cli("hub", "stop", timeout=HANG_S, check=True)
        release(worker)
        report = _last_report(worker, 60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert report["code"] == NoSession.exit_code
    assert report["error"] == f"session {hub} was stopped; start one again with: session-bridge start"
    assert not (bridge.root / "sessions" / hub).exists() and leftovers(bridge) == []


def test_update_and_modify_refuse_a_removed_session(bridge):
    s, _ = sessions.register(layout.bridge_dir())
    stale = sessions.load(s.root, s.id)
    sessions.remove(s)
    with pytest.raises(NoSession, match="was stopped"):
        sessions.update(stale, status="active")
    with pytest.raises(NoSession, match="was stopped"):
        sessions.modify(stale, lambda m: m.update(status="active"))
    assert not stale.dir.exists()
    sessions.remove(stale)  # removing twice is quiet


def test_a_stop_that_wins_the_race_to_the_lock_stays_a_stop(bridge, monkeypatch):
    """A stop landing between update's open of the session dir and its flock: the update sees a stopped session and
    no session dir comes back (the lock is the directory's own flock, never a lock file that recreates it)."""
    s, _ = sessions.register(layout.bridge_dir())
    real_lock = layout.dir_lock

    @contextmanager
    def stop_while_locking(path: Path, timeout: float = 10):
        with real_lock(path, timeout):
            if path == s.dir:
                sessions.remove(Session(s.root, dict(s.manifest)))
            yield

    monkeypatch.setattr(layout, "dir_lock", stop_while_locking)
    with pytest.raises(NoSession, match="was stopped"):
        sessions.update(s, status="active")
    assert not s.dir.exists() and leftovers(bridge) == []


# --- 4: stop is one rename; gc finishes killed stops and starts -------------------------------------------------


@pytest.mark.parametrize("point", ["renamed", "pointer", "rmtree"])
def test_a_stop_killed_midway_is_finished_by_gc(bridge, point):
    lib = bridge.start("lib", "library")
    app = bridge.start("app")
    bridge.cli("app", "send", "library", "query", "still there?", check=True)  # something in the inbox to delete
    r = bridge.cli("lib", "stop", timeout=HANG_S, BRIDGE_CRASH_AT=point)
    assert r.returncode == -signal.SIGKILL, r.err
    assert lib not in peer_ids(bridge, "app"), "a half-stopped session is still listed"
    assert session_dirs(bridge) == {app} and len(leftovers(bridge)) == 1
    report = gc(bridge)
    assert report["ended_removed"] == [lib] and report["removed"] == []
    assert leftovers(bridge) == [] and session_dirs(bridge) == {app}
    assert not (bridge.project("lib") / ".claude" / "bridge-session").exists()
    assert gc(bridge)["ended_removed"] == []
    again = bridge.start("lib", "library")  # the label is free again
    assert again != lib


def test_a_start_killed_midway_is_removed_by_gc_once_old(bridge):
    r = bridge.cli("proj", "start", timeout=HANG_S, BRIDGE_CRASH_AT="create")
    assert r.returncode == -signal.SIGKILL, r.err
    [orphan] = session_dirs(bridge)
    other = bridge.start("other")  # the killed start's registry lock went with it
    report = gc(bridge)
    assert report["orphans_removed"] == [] and (bridge.root / "sessions" / orphan).is_dir()  # may be a live start
    old = time.time() - 2 * sessions.ORPHAN_AGE_S
    os.utime(bridge.root / "sessions" / orphan, (old, old))
    assert gc(bridge)["orphans_removed"] == [orphan]
    assert session_dirs(bridge) == {other} and leftovers(bridge) == []


def test_a_stop_racing_sends_leaves_no_half_removed_session(bridge):
    lib = bridge.start("lib", "library")
    flooders = [(f"app{i}", ["flood", "library"]) for i in range(3)]
    procs = [subprocess.Popen([sys.executable, PROCS, *args], env=bridge.env(project), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE) for project, args in flooders]
    try:
        for p in procs:
            assert orjson.loads(p.stdout.readline()) == {"ready": True}
        for p in procs:
            release(p)
        stop = bridge.cli("lib", "stop", "--json", timeout=120, check=True)
        reports = [_last_report(p, 120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert orjson.loads(stop.stdout)["stopped"] == lib
    # every sender was stopped by the stop (PeerGone; BridgeError for a write in flight at the rename), none wrote on
    assert all(r["error"] in ("PeerGone", "BridgeError") for r in reports), reports
    assert lib not in session_dirs(bridge), "sends recreated or kept the stopped session's dir"
    gc(bridge)
    assert leftovers(bridge) == [] and len(session_dirs(bridge)) == 3
    assert lib not in peer_ids(bridge, "app0")


# --- 5: hostile manifest and pointer files -----------------------------------------------------------------------


def test_a_fifo_manifest_or_pointer_hangs_no_command(bridge):
    bad = bridge.start("bad")
    mine = bridge.start("mine", "mine")
    bridge.cli("mine", "connect", bad, check=True)
    manifest = bridge.root / "sessions" / bad / "manifest.json"
    manifest.unlink()
    os.mkfifo(manifest, 0o600)
    assert sessions.load(bridge.root, bad) is None
    assert bad not in [s.id for s in sessions.all_sessions(bridge.root)]
    assert bad not in peer_ids(bridge, "mine")
    status = orjson.loads(bridge.cli("mine", "status", "--json", timeout=HANG_S, check=True).stdout)
    assert status["connections"] == [{"session_id": bad, "name": None, "status": "gone"}]
    fresh = orjson.loads(bridge.cli("fresh", "start", "--json", timeout=HANG_S, check=True).stdout)["session"][
        "session_id"]
    gc(bridge)
    # the project whose pointer names the broken session gets a new one
    assert bridge.start("bad") not in (bad, mine, fresh)
    # a pointer file that is a FIFO
    pointer = bridge.project("piped") / ".claude" / "bridge-session"
    pointer.parent.mkdir()
    os.mkfifo(pointer, 0o600)
    piped = orjson.loads(bridge.cli("piped", "start", "--json", timeout=HANG_S, check=True).stdout)["session"][
        "session_id"]
    assert stat.S_ISREG(os.lstat(pointer).st_mode) and pointer.read_text() == piped
    assert bridge.cli("piped", "whoami", "--json", timeout=HANG_S, check=True)


# --- 6: private whatever the umask -------------------------------------------------------------------------------


def test_everything_the_bridge_creates_is_private_under_umask_000(bridge):
    def run(project: str, *args: str) -> None:
        r = subprocess.run([*CLI, *args], env=bridge.env(project), capture_output=True, timeout=HANG_S,
                           preexec_fn=lambda: os.umask(0))
        assert r.returncode == 0, r.stderr.decode()

    run("lib", "start", "--label", "library")
    run("app", "start")
    run("app", "connect", "library")
    run("app", "send", "library", "query", "hello")
    run("lib", "listen", "--timeout", "5")
    run("app", "status")
    run("app", "peers")
    run("app", "gc")
    for project in ("lib", "app"):
        assert stat.S_IMODE(os.lstat(bridge.project(project) / ".claude").st_mode) == 0o700
        assert stat.S_IMODE(os.lstat(bridge.project(project) / ".claude" / "bridge-session").st_mode) == 0o600
    expected = {str(bridge.root): 0o700}
    for top, dirs, files in os.walk(bridge.root):
        expected.update({os.path.join(top, d): 0o700 for d in dirs})
        expected.update({os.path.join(top, f): 0o600 for f in files})
    modes = {path: os.lstat(path).st_mode for path in expected}
    loose = {path: f"{stat.S_IMODE(mode):o}" for path, mode in modes.items()
             if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) != expected[path]}  # a link's mode means nothing
    assert loose == {}
