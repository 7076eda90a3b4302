"""`session-bridge read <message-id>`: take one message by id."""

from __future__ import annotations

import orjson


def test_read_takes_one_message_by_id_out_of_order(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    first = bridge.cli("app", "send", "library", "query", "first", check=True).out.strip()
    second = bridge.cli("app", "send", "library", "query", "second", check=True).out.strip()
    r = bridge.cli("lib", "read", second, "--json", check=True)
    got = orjson.loads(r.stdout)
    assert (got["message"]["content"], got["already_read"]) == ("second", False)
    left = orjson.loads(bridge.cli("lib", "inbox", "--json", check=True).stdout)["messages"]
    assert [m["id"] for m in left if m["type"] == "query"] == [first]
    again = bridge.cli("lib", "read", second, check=True)
    assert "second" in again.out and "already read" in again.err
    again = orjson.loads(bridge.cli("lib", "read", second, "--json", check=True).stdout)
    assert (again["message"]["id"], again["already_read"]) == (second, True)
    got = orjson.loads(bridge.cli("lib", "listen", "--timeout", "5", "--json", check=True).stdout)
    assert got["message"]["id"] == first


def test_read_of_an_unknown_message_names_the_fix(bridge):
    bridge.start("lib", "library")
    r = bridge.cli("lib", "read", "msg-nope")
    assert r.returncode == 1 and r.err.count("\n") == 1 and "inbox --all" in r.err
