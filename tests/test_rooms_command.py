"""Rooms and roles at the CLI: `start --room --role` (and BRIDGE_ROOM / BRIDGE_PROJECT / BRIDGE_ROLE), one live
holder per role, `rooms`, and the room and role that `peers`, `status` and `whoami` show; and the /bridge actions
for rooms (commands/bridge.md's rooms, role-prompt, auto and inbound blocks) run as written."""

from __future__ import annotations

import re
import subprocess

import orjson
import pytest

from support import REPO


def started(r) -> dict:
    """The JSON of a successful `start --json`."""
    assert r.returncode == 0, r.err
    return orjson.loads(r.stdout)


def test_start_in_a_room_with_a_role_says_so_and_whoami_status_show_it(bridge):
    r = bridge.cli("web", "start", "--room", "shop", "--role", "web", check=True)
    sid = re.match(r"Started bridge session (\w+) for web\.", r.out).group(1)
    assert "Room shop, role web: others reach it as web (in the room) or web@shop." in r.out
    assert r.out.rstrip().endswith("Peers connect with: session-bridge connect web@shop")

    whoami = bridge.cli("web", "whoami", check=True).out
    assert whoami.startswith(f"{sid}  web  {bridge.project('web')}") and whoami.rstrip().endswith(
        "room=shop  role=web")
    out = orjson.loads(bridge.cli("web", "whoami", "--json", check=True).stdout)
    assert out["team"] == {"room": "shop", "role": "web", "address": "web@shop"}
    assert out["session"]["session_id"] == sid

    status = bridge.cli("web", "status", check=True).out
    assert status.startswith(f"Session {sid} (web) · 0 pending")  # the first line reads as it always did
    assert "  room: shop, role web (reached as web@shop)" in status
    assert orjson.loads(bridge.cli("web", "status", "--json", check=True).stdout)["team"]["address"] == "web@shop"

    again = started(bridge.cli("web", "start", "--room", "shop", "--role", "web", "--json"))
    assert (again["created"], again["session"]["session_id"], again["team"]["role"]) == (False, sid, "web")


def test_a_session_outside_rooms_shows_no_room(bridge):
    bridge.start("lib", "library")
    assert "room=" not in bridge.cli("lib", "whoami", check=True).out
    assert "room:" not in bridge.cli("lib", "status", check=True).out
    out = orjson.loads(bridge.cli("lib", "start", "--json", check=True).stdout)
    assert out["team"] == {"room": None, "role": None, "address": None}


def test_room_and_role_come_from_the_environment_and_the_other_bridges_names(bridge):
    a = started(bridge.cli("a", "start", "--json", BRIDGE_ROOM="shop", BRIDGE_ROLE="backend"))
    assert a["team"] == {"room": "shop", "role": "backend", "address": "backend@shop"}
    b = started(bridge.cli("b", "start", "--json", BRIDGE_PROJECT="shop", BRIDGE_ROLE="web"))  # the alias
    assert b["team"]["address"] == "web@shop"
    c = started(bridge.cli("c", "start", "--json", "--room", "ops", "--role", "infra", BRIDGE_ROOM="shop",
                           BRIDGE_ROLE="qa"))  # flags win over the environment
    assert c["team"]["address"] == "infra@ops"
    d = started(bridge.cli("d", "start", "--json", BRIDGE_ROOM="shop"))  # a room without a role
    assert d["team"] == {"room": "shop", "role": None, "address": None}
    assert "Room shop, no role" in bridge.cli("d", "start", check=True, BRIDGE_ROOM="shop").out

    r = bridge.cli("e", "start", "--role", "web")
    assert r.returncode == 1 and r.err == "Error: role 'web' needs a room: name the room too (--room R, or BRIDGE_ROOM)\n"


def test_a_role_held_by_a_live_agent_is_refused_to_another_and_taken_over_once_it_exits(bridge, hosts):
    first, second = hosts(), hosts()
    held = started(bridge.cli("one", "start", "--room", "shop", "--role", "web", "--json",
                              BRIDGE_HOST_PID=first.pid))["session"]["session_id"]
    bridge.start("app")
    waiting = bridge.cli("app", "send", "web@shop", "query", "for whoever holds web", check=True).out.strip()

    r = bridge.cli("two", "start", "--room", "shop", "--role", "web", BRIDGE_HOST_PID=second.pid)
    assert r.returncode == 1 and len(r.err.splitlines()) == 1
    assert r.err.startswith(f"Error: role web@shop is held by live session {held} (one, web@shop); pick another "
                            "--role, or stop that session first")
    other = started(bridge.cli("two", "start", "--room", "shop", "--role", "backend", "--json",
                               BRIDGE_HOST_PID=second.pid))
    assert other["team"]["address"] == "backend@shop"  # another role of the same room is free

    first.exit()
    third = hosts()
    took = started(bridge.cli("three", "start", "--room", "shop", "--role", "web", "--json",
                              BRIDGE_HOST_PID=third.pid))
    assert took["session"]["session_id"] == held and took["created"] is False  # its session, with its messages
    got = orjson.loads(bridge.cli("three", "listen", "--json", "--timeout", "5", check=True,
                                  BRIDGE_HOST_PID=third.pid).stdout)
    assert got["message"]["id"] == waiting


