"""Rooms, roles, auto-mode's settings and the inbound policy over MCP: real `session-bridge mcp` processes driven by
the MCP SDK's client, several sessions of one bridge dir, each its own server (as each agent has its own)."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from bridge import views
from bridge.mcp import models
from mcp_support import SESSION_BRIDGE, RawServer, cli, env

PINNED = json.loads((Path(__file__).parent / "fixtures" / "mcp_tools.json").read_text())  # every tool
NEW_TOOLS = {"bridge_rooms", "bridge_role_prompt_get", "bridge_role_prompt_list", "bridge_role_prompt_set",
             "bridge_role_prompt_delete", "bridge_auto_status", "bridge_auto_log", "bridge_auto_configure",
             "bridge_auto_switch", "bridge_auto_limits", "bridge_inbound", "bridge_release"}
PROMPTS = {"show-config": [], "set-mode": ["room", "role", "mode"], "configure-role": ["room", "role"],
           "set-limits": [], "automation": ["state"]}  # each prompt and its required arguments
NOT_ADMIN_WOKEN = "this session was woken by auto-mode: it may read the settings but never change them"


def server(root, project, **extra) -> StdioServerParameters:
    return StdioServerParameters(command=SESSION_BRIDGE, args=["mcp"], env=env(root, project, **extra))


async def call(client: Client, tool: str, **args) -> dict:
    r = await client.call_tool(tool, args)
    assert not r.is_error, f"{tool} failed: {r.content[0].text}"
    assert r.structured_content["version"] == 1
    return r.structured_content


async def fails(client: Client, tool: str, **args) -> str:
    """The one-line error of a tool call that must fail (a tool error, never a crash of the server)."""
    r = await client.call_tool(tool, args)
    assert r.is_error, f"{tool} should have failed: {r.structured_content}"
    text = r.content[0].text
    assert "\n" not in text, text
    return text


async def invalid(client: Client, tool: str, bad: str, **args) -> None:
    """A call whose arguments break the tool's input schema: a tool error (the SDK's, naming the argument)."""
    r = await client.call_tool(tool, args)
    assert r.is_error and bad in r.content[0].text, r.content[0].text


class Room:
    """Servers for several sessions of one bridge dir, each acting for its own project."""

    def __init__(self, tmp_path, stack: AsyncExitStack) -> None:
        self.root, self.tmp, self.stack = tmp_path / "bridge", tmp_path, stack

    async def join(self, project: str, room: str | None = None, role: str | None = None, **extra) -> Client:
        client = await self.stack.enter_async_context(Client(server(self.root, self.tmp / project, **extra),
                                                             mode="legacy"))
        args = {k: v for k, v in (("room", room), ("role", role)) if v is not None}
        client.started = await call(client, "bridge_start", **args)
        client.sid = client.started["session"]["session_id"]
        return client


def in_room(tmp_path, fn) -> None:
    async def main():
        async with AsyncExitStack() as stack:
            await fn(Room(tmp_path, stack))

    anyio.run(main)


async def pending(client: Client) -> list[dict]:
    return (await call(client, "bridge_inbox"))["messages"]


# --- the surface -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model, view", [
    (models.Team, views.TeamView), (models.Member, views.MemberView), (models.Limits, views.LimitsView),
    (models.AutoRole, views.RoleAutoView), (models.AutoRoom, views.RoomAutoView),
    (models.AutoStatusResult, views.AutoStatusView), (models.AutoEvent, views.AutoEventView),
    (models.RoleConfig, views.RoleConfigView), (models.Briefing, views.BriefingView),
    (models.Inbound, views.InboundView), (models.FailedSend, views.FailedSendView)])
def test_the_room_models_are_the_views(model, view):
    names = [f.alias or name for name, f in model.model_fields.items() if name != "version"]
    assert names == list(view.__annotations__)


def test_the_new_tools_and_the_admin_prompts_are_listed_and_prompts_render(tmp_path):
    async def main():
        async with Client(server(tmp_path / "b", tmp_path / "p"), mode="legacy") as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert NEW_TOOLS <= set(tools) and len(tools) == len(PINNED)
            assert {"room", "role", "label"} == set(tools["bridge_start"].input_schema["properties"])
            for name in ("bridge_rooms", "bridge_role_prompt_get", "bridge_role_prompt_list", "bridge_auto_status",
                         "bridge_auto_log"):
                assert tools[name].annotations.read_only_hint is True, name
            for name in ("bridge_role_prompt_set", "bridge_auto_configure", "bridge_auto_switch", "bridge_inbound"):
                assert tools[name].annotations.read_only_hint is False, name
                assert "BRIDGE_ADMIN=1" in tools[name].description or name == "bridge_inbound", name

            listed = {p.name: p for p in (await c.list_prompts()).prompts}
            assert set(listed) == set(PROMPTS)
            for name, required in PROMPTS.items():
                assert [a.name for a in listed[name].arguments if a.required] == required, name
                assert listed[name].description and all(a.description for a in listed[name].arguments), name

            async def text(name: str, **args: str) -> str:
                got = await c.get_prompt(name, args)
                assert len(got.messages) == 1 and got.messages[0].role == "user"
                return got.messages[0].content.text

            shown = await text("show-config")
            assert "bridge_auto_status" in shown and "Change nothing" in shown
            assert 'bridge_rooms {"room": "shop"}' in await text("show-config", room="shop")
            on = await text("set-mode", room="shop", role="infra", mode="auto")
            assert 'bridge_auto_switch {"on": true, "room": "shop", "role": "infra"}' in on
            assert "BRIDGE_ADMIN=1" in on and "`session-bridge auto on shop infra`" in on
            off = await text("set-mode", room="shop", role="web", mode="Manual")
            assert '{"on": false, "room": "shop", "role": "web"}' in off and "auto off shop web" in off
            configure = await text("configure-role", room="shop", role="web", driver="spawn", cwd="/srv/web",
                                   command="codex exec")
            assert ('bridge_auto_configure {"room": "shop", "role": "web", "driver": "spawn", "cwd": "/srv/web", '
                    '"command": "codex exec"}') in configure
            assert "auto set shop web --driver spawn --cwd /srv/web --command 'codex exec'" in configure
            limits = await text("set-limits", room="shop", max_hops="4", quiet_s="0.5", sensitive="infra, qa,db")
            assert ('bridge_auto_limits {"room": "shop", "max_hops": 4, "quiet_s": 0.5, "sensitive": '
                    '["infra", "qa", "db"]}') in limits
            assert "`session-bridge auto limits shop --max-hops 4 --quiet 0.5 --sensitive infra,qa,db`" in limits
            assert 'bridge_auto_switch {"on": false}' in await text("automation", state="off")
            room_on = await text("automation", state="on", room="shop")
            assert 'bridge_auto_switch {"on": true, "room": "shop"}' in room_on and "sensitive" in room_on

            for name, args, what in [("set-mode", {"room": "shop", "role": "web", "mode": "sometimes"}, "mode"),
                                     ("set-mode", {"room": "../etc", "role": "web", "mode": "auto"}, "room"),
                                     ("configure-role", {"room": "shop", "role": "w b"}, "role"),
                                     ("configure-role", {"room": "shop", "role": "web", "driver": "cron"}, "driver"),
                                     ("set-limits", {}, "at least one limit"),
                                     ("set-limits", {"max_hops": "0"}, "max_hops"),
                                     ("set-limits", {"rate_per_min": "nan"}, "rate_per_min"),
                                     ("automation", {"state": "maybe"}, "state")]:
                with pytest.raises(MCPError) as err:
                    await c.get_prompt(name, args)
                assert what in err.value.message, (name, args, err.value.message)
            # The server still serves after every refusal.
            assert (await c.list_prompts()).prompts

    anyio.run(main)


def test_initialize_declares_prompts_on_the_wire(tmp_path):
    srv = RawServer(tmp_path / "b", tmp_path / "p")
    try:
        assert "prompts" in srv.initialize()["result"]["capabilities"]
        listed = srv.request("prompts/list")["result"]["prompts"]
        assert {p["name"] for p in listed} == set(PROMPTS)
        got = srv.request("prompts/get", {"name": "automation", "arguments": {"state": "on", "room": "shop"}})
        assert "bridge_auto_switch" in got["result"]["messages"][0]["content"]["text"]
        bad = srv.request("prompts/get", {"name": "automation", "arguments": {"state": "sideways"}})
        assert bad["error"]["code"] == -32602 and "on, off" in bad["error"]["message"]
        assert "error" in srv.request("prompts/get", {"name": "no-such-prompt", "arguments": {}})
    finally:
        assert srv.close() == 0


# --- rooms and roles ---------------------------------------------------------------------------------------------


def test_start_in_a_room_and_a_message_to_a_role_reaches_only_that_role(tmp_path):
    async def scenario(room: Room):
        boss = await room.join("boss", "shop", "manager")
        assert boss.started["team"] == {"room": "shop", "role": "manager", "address": "manager@shop"}
        backend = await room.join("backend", "shop", "backend")
        web = await room.join("web", "shop", "web")
        other_web = await room.join("other-web", "other", "web")  # same role name, another room
        loner = await room.join("loner")
        assert loner.started["team"] == {"room": None, "role": None, "address": None}

        sent = await call(boss, "bridge_send", peer="web", text="ship the cart page")
        assert sent["message"]["to"] == web.sid and sent["messages"] == [sent["message"]] and sent["failed"] == []
        got = await call(web, "bridge_listen", wait_s=20)
        assert got["message"]["id"] == sent["message"]["id"] and got["message"]["content"] == "ship the cart page"
        for c in (backend, other_web, loner, boss):
            assert await pending(c) == []

        across = await call(loner, "bridge_send", peer="web@other", text="from outside the room")
        assert across["message"]["to"] == other_web.sid
        assert [m["content"] for m in await pending(other_web)] == ["from outside the room"]
        assert await pending(web) == []

        # A role answers an ask by name, and peers and status show rooms and roles.
        async with anyio.create_task_group() as tg:
            async def answer():
                q = (await call(backend, "bridge_listen", wait_s=20))["message"]
                await call(backend, "bridge_reply", message_id=q["id"], text="the cart API is /v2/cart")

            tg.start_soon(answer)
            asked = await call(boss, "bridge_ask", peer="backend@shop", question="which endpoint?", wait_s=20)
        assert asked["status"] == "answered" and asked["answer"]["from"] == backend.sid

        peers = await call(boss, "bridge_peers")
        assert peers["teams"][web.sid] == {"room": "shop", "role": "web", "address": "web@shop"}
        assert peers["teams"][loner.sid]["room"] is None
        assert set(peers["teams"]) == {p["session_id"] for p in peers["peers"]}
        assert (await call(web, "bridge_status"))["team"]["address"] == "web@shop"
        assert (await call(web, "bridge_whoami"))["team"]["role"] == "web"

        # The listing: each room with its members by role; one room; a room nobody is in.
        rooms = (await call(loner, "bridge_rooms"))["rooms"]
        assert list(rooms) == ["other", "shop"]
        assert [(m["role"], m["session_id"]) for m in rooms["shop"]] == [
            ("backend", backend.sid), ("manager", boss.sid), ("web", web.sid)]
        assert {m["status"] for m in rooms["shop"]} == {"active"}
        assert rooms["shop"][2]["address"] == "web@shop" and rooms["shop"][2]["name"] == "web"
        assert (await call(boss, "bridge_rooms", room="other"))["rooms"] == {"other": rooms["other"]}
        assert (await call(boss, "bridge_rooms", room="empty"))["rooms"] == {"empty": []}

        # Bad names are tool errors naming the fix; the server goes on serving.
        assert "invalid room" in await fails(boss, "bridge_rooms", room="../etc")
        assert "invalid room" in await fails(loner, "bridge_start", room="a/b", role="web")
        assert "needs a room" in await fails(loner, "bridge_start", role="web")
        assert "invalid role" in await fails(loner, "bridge_start", room="shop", role="..")
        assert "no session holds role 'qa@shop'" in await fails(boss, "bridge_send", peer="qa@shop", text="hi")
        assert "invalid room" in await fails(boss, "bridge_send", peer="web@a b", text="hi")
        assert "invalid peer name" in await fails(boss, "bridge_send", peer="../../etc", text="hi")
        assert (await call(loner, "bridge_whoami"))["team"]["room"] is None

    in_room(tmp_path, scenario)


def test_a_broadcast_sends_one_copy_to_each_other_member_and_lists_who_got_none(tmp_path):
    async def scenario(room: Room):
        boss = await room.join("boss", "shop", "manager")
        members = {role: await room.join(role, "shop", role) for role in ("backend", "web", "infra")}
        other = await room.join("other", "other", "web")

        sent = await call(boss, "bridge_send", peer="*", text="main is green again", type="note")
        assert sent["message"] is None and sent["failed"] == []
        assert sorted(m["to"] for m in sent["messages"]) == sorted(c.sid for c in members.values())
        assert len({m["id"] for m in sent["messages"]}) == 3
        for c in members.values():
            got = await call(c, "bridge_listen", wait_s=20)
            assert got["message"]["content"] == "main is green again" and got["message"]["from"] == boss.sid
            assert got["message"]["id"] in {m["id"] for m in sent["messages"]}
            assert await pending(c) == []  # exactly one copy each
        assert await pending(boss) == [] and await pending(other) == []

        # A recipient that refuses is listed, with why; the others still get theirs.
        await call(members["infra"], "bridge_inbound", mode="refuse")
        partial = await call(boss, "bridge_send", peer="*@shop", text="deploy at 5")
        assert sorted(m["to"] for m in partial["messages"]) == sorted([members["backend"].sid, members["web"].sid])
        [refused] = partial["failed"]
        assert refused["session_id"] == members["infra"].sid and refused["name"] == "infra"
        assert "refuses messages" in refused["error"] and refused["exit_code"] == 5

        assert "bridge_send with peer '*'" in await fails(boss, "bridge_ask", peer="*", question="anyone?")
        assert "bridge_reply" in await fails(boss, "bridge_send", peer="*", text="x", in_reply_to="msg-1-abc")
        assert "nobody else is in room 'nowhere'" in await fails(boss, "bridge_send", peer="*@nowhere", text="x")
        outsider = await room.join("outsider")
        assert "in none" in await fails(outsider, "bridge_send", peer="*", text="x")

    in_room(tmp_path, scenario)


def test_role_briefings_round_trip(tmp_path):
    async def scenario(room: Room):
        boss = await room.join("boss", "shop", "manager")
        web = await room.join("web", "shop", "web")
        briefing = "You are the web role: you own ~/shop/web.\nAnswer in English."
        saved = await call(boss, "bridge_role_prompt_set", role="web", text=briefing)  # the room: the caller's
        assert saved == {"version": 1, "briefing": {"room": "shop", "role": "web", "text": briefing}}
        assert await call(web, "bridge_role_prompt_get", role="web") == saved
        await call(boss, "bridge_role_prompt_set", role="backend", text="You own the API.", room="shop")
        listed = await call(web, "bridge_role_prompt_list")
        assert listed["room"] == "shop"
        assert [(b["role"], b["text"]) for b in listed["briefings"]] == [("backend", "You own the API."),
                                                                        ("web", briefing)]
        # The CLI reads the same briefing.
        assert briefing in cli(room.root, room.tmp / "web", "role-prompt", "get", "web", "--room", "shop").stdout

        deleted = await call(boss, "bridge_role_prompt_delete", role="web")
        assert deleted == {"version": 1, "room": "shop", "role": "web", "deleted": True}
        assert (await call(boss, "bridge_role_prompt_delete", role="web"))["deleted"] is False
        assert "web@shop has no briefing" in await fails(boss, "bridge_role_prompt_get", role="web")

        outsider = await room.join("outsider")
        assert "in no room" in await fails(outsider, "bridge_role_prompt_list")
        assert "in no room" in await fails(outsider, "bridge_role_prompt_set", role="web", text="hi")
        assert (await call(outsider, "bridge_role_prompt_list", room="shop"))["briefings"][0]["role"] == "backend"
        assert "empty" in await fails(boss, "bridge_role_prompt_set", role="web", text="  \n")
        assert "32 KiB" in await fails(boss, "bridge_role_prompt_set", role="web", text="x" * 40_000)
        assert "invalid role" in await fails(boss, "bridge_role_prompt_set", role="../web", text="hi")
        assert "invalid role" in await fails(boss, "bridge_role_prompt_get", role="a/b")
        assert "invalid room" in await fails(boss, "bridge_role_prompt_list", room="a/b")
        await invalid(boss, "bridge_role_prompt_set", "text", role="web")

    in_room(tmp_path, scenario)


# --- auto-mode ---------------------------------------------------------------------------------------------------


def test_auto_status_configure_switch_limits_and_log(tmp_path):
    async def scenario(room: Room):
        boss = await room.join("boss", "shop", "manager")
        await room.join("infra", "shop", "infra")
        status = await call(boss, "bridge_auto_status")
        assert status["automation"] is True and status["runner"] is False
        assert status["rooms"]["shop"]["roles"]["infra"]["wake"] == "manual"

        # Configuring a role gives it a seat and never turns it on.
        web_dir = room.tmp / "web-project"
        web_dir.mkdir()
        configured = await call(boss, "bridge_auto_configure", room="shop", role="web", driver="spawn",
                                cwd=str(web_dir), command="codex exec")
        assert configured["role"] == {"room": "shop", "role": "web", "wake": "manual",
                                      "why": configured["role"]["why"], "driver": "spawn", "cwd": str(web_dir),
                                      "command": "codex exec", "sensitive": False}
        seat = [m for m in (await call(boss, "bridge_rooms", room="shop"))["rooms"]["shop"] if m["role"] == "web"]
        assert seat[0]["status"] == "idle" and seat[0]["session_id"] == configured["session_id"]
        web = (await call(boss, "bridge_auto_status"))["rooms"]["shop"]["roles"]["web"]
        assert (web["status"], web["session_id"], web["wake"]) == ("idle", configured["session_id"], "manual")

        # The room on: web wakes, infra (sensitive) stays manual until named.
        on = await call(boss, "bridge_auto_switch", on=True, room="shop")
        assert (on["automation"], on["room"], on["role"]) == (True, "shop", None)
        assert on["roles"]["web"]["wake"] == "auto" and on["sensitive_manual"] == ["infra"]
        infra = on["roles"]["infra"]
        assert infra["wake"] == "manual" and infra["sensitive"] is True and "sensitive" in infra["why"]
        assert (await call(boss, "bridge_auto_status"))["rooms"]["shop"]["roles"]["infra"]["wake"] == "manual"
        named = await call(boss, "bridge_auto_switch", on=True, room="shop", role="infra")
        assert list(named["roles"]) == ["infra"] and named["roles"]["infra"]["wake"] == "auto"
        assert named["sensitive_manual"] == []
        off = await call(boss, "bridge_auto_switch", on=False)
        assert off["automation"] is False and off["roles"] == {}
        status = await call(boss, "bridge_auto_status")
        assert {r["wake"] for r in status["rooms"]["shop"]["roles"].values()} == {"manual"}

        limited = await call(boss, "bridge_auto_limits", room="shop", max_hops=3, quiet_s=0, sensitive=["db"])
        assert limited["room"] == "shop"
        assert (limited["limits"]["max_hops"], limited["limits"]["quiet_s"], limited["limits"]["sensitive"]) == (
            3, 0, ["db"])
        everywhere = await call(boss, "bridge_auto_limits", rate_per_min=30, cooldown_s=5.0)
        assert everywhere["room"] is None and everywhere["limits"]["rate_per_min"] == 30
        assert everywhere["limits"]["max_hops"] == 6  # the defaults elsewhere are untouched
        assert (await call(boss, "bridge_auto_limits", room="shop"))["limits"]["rate_per_min"] == 30  # shown only
        status = await call(boss, "bridge_auto_status")
        assert status["rooms"]["shop"]["limits"]["max_hops"] == 3 and status["limits"]["cooldown_s"] == 5

        # Bad values are tool errors; nothing changed.
        await invalid(boss, "bridge_auto_limits", "max_hops", max_hops=0)
        assert "invalid limit sensitive" in await fails(boss, "bridge_auto_limits", sensitive=["../x"])
        assert "the deny pattern is not a regular expression" in await fails(boss, "bridge_auto_limits", deny="(")
        assert "invalid room" in await fails(boss, "bridge_auto_limits", room="a/b")
        assert "not a directory" in await fails(boss, "bridge_auto_configure", room="shop", role="web",
                                                cwd=str(room.tmp / "missing"))
        await invalid(boss, "bridge_auto_configure", "driver", room="shop", role="web", driver="cron")
        assert "cannot split" in await fails(boss, "bridge_auto_configure", room="shop", role="web",
                                             command="claude 'unclosed")
        assert "invalid role" in await fails(boss, "bridge_auto_configure", room="shop", role="a/b")
        assert "invalid room" in await fails(boss, "bridge_auto_switch", on=True, room="../etc")
        assert "give room too" in await fails(boss, "bridge_auto_switch", on=True, role="web")
        assert await call(boss, "bridge_auto_status") == status

        # The log: what auto-mode did, oldest first; a line the model refuses is skipped, not a crash.
        log = room.root / "logs" / "auto.jsonl"
        log.parent.mkdir(parents=True, exist_ok=True)
        lines = [{"at": "2026-01-01T00:00:00Z", "event": "woke", "room": "shop", "role": "web", "session": "abc",
                  "msg": "msg-1-a", "from": "xyz", "hops": 1, "why": "room shop is on", "driver": "spawn",
                  "pid": 42},
                 {"at": "2026-01-01T00:00:01Z", "event": "held", "room": "shop", "role": "infra", "session": "def",
                  "msg": "msg-2-b", "from": "xyz", "hops": 2, "why": "infra is sensitive"},
                 {"at": "2026-01-01T00:00:02Z", "event": "held", "hops": "many"}]
        log.write_text("".join(json.dumps(x) + "\n" for x in lines) + "not json\n")
        events = (await call(boss, "bridge_auto_log"))["events"]
        assert [(e["event"], e["role"], e["from"], e["driver"]) for e in events] == [
            ("woke", "web", "xyz", "spawn"), ("held", "infra", "xyz", None)]
        assert (await call(boss, "bridge_auto_log", limit=1))["events"] == []  # the newest line is the bad one
        await invalid(boss, "bridge_auto_log", "limit", limit=0)

    in_room(tmp_path, scenario)


def test_settings_change_only_in_an_admin_session(tmp_path):
    """A server whose agent auto-mode woke (BRIDGE_AUTO=1 in its environment) reads the settings but every change is
    refused with NotAdmin's message; an agent launched without BRIDGE_ADMIN=1 too; with it, and from a plain
    terminal (this test process), changes work."""
    web_dir = tmp_path / "web-project"
    web_dir.mkdir()
    changes = [("bridge_auto_configure", {"room": "shop", "role": "web", "cwd": str(web_dir)}),
               ("bridge_auto_switch", {"on": True, "room": "shop"}),
               ("bridge_auto_switch", {"on": False}),
               ("bridge_auto_limits", {"max_hops": 2}),
               ("bridge_role_prompt_set", {"role": "web", "text": "You are web."}),
               ("bridge_role_prompt_delete", {"role": "web"})]

    def agent(name: str, **extra: str) -> subprocess.Popen:
        """A stand-in agent process that looks like Claude Code, launched with `extra` in its environment."""
        script = tmp_path / name / "claude"
        script.parent.mkdir()
        script.write_text("import sys\nsys.stdin.read()\n")
        return subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, env=env(tmp_path / "bridge",
                                tmp_path / name, **extra))

    plain, admin = agent("plain"), agent("admin", BRIDGE_ADMIN="1")

    async def scenario(room: Room):
        human = await room.join("human", "shop", "manager")
        await call(human, "bridge_role_prompt_set", role="web", text="You are web.")
        woken = await room.join("woken", "shop", "web", BRIDGE_AUTO="1")
        not_admin = await room.join("plain", "shop", "backend", BRIDGE_HOST_PID=str(plain.pid))
        before = await call(human, "bridge_auto_status")
        for tool, args in changes:
            assert (await fails(woken, tool, **args)).endswith(NOT_ADMIN_WOKEN), tool
            refused = await fails(not_admin, tool, **args)
            assert "BRIDGE_ADMIN=1" in refused and "claude-code session" in refused, tool
        # Reading is fine; nothing changed.
        assert await call(woken, "bridge_auto_status") == before
        assert (await call(woken, "bridge_role_prompt_get", role="web"))["briefing"]["text"] == "You are web."
        assert (await call(not_admin, "bridge_role_prompt_list"))["briefings"][0]["role"] == "web"
        assert (await call(not_admin, "bridge_auto_limits"))["limits"]["max_hops"] == 6  # showing is reading
        assert (await call(not_admin, "bridge_auto_log"))["events"] == []

        admin_agent = await room.join("admin", "shop", "qa", BRIDGE_HOST_PID=str(admin.pid))
        for c in (admin_agent, human):
            for tool, args in changes:
                await call(c, tool, **args)

    try:
        in_room(tmp_path, scenario)
    finally:
        for p in (plain, admin):
            p.stdin.close()
            p.wait()


# --- inbound policy ----------------------------------------------------------------------------------------------


def test_inbound_hold_release_refuse_and_allowlist(tmp_path):
    async def scenario(room: Room):
        boss = await room.join("boss", "shop", "manager")
        backend = await room.join("backend", "shop", "backend")
        web = await room.join("web", "shop", "web")
        shown = await call(web, "bridge_inbound")
        assert shown == {"version": 1, "session_id": web.sid, "inbound": {"mode": "accept", "allow": [], "trust": []},
                         "held": []}

        held = await call(web, "bridge_inbound", mode="hold")
        assert held["inbound"]["mode"] == "hold"
        first = (await call(boss, "bridge_send", peer="web", text="first"))["message"]["id"]
        second = (await call(backend, "bridge_send", peer="web", text="second"))["message"]["id"]
        shown = (await call(web, "bridge_inbound"))["held"]
        assert [(m["id"], m["status"]) for m in shown] == [(first, "held"), (second, "held")]
        assert (await call(web, "bridge_listen", wait_s=0.3))["status"] == "waiting"  # held: no reader sees it
        assert [m["state"] for m in (await call(boss, "bridge_outbox"))["messages"]] == ["held"]

        assert (await call(web, "bridge_release", ids=[first]))["released"] == [first]
        got = await call(web, "bridge_listen", wait_s=20)
        assert got["message"]["id"] == first and got["message"]["content"] == "first"
        assert (await call(web, "bridge_release", all=True))["released"] == [second]
        assert (await call(web, "bridge_listen", wait_s=20))["message"]["id"] == second
        assert (await call(web, "bridge_inbound"))["held"] == []

        assert "no held message" in await fails(web, "bridge_release", ids=[first])
        assert "message id" in await fails(web, "bridge_release", ids=["../x"])
        assert "either ids" in await fails(web, "bridge_release")
        assert "either ids" in await fails(web, "bridge_release", ids=[first], all=True)

        # Only the manager may send; the mode is kept while the allowlist changes.
        allowed = await call(web, "bridge_inbound", mode="accept", allow=["manager@shop"])
        assert allowed["inbound"] == {"mode": "accept", "allow": ["manager@shop"], "trust": []}
        assert "accepts messages only from manager@shop" in await fails(backend, "bridge_send", peer="web",
                                                                        text="may I?")
        await call(boss, "bridge_send", peer="web", text="you may")
        assert [m["content"] for m in await pending(web)] == ["you may"]
        assert (await call(web, "bridge_inbound", allow=[]))["inbound"] == {"mode": "accept", "allow": [], "trust": []}

        await call(web, "bridge_inbound", mode="refuse")
        assert "refuses messages" in await fails(boss, "bridge_send", peer="web", text="hello?")
        await invalid(web, "bridge_inbound", "mode", mode="ignore")
        assert "invalid allowlist entry" in await fails(web, "bridge_inbound", allow=["a/b"])
        assert (await call(web, "bridge_inbound"))["inbound"]["mode"] == "refuse"

    in_room(tmp_path, scenario)


# --- one shape: each tool's result is its CLI command's --json ---------------------------------------------------

# The CLI command of each tool above (tests/test_json_shape.py compares the others in one exchange).
CLI_COMMANDS = {"bridge_rooms": "rooms", "bridge_role_prompt_get": "role-prompt get",
                "bridge_role_prompt_list": "role-prompt list", "bridge_role_prompt_set": "role-prompt set",
                "bridge_role_prompt_delete": "role-prompt delete", "bridge_auto_status": "auto status",
                "bridge_auto_log": "auto log", "bridge_auto_configure": "auto set", "bridge_auto_switch": "auto on",
                "bridge_auto_limits": "auto limits", "bridge_inbound": "inbound", "bridge_release": "inbound release"}


def shape(value: object) -> object:
    """The key structure of a JSON value: objects by their keys (recursively), a list by its first element."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", *(shape(v) for v in value[:1] if isinstance(v, dict))]
    return "value"


