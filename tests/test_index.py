"""The history index (bridge/index.py): derived from the message files, caught up by stats, rebuilt when corrupt or
deleted, never blocking delivery when another process holds it, surviving stop and gc, pruned by age."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import orjson

from bridge import index, layout, message
from test_history_command import exchange, history

HOLD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO meta VALUES ('held', 'x')")
print("held", flush=True)
sys.stdin.read()
"""


def test_the_index_is_private_and_reindex_rebuilds_it_from_the_files(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, a = exchange(bridge, "how big is the cache?", "64 MiB")
    history(bridge)
    assert os.stat(index.path(bridge.root)).st_mode & 0o777 == 0o600
    out = orjson.loads(bridge.cli("app", "reindex", "--json", check=True).out)
    assert out["indexed"] == 2
    assert "Indexed 2 message(s)" in bridge.cli("app", "reindex", check=True).out
    assert [m["id"] for m in history(bridge)["messages"]] == [q, a]


def test_a_corrupt_index_is_rebuilt_with_a_one_line_notice(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, _ = exchange(bridge, "corrupt me", "ok")
    history(bridge)
    index.path(bridge.root).write_bytes(b"this is not a database" * 100)
    r = bridge.cli("app", "history", check=True)
    notes = [line for line in r.err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "rebuilt it from the message files" in notes[0], r.err
    assert q in r.out
    assert bridge.cli("app", "history", check=True).err == ""  # once rebuilt, quiet again


def test_a_deleted_index_is_rebuilt(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, _ = exchange(bridge, "deleted index", "ok")
    history(bridge)
    for suffix in ("", "-wal", "-shm"):
        layout.unlink_quietly(f"{index.path(bridge.root)}{suffix}")
    r = bridge.cli("app", "search", "deleted", check=True)
    assert q in r.out and "was missing; built it" in r.err


def test_a_locked_index_never_blocks_delivery_and_readers_say_so(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, _ = exchange(bridge, "before the lock", "ok")
    history(bridge)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(index.path(bridge.root))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        started = time.monotonic()
        new = bridge.cli("app", "send", "library", "query", "during the lock", check=True).out.strip()
        assert bridge.cli("lib", "read", new, check=True).returncode == 0  # delivery never touches the index
        r = bridge.cli("app", "history", check=True)
        assert time.monotonic() - started < 10
        assert q in r.out and new not in r.out  # what was committed, and a note that newer may be missing
        assert "history index is busy" in r.err and len(r.err.splitlines()) == 1
    finally:
        holder.stdin.close()
        holder.wait()
    assert new in bridge.cli("app", "history", check=True).out  # the lock gone, it catches up


def test_catch_up_lists_only_changed_directories(bridge, monkeypatch):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    exchange(bridge, "first", "1")
    monkeypatch.setattr(index, "SETTLE_NS", 0)  # the files are fresh: take their mtimes as settled
    with index.reading(bridge.root) as ix:
        assert ix.count() == 2
    listed = []
    real = os.listdir
    monkeypatch.setattr(index.os, "listdir", lambda p: listed.append(str(p)) or real(p))
    with index.reading(bridge.root) as ix:
        assert ix.count() == 2
    assert listed == []  # nothing new: stats only
    new = bridge.cli("app", "send", "library", "query", "second", check=True).out.strip()
    with index.reading(bridge.root) as ix:
        assert ix.history(limit=1)[0]["id"] == new
    assert listed and all(p.endswith(("/outbox", "/inbox")) for p in listed), listed


def test_messages_outlive_stop_and_gc_and_gc_prunes_by_age(bridge, monkeypatch):
    lib = bridge.start("lib", "library")
    bridge.start("app", "app")
    q, a = exchange(bridge, "kept", "yes")
    # a message ten days old, in lib's inbox: indexed with the default retention (90 days)
    old = message.build(sender={"sessionId": "zzz999", "projectName": "old"}, to=lib, type="query", content="ancient")
    old["id"] = f"msg-{time.time_ns() - 10 * 86400 * 10**9:019d}-abcdef"
    (bridge.root / "sessions" / lib / "inbox" / f"{old['id']}.json").write_bytes(layout.dumps(old))
    assert old["id"] in [m["id"] for m in history(bridge)["messages"]]
    # gc of a session gone for good (its manifest's heartbeat is old and it has no pid): absorbed, then deleted
    manifest_path = bridge.root / "sessions" / lib / "manifest.json"
    m = orjson.loads(manifest_path.read_bytes())
    m.pop("pid", None)
    m["lastHeartbeat"] = "2000-01-01T00:00:00Z"
    manifest_path.write_bytes(orjson.dumps(m))
    report = orjson.loads(bridge.cli("app", "gc", "--json", check=True, BRIDGE_HISTORY_DAYS="5").out)
    assert lib in report["removed"] and report["pruned"] == 1
    ids = [m["id"] for m in history(bridge)["messages"]]
    assert q in ids and a in ids and old["id"] not in ids
    bridge.cli("app", "stop", check=True)
    ids = [m["id"] for m in history(bridge)["messages"]]
    assert q in ids and a in ids


def test_absorb_never_fails_a_removal(bridge, monkeypatch):
    lib = bridge.start("lib", "library")
    app = bridge.start("app", "app")
    exchange(bridge, "q", "a")
    index.path(bridge.root).mkdir()  # an index that cannot even be opened
    bridge.cli("lib", "stop", check=True)
    assert sorted(p.name for p in (bridge.root / "sessions").iterdir()) == [app]  # lib removed all the same
    assert lib != app


def test_bad_retention_is_a_one_line_error(bridge):
    bridge.start("app", "app")
    r = bridge.cli("app", "history", BRIDGE_HISTORY_DAYS="soon")
    assert r.returncode == 1 and "BRIDGE_HISTORY_DAYS must be a number of days" in r.err


def test_two_processes_racing_to_create_the_index_both_succeed(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    exchange(bridge, "race", "ok")
    procs = [bridge.spawn("app", "history", "--json") for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert len(orjson.loads(out)["messages"]) == 2
    assert sqlite3.connect(index.path(bridge.root)).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def drop_added_columns(bridge) -> None:
    """Make the index look as a version before index.ADDED left it."""
    db = sqlite3.connect(index.path(bridge.root), isolation_level=None)
    for name in index.ADDED:
        db.execute(f"ALTER TABLE messages DROP COLUMN {name}")
    db.close()


def test_an_index_of_an_older_version_gets_its_new_columns_in_place_keeping_ended_sessions_history(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, a = exchange(bridge, "kept across upgrades", "yes")
    history(bridge)
    bridge.cli("lib", "stop", check=True)
    bridge.cli("app", "stop", check=True)
    bridge.cli("app", "gc", check=True)  # the message files are gone: only the index remembers them now
    drop_added_columns(bridge)
    r = bridge.cli("x", "history", "--json", check=True)
    assert r.err == ""  # upgraded, not rebuilt (a rebuild from the files would have lost both)
    kept = [(m["id"], m["machine"]) for m in orjson.loads(r.out)["messages"] if m["type"] != "session-ended"]
    assert kept == [(q, None), (a, None)]
    # an older version still running (an MCP server started before the upgrade) goes on with the index: its
    # schema is the same, and its writes name their columns
    db = sqlite3.connect(index.path(bridge.root), isolation_level=None)
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "1"  # what older versions read
    old = [c for c in index.COLUMNS if c not in index.ADDED]
    db.execute(f"INSERT INTO messages ({','.join(old)}) VALUES ({','.join('?' * len(old))})",
               ["msg-1795000000000000000-0ld0ld", "zzz999", "yyy999", "note", None, time.time(), None,
                "written by an older version", "sent", 1, "old", None, None, None, None, None])
    db.close()
    ids = [m["id"] for m in history(bridge)["messages"]]
    assert q in ids and "msg-1795000000000000000-0ld0ld" in ids


def test_an_older_index_read_while_another_process_holds_it_shows_what_it_has(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, _ = exchange(bridge, "read only", "ok")
    history(bridge)
    drop_added_columns(bridge)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(index.path(bridge.root))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        r = bridge.cli("app", "history", "--json", check=True)  # cannot add the column: reads without it
        assert [m["machine"] for m in orjson.loads(r.out)["messages"] if m["id"] == q] == [None]
        r = bridge.cli("app", "search", "read", "--json", check=True)
        assert [h["id"] for h in orjson.loads(r.out)["hits"]] == [q]
    finally:
        holder.stdin.close()
        holder.wait()


def test_an_index_of_an_unknown_schema_is_rebuilt_with_a_notice(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, _ = exchange(bridge, "from the future", "ok")
    history(bridge)
    db = sqlite3.connect(index.path(bridge.root), isolation_level=None)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.close()
    r = bridge.cli("app", "history", check=True)
    assert "schema 99, not" in r.err and "rebuilt it from the message files" in r.err and q in r.out


def test_a_message_from_another_machine_keeps_its_machine_in_history_and_search(bridge):
    from bridge import remote

    lib = bridge.start("lib", "library")
    msg = message.build(sender={"sessionId": "rmt001", "projectName": "app", "label": "app"}, to=lib, type="query",
                        content="asked from machine b")
    bridge.cli("lib", "inbound", "trust", "@b", check=True)
    assert remote.deliver(bridge.root, "b", layout.dumps(msg))[0] == "delivered"
    hist = history(bridge)["messages"]
    assert [(m["id"], m["machine"], m["from_name"]) for m in hist] == [(msg["id"], "b", "app@b")]
    hits = orjson.loads(bridge.cli("lib", "search", "machine", "--json", check=True).out)["hits"]
    assert [h["machine"] for h in hits] == ["b"]