@pytest.mark.parametrize("flag, value", [("--room", "../x"), ("--room", "a@b@c"), ("--room", "a/b"),
                                         ("--role", "../x"), ("--role", "a@b@c"), ("--room", ".hidden")])
def test_invalid_room_and_role_names_are_one_line_errors_and_create_nothing(bridge, flag, value):
    args = ["start", "--room", "shop", "--role", "web"]
    args[args.index(flag) + 1] = value
    r = bridge.cli("x", *args)
    assert r.returncode == 1 and len(r.err.splitlines()) == 1
    assert r.err.startswith(f"Error: invalid {flag[2:]} {value!r}: use 1-64 of A-Z a-z 0-9 _ . -")
    assert not list((bridge.root / "sessions").glob("*"))
    r = bridge.cli("x", "rooms", value)
    assert r.returncode == 1 and r.err.startswith(f"Error: invalid room {value!r}")


def test_rooms_lists_each_room_with_its_members_by_role(bridge):
    assert bridge.cli("x", "rooms", check=True).out == (
        "Nobody is in any room yet; join with: session-bridge start --room <room> --role <role>\n")
    web = started(bridge.cli("web", "start", "--room", "shop", "--role", "web", "--json"))
    api = started(bridge.cli("api", "start", "--room", "shop", "--role", "backend", "--label", "api", "--json"))
    ops = started(bridge.cli("ops", "start", "--room", "ops", "--role", "infra", "--json"))
    bridge.start("lone")  # in no room: in no listing

    lines = bridge.cli("lone", "rooms", check=True).out.splitlines()
    assert lines[0] == "Room ops: 1 session(s)"
    assert lines[1].split() == ["ROLE", "SESSION", "NAME", "STATUS", "PATH"]
    assert lines[2].split()[:4] == ["infra", ops["session"]["session_id"], "ops", "active"]
    assert lines[3] == "Room shop: 2 session(s)"
    assert lines[5].split()[:4] == ["backend", api["session"]["session_id"], "api", "active"]  # by role
    assert lines[6].split()[:4] == ["web", web["session"]["session_id"], "web", "active"]
    assert len(lines) == 7

    out = orjson.loads(bridge.cli("lone", "rooms", "shop", "--json", check=True).stdout)
    assert set(out) == {"version", "rooms"} and list(out["rooms"]) == ["shop"]
    members = out["rooms"]["shop"]
    assert [m["address"] for m in members] == ["backend@shop", "web@shop"]
    assert set(members[0]) == {"session_id", "name", "label", "project_name", "project_path", "host", "status",
                               "summary", "room", "role", "address", "machine"}
    assert (members[0]["label"], members[0]["status"], members[0]["room"]) == ("api", "active", "shop")

    assert orjson.loads(bridge.cli("lone", "rooms", "empty", "--json", check=True).stdout)["rooms"] == {"empty": []}
    assert bridge.cli("lone", "rooms", "empty", check=True).out == (
        "Nobody is in room empty yet; join with: session-bridge start --room empty --role <role>\n")


def test_a_seat_is_listed_idle(bridge):
    bridge.cli("x", "auto", "set", "shop", "infra", "--driver", "spawn", check=True)
    members = orjson.loads(bridge.cli("x", "rooms", "--json", check=True).stdout)["rooms"]["shop"]
    assert [(m["role"], m["status"], m["host"]) for m in members] == [("infra", "idle", "spawn")]


