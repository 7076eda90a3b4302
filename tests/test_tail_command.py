"""`session-bridge tail [-f]`: the newest messages, then new ones as they are sent (kernel notifications)."""

from __future__ import annotations

import queue
import threading

import orjson

from test_history_command import exchange


def lines_of(proc) -> "queue.Queue[str]":
    q: queue.Queue[str] = queue.Queue()

    def pump():
        for line in proc.stdout:
            q.put(line.decode())

    threading.Thread(target=pump, daemon=True).start()
    return q


def test_tail_shows_the_newest(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    exchange(bridge, "one", "1")
    q2, a2 = exchange(bridge, "two", "2")
    out = orjson.loads(bridge.cli("app", "tail", "-n", "2", "--json", check=True).out)
    assert [m["id"] for m in out["messages"]] == [q2, a2]
    text = bridge.cli("app", "tail", "-n", "1", check=True).out.splitlines()
    assert len(text) == 1 and a2 in text[0]


def test_tail_follow_prints_new_messages_as_they_are_sent(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q1, _ = exchange(bridge, "before", "b")
    tail = bridge.spawn("app", "tail", "-f", "-n", "2", "--json")
    try:
        got = lines_of(tail)
        first = [orjson.loads(got.get(timeout=30))["message"]["id"] for _ in range(2)]
        assert first[0] == q1
        sent = bridge.cli("app", "send", "library", "query", "after", check=True).out.strip()
        assert orjson.loads(got.get(timeout=30))["message"]["id"] == sent
        # a session that starts after tail did is followed too
        bridge.start("late", "late")
        late = bridge.cli("late", "send", "library", "query", "from a late session", check=True).out.strip()
        line = orjson.loads(got.get(timeout=30))
        assert line["version"] == 1 and line["message"]["id"] == late and line["message"]["from_name"] == "late"
    finally:
        tail.terminate()
        tail.wait(timeout=30)


def test_tail_follow_in_text(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    tail = bridge.spawn("app", "tail", "-f")
    try:
        got = lines_of(tail)
        bridge.start("other", "other")  # nothing printed for an empty history: send, then read the line
        sent = bridge.cli("app", "send", "library", "query", "hello \x1b[2J there", check=True).out.strip()
        line = got.get(timeout=30)
        assert sent in line and "app → library  query" in line and "\\x1b" in line and "\x1b" not in line
    finally:
        tail.terminate()
        tail.wait(timeout=30)
