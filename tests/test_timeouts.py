"""Every wait is finite or explicitly forever: NaN, infinity and negative timeouts are refused up front.

NaN compares false with everything, so before these checks `--timeout nan` or `wait_s: NaN` waited forever.
"""

from __future__ import annotations

import subprocess

import anyio
import orjson
import pytest
from mcp import Client, StdioServerParameters

from mcp_support import SESSION_BRIDGE, RawServer, cli, env

NOT_FINITE = ["nan", "NaN", "inf", "-inf", "1e400"]
REFUSED = [*NOT_FINITE, "-1", "-0.5", "soon"]
RULE = "must be a finite number of seconds >= 0 (0 waits forever)"
WAIT_RULE = "wait_s must be a finite number of seconds >= 0"


@pytest.fixture
def pair(bridge):
    return bridge.start("lib", "library"), bridge.start("app", "app")


def pending(bridge, project: str) -> list[dict]:
    inbox = orjson.loads(bridge.cli(project, "inbox", "--json", check=True).stdout)
    assert inbox["pending"] == len([m for m in inbox["messages"] if m["status"] == "pending"])
    return inbox["messages"]


# --- the CLI's --timeout -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", REFUSED)
@pytest.mark.parametrize("command", [["listen"], ["ask", "library", "hi"], ["receive", "msg-1-abc"]])
def test_cli_timeouts_must_be_finite_and_not_negative(bridge, pair, command, value):
    r = bridge.cli("app", *command, "--timeout", value, timeout=20)
    assert r.returncode == 2, r.err
    assert "'--timeout'" in r.err and RULE in r.err and repr(value) in r.err
    assert pending(bridge, "lib") == []  # a refused ask sends nothing


def test_cli_timeouts_that_are_finite_still_work(bridge, pair):
    assert bridge.cli("app", "listen", "--timeout", "0.2").returncode == 3
    asked = bridge.cli("app", "ask", "library", "hi", "--timeout", "0.2")
    assert asked.returncode == 3
    (question,) = pending(bridge, "lib")
    assert bridge.cli("app", "receive", question["id"], "--timeout", "0.2").returncode == 3
    # 0 means forever: with a message already waiting it returns it at once.
    got = orjson.loads(bridge.cli("lib", "listen", "--timeout", "0", "--json", check=True).stdout)
    assert got["status"] == "message" and got["message"]["id"] == question["id"]


# --- the reference scripts' timeouts: whole seconds in ASCII digits ----------------------------------------------


@pytest.mark.parametrize("value", [*NOT_FINITE, "-1", "1.5", "\u00b2"])  # ² passes str.isdigit() but not int()
def test_script_timeouts_must_be_whole_seconds(bridge, pair, value):
    lib, app = pair
    mid = bridge.cli("app", "send", "library", "query", "hi", check=True).out.strip()
    listened = bridge.script("lib", "bridge-listen.sh", lib, value, timeout=20)
    assert listened.returncode == 1 and "timeout must be a whole number of seconds" in listened.err
    received = bridge.script("app", "bridge-receive.sh", app, mid, value, timeout=20)
    assert received.returncode == 1 and "timeout must be a whole number of seconds" in received.err
    assert [m["id"] for m in pending(bridge, "lib")] == [mid]  # nothing was taken


def test_a_lone_non_number_is_a_session_id_not_a_timeout(bridge, pair):
    r = bridge.script("lib", "bridge-listen.sh", "nan", timeout=20)
    assert r.returncode == 1 and "Session nan inbox not found" in r.err


# --- the MCP server's wait_s and --wait --------------------------------------------------------------------------


def mcp_server(root, project, **extra) -> StdioServerParameters:
    return StdioServerParameters(command=SESSION_BRIDGE, args=["mcp"], env=env(root, project, **extra))


async def tool_error(client: Client, tool: str, **args) -> str:
    """The one-line error text of a tool call that must fail (and fail at once, not after a wait)."""
    with anyio.fail_after(15):
        r = await client.call_tool(tool, args)
    assert r.is_error, f"{tool} should have failed: {r.structured_content}"
    return r.content[0].text


@pytest.mark.parametrize("value", [*NOT_FINITE, "-inf", -1])
def test_mcp_wait_s_must_be_finite_and_not_negative(tmp_path, value):
    """The SDK client sends a float NaN as null; the strings reach the server, whose pydantic reads them as floats."""
    root = tmp_path / "bridge"
    cli(root, tmp_path / "lib", "start", "--label", "library")

    async def main():
        async with Client(mcp_server(root, tmp_path / "app"), mode="legacy") as app:
            await app.call_tool("bridge_start", {"label": "app"})
            assert WAIT_RULE in await tool_error(app, "bridge_listen", wait_s=value)
            assert WAIT_RULE in await tool_error(app, "bridge_receive", message_id="msg-1-abc", wait_s=value)
            assert WAIT_RULE in await tool_error(app, "bridge_ask", peer="library", question="hi", wait_s=value)

    anyio.run(main)
    inbox = orjson.loads(cli(root, tmp_path / "lib", "inbox", "--json").stdout)
    assert inbox["messages"] == [] and inbox["pending"] == 0  # the refused ask sent no question


@pytest.mark.parametrize("literal", [float("nan"), float("inf"), float("-inf")])
def test_mcp_wait_s_as_a_raw_json_nan_or_infinity_is_refused(tmp_path, literal):
    """Python's json writes NaN / Infinity literals, as some clients do; the server parses them as floats."""
    srv = RawServer(tmp_path / "bridge", tmp_path / "app")
    try:
        srv.initialize()
        assert srv.request("tools/call", {"name": "bridge_start", "arguments": {}})["result"]["isError"] is False
        r = srv.request("tools/call", {"name": "bridge_listen", "arguments": {"wait_s": literal}}, timeout=15)
        assert r["result"]["isError"] is True and WAIT_RULE in r["result"]["content"][0]["text"]
    finally:
        assert srv.close() == 0


@pytest.mark.parametrize("args, extra", [(["--wait", "nan"], {}), (["--wait", "inf"], {}), (["--wait", "-1"], {}),
                                         ([], {"BRIDGE_MCP_WAIT": "nan"})])
def test_mcp_server_wait_must_be_finite(tmp_path, args, extra):
    r = subprocess.run([SESSION_BRIDGE, "mcp", *args], env=env(tmp_path / "b", tmp_path / "p", **extra),
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "--wait" in r.stderr and "finite number of seconds > 0" in r.stderr, r.stderr
