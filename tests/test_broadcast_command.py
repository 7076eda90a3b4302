"""Sending to roles and rooms at the CLI: `send web` within the room, `send web@shop` from anywhere, `send '*'` to
every other member of the room (one copy each, none to the sender, none to other rooms), `ask '*'` refused, and a
broadcast that some recipients refuse."""

from __future__ import annotations

import orjson
import pytest


@pytest.fixture
def shop(bridge) -> dict[str, str]:
    """Room shop (web, backend, infra), room ops (infra), and a session in no room; {name: session id}."""
    ids = {}
    for project, room, role in (("web", "shop", "web"), ("api", "shop", "backend"), ("infra", "shop", "infra"),
                                ("ops", "ops", "infra")):
        r = bridge.cli(project, "start", "--room", room, "--role", role, "--json", check=True)
        ids[project] = orjson.loads(r.stdout)["session"]["session_id"]
    ids["lone"] = bridge.start("lone", "lone")
    return ids


def pending(bridge, project: str) -> list[dict]:
    """The messages waiting for a project's session (without taking them)."""
    return orjson.loads(bridge.cli(project, "inbox", "--json", check=True).stdout)["messages"]


def test_a_role_is_named_within_the_room_and_as_role_at_room_from_anywhere(bridge, shop):
    mid = bridge.cli("web", "send", "backend", "query", "which endpoint serves the cart?", check=True).out.strip()
    assert [m["id"] for m in pending(bridge, "api")] == [mid]
    got = pending(bridge, "api")[0]
    assert (got["from"], got["to"]) == (shop["web"], shop["api"])
    for other in ("web", "infra", "ops", "lone"):
        assert pending(bridge, other) == [], other  # reaches only that role

    # infra in the sender's room, not ops' infra
    bridge.cli("web", "send", "infra", "note", "deploy after lunch", check=True)
    assert len(pending(bridge, "infra")) == 1 and pending(bridge, "ops") == []
    # across rooms, and from a session in no room
    bridge.cli("web", "send", "infra@ops", "note", "from shop to ops", check=True)
    bridge.cli("lone", "send", "web@shop", "note", "from outside", check=True)
    assert [m["content"] for m in pending(bridge, "ops")] == ["from shop to ops"]
    assert [m["content"] for m in pending(bridge, "web")] == ["from outside"]

    # ask takes the same names: answered by the role's session
    asker = bridge.spawn("lone", "ask", "backend@shop", "still there?", "--timeout", "30")
    q = orjson.loads(bridge.cli("api", "listen", "--json", "--timeout", "20", check=True).stdout)["message"]
    while q["content"] != "still there?":  # the earlier query waits first
        q = orjson.loads(bridge.cli("api", "listen", "--json", "--timeout", "20", check=True).stdout)["message"]
    bridge.cli("api", "reply", q["id"], "yes", check=True)
    out, err = asker.communicate(timeout=30)
    assert asker.returncode == 0 and out == b"yes\n", err


def test_a_single_send_has_the_broadcasts_json_shape_naming_its_message(bridge, shop):
    out = orjson.loads(bridge.cli("web", "send", "backend", "note", "one", "--json", check=True).stdout)
    assert set(out) == {"version", "message", "messages", "failed"}
    assert out["messages"] == [out["message"]] and out["failed"] == [] and out["message"]["to"] == shop["api"]


def test_a_role_nobody_holds_is_a_peer_error_naming_the_roles_there(bridge, shop):
    r = bridge.cli("lone", "send", "qa@shop", "note", "hello")
    assert r.returncode == 5 and len(r.err.splitlines()) == 1
    assert r.err.startswith("Error: no session holds role 'qa@shop'; roles in shop: backend@shop, infra@shop, "
                            "web@shop; see: session-bridge peers")


@pytest.mark.parametrize("name", ["a@b@c", "../x", "web@../x", "web@"])
def test_bad_role_names_are_refused(bridge, shop, name):
    r = bridge.cli("web", "send", name, "note", "x")
    assert r.returncode in (1, 5) and len(r.err.splitlines()) == 1 and r.err.startswith("Error: ")
    assert r.out == ""


