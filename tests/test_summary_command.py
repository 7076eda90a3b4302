"""Session summaries: `summary TEXT|--clear` and `bridge_summary` set the one line a session says it works on;
peers see it in `peers` (text and --json) and in their SessionStart context."""

from __future__ import annotations

import subprocess

import anyio
import orjson
from mcp import Client

from bridge.mcp import tools
from support import CLI, REPO, payload


def run_json(bridge, project: str, *args: str, **env) -> dict:
    return orjson.loads(bridge.cli(project, *args, "--json", check=True, **env).stdout)


def test_summary_set_show_clear(bridge):
    sid = bridge.start("lib", "library")
    out = bridge.cli("lib", "summary", check=True).out
    assert out.startswith("No summary; set one with: session-bridge summary")
    assert run_json(bridge, "lib", "summary") == {"version": 1, "session_id": sid, "summary": None}

    r = bridge.cli("lib", "summary", "porting the billing API\n  to v2", check=True)
    assert r.out == "porting the billing API to v2\n"  # one line
    assert bridge.cli("lib", "summary", check=True).out == "porting the billing API to v2\n"
    manifest = orjson.loads((bridge.root / "sessions" / sid / "manifest.json").read_bytes())
    assert manifest["summary"] == "porting the billing API to v2"
    assert run_json(bridge, "lib", "whoami")["session"]["summary"] == "porting the billing API to v2"

    assert bridge.cli("lib", "summary", "-", input="from stdin\n", check=True).out == "from stdin\n"
    assert run_json(bridge, "lib", "summary", "--clear") == {"version": 1, "session_id": sid, "summary": None}
    assert "summary" not in orjson.loads((bridge.root / "sessions" / sid / "manifest.json").read_bytes())


def test_summary_bad_input_is_one_line_naming_the_fix(bridge):
    bridge.start("lib", "library")
    r = bridge.cli("lib", "summary", "x" * 301)
    assert r.returncode == 1 and r.err.count("\n") == 1 and "over the 300-character limit" in r.err
    r = bridge.cli("lib", "summary", "   ")
    assert r.returncode == 1 and "the summary is empty" in r.err
    r = bridge.cli("lib", "summary", "a", "--clear")
    assert r.returncode == 1 and "not both" in r.err
    assert bridge.cli("lib", "summary", "x" * 300).returncode == 0
    r = bridge.cli("nobody", "summary", "hi")
    assert r.returncode == 4 and "session-bridge start" in r.err


def test_peers_shows_summaries_only_where_set(bridge):
    lib = bridge.start("lib", "library")
    app = bridge.start("app", "app")
    bridge.start("web", "web")
    before = bridge.cli("web", "peers", check=True).out
    assert "working on" not in before and len(before.splitlines()) == 3
    bridge.cli("lib", "summary", "releasing 2.0 \x1b[31mnow", check=True)
    lines = bridge.cli("web", "peers", check=True).out.splitlines()
    assert lines[0].split() == ["SESSION", "LABEL", "PROJECT", "HOST", "STATUS", "PATH"]  # the table is unchanged
    row = next(i for i, line in enumerate(lines) if line.startswith(lib))
    assert lines[row + 1] == "    working on: releasing 2.0 [31mnow"  # control characters never reach the terminal
    assert len(lines) == 4 and [x for x in lines if x.startswith(app)]  # one extra line, under lib's row only
    peers = {p["session_id"]: p for p in run_json(bridge, "web", "peers")["peers"]}
    assert peers[lib]["summary"] == "releasing 2.0 [31mnow" and peers[app]["summary"] is None


def test_session_start_shows_each_connected_peers_summary(bridge, hosts):
    claude = hosts()
    env = dict(BRIDGE_HOST_PID=claude.pid, CLAUDE_CODE_SESSION_ID="claude-lib")
    bridge.cli("lib", "start", "--label", "library", check=True, **env)
    app = bridge.start("app", "app")
    web = bridge.start("web", "web")
    bridge.cli("lib", "connect", "app", check=True, **env)
    bridge.cli("lib", "connect", "web", check=True, **env)
    bridge.cli("app", "summary", "migrating the checkout to " + "cents " * 40, check=True)

    proj = bridge.project("lib")
    r = subprocess.run([*CLI, "hook", "session-start"], capture_output=True, timeout=30, cwd=proj,
                       input=payload("SessionStart", proj, session_id="claude-lib"),
                       env=bridge.env("lib", CLAUDE_PLUGIN_ROOT=str(REPO), CLAUDE_PROJECT_DIR=str(proj), **env))
    assert r.returncode == 0, r.stderr
    text = orjson.loads(r.stdout)["hookSpecificOutput"]["additionalContext"]
    line = next(x for x in text.splitlines() if x.startswith("Connected peers: "))
    said = ("migrating the checkout to " + "cents " * 40).strip()
    assert f"app ({app}, active; working on: {said[:99]}…)" in line  # cut to 100 characters
    assert f"web ({web}, active)" in line


def test_mcp_bridge_summary(bridge, monkeypatch):
    bridge.start("lib", "library")

    async def main():
        async with Client(tools.server) as client:
            bridge.use("lib", monkeypatch)

            async def call(**args) -> dict:
                r = await client.call_tool("bridge_summary", args)
                assert not r.is_error, r.content[0].text
                return r.structured_content

            assert (await call())["summary"] is None
            assert (await call(summary="answering questions about the v2 API"))["summary"] == \
                "answering questions about the v2 API"
            assert (await call())["summary"] == "answering questions about the v2 API"
            cli = run_json(bridge, "lib", "summary")
            assert cli == await call()  # one shape for both front-ends
            r = await client.call_tool("bridge_summary", {"summary": "x" * 400})
            assert r.is_error and "300-character" in r.content[0].text
            assert (await call(clear=True))["summary"] is None

    anyio.run(main)
