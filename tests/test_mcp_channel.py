"""`session-bridge mcp --channels`: Claude Code channel events, checked on the raw JSON-RPC wire of a real server.

The SDK's ClientSession ignores unknown notifications, so these tests read the server's stdout line by line
(mcp_support.RawServer). Every wait is for a line, with a deadline; none sleeps.
"""

from __future__ import annotations

import json
import queue
import statistics
import time

import pytest

from bridge import protocol, sessions
from mcp_support import FIXTURES, MODERN_META, RawServer, cli

CHANNEL = "notifications/claude/channel"


def next_event(srv: RawServer, timeout: float = 10) -> dict:
    """The next channel event from the server (one that came before a response is taken from srv.notes)."""
    deadline = time.monotonic() + timeout
    while True:
        for i, note in enumerate(srv.notes):
            if note.get("method") == CHANNEL:
                return srv.notes.pop(i)
        left = deadline - time.monotonic()
        try:
            assert left > 0
            srv.notes.append(srv.recv(left))
        except (AssertionError, queue.Empty):
            pytest.fail(f"no channel event within {timeout}s; other lines: {srv.notes}")


def tool(srv: RawServer, name: str, **args) -> dict:
    """Call a tool over the raw wire; its structured result."""
    r = srv.request("tools/call", {"name": name, "arguments": args})["result"]
    assert r["isError"] is False, r
    return r["structuredContent"]


def states(root, project) -> dict[str, str]:
    """What became of each message the session of `project` sent, as its sender sees it (`outbox`)."""
    return {m["id"]: m["state"] for m in json.loads(cli(root, project, "outbox", "--json").stdout)["messages"]}


def two_sessions(tmp_path) -> tuple:
    """root, the listening project "library" (its session id), and the peer project "app"."""
    root, lib, app = tmp_path / "bridge", tmp_path / "lib", tmp_path / "app"
    sid = json.loads(cli(root, lib, "start", "--label", "library", "--json").stdout)["session"]["session_id"]
    cli(root, app, "start", "--label", "app")
    return root, lib, sid, app


# --- the handshake ------------------------------------------------------------------------------------------------


def test_with_channels_discover_is_refused_and_initialize_follows_on_the_same_connection(tmp_path):
    """Claude Code drops channel events on a connection that answered server/discover; refused with -32601, it
    falls back to initialize, which must then work on the same connection, declare the capability and serve tools."""
    srv = RawServer(tmp_path / "b", tmp_path / "p", "--channels")
    try:
        refused = srv.request("server/discover", {"_meta": MODERN_META})
        assert refused["error"]["code"] == -32601 and "result" not in refused
        r = srv.initialize()["result"]
        assert r["protocolVersion"] == "2025-06-18"
        assert r["capabilities"]["experimental"] == {"claude/channel": {}}
        assert "tools" in r["capabilities"]
        assert len(srv.request("tools/list")["result"]["tools"]) == len(json.loads((FIXTURES / "mcp_tools.json").read_text()))
        assert tool(srv, "bridge_start", label="library")["created"] is True
        assert tool(srv, "bridge_whoami")["session"]["label"] == "library"
    finally:
        assert srv.close() == 0

    # A 2026-07-28 client that skips discover still gets its tools (only discover is refused; no events there).
    modern = RawServer(tmp_path / "b", tmp_path / "p", "--channels")
    try:
        tools = modern.request("tools/list", {"_meta": MODERN_META})["result"]["tools"]
        assert len(tools) == len(json.loads((FIXTURES / "mcp_tools.json").read_text()))
    finally:
        assert modern.close() == 0


def test_without_channels_discover_is_answered_without_the_capability(tmp_path):
    srv = RawServer(tmp_path / "b", tmp_path / "p")
    try:
        r = srv.request("server/discover", {"_meta": MODERN_META})["result"]
        assert "2026-07-28" in r["supportedVersions"] and "tools" in r["capabilities"]
        assert "claude/channel" not in r["capabilities"].get("experimental", {})
    finally:
        assert srv.close() == 0


# --- pointers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("handshake", ["initialize", "discover refused, then initialize"])
def test_a_peer_message_is_pushed_as_a_pointer_and_stays_unread_until_taken(tmp_path, handshake):
    root, lib, sid, app = two_sessions(tmp_path)
    subject = "Which function replaced getUser() in the 2.0 API, and " + "x" * 200
    early = cli(root, app, "send", "library", "query", f"{subject}\nSECRET-BODY-LINE with the details").stdout.strip()

    srv = RawServer(root, lib, "--channels")
    try:
        if handshake != "initialize":
            assert srv.request("server/discover", {"_meta": MODERN_META})["error"]["code"] == -32601
        srv.initialize()
        assert srv.notes == []  # nothing is pushed before the client has its initialize answer

        event = next_event(srv)["params"]
        meta, content = event["meta"], event["content"]
        assert meta == {"message_id": early, "type": "query", "from": "app", "from_session": meta["from_session"]}
        assert "Which function replaced getUser() in the 2.0 API" in content  # the subject ...
        assert "x" * 120 not in content and "SECRET-BODY-LINE" not in content  # ... cut short, never the body
        assert f"bridge_read tool (message_id {early})" in content and f"read {early}" in content
        assert f"bridge_reply tool (message_id {early})" in content
        assert len(content) < 600

        # Noticed, not read: the sender sees "noticed", the message still waits in the inbox.
        assert states(root, app) == {early: "noticed"}
        inbox = json.loads(cli(root, lib, "inbox", "--json", BRIDGE_SESSION_ID=sid).stdout)
        assert [(m["id"], m["status"]) for m in inbox["messages"]] == [(early, "pending")]

        later_id = cli(root, app, "send", "library", "query", "and one while it runs").stdout.strip()
        assert next_event(srv)["params"]["meta"]["message_id"] == later_id

        # Taking it (the read tool) reads it; answering the other one reads and answers it.
        taken = tool(srv, "bridge_read", message_id=early)
        assert taken["already_read"] is False and "SECRET-BODY-LINE" in taken["message"]["content"]
        tool(srv, "bridge_reply", message_id=later_id, text="thanks")
        assert states(root, app) == {early: "read", later_id: "answered"}
    finally:
        assert srv.close() == 0


