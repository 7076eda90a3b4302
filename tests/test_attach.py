"""Attachments: `send|ask|reply --attach FILE` and the MCP tools' `attachments` reference artifacts, and every
front-end shows them to the receiver with size and type (CLI text and --json, the prompt hook's digest, MCP results);
hostile metadata.artifacts never reaches a front-end."""

from __future__ import annotations

import base64
import hashlib
import subprocess

import anyio
import orjson
import pytest
from mcp import Client

from bridge import layout, message, views
from bridge.mcp import tools
from support import CLI, REPO, payload

SHA_A = "a" * 64


@pytest.fixture
def pair(bridge):
    lib = bridge.start("lib", "library")
    app = bridge.start("app", "app")
    return lib, app


def run_json(bridge, project: str, *args: str, **env) -> dict:
    return orjson.loads(bridge.cli(project, *args, "--json", check=True, **env).stdout)


def test_send_attach_is_listed_to_the_receiver_with_size_type_and_the_fetch_command(bridge, pair, tmp_path):
    (tmp_path / "trace.log").write_text("Traceback (most recent call last):\n" * 100)
    (tmp_path / "shot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    sent = run_json(bridge, "app", "send", "library", "query", "why does this fail?",
                    "--attach", str(tmp_path / "trace.log"), "--attach", str(tmp_path / "shot.png"))["message"]
    log_sha = hashlib.sha256((tmp_path / "trace.log").read_bytes()).hexdigest()
    png_sha = hashlib.sha256((tmp_path / "shot.png").read_bytes()).hexdigest()
    assert sent["attachments"] == [
        {"sha256": log_sha, "name": "trace.log", "size": 3500, "type": "text/plain"},
        {"sha256": png_sha, "name": "shot.png", "size": 2056, "type": "image/png"}]

    text = bridge.cli("lib", "listen", "--timeout", "10", check=True).out
    assert "why does this fail?" in text
    assert (f"[attachment] trace.log (3.4 KiB, text/plain) sha256 {log_sha}; fetch with: session-bridge artifact get "
            f"{log_sha} -o trace.log") in text
    assert f"[attachment] shot.png (2.0 KiB, image/png) sha256 {png_sha}" in text
    fetched = tmp_path / "got.png"
    bridge.cli("lib", "artifact", "get", png_sha, "-o", str(fetched), check=True)
    assert fetched.read_bytes() == (tmp_path / "shot.png").read_bytes()

    read = run_json(bridge, "lib", "read", sent["id"])["message"]
    assert read["attachments"] == sent["attachments"]
    assert run_json(bridge, "app", "outbox")["messages"][-1]["attachments"] == sent["attachments"]


def test_a_message_without_attachments_has_an_empty_list(bridge, pair):
    sent = run_json(bridge, "app", "send", "library", "query", "plain")["message"]
    assert sent["attachments"] == []
    assert "[attachment]" not in bridge.cli("lib", "listen", "--timeout", "10", check=True).out


def test_ask_and_reply_carry_attachments_both_ways(bridge, pair, tmp_path):
    (tmp_path / "q.diff").write_text("--- a\n+++ b\n")
    (tmp_path / "a.txt").write_text("the fix\n")
    asking = bridge.spawn("app", "ask", "library", "review this?", "--attach", str(tmp_path / "q.diff"), "--json",
                          "--timeout", "30")
    q = run_json(bridge, "lib", "listen", "--timeout", "20")["message"]
    assert [a["name"] for a in q["attachments"]] == ["q.diff"] and q["attachments"][0]["type"] == "text/x-diff"
    replied = run_json(bridge, "lib", "reply", q["id"], "see the fix", "--attach", str(tmp_path / "a.txt"))
    out, err = asking.communicate(timeout=30)
    assert asking.returncode == 0, err.decode()
    answer = orjson.loads(out)["answer"]
    assert answer["attachments"] == replied["message"]["attachments"]
    assert answer["attachments"][0]["sha256"] == hashlib.sha256(b"the fix\n").hexdigest()


