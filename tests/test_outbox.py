"""`session-bridge outbox`: the sender sees what became of each message, through every state, with real processes."""

from __future__ import annotations

import orjson
import pytest


@pytest.fixture
def pair(bridge):
    return bridge.start("lib", "library"), bridge.start("app", "app")


def states(bridge) -> dict[str, str]:
    rows = orjson.loads(bridge.cli("app", "outbox", "--json", check=True).stdout)["messages"]
    for row in rows:
        assert {"id", "to", "type", "state", "sent_at"} <= set(row)
    return {row["id"]: row["state"] for row in rows}


def send(bridge, text: str, *extra: str) -> str:
    return bridge.cli("app", "send", "library", "query", text, *extra, check=True).out.strip()


def test_a_question_goes_queued_noticed_read_answered(bridge, pair):
    q = send(bridge, "What changed in v2?\nThe body: getUser() went away.")
    assert states(bridge)[q] == "queued"
    pointer = bridge.cli("lib", "notice", check=True).out
    assert q in pointer and '"What changed in v2?"' in pointer  # a pointer with a subject...
    assert "getUser" not in pointer  # ...never the body
    assert states(bridge)[q] == "noticed"
    assert bridge.cli("lib", "read", q, check=True).out.count("What changed in v2?") == 1
    assert states(bridge)[q] == "read"
    bridge.cli("lib", "reply", q, "fetchUser(id) replaced getUser()", check=True)
    assert states(bridge)[q] == "answered"
    human = bridge.cli("app", "outbox", check=True).out
    assert q in human and "answered" in human


def test_an_unread_message_to_a_session_that_stops_is_undeliverable(bridge, pair):
    q = send(bridge, "anyone there?")
    bridge.cli("lib", "stop", check=True)
    assert states(bridge)[q] == "undeliverable"
    r = bridge.cli("app", "send", "library", "query", "hello?")
    assert r.returncode == 5  # the peer ended: nothing was sent


def test_a_message_whose_ttl_passed_unread_expires_and_is_never_handed_out(bridge, pair):
    q = send(bridge, "only useful for a moment", "--ttl", "0.001")
    assert states(bridge)[q] == "expired"
    assert bridge.cli("lib", "listen", "--timeout", "0.5").returncode == 3  # not delivered
    assert states(bridge)[q] == "expired"
    assert "expired" in bridge.cli("app", "outbox", check=True).out


def test_a_timed_out_ask_says_whether_the_question_was_read(bridge, pair):
    r = bridge.cli("app", "ask", "library", "still queued?", "--timeout", "0.3")
    assert r.returncode == 3 and "still queued" in r.err
    q = r.err.split("session-bridge receive ")[1].strip()
    bridge.cli("lib", "read", q, check=True)
    r = bridge.cli("app", "receive", q, "--timeout", "0.3")
    assert r.returncode == 3 and "has read your message" in r.err


def test_an_empty_outbox(bridge, pair):
    assert bridge.cli("app", "outbox", check=True).out.strip() == "Nothing sent yet."
    assert orjson.loads(bridge.cli("app", "outbox", "--json", check=True).stdout) == {"version": 1, "messages": []}
