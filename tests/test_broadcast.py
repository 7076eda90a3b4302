"""A broadcast to '*' with real processes: one copy per other session of the room, each delivered exactly once even
with several competing readers per recipient; nothing to the sender, nothing to another room."""

from __future__ import annotations

import orjson

from test_competing_readers import collect, spawn


def start(bridge, project: str, room: str, role: str) -> str:
    out = bridge.cli(project, "start", "--json", check=True, BRIDGE_ROOM=room, BRIDGE_ROLE=role).stdout
    return orjson.loads(out)["session"]["session_id"]


def test_each_member_gets_each_broadcast_exactly_once_with_competing_readers(bridge):
    start(bridge, "boss", "shop", "manager")
    members = {role: start(bridge, role, "shop", role) for role in ("backend", "web", "infra")}
    start(bridge, "elsewhere", "other", "web")  # same role name, another room: must get nothing
    readers = {role: [spawn(bridge, role, "reader", "0") for _ in range(2)] for role in (*members, "elsewhere")}
    everyone = [r for rs in readers.values() for r in rs]
    for r in everyone:
        assert "ready" in orjson.loads(r.stdout.readline())
    sender = spawn(bridge, "boss", "broadcaster", "40", "b")
    try:
        assert orjson.loads(sender.stdout.readline()) == {"sent": 40}
        got = collect(everyone, 120)
    finally:
        for p in everyone + [sender]:
            p.kill()
            p.wait()
    by_recipient: dict[str, list[str]] = {}
    for g in got:
        by_recipient.setdefault(g["id"].rsplit("-", 1)[1], []).append(g["content"])
    assert set(by_recipient) == set(members.values())  # not the sender, not the other room's web
    for contents in by_recipient.values():
        assert sorted(contents, key=lambda c: int(c[2:])) == [f"b-{n}" for n in range(40)]  # all, once each
    assert all(g["attempt"] == 1 for g in got)
    assert orjson.loads(bridge.cli("elsewhere", "inbox", "--all", "--json", check=True).stdout)["messages"] == []