def test_a_missing_attachment_fails_before_anything_is_sent(bridge, pair, tmp_path):
    r = bridge.cli("app", "send", "library", "query", "hi", "--attach", str(tmp_path / "nope.txt"))
    assert r.returncode == 1 and r.err.startswith("Error: cannot read") and r.err.count("\n") == 1
    assert run_json(bridge, "lib", "inbox")["messages"] == []
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2000)
    r = bridge.cli("app", "send", "library", "query", "hi", "--attach", str(big), BRIDGE_MAX_ARTIFACT="1000")
    assert r.returncode == 1 and "artifact limit" in r.err
    assert run_json(bridge, "lib", "inbox")["messages"] == []


def test_a_body_over_the_limit_suggests_attach(bridge, pair, tmp_path):
    r = bridge.cli("app", "send", "library", "query", "-", input="x" * (64 * 1024 + 1))
    assert r.returncode == 1 and r.err.count("\n") == 1
    assert "attach the data as an artifact (--attach FILE)" in r.err and "BRIDGE_MAX_BODY" in r.err
    big = tmp_path / "big.txt"
    big.write_text("x" * (64 * 1024 + 1))
    sent = run_json(bridge, "app", "send", "library", "query", "the data is attached", "--attach", str(big))
    assert sent["message"]["attachments"][0]["size"] == 64 * 1024 + 1  # the way around it works


def test_the_prompt_hook_lists_attachments(bridge, hosts, tmp_path):
    claude = hosts()
    lib = bridge.cli("lib", "start", "--label", "library", "--json", BRIDGE_HOST_PID=claude.pid,
                     CLAUDE_CODE_SESSION_ID="claude-lib", check=True)
    assert lib.returncode == 0
    bridge.start("app", "app")
    (tmp_path / "build.log").write_text("error: E0308 mismatched types\n")
    bridge.cli("app", "send", "library", "query", "can you read this log?", "--attach", str(tmp_path / "build.log"),
               check=True)
    proj = bridge.project("lib")
    r = subprocess.run([*CLI, "hook", "user-prompt-submit"], capture_output=True, timeout=30, cwd=proj,
                       input=payload("UserPromptSubmit", proj, session_id="claude-lib"),
                       env=bridge.env("lib", BRIDGE_HOST_PID=claude.pid, CLAUDE_PLUGIN_ROOT=str(REPO),
                                      CLAUDE_PROJECT_DIR=str(proj), CLAUDE_CODE_SESSION_ID="claude-lib"))
    assert r.returncode == 0, r.stderr
    text = orjson.loads(r.stdout)["hookSpecificOutput"]["additionalContext"]
    sha = hashlib.sha256(b"error: E0308 mismatched types\n").hexdigest()
    assert "can you read this log?" in text
    assert f"[attachment] build.log (30 B, text/plain) sha256 {sha}; fetch with: " in text
    assert f"artifact get {sha} -o build.log" in text


BAD_REFS = [
    "not a list",
    [{"sha256": "../../etc/passwd", "name": "x", "size": 1, "type": "text/plain"}],
    [{"sha256": SHA_A.upper(), "name": "x", "size": 1, "type": "text/plain"}],
    [{"sha256": SHA_A, "name": 5, "size": 1, "type": "text/plain"}],
    [{"sha256": SHA_A, "name": "x", "size": "1", "type": "text/plain"}],
    [{"sha256": SHA_A, "name": "x", "size": True, "type": "text/plain"}],
    [{"sha256": SHA_A, "name": "x", "size": -1, "type": "text/plain"}],
    [{"sha256": SHA_A, "name": "", "size": 1, "type": "text/plain"}],
    [{"sha256": SHA_A, "name": "x", "size": 1}],
    [{"sha256": SHA_A, "name": "x", "size": 1, "type": "t"}, "junk"],
    [{"sha256": SHA_A, "name": "x" * 300, "size": 1, "type": "t"}],
    [{"sha256": SHA_A, "name": "x", "size": 1, "type": "t"}] * 33,
]


@pytest.mark.parametrize("refs", BAD_REFS)
def test_malformed_artifact_metadata_is_dropped_and_the_message_kept(refs):
    raw = {"id": "msg-1", "from": "a", "to": "b", "type": "query", "content": "hi",
           "metadata": {"fromProject": "p", "artifacts": refs}}
    msg = message.parse(orjson.dumps(raw))
    assert "artifacts" not in msg["metadata"] and msg["content"] == "hi"
    assert views.message_view(msg)["attachments"] == []