def test_each_room_tool_returns_its_cli_commands_json(bridge, monkeypatch):
    """The CLI (subprocesses) and the MCP tools (in process, mcp.Client(tools.server)) act on one room: each tool's
    structured result has the keys of its command's --json, nested too, and what both read is equal."""
    from bridge import policy, sessions
    from bridge.mcp import tools

    assert set(CLI_COMMANDS) == NEW_TOOLS
    pairs: dict[str, tuple[dict, dict]] = {}
    held: list[str] = []

    def run(project: str, *args: str) -> dict:
        return json.loads(bridge.cli(project, *args, "--json", check=True).stdout)

    async def main():
        async with Client(tools.server) as client:
            async def call_as(project: str, tool: str, **args) -> dict:
                bridge.use(project, monkeypatch)  # the in-process server acts for this project's session
                return await call(client, tool, **args)

            async def both(tool: str, project: str, cli_args: list[str], **args) -> None:
                pairs[tool] = (run(project, *cli_args), await call_as(project, tool, **args))

            for project, role in (("boss", "manager"), ("web", "web"), ("api", "backend")):
                run(project, "start", "--room", "shop", "--role", role)
            await both("bridge_rooms", "boss", ["rooms"])
            await both("bridge_role_prompt_set", "boss", ["role-prompt", "set", "web", "You own web/."],
                       role="web", text="You own web/.")
            await both("bridge_role_prompt_get", "web", ["role-prompt", "get", "web"], role="web")
            await both("bridge_role_prompt_list", "api", ["role-prompt", "list", "--room", "shop"], room="shop")
            run("boss", "role-prompt", "set", "api", "You own the API.")
            await both("bridge_role_prompt_delete", "boss", ["role-prompt", "delete", "web"], role="api")
            await both("bridge_auto_configure", "boss", ["auto", "set", "shop", "api", "--driver", "spawn",
                                                         "--command", "codex exec"],
                       room="shop", role="api", driver="spawn", command="codex exec")
            await both("bridge_auto_switch", "boss", ["auto", "on", "shop"], on=True, room="shop")
            await both("bridge_auto_limits", "boss", ["auto", "limits", "shop", "--max-hops", "4", "--quiet", "30"],
                       room="shop", max_hops=4, quiet_s=30)
            await both("bridge_auto_status", "boss", ["auto", "status"])
            policy.log_event(bridge.root, "held", sessions.role_session(bridge.root, "shop", "web"),
                             {"id": "msg-1-abc", "from": "x1", "metadata": {"hops": 6}}, why="loop guard")
            await both("bridge_auto_log", "boss", ["auto", "log"])
            await both("bridge_inbound", "web", ["inbound", "hold", "--allow", "@shop"], mode="hold", allow=["@shop"])
            for n in range(2):
                held.append((await call_as("boss", "bridge_send", peer="web", text=f"q{n}"))["message"]["id"])
            pairs["bridge_inbound (held)"] = (run("web", "inbound"), await call_as("web", "bridge_inbound"))
            await both("bridge_release", "web", ["inbound", "release", held[0]], ids=[held[1]])
            pairs["bridge_send '*'"] = (run("boss", "send", "*", "note", "from the CLI"),
                                        await call_as("boss", "bridge_send", peer="*", type="note", text="over MCP"))

    anyio.run(main)
    for tool, (cli_result, mcp_result) in pairs.items():
        assert shape(cli_result) == shape(mcp_result), tool
    for tool in ("bridge_rooms", "bridge_role_prompt_set", "bridge_role_prompt_get", "bridge_role_prompt_list",
                 "bridge_auto_configure", "bridge_auto_switch", "bridge_auto_limits", "bridge_auto_status",
                 "bridge_auto_log", "bridge_inbound", "bridge_inbound (held)"):
        assert pairs[tool][0] == pairs[tool][1], tool
    assert pairs["bridge_role_prompt_delete"][0]["deleted"] is pairs["bridge_role_prompt_delete"][1]["deleted"]
    assert [m["id"] for m in pairs["bridge_inbound (held)"][1]["held"]] == held
    assert pairs["bridge_release"][0]["released"] + pairs["bridge_release"][1]["released"] == held