def test_peers_adds_a_role_at_room_column_once_a_session_is_in_a_room(bridge):
    bridge.start("lib", "library")
    bridge.start("app")
    assert bridge.cli("app", "peers", check=True).out.splitlines()[0].split() == [
        "SESSION", "LABEL", "PROJECT", "HOST", "STATUS", "PATH"]  # no rooms: the table as it always was
    web = started(bridge.cli("web", "start", "--room", "shop", "--role", "web", "--json"))["session"]["session_id"]
    lines = bridge.cli("app", "peers", check=True).out.splitlines()
    assert lines[0].split() == ["SESSION", "LABEL", "ROLE@ROOM", "PROJECT", "HOST", "STATUS", "PATH"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[web][2] == "web@shop" and rows[web][1] == "-"
    assert [r[2] for sid, r in rows.items() if sid != web] == ["-"]

    out = orjson.loads(bridge.cli("app", "peers", "--json", check=True).stdout)
    assert out["teams"][web] == {"room": "shop", "role": "web", "address": "web@shop"}
    assert set(out["teams"]) == {p["session_id"] for p in out["peers"]}


# --- commands/bridge.md: the room actions run as written -----------------------------------------------------------

BRIDGE_MD = REPO / "commands" / "bridge.md"
PLACEHOLDER = re.compile(r"<([a-z][a-z-]*)>")
ROOM_SECTIONS = ("rooms", "role-prompt", "auto", "inbound")


def room_blocks() -> dict[str, list[str]]:
    """{section: [its ```bash blocks, ${CLAUDE_PLUGIN_ROOT} substituted]} for the room actions of bridge.md."""
    out: dict[str, list[str]] = {}
    section, block = "", None
    for line in BRIDGE_MD.read_text().splitlines():
        if block is not None:
            if line.startswith("```"):
                out.setdefault(section, []).append("\n".join(block).replace("${CLAUDE_PLUGIN_ROOT}", str(REPO)))
                block = None
            else:
                block.append(line)
        elif line.startswith("```bash"):
            block = []
        elif line.startswith("## "):
            section = line[3:].strip()
    return {s: out.get(s, []) for s in ROOM_SECTIONS}


def test_the_slash_command_room_actions_run_as_written(bridge, hosts):
    blocks = room_blocks()
    ran: set[str] = set()

    def run(project: str, section: str, ending: str, host, **values: str) -> str:
        """Run the one block of `section` that ends with `ending`, placeholders filled; its stdout."""
        found = [b for b in blocks[section] if b.endswith(ending)]
        assert len(found) == 1, f"bridge.md § {section}: {len(found)} blocks ending with {ending!r}"
        cmd = found[0]
        ran.add(cmd)
        for name, value in values.items():
            cmd = cmd.replace(f"<{name}>", value)
        assert not PLACEHOLDER.search(cmd), f"unfilled placeholder in {cmd!r}"
        r = subprocess.run(["bash", "-c", cmd], env=bridge.env(project, BRIDGE_HOST_PID=host.pid),
                           cwd=bridge.project(project), capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"{cmd}: exit {r.returncode}: {r.stderr}{r.stdout}"
        return r.stdout

    web, api = hosts(), hosts()
    # /bridge start --room shop --role web: the documented start with the flags added as the text says
    start = re.search(r'"\$\{CLAUDE_PLUGIN_ROOT\}/scripts/session-bridge" start --label <label>',
                      BRIDGE_MD.read_text()).group(0).replace("${CLAUDE_PLUGIN_ROOT}", str(REPO))
    for project, host, role in (("web", web, "web"), ("api", api, "backend")):
        r = subprocess.run(["bash", "-c", start.replace("<label>", project) + f" --room shop --role {role}"],
                           env=bridge.env(project, BRIDGE_HOST_PID=host.pid), capture_output=True, text=True)
        assert r.returncode == 0 and f"role {role}" in r.stdout, r.stderr

    listing = run("web", "rooms", "rooms", web)
    assert re.search(r"^  web +\w+ +web +active", listing, re.M)
    assert re.search(r"^  backend +\w+ +api +active", listing, re.M)

    briefing = "You own the storefront.\nUse `npm test` ($CI)."  # quotes, backticks and $ survive the heredoc
    run("web", "role-prompt", "EOF", web, role="web", briefing=briefing)
    assert run("web", "role-prompt", "get <role>", web, role="web") == briefing + "\n"
    assert run("web", "role-prompt", "role-prompt list", web).startswith("web ")
    assert run("web", "role-prompt", "delete <role>", web, role="web").startswith("Deleted the briefing of web@shop")

    run("web", "auto", "auto <action> <arguments>", web, action="set", arguments="shop web --driver spawn")
    assert "web: manual" in run("web", "auto", "auto status", web)
    assert "Nothing logged yet" in run("web", "auto", "auto log --limit 20", web)

    assert "accept (from anyone)" in run("api", "inbound", '" inbound', api)
    run("api", "inbound", "inbound <mode>", api, mode="hold")
    mid = bridge.cli("web", "send", "backend", "query", "held for review", check=True,
                     BRIDGE_HOST_PID=web.pid).out.strip()
    run("api", "inbound", "release <message-id>", api, **{"message-id": mid})
    got = orjson.loads(bridge.cli("api", "listen", "--json", "--timeout", "5", check=True,
                                  BRIDGE_HOST_PID=api.pid).stdout)
    assert got["message"]["id"] == mid

    assert ran == {b for bs in blocks.values() for b in bs}, "documented but never run"