def test_valid_artifact_metadata_is_kept_exactly_with_extra_keys_dropped():
    ref = {"sha256": SHA_A, "name": "x.txt", "size": 3, "type": "text/plain"}
    raw = {"id": "msg-1", "from": "a", "to": "b", "type": "query", "content": "hi",
           "metadata": {"artifacts": [{**ref, "path": "/etc/passwd"}]}}
    msg = message.parse(orjson.dumps(raw))
    assert msg["metadata"]["artifacts"] == [ref] and views.message_view(msg)["attachments"] == [ref]
    assert message.parse(orjson.dumps(msg)) == msg  # idempotent


def test_a_hostile_inbox_file_shows_no_attachments_and_is_not_quarantined(bridge, pair):
    lib, app = pair
    msg_id = message.new_id()
    hostile = {"id": msg_id, "from": app, "to": lib, "type": "query", "content": "look", "status": "pending",
               "metadata": {"artifacts": [{"sha256": "../../../etc/shadow", "name": "\x1b]52;c;x\x07", "size": 1,
                                           "type": "text/plain"}]}}
    layout.atomic_write(bridge.root / "sessions" / lib / "inbox" / f"{msg_id}.json", orjson.dumps(hostile))
    got = run_json(bridge, "lib", "listen", "--timeout", "10")["message"]
    assert got["id"] == msg_id and got["attachments"] == []
    assert not list((bridge.root / "sessions" / lib / "quarantine").iterdir())


def test_mcp_share_get_and_attach(bridge, pair, monkeypatch):
    binary = bytes(range(256)) * 4

    async def main():
        async with Client(tools.server) as client:
            async def call(tool: str, project: str, **args) -> dict:
                bridge.use(project, monkeypatch)
                r = await client.call_tool(tool, args)
                assert not r.is_error, f"{tool}: {r.content[0].text}"
                return r.structured_content

            async def error(tool: str, project: str, **args) -> str:
                bridge.use(project, monkeypatch)
                r = await client.call_tool(tool, args)
                assert r.is_error
                return r.content[0].text

            text = await call("bridge_share", "app", content="hello from MCP\n", name="hello.txt")
            blob = await call("bridge_share", "app", content=base64.b64encode(binary).decode(), name="blob.bin",
                              encoding="base64")
            assert text["artifact"] == {"sha256": hashlib.sha256(b"hello from MCP\n").hexdigest(),
                                        "name": "hello.txt", "size": 15, "type": "text/plain"}
            assert blob["artifact"]["type"] == "application/octet-stream" and blob["artifact"]["size"] == 1024
            assert "not valid base64" in await error("bridge_share", "app", content="%%%", name="x",
                                                     encoding="base64")

            sent = await call("bridge_send", "app", peer="library", text="two files",
                              attachments=[text["artifact"]["sha256"], blob["artifact"]["sha256"].upper()])
            assert sent["message"]["attachments"] == [text["artifact"], blob["artifact"]]
            listened = await call("bridge_listen", "lib", wait_s=10)
            assert listened["message"]["attachments"] == [text["artifact"], blob["artifact"]]

            got = await call("bridge_artifact_get", "lib", sha256=text["artifact"]["sha256"])
            assert (got["encoding"], got["content"], got["artifact"]) == ("text", "hello from MCP\n", text["artifact"])
            got = await call("bridge_artifact_get", "lib", sha256=blob["artifact"]["sha256"])
            assert got["encoding"] == "base64" and base64.b64decode(got["content"]) == binary
            assert "invalid artifact hash" in await error("bridge_artifact_get", "lib", sha256="../manifest")
            assert "no artifact" in await error("bridge_send", "app", peer="library", text="x",
                                                attachments=["0" * 64])
            listed = await call("bridge_artifact_list", "lib")
            assert {e["sha256"] for e in listed["artifacts"]} == {text["artifact"]["sha256"],
                                                                  blob["artifact"]["sha256"]}
            cli = run_json(bridge, "lib", "artifact", "list")
            assert cli == listed  # one shape for both front-ends

    anyio.run(main)
