"""`session-bridge notice`: pointers for drivers; noticed is not read, and unread ones come back with backoff."""

from __future__ import annotations

import time

import orjson

from bridge import layout, protocol, sessions


def test_notice_points_once_and_leaves_the_message_pending(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    body = "what changed in v2?\n" + "the secret body " * 40
    q = bridge.cli("app", "send", "library", "query", body, check=True).out.strip()
    first = orjson.loads(bridge.cli("lib", "notice", "--json", check=True).stdout)
    assert first["version"] == 1
    assert [p["id"] for p in first["notices"]] == [q] and "content" not in first["notices"][0]
    assert set(first["notices"][0]) == {"id", "type", "from", "from_name", "sent_at", "subject"}
    assert first["notices"][0]["subject"] == "what changed in v2?"  # the first line only, never the body
    assert (first["notices"][0]["type"], first["notices"][0]["from_name"]) == ("query", "app")
    assert orjson.loads(bridge.cli("lib", "notice", "--json", check=True).stdout)["notices"] == []  # backoff
    assert [m["id"] for m in orjson.loads(bridge.cli("lib", "inbox", "--json", check=True).stdout)["messages"]
            if m["type"] == "query"] == [q]  # noticed is not read
    got = orjson.loads(bridge.cli("lib", "listen", "--timeout", "5", "--json", check=True).stdout)
    assert got["message"]["id"] == q


def test_unread_noticed_messages_come_back_after_1_3_then_10_minutes(bridge, monkeypatch):
    lib = bridge.start("lib", "library")
    app = bridge.start("app", "app")
    q = bridge.cli("app", "send", "library", "query", "ping me again", check=True).out.strip()
    bridge.use("lib", monkeypatch)
    box = sessions.load(layout.bridge_dir(), lib).mailbox
    t0 = time.time()
    offered = []
    for minute in range(0, 30):
        now = t0 + minute * 60 + 1
        due = box.due_notices(lambda m: m["type"] == "query", now=now)
        for m in due:
            box.mark_noticed(m, now=now)
            offered.append(minute)
    assert offered == [0, 1, 4, 14, 24]
    assert protocol.sent_state(sessions.load(layout.bridge_dir(), app), q) == "noticed"