def test_star_sends_one_copy_to_every_other_member_of_the_room(bridge, shop):
    r = bridge.cli("web", "send", "*", "note", "main is green again", check=True)
    ids = r.out.split()
    assert len(ids) == 2 and r.err == ""  # backend and infra of shop: not the sender, not ops, not lone
    assert ids[0].rsplit("-", 1)[0] == ids[1].rsplit("-", 1)[0]  # one broadcast, one copy per recipient
    for project in ("api", "infra"):
        copy = pending(bridge, project)
        assert [(m["content"], m["from"]) for m in copy] == [("main is green again", shop["web"])]
        assert copy[0]["id"] in ids and copy[0]["to"] == shop[project]
    for project in ("web", "ops", "lone"):
        assert pending(bridge, project) == [], project

    # each copy is delivered exactly once: taken by one listen, never again
    for project in ("api", "infra"):
        got = orjson.loads(bridge.cli(project, "listen", "--json", "--timeout", "5", check=True).stdout)
        assert got["message"]["content"] == "main is green again"
        assert bridge.cli(project, "listen", "--timeout", "0.3").returncode == 3

    out = orjson.loads(bridge.cli("web", "outbox", "--json", check=True).stdout)["messages"]
    assert sorted((m["to"], m["state"]) for m in out) == sorted([(shop["api"], "read"), (shop["infra"], "read")])


def test_star_at_room_from_outside_and_its_json(bridge, shop):
    out = orjson.loads(bridge.cli("lone", "send", "*@shop", "query", "who owns checkout?", "--json",
                                  check=True).stdout)
    assert set(out) == {"version", "message", "messages", "failed"} and (out["message"], out["failed"]) == (None, [])
    assert sorted(m["to"] for m in out["messages"]) == sorted([shop["web"], shop["api"], shop["infra"]])
    assert all(m["content"] == "who owns checkout?" and m["status"] == "pending" for m in out["messages"])
    assert pending(bridge, "ops") == []


def test_star_from_a_session_in_no_room_names_the_fix(bridge, shop):
    r = bridge.cli("lone", "send", "*", "note", "anyone?")
    assert r.returncode == 5 and r.err == ("Error: '*' sends to your room, and this session is in none; start with "
                                           "--room R, or name a room: '*@R'\n")


def test_star_in_a_room_with_nobody_else(bridge, shop):
    r = bridge.cli("ops", "send", "*", "note", "anyone?")
    assert r.returncode == 5 and r.err.startswith("Error: nobody else is in room 'ops'")


def test_ask_refuses_a_broadcast_and_names_send(bridge, shop):
    for name in ("*", "*@shop"):
        r = bridge.cli("web", "ask", name, "who broke the build?", "--timeout", "1")
        assert r.returncode == 1 and len(r.err.splitlines()) == 1
        assert r.err.startswith("Error: ask waits for one answer from one peer") and \
            f"use: session-bridge send '{name}' query" in r.err
    assert orjson.loads(bridge.cli("web", "outbox", "--json", check=True).stdout)["messages"] == []


def test_a_broadcast_is_no_reply(bridge, shop):
    r = bridge.cli("web", "send", "*", "response", "x", "--in-reply-to", "msg-1")
    assert r.returncode == 1 and r.err.startswith("Error: a reply goes to the one session that asked")
    assert pending(bridge, "api") == []


def test_recipients_that_refuse_are_named_and_the_others_get_their_copy(bridge, shop):
    bridge.cli("infra", "inbound", "refuse", check=True)
    r = bridge.cli("web", "send", "*", "note", "heads up", check=True)
    assert len(r.out.split()) == 1 and [m["content"] for m in pending(bridge, "api")] == ["heads up"]
    assert r.err.startswith(f"warning: not sent to infra ({shop['infra']}): {shop['infra']} (infra, infra@shop) "
                            "refuses messages")
    out = orjson.loads(bridge.cli("web", "send", "*", "note", "again", "--json", check=True).stdout)
    assert [(f["session_id"], f["exit_code"]) for f in out["failed"]] == [(shop["infra"], 5)]
    assert set(out["failed"][0]) == {"session_id", "name", "error", "exit_code"}

    bridge.cli("api", "inbound", "refuse", check=True)  # now nobody takes it: the error, exit 5
    r = bridge.cli("web", "send", "*", "note", "anyone at all?")
    assert r.returncode == 5 and r.out == "" and "refuses messages" in r.err
