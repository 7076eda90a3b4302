"""One JSON shape (docs/json.md): every MCP result model has the keys `session-bridge <command> --json` prints for the
same command, and the message/session models are bridge.views' MessageView/SessionView.

Both front-ends take part in one real exchange: the CLI in subprocesses (the `bridge` fixture) and the MCP tools
in-process (mcp.Client(tools.server)), acting as the same sessions ("app" and "lib").
"""

from __future__ import annotations

import inspect
import json
import sys
import typing

import anyio
import anyio.to_thread
import orjson
import pytest
from mcp import Client

from bridge import views
from bridge.mcp import models, tools
from support import REPO

MCP_ONLY = {"note"}  # what to call next, in the tools' words; the CLI has no such key

# Every tool, the model it returns (its return annotation) and the CLI command of the same name.
# Tools live in tools.py and in the modules it imports to register theirs (history, artifacts, leases).
MCP_MODULES = [m for n, m in sorted(sys.modules.items()) if n.startswith("bridge.mcp.")]
TOOLS = {name: typing.get_type_hints(fn)["return"] for module in MCP_MODULES
         for name, fn in inspect.getmembers(module, inspect.isfunction)
         if name.startswith("bridge_") and fn.__module__ == module.__name__}
PINNED = json.loads((REPO / "tests" / "fixtures" / "mcp_tools.json").read_text())  # every tool, pinned
RESULT_MODELS = {cls for _, cls in inspect.getmembers(models, inspect.isclass)
                 if issubclass(cls, models.Result) and cls is not models.Result}


def aliases(model: type) -> set[str]:
    """A model's JSON field names: what the SDK serializes (by alias)."""
    return {f.alias or name for name, f in model.model_fields.items()}


