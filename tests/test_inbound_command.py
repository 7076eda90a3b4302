"""A session's inbound policy at the CLI: `inbound` shows it and the held messages, `inbound hold|refuse|accept`
and `--allow` / `--clear-allow` set it, `inbound release` hands held messages to the inbox; what the sender sees
(`outbox` state held, exit 5 when refused)."""

from __future__ import annotations

import orjson
import pytest


@pytest.fixture
def pair(bridge) -> dict[str, str]:
    """lib (in no room), web@shop, and app (in no room); {name: session id}."""
    ids = {"lib": bridge.start("lib", "library"), "app": bridge.start("app", "app")}
    r = bridge.cli("web", "start", "--room", "shop", "--role", "web", "--json", check=True)
    ids["web"] = orjson.loads(r.stdout)["session"]["session_id"]
    return ids


def policy(bridge, project: str) -> dict:
    """`inbound --json` of a project's session."""
    return orjson.loads(bridge.cli(project, "inbound", "--json", check=True).stdout)


def state_of(bridge, project: str, mid: str) -> str:
    """The delivery state of a message the project's session sent, from its outbox."""
    return {m["id"]: m["state"] for m in orjson.loads(bridge.cli(project, "outbox", "--json").stdout)["messages"]}[mid]


def test_the_default_is_accept_from_anyone(bridge, pair):
    assert bridge.cli("lib", "inbound", check=True).out == (
        "Inbound for library: accept (from anyone): messages land in the inbox.\n")
    out = policy(bridge, "lib")
    assert out == {"version": 1, "session_id": pair["lib"], "inbound": {"mode": "accept", "allow": [], "trust": []}, "held": []}
    assert "inbound:" not in bridge.cli("lib", "status", check=True).out  # the default is not worth a line


def test_hold_keeps_messages_aside_until_released(bridge, pair):
    r = bridge.cli("lib", "inbound", "hold", check=True)
    assert r.out.startswith("Inbound for library: hold (from anyone): messages are kept aside until you release")
    first = bridge.cli("app", "send", "library", "query", "first?", check=True).out.strip()
    second = bridge.cli("app", "send", "library", "query", "second?", check=True).out.strip()

    assert state_of(bridge, "app", first) == "held"  # the sender can tell
    assert f"{first}  held" in bridge.cli("app", "outbox", check=True).out
    assert orjson.loads(bridge.cli("lib", "inbox", "--json", check=True).stdout)["pending"] == 0
    assert bridge.cli("lib", "listen", "--timeout", "0.3").returncode == 3  # no reader sees a held message

    shown = policy(bridge, "lib")
    assert [(m["id"], m["status"], m["content"]) for m in shown["held"]] == [(first, "held", "first?"),
                                                                             (second, "held", "second?")]
    text = bridge.cli("lib", "inbound", check=True).out
    assert f"  {first}  held" in text and "2 held; release them with: session-bridge inbound release --all" in text
    status = bridge.cli("lib", "status", check=True).out
    assert "  inbound: hold; 2 held (release with: session-bridge inbound release --all)" in status

    r = bridge.cli("lib", "inbound", "release", second, check=True)
    assert r.out == f"Released 1 message(s) into the inbox: {second}\n"
    got = orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "5", check=True).stdout)["message"]
    assert got["id"] == second and state_of(bridge, "app", second) == "read"
    assert state_of(bridge, "app", first) == "held"

    out = orjson.loads(bridge.cli("lib", "inbound", "release", "--all", "--json", check=True).stdout)
    assert out == {"version": 1, "released": [first]}
    assert orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "5", check=True).stdout)[
        "message"]["id"] == first
    assert bridge.cli("lib", "inbound", "release", "--all", check=True).out == "No held messages to release.\n"


