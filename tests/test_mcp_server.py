"""`session-bridge mcp`: real server processes driven by the MCP SDK's client over stdio, and raw JSON-RPC."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_support import FIXTURES, MODERN_META, SESSION_BRIDGE, RawServer, cli, env

MODES = ["legacy", "2026-07-28"]  # the initialize handshake (Gemini, opencode, Codex) and server/discover (Claude)


def server(root, project, **extra) -> StdioServerParameters:
    return StdioServerParameters(command=SESSION_BRIDGE, args=["mcp"], env=env(root, project, **extra))


def run(fn, *args):
    return anyio.run(fn, *args)


async def call(client: Client, tool: str, **args) -> dict:
    r = await client.call_tool(tool, args)
    assert not r.is_error, f"{tool} failed: {r.content[0].text}"
    assert r.structured_content["version"] == 1  # every result carries the shape's version (docs/json.md)
    return r.structured_content


async def fails(client: Client, tool: str, **args) -> str:
    r = await client.call_tool(tool, args)
    assert r.is_error, f"{tool} should have failed: {r.structured_content}"
    text = r.content[0].text
    assert "\n" not in text
    return text


# --- the tool surface --------------------------------------------------------------------------------------------


def test_tool_list_and_schemas_are_pinned(tmp_path):
    """Names, argument schemas, output schemas and annotations are the server's contract with every agent."""

    async def main():
        async with Client(server(tmp_path / "b", tmp_path / "p"), mode="legacy") as c:
            return (await c.list_tools()).tools

    tools = run(main)
    got = {
        t.name: {
            "input": t.input_schema,
            "output": sorted((t.output_schema or {}).get("properties", {})),
            "annotations": t.annotations.model_dump(exclude_none=True, by_alias=True),
            "has_description": bool(t.description and len(t.description) > 80),
        }
        for t in tools
    }
    pinned = json.loads((FIXTURES / "mcp_tools.json").read_text())
    assert got == pinned


def test_tool_descriptions_carry_no_source_indentation(tmp_path):
    """A description is the tool's docstring without the indentation it had in the source: no line of it starts
    with whitespace, and it has no leading or trailing blank space (clean text in the agent's tool list)."""

    async def main():
        async with Client(server(tmp_path / "b", tmp_path / "p"), mode="legacy") as c:
            return (await c.list_tools()).tools

    tools = run(main)
    assert len(tools) == len(json.loads((FIXTURES / "mcp_tools.json").read_text()))
    for t in tools:
        assert t.description and t.description == t.description.strip(), t.name
        indented = [ln for ln in t.description.splitlines() if ln[:1].isspace()]
        assert indented == [], f"{t.name}: {indented}"
        assert len(t.description.splitlines()[0]) > 20, t.name  # a summary line first, not a blank or a fragment


# --- a full exchange between two servers -------------------------------------------------------------------------


@pytest.mark.parametrize("asker_mode", MODES)
@pytest.mark.parametrize("listener_mode", MODES)
def test_ask_listen_reply_between_two_servers(tmp_path, asker_mode, listener_mode):
    root = tmp_path / "bridge"
    timings = {}

    async def main():
        async with Client(server(root, tmp_path / "lib"), mode=listener_mode) as lib, \
                Client(server(root, tmp_path / "app"), mode=asker_mode) as app:
            started = await call(lib, "bridge_start", label="library")
            assert started["created"] is True
            lib_id = started["session"]["session_id"]
            app_session = (await call(app, "bridge_start", label="app"))["session"]
            assert app_session["name"] == "app" and app_session["label"] == "app" and app_session["status"] == "active"
            app_id = app_session["session_id"]
            peers = (await call(app, "bridge_peers"))["peers"]
            assert [p["name"] for p in peers] == ["library"]
            connected = await call(app, "bridge_connect", peer="library")
            assert connected["peer"]["label"] == "library"

            async def serve_two_questions():
                for answer in ("getUser() is now fetchUser(id)", "since 2.0.0"):
                    got = await call(lib, "bridge_listen")
                    timings.setdefault("woke", time.monotonic())
                    assert got["status"] == "message"
                    q = got["message"]
                    assert q["type"] == "query" and q["from_name"] == "app" and q["from"] == app_id
                    assert q["to"] == lib_id and q["attempt"] == 1
                    assert "bridge_reply" in got["note"]
                    sent = await call(lib, "bridge_reply", message_id=q["id"], text=answer)
                    assert sent["message"]["in_reply_to"] == q["id"] and sent["message"]["type"] == "response"

            async with anyio.create_task_group() as tg:
                tg.start_soon(serve_two_questions)
                timings["asked"] = time.monotonic()
                first = await call(app, "bridge_ask", peer="library", question="What replaced getUser()?")
                second = await call(app, "bridge_ask", peer="library", question="Since which version?")
            assert first["status"] == "answered"
            assert first["answer"]["content"] == "getUser() is now fetchUser(id)"
            assert first["answer"]["in_reply_to"] == first["question_id"]
            assert first["answer"]["from"] == lib_id and first["answer"]["from_name"] == "library"
            assert second["answer"]["content"] == "since 2.0.0"

            status = await call(lib, "bridge_status")
            assert status["pending"] == 0
            assert status["connections"] == [{"session_id": app_id, "name": "app", "status": "active"}]
            ended = await call(app, "bridge_stop")
            assert ended["notified"] == [status["session"]["session_id"]]
            note = await call(lib, "bridge_listen", wait_s=5)
            assert note["message"]["type"] == "session-ended"

    run(main)
    # The listener wakes on the kernel's notification: well under a second even with two MCP round trips.
    assert timings["woke"] - timings["asked"] < 2.0