def test_an_unread_pointer_is_pushed_again_after_the_backoff_and_a_read_one_never(tmp_path):
    root, lib, sid, app = two_sessions(tmp_path)
    srv = RawServer(root, lib, "--channels")
    try:
        srv.initialize()
        first = cli(root, app, "send", "library", "query", "are you there?").stdout.strip()
        assert next_event(srv)["params"]["meta"]["message_id"] == first

        # The backoff passes (noticed an hour ago), then any arrival wakes the pusher: here a ping, never pushed.
        box = sessions.load(root, sid).mailbox
        box.mark_noticed(box.find(first), now=time.time() - 3600)
        cli(root, app, "connect", "library")
        again = next_event(srv)["params"]
        assert again["meta"]["message_id"] == first and again["content"].startswith("Still unread: ")

        tool(srv, "bridge_read", message_id=first)
        second = cli(root, app, "send", "library", "query", "and now?").stdout.strip()
        assert next_event(srv)["params"]["meta"]["message_id"] == second  # the read one did not come first
        assert {k: v for k, v in states(root, app).items() if k in (first, second)} == {first: "read",
                                                                                        second: "noticed"}
    finally:
        assert srv.close() == 0


def test_an_answer_an_ask_waits_for_is_left_to_the_ask(tmp_path):
    root, lib, sid, app = two_sessions(tmp_path)
    srv = RawServer(root, lib, "--channels")
    try:
        srv.initialize()
        srv.send({"jsonrpc": "2.0", "id": 900, "method": "tools/call",
                  "params": {"name": "bridge_ask", "arguments": {"peer": "app", "question": "which port?",
                                                                   "wait_s": 30}}})
        question = json.loads(cli(root, app, "listen", "--timeout", "20", "--json").stdout)["message"]
        answer = cli(root, app, "reply", question["id"], "port 8080", "--json")
        answer_id = json.loads(answer.stdout)["message"]["id"]
        asked = srv.recv()
        while asked.get("id") != 900:
            srv.notes.append(asked)
            asked = srv.recv()
        assert asked["result"]["structuredContent"]["answer"]["id"] == answer_id

        # Pointers go out oldest first: had the answer been pushed, it would come before this one.
        note = cli(root, app, "send", "library", "note", "unrelated").stdout.strip()
        assert next_event(srv)["params"]["meta"]["message_id"] == note
        assert [n for n in srv.notes if n.get("method") == CHANNEL] == []
    finally:
        assert srv.close() == 0


def test_a_closed_stdout_loses_nothing(tmp_path):
    """The client stops reading before a push: the push fails, nothing is marked, the message still waits."""
    root, lib, sid, app = two_sessions(tmp_path)
    srv = RawServer(root, lib, "--channels", pump=False)
    try:
        srv.initialize()
        srv.request("tools/list")
        srv.proc.stdout.close()  # the client stops reading: the next push cannot be written
        mid = cli(root, app, "send", "library", "query", "will the push fail?").stdout.strip()
        srv.stderr_until(f"channel push of {mid} did not complete")
    finally:
        assert srv.close() == 0

    assert states(root, app) == {mid: "queued"}
    inbox = json.loads(cli(root, lib, "inbox", "--json", BRIDGE_SESSION_ID=sid).stdout)
    assert [(m["id"], m["status"], m["attempt"]) for m in inbox["messages"]] == [(mid, "pending", 1)]
    listened = json.loads(cli(root, lib, "listen", "--timeout", "5", "--json", BRIDGE_SESSION_ID=sid).stdout)
    assert listened["message"]["id"] == mid and listened["message"]["content"] == "will the push fail?"


def test_push_latency_from_send_to_the_channel_line(tmp_path):
    """A message sent with the in-process API reaches the wire as a channel line within a fraction of a second."""
    root, lib, sid, app = two_sessions(tmp_path)
    me = next(s for s in sessions.all_sessions(root) if s.id != sid)  # the sender, "app"
    target = sessions.load(root, sid)
    srv = RawServer(root, lib, "--channels")
    try:
        srv.initialize()
        srv.request("tools/list")
        took = []
        for i in range(5):
            sent = time.monotonic()
            msg = protocol.send(me, target, "note", f"ping {i}")
            assert next_event(srv)["params"]["meta"]["message_id"] == msg["id"]
            took.append(time.monotonic() - sent)
        median = statistics.median(took)
        print(f"push latency send -> channel line: median {median * 1000:.1f} ms, all "
              f"{', '.join(f'{t * 1000:.1f}' for t in took)} ms")
        assert median < 1.0
    finally:
        assert srv.close() == 0

