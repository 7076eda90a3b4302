"""Role briefings at the CLI: `role-prompt set|get|list|delete ROLE` (text, '-' for stdin, --file), the room from
--room or the caller's session, the 32 KiB limit, bad names, and who may change them."""

from __future__ import annotations

import orjson
import pytest


@pytest.fixture
def web(bridge) -> str:
    """web@shop's session id."""
    r = bridge.cli("web", "start", "--room", "shop", "--role", "web", "--json", check=True)
    return orjson.loads(r.stdout)["session"]["session_id"]


def test_set_get_list_delete_round_trip_in_the_callers_room(bridge, web):
    r = bridge.cli("web", "role-prompt", "set", "web", "You own the storefront (web/).", check=True)
    assert r.out == ("Saved the briefing of web@shop (30 characters); the session holding the role gets it when it "
                     "starts, resumes, clears or compacts.\n")
    text = "You run the API.\n\nAsk web before changing a response shape.\n"
    bridge.cli("web", "role-prompt", "set", "backend", "-", input=text, check=True)  # stdin

    assert bridge.cli("web", "role-prompt", "get", "backend", check=True).out == text
    got = orjson.loads(bridge.cli("web", "role-prompt", "get", "backend", "--json", check=True).stdout)
    assert got == {"version": 1, "briefing": {"room": "shop", "role": "backend", "text": text}}

    lines = bridge.cli("web", "role-prompt", "list", check=True).out.splitlines()
    assert [line.split()[0] for line in lines] == ["backend", "web"]
    assert lines[0].endswith("You run the API.") and "chars" in lines[0]
    listed = orjson.loads(bridge.cli("web", "role-prompt", "list", "--json", check=True).stdout)
    assert listed["room"] == "shop" and [b["role"] for b in listed["briefings"]] == ["backend", "web"]

    assert bridge.cli("web", "role-prompt", "delete", "backend", check=True).out == (
        "Deleted the briefing of backend@shop.\n")
    assert bridge.cli("web", "role-prompt", "delete", "backend", check=True).out == "backend@shop had no briefing.\n"
    out = orjson.loads(bridge.cli("web", "role-prompt", "delete", "web", "--json", check=True).stdout)
    assert out == {"version": 1, "room": "shop", "role": "web", "deleted": True}
    assert bridge.cli("web", "role-prompt", "list", check=True).out.startswith("No briefings in room shop")


def test_replace_from_a_file_and_read_from_another_room(bridge, web, tmp_path):
    brief = tmp_path / "infra.md"
    brief.write_text("Only you touch terraform/.\n")
    bridge.cli("nowhere", "role-prompt", "set", "infra", "--file", str(brief), "--room", "ops", check=True)
    bridge.cli("nowhere", "role-prompt", "set", "infra", "Replaced.", "--room", "ops", check=True)
    assert bridge.cli("web", "role-prompt", "get", "infra", "--room", "ops", check=True).out == "Replaced.\n"
    r = bridge.cli("web", "role-prompt", "get", "infra")  # web's own room is shop
    assert r.returncode == 1 and r.err == ('Error: infra@shop has no briefing; set one with: session-bridge '
                                           'role-prompt set infra "..." --room shop\n')


def test_without_a_room_the_error_names_room(bridge):
    bridge.start("lib")  # a session, but in no room
    for args in (("set", "web", "x"), ("get", "web"), ("list",), ("delete", "web")):
        r = bridge.cli("lib", "role-prompt", *args)
        assert r.returncode == 1 and r.err == ("Error: which room? give it with --room R (this caller has no "
                                               "session in a room)\n"), args


@pytest.mark.parametrize("args, what", [
    (("set", "web", "x", "--room", "../x"), "room '../x'"), (("get", "web", "--room", "a@b@c"), "room 'a@b@c'"),
    (("list", "--room", "a/b"), "room 'a/b'"), (("set", "../../etc", "x", "--room", "shop"), "role '../../etc'"),
    (("get", "a@b", "--room", "shop"), "role 'a@b'"), (("delete", "..", "--room", "shop"), "role '..'"),
])
def test_bad_room_and_role_names_touch_nothing(bridge, args, what):
    r = bridge.cli("x", "role-prompt", *args)
    assert r.returncode == 1 and len(r.err.splitlines()) == 1
    assert r.err.startswith(f"Error: invalid {what}: use 1-64 of")
    assert not (bridge.root / "rooms").exists() or not any(
        p.suffix == ".md" for p in (bridge.root / "rooms").rglob("*"))


def test_bad_text_is_refused(bridge, web, tmp_path):
    r = bridge.cli("web", "role-prompt", "set", "web", "-", input="  \n")
    assert r.returncode == 1 and r.err.startswith("Error: briefing is empty")
    big = tmp_path / "big.md"
    big.write_text("x" * (32 * 1024 + 1))
    r = bridge.cli("web", "role-prompt", "set", "web", "--file", str(big))
    assert r.returncode == 1 and r.err.startswith("Error: the briefing is over 32 KiB")
    r = bridge.cli("web", "role-prompt", "set", "web", "-", input=b"\xff\xfe")
    assert r.returncode == 1 and r.err.startswith("Error: briefing is not valid UTF-8 text")
    r = bridge.cli("web", "role-prompt", "set", "web", "x", "--file", str(big))
    assert r.returncode == 1 and r.err.startswith("Error: give the briefing as TEXT, '-' or --file, not several")
    assert bridge.cli("web", "role-prompt", "list", check=True).out.startswith("No briefings")  # nothing saved
    exactly = "é" * (16 * 1024)  # 32 KiB of UTF-8 exactly: allowed
    bridge.cli("web", "role-prompt", "set", "web", "-", input=exactly, check=True)
    assert bridge.cli("web", "role-prompt", "get", "web", "--json", check=True).out.count("é") == 16 * 1024


def test_a_session_auto_mode_woke_may_read_but_not_change_briefings(bridge, web):
    bridge.cli("web", "role-prompt", "set", "web", "Original.", check=True)
    for args in (("set", "web", "Changed by a woken session."), ("delete", "web")):
        r = bridge.cli("web", "role-prompt", *args, BRIDGE_AUTO="1")
        assert r.returncode == 1 and r.err == ("Error: this session was woken by auto-mode: it may read the settings "
                                               "but never change them\n"), args
    assert bridge.cli("web", "role-prompt", "get", "web", check=True, BRIDGE_AUTO="1").out == "Original.\n"
    assert bridge.cli("web", "role-prompt", "list", check=True, BRIDGE_AUTO="1").out.startswith("web ")