def test_waits_are_time_boxed_and_an_unanswered_ask_keeps_its_question(tmp_path):
    """A wait returns 'waiting' before the client's time-out; bridge_receive later picks up the late answer."""
    root = tmp_path / "bridge"

    async def main():
        async with Client(server(root, tmp_path / "lib", BRIDGE_MCP_WAIT="1.5"), mode="legacy") as lib, \
                Client(server(root, tmp_path / "app", BRIDGE_MCP_WAIT="1.5"), mode="2026-07-28") as app:
            await call(lib, "bridge_start", label="library")
            await call(app, "bridge_start", label="app")

            started = time.monotonic()
            idle = await call(lib, "bridge_listen", wait_s=600)  # capped by the server's --wait
            assert idle["status"] == "waiting" and "bridge_listen" in idle["note"]
            assert 1.4 <= time.monotonic() - started < 10

            pending = await call(app, "bridge_ask", peer="library", question="Is 2.1 released?", wait_s=0.2)
            assert pending["status"] == "waiting" and pending["answer"] is None
            qid = pending["question_id"]
            assert qid in pending["note"] and "bridge_receive" in pending["note"]

            inbox = await call(lib, "bridge_inbox")
            assert [m["id"] for m in inbox["messages"]] == [qid] and inbox["pending"] == 1
            got = await call(lib, "bridge_listen")
            assert got["message"]["id"] == qid
            await call(lib, "bridge_reply", message_id=qid, text="yes, on Monday")

            answer = await call(app, "bridge_receive", message_id=qid)
            assert answer["status"] == "answered" and answer["answer"]["content"] == "yes, on Monday"
            assert "before" not in answer["note"]

            # A late answer that reached the asker another way (here its own bridge_listen; a hook or a channel push
            # alike) is not waited for again: bridge_receive hands it back at once.
            late = await call(app, "bridge_ask", peer="library", question="And 2.2?", wait_s=0.1)
            q2 = (await call(lib, "bridge_listen"))["message"]["id"]
            await call(lib, "bridge_reply", message_id=q2, text="in June")
            assert (await call(app, "bridge_listen"))["message"]["content"] == "in June"
            started = time.monotonic()
            again = await call(app, "bridge_receive", message_id=late["question_id"])
            assert again["status"] == "answered" and again["answer"]["content"] == "in June"
            assert "delivered before" in again["note"] and time.monotonic() - started < 1
            nothing = await call(app, "bridge_receive", message_id=pending["question_id"].replace("-", "-9", 1),
                                 wait_s=0.1)
            assert nothing["status"] == "waiting"

    run(main)


def test_errors_are_one_line_tool_errors_that_name_the_fix(tmp_path):
    root = tmp_path / "bridge"

    async def main():
        async with Client(server(root, tmp_path / "app"), mode="legacy") as app:
            assert (await fails(app, "bridge_whoami")).endswith(
                "this agent has no bridge session yet; first: call bridge_start")
            assert "bridge_start" in await fails(app, "bridge_ask", peer="library", question="hi")
            assert "label" in await fails(app, "bridge_start", label="../etc")
            await call(app, "bridge_start")
            missing = await fails(app, "bridge_ask", peer="nobody", question="hi")
            assert "no session named 'nobody'" in missing and missing.endswith("; see: call bridge_peers")
            assert "bridge_inbox" in await fails(app, "bridge_reply", message_id="msg-1-abc", text="x")
            assert "message id" in await fails(app, "bridge_receive", message_id="../x")
            assert "wait_s" in await fails(app, "bridge_listen", wait_s=-1)
            await call(app, "bridge_start", label="app")  # resumes the same session
            cli(root, tmp_path / "lib", "start", "--label", "library")
            too_big = await fails(app, "bridge_ask", peer="library", question="x" * 70_000)
            assert "limit" in too_big and "attach the data as an artifact" in too_big
            assert (await call(app, "bridge_status"))["session"]["name"] == "app"

    run(main)