def test_release_needs_ids_or_all_and_known_ids(bridge, pair):
    for args in ((), ("msg-1", "--all")):
        r = bridge.cli("lib", "inbound", "release", *args)
        assert r.returncode == 1 and r.err.startswith("Error: name the held messages to release, or give --all")
    r = bridge.cli("lib", "inbound", "release", "msg-1795000000000000000-abcdef")
    assert r.returncode == 1 and r.err == ("Error: no held message msg-1795000000000000000-abcdef; see the held ones "
                                           "with: inbound\n")
    r = bridge.cli("lib", "inbound", "release", "../../x")
    assert r.returncode == 1 and r.err.startswith("Error: invalid message id '../../x'")
    assert bridge.cli("lib", "inbound", "hold", "msg-1").returncode == 2  # ids only go with release
    assert bridge.cli("lib", "inbound", "release", "--all", "--allow", "app").returncode == 2
    assert bridge.cli("lib", "inbound", "bogus").returncode == 2


def test_refuse_gives_the_sender_an_error_and_keeps_nothing(bridge, pair):
    bridge.cli("lib", "inbound", "refuse", check=True)
    r = bridge.cli("app", "send", "library", "query", "hello?")
    assert r.returncode == 5 and len(r.err.splitlines()) == 1
    assert r.err.startswith(f"Error: {pair['lib']} (lib, library) refuses messages (its inbound policy)")
    r = bridge.cli("app", "ask", "library", "hello?", "--timeout", "5")
    assert r.returncode == 5 and "refuses messages" in r.err
    assert policy(bridge, "lib")["held"] == [] and orjson.loads(
        bridge.cli("lib", "inbox", "--json", check=True).stdout)["pending"] == 0
    bridge.cli("lib", "inbound", "accept", check=True)
    assert bridge.cli("app", "send", "library", "query", "now?").returncode == 0


def test_an_allowlist_admits_only_the_senders_named(bridge, pair):
    out = orjson.loads(bridge.cli("lib", "inbound", "--allow", "web@shop", "--allow", "app", "--json",
                                  check=True).stdout)
    assert out["inbound"] == {"mode": "accept", "allow": ["web@shop", "app"], "trust": []}  # the mode is left as it was
    assert bridge.cli("web", "send", "library", "note", "from the web role", check=True)
    assert bridge.cli("app", "send", "library", "note", "from app by label", check=True)
    other = bridge.start("other")
    r = bridge.cli("other", "send", "library", "note", "me too?")
    assert r.returncode == 5 and r.err == (f"Error: {pair['lib']} (lib, library) accepts messages only from "
                                           f"web@shop, app; you are {other} (other)\n")

    text = bridge.cli("lib", "inbound", check=True).out
    assert text.startswith("Inbound for library: accept (from web@shop, app only)")
    assert "anyone else is refused; allow everyone again with: session-bridge inbound --clear-allow" in text

    bridge.cli("lib", "inbound", "hold", "--allow", "@shop", check=True)  # a whole room; held, not refused
    assert bridge.cli("app", "send", "library", "note", "no longer").returncode == 5
    mid = bridge.cli("web", "send", "library", "note", "held for review", check=True).out.strip()
    assert state_of(bridge, "web", mid) == "held"

    assert policy(bridge, "lib")["inbound"] == {"mode": "hold", "allow": ["@shop"], "trust": []}
    bridge.cli("lib", "inbound", "accept", "--clear-allow", check=True)
    assert policy(bridge, "lib")["inbound"] == {"mode": "accept", "allow": [], "trust": []}
    assert bridge.cli("other", "send", "library", "note", "finally").returncode == 0


@pytest.mark.parametrize("entry", ["a@b@c", "../x", "@", "web@../x"])
def test_a_bad_allowlist_entry_is_refused_and_changes_nothing(bridge, pair, entry):
    r = bridge.cli("lib", "inbound", "hold", "--allow", entry)
    assert r.returncode == 1 and r.err == (f"Error: invalid allowlist entry {entry!r}: give a session id, label, "
                                           "role@room, @room, label@machine or @machine\n")
    assert policy(bridge, "lib")["inbound"] == {"mode": "accept", "allow": [], "trust": []}


def test_allow_and_clear_allow_together_is_a_usage_error(bridge, pair):
    assert bridge.cli("lib", "inbound", "--allow", "app", "--clear-allow").returncode == 2


def test_inbound_needs_a_session(bridge):
    r = bridge.cli("nowhere", "inbound")
    assert r.returncode == 4 and r.err.startswith("Error: no bridge session for")