def shape(value: object) -> object:
    """The key structure of a JSON value: objects by their keys (recursively), a list by its first element."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", *(shape(v) for v in value[:1] if isinstance(v, dict))]
    return "value"


TMUX_COMMANDS = {"read_peer", "detect_question", "respond"}
# Tools whose CLI command is a subcommand, or an action of a command, rather than their own name.
CLI_NAMES = {"role_prompt_get": "role-prompt get", "role_prompt_list": "role-prompt list",
             "role_prompt_set": "role-prompt set", "role_prompt_delete": "role-prompt delete",
             "auto_status": "auto status", "auto_log": "auto log", "auto_configure": "auto set",
             "auto_switch": "auto on", "auto_limits": "auto limits", "release": "inbound",
             "artifact_get": "artifact get", "artifact_list": "artifact list", "release_leases": "release"}
# Rooms, auto-mode and the inbound policy need a room: tests/test_mcp_rooms.py compares those with the CLI.
ROOM_COMMANDS = {"rooms", "inbound", *CLI_NAMES} - {"artifact_get", "artifact_list"}
# History needs messages first: tests/test_search_command.py compares those with the CLI; leases need files to
# lease: tests/test_lease_command.py runs them through both.
HISTORY_COMMANDS = {"history", "thread", "search", "lease", "leases", "release_leases"}


def test_every_result_model_is_returned_by_a_tool_with_a_cli_command_of_the_same_name():
    from bridge.cli import main

    assert set(TOOLS.values()) == RESULT_MODELS
    assert len(TOOLS) == len(PINNED)
    for name in TOOLS:
        short = name.removeprefix("bridge_")
        command = main
        for word in CLI_NAMES.get(short, short.replace("_", "-")).split():
            assert word in command.commands, name
            command = command.commands[word]


@pytest.mark.parametrize("model, view", [(models.Message, views.MessageView), (models.SentMessage, views.SentView),
                                         (models.Session, views.SessionView),
                                         (models.Connection, views.ConnectionView)])
def test_the_message_and_session_models_are_the_views(model, view):
    assert aliases(model) == set(view.__annotations__)
    assert list(model.model_json_schema(by_alias=True)["properties"]) == list(view.__annotations__)  # same order


@pytest.fixture
def exchange(bridge, monkeypatch) -> tuple[dict, dict]:
    """One real exchange between "app" and "lib" in which every command runs once through the CLI (--json) and
    once as an MCP tool; returns ({command: CLI result}, {command: tool result})."""
    cli: dict[str, dict] = {}
    mcp: dict[str, dict] = {}

    def run(project: str, *args: str) -> dict:
        return orjson.loads(bridge.cli(project, *args, "--json", check=True).stdout)

    def answer_next(text: str) -> str:
        """lib (through the CLI) takes the next question and answers it; returns the question's id."""
        q = run("lib", "listen", "--timeout", "20")["message"]
        run("lib", "reply", q["id"], text)
        return q["id"]

    async def main():
        async with Client(tools.server) as client:
            async def call(tool: str, project: str, **args) -> dict:
                bridge.use(project, monkeypatch)  # the in-process server acts for this project's session
                r = await client.call_tool(tool, args)
                assert not r.is_error, f"{tool}: {r.content[0].text}"
                return r.structured_content

            mcp["start"] = await call("bridge_start", "app", label="app")
            cli["start"] = run("app", "start", "--label", "app")  # the same session, resumed
            assert mcp["start"]["created"] is True and cli["start"]["created"] is False
            run("lib", "start", "--label", "library")
            for command in ("whoami", "peers"):
                mcp[command] = await call(f"bridge_{command}", "app")
                cli[command] = run("app", command)
            mcp["connect"] = await call("bridge_connect", "app", peer="library")
            cli["connect"] = run("app", "connect", "library")

            mcp["send"] = await call("bridge_send", "app", peer="library", text="sent over MCP")
            cli["send"] = run("app", "send", "library", "query", "sent from the CLI")
            cli["listen"] = run("lib", "listen", "--timeout", "20")
            mcp["listen"] = await call("bridge_listen", "lib", wait_s=20)
            cli_q, mcp_q = cli["listen"]["message"]["id"], mcp["listen"]["message"]["id"]
            assert {cli_q, mcp_q} == {cli["send"]["message"]["id"], mcp["send"]["message"]["id"]}
            cli["reply"] = run("lib", "reply", cli_q, "answered from the CLI")
            mcp["reply"] = await call("bridge_reply", "lib", message_id=mcp_q, text="answered over MCP")
            cli["receive"] = run("app", "receive", cli_q, "--timeout", "20")
            mcp["receive"] = await call("bridge_receive", "app", message_id=mcp_q, wait_s=20)

            asking = bridge.spawn("app", "ask", "library", "asked from the CLI", "--json", "--timeout", "30")
            answer_next("an answer for the CLI")
            out, err = asking.communicate(timeout=30)
            assert asking.returncode == 0, err.decode()
            cli["ask"] = orjson.loads(out)
            bridge.use("app", monkeypatch)
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.to_thread.run_sync, answer_next, "an answer over MCP")
                mcp["ask"] = await call("bridge_ask", "app", peer="library", question="asked over MCP", wait_s=30)

            cli["read"] = run("lib", "read", cli_q)
            mcp["read"] = await call("bridge_read", "lib", message_id=mcp_q)
            cli["inbox"] = run("lib", "inbox", "--all")
            mcp["inbox"] = await call("bridge_inbox", "lib", include_delivered=True)
            for command in ("outbox", "status"):
                cli[command] = run("app", command)
                mcp[command] = await call(f"bridge_{command}", "app")
            (bridge.tmp / "shared.txt").write_text("shared from the CLI\n")
            cli["share"] = run("app", "share", str(bridge.tmp / "shared.txt"))
            mcp["share"] = await call("bridge_share", "app", content="shared over MCP\n", name="mcp.txt")
            cli["artifact_get"] = run("lib", "artifact", "get", mcp["share"]["artifact"]["sha256"])
            mcp["artifact_get"] = await call("bridge_artifact_get", "lib", sha256=cli["share"]["artifact"]["sha256"])
            cli["artifact_list"] = run("lib", "artifact", "list")
            mcp["artifact_list"] = await call("bridge_artifact_list", "lib")
            cli["summary"] = run("app", "summary", "comparing the front-ends")
            mcp["summary"] = await call("bridge_summary", "app", summary="comparing the front-ends")
            mcp["stop"] = await call("bridge_stop", "app")
            cli["stop"] = run("lib", "stop")

    anyio.run(main)
    return cli, mcp


def test_each_tool_result_has_the_keys_of_its_cli_command(exchange):
    cli, mcp = exchange
    # the tmux tools need a peer in a real tmux pane: tests/test_tmux_commands.py compares those
    assert set(cli) == set(mcp) == {name.removeprefix("bridge_") for name in TOOLS} - TMUX_COMMANDS - ROOM_COMMANDS \
        - HISTORY_COMMANDS
    for command in cli:
        model = TOOLS[f"bridge_{command}"]
        assert set(mcp[command]) == aliases(model), command
        assert set(cli[command]) == aliases(model) - MCP_ONLY, command
        assert cli[command]["version"] == mcp[command]["version"] == views.VERSION
        # Nested too: the same message, session, connection and sent-message keys.
        assert shape(cli[command]) == shape({k: v for k, v in mcp[command].items() if k not in MCP_ONLY}), command


def test_what_both_front_ends_read_from_the_same_state_is_equal(exchange):
    cli, mcp = exchange
    for command in ("whoami", "peers", "inbox", "outbox", "status"):
        assert cli[command] == mcp[command], command
    for command in ("ask", "receive"):
        assert cli[command]["status"] == mcp[command]["status"] == "answered", command
    for command in ("ask", "receive", "listen", "read", "send", "reply"):
        for result in (cli[command], mcp[command]):
            message = result.get("message") or result["answer"]
            assert set(message) == set(views.MessageView.__annotations__), command