def test_two_agents_in_one_repo_are_two_sessions_and_cli_calls_share_them(tmp_path):
    """Each server serves the agent above it: same project, two agent processes, two sessions."""
    root, repo = tmp_path / "bridge", tmp_path / "repo"
    agents = [subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
              for _ in range(2)]
    try:
        async def main():
            async with Client(server(root, repo, BRIDGE_HOST_PID=str(agents[0].pid)), mode="legacy") as one, \
                    Client(server(root, repo, BRIDGE_HOST_PID=str(agents[1].pid)), mode="legacy") as two:
                a = (await call(one, "bridge_start"))["session"]["session_id"]
                b = (await call(two, "bridge_start"))["session"]["session_id"]
                assert a != b
                assert (await call(one, "bridge_whoami"))["session"]["session_id"] == a
                assert (await call(two, "bridge_whoami"))["session"]["session_id"] == b
                return a

        a = run(main)
        # The CLI run by the first agent (e.g. from its shell tool) is the same bridge session.
        whoami = cli(root, repo, "whoami", "--json", BRIDGE_HOST_PID=str(agents[0].pid))
        assert json.loads(whoami.stdout)["session"]["session_id"] == a
    finally:
        for p in agents:
            p.stdin.close()
            p.wait()


# --- the wire: both handshakes (channels: test_mcp_channel.py) -----------------------------------------------------


def test_both_handshakes_at_the_jsonrpc_level(tmp_path):
    legacy = RawServer(tmp_path / "b", tmp_path / "p")
    try:
        r = legacy.initialize()["result"]
        assert r["protocolVersion"] == "2025-06-18"
        assert r["serverInfo"]["name"] == "session-bridge"
        assert "tools" in r["capabilities"]
        assert "claude/channel" not in r["capabilities"].get("experimental", {})  # only with --channels
        tools = legacy.request("tools/list")["result"]["tools"]
        assert len(tools) == len(json.loads((FIXTURES / "mcp_tools.json").read_text()))
    finally:
        assert legacy.close() == 0

    modern = RawServer(tmp_path / "b", tmp_path / "p")
    try:
        r = modern.request("server/discover", {"_meta": MODERN_META})["result"]
        assert "2026-07-28" in r["supportedVersions"]
        assert "tools" in r["capabilities"]
        tools = modern.request("tools/list", {"_meta": MODERN_META})["result"]["tools"]
        assert {t["name"] for t in tools} >= {"bridge_ask", "bridge_listen", "bridge_reply"}
        called = modern.request("tools/call", {"name": "bridge_whoami", "arguments": {}, "_meta": MODERN_META})
        assert called["result"]["isError"] is True
        # One era per connection: a later initialize is refused with the versions this connection serves.
        refused = modern.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                                "clientInfo": {"name": "t", "version": "1"}})
        assert "error" in refused
    finally:
        assert modern.close() == 0


def test_bad_server_options_fail_with_a_one_line_usage_error(tmp_path):
    r = subprocess.run([SESSION_BRIDGE, "mcp", "--wait", "0"], env=env(tmp_path / "b", tmp_path / "p"),
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "--wait" in r.stderr


@pytest.mark.parametrize("mode", MODES)
def test_a_cancelled_listen_loses_no_message(tmp_path, mode):
    """The user interrupts a waiting bridge_listen; a message that arrives afterwards still reaches the next one."""
    root = tmp_path / "bridge"

    async def main():
        async with Client(server(root, tmp_path / "lib"), mode=mode) as lib:
            sid = (await call(lib, "bridge_start", label="library"))["session"]["session_id"]
            cli(root, tmp_path / "app", "start", "--label", "app")
            with anyio.move_on_after(0.5) as scope:
                await lib.call_tool("bridge_listen", {})
            assert scope.cancelled_caught  # the client sent notifications/cancelled for the listen
            await call(lib, "bridge_whoami")  # a round trip after it: the server has read the cancel
            sent = cli(root, tmp_path / "app", "send", "library", "query", "after the interrupt").stdout.strip()
            got = await call(lib, "bridge_listen", wait_s=20)
            assert got["message"]["id"] == sent
            left = json.loads(cli(root, tmp_path / "lib", "inbox", "--json", BRIDGE_SESSION_ID=sid).stdout)
            assert left["messages"] == [] and left["pending"] == 0

    run(main)


@pytest.mark.parametrize("in_flight", ["nothing", "bridge_listen", "bridge_listen and a channel"])
def test_the_server_exits_promptly_when_the_client_closes_stdin(tmp_path, in_flight):
    """The client goes away (the agent quits) while a wait may run in a worker thread: the process exits by itself
    within about a second (waits.SHUTDOWN), without waiting out the wait and without os._exit."""
    root = tmp_path / "bridge"
    flags = ["--channels"] if "channel" in in_flight else []
    srv = RawServer(root, tmp_path / "lib", *flags, BRIDGE_MCP_WAIT="600")  # far longer than the exit may take
    try:
        srv.initialize()
        if in_flight != "nothing":
            assert srv.request("tools/call", {"name": "bridge_start", "arguments": {}})["result"]["isError"] is False
            srv.send({"jsonrpc": "2.0", "id": 1000, "method": "tools/call",
                      "params": {"name": "bridge_listen", "arguments": {}}})
            # A round trip after it: the server has read the listen and started its wait.
            assert srv.request("tools/call", {"name": "bridge_whoami", "arguments": {}})["result"]["isError"] is False
        srv.proc.stdin.close()
        closed = time.monotonic()
        try:
            code = srv.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server still runs 5 s after its client closed stdin (with {in_flight} in flight)")
        assert code == 0
        assert time.monotonic() - closed < 5
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
