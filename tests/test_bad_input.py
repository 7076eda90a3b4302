"""Bad input through the CLI: one clear line naming the fix, the right exit code, and no message lost."""

from __future__ import annotations

import orjson
import pytest


@pytest.fixture
def pair(bridge):
    lib = bridge.start("lib", "library")
    app = bridge.start("app", "app")
    return lib, app


def inbox(bridge, project: str) -> list[dict]:
    return orjson.loads(bridge.cli(project, "inbox", "--json", check=True).stdout)["messages"]


def one_line_error(r, code: int, *needles: str) -> None:
    assert r.returncode == code, r.err
    assert r.err.count("\n") == 1 and r.err.startswith("Error: "), r.err
    for n in needles:
        assert n in r.err, r.err


def test_oversized_body_is_refused_and_nothing_is_sent(bridge, pair):
    r = bridge.cli("app", "send", "library", "query", "-", input="x" * (64 * 1024 + 1))
    one_line_error(r, 1, "65537 bytes, over the 65536-byte limit", "--attach FILE", "BRIDGE_MAX_BODY")
    assert inbox(bridge, "lib") == []
    r = bridge.cli("app", "send", "library", "query", "-", input="x" * 2000, BRIDGE_MAX_BODY="1000")
    one_line_error(r, 1, "over the 1000-byte limit")
    assert bridge.cli("app", "send", "library", "query", "-", input="x" * 900, BRIDGE_MAX_BODY="1000").returncode == 0


def test_non_utf8_bodies_are_refused(bridge, pair, tmp_path):
    r = bridge.cli("app", "ask", "library", "-", input=b"caf\xe9")
    one_line_error(r, 1, "not valid UTF-8")
    f = tmp_path / "blob.bin"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    one_line_error(bridge.cli("app", "send", "library", "query", "--file", str(f)), 1, "not valid UTF-8")
    assert inbox(bridge, "lib") == []


def test_unknown_peer_lists_the_live_ones(bridge, pair):
    lib, _ = pair
    r = bridge.cli("app", "ask", "backend", "hi")
    one_line_error(r, 5, "no session named 'backend'", f"{lib} (lib, library)", "session-bridge peers")


@pytest.mark.parametrize("target", ["../lib", "../../etc/passwd", "lib/../x"])
def test_path_traversal_in_targets_is_refused(bridge, pair, target):
    one_line_error(bridge.cli("app", "send", target, "query", "hi"), 5, "invalid peer name")


@pytest.mark.parametrize("msg_id", ["../../manifest", "msg-1/../../x", ".hidden"])
def test_path_traversal_in_message_ids_is_refused(bridge, pair, msg_id):
    one_line_error(bridge.cli("lib", "reply", msg_id, "hi"), 1, "invalid message id")
    one_line_error(bridge.cli("app", "receive", msg_id, "--timeout", "1"), 1, "invalid message id")


@pytest.mark.parametrize("label", ["../x", "a/b", ".dot", "with space"])
def test_bad_labels_are_refused(bridge, label):
    one_line_error(bridge.cli("p", "start", "--label", label), 1, "invalid label")
    assert not (bridge.root / "sessions").exists() or not list((bridge.root / "sessions").iterdir())


def test_bad_message_type_is_refused(bridge, pair):
    one_line_error(bridge.cli("app", "send", "library", "../evil", "hi"), 1, "invalid message type")


def test_commands_without_a_session_say_how_to_start(bridge):
    r = bridge.cli("nowhere", "listen", "--timeout", "1")
    one_line_error(r, 4, "no bridge session", "session-bridge start")


def test_reply_to_an_unknown_message(bridge, pair):
    one_line_error(bridge.cli("lib", "reply", "msg-nope", "hi"), 1, "no message msg-nope", "inbox --all")


def test_corrupt_inbox_files_are_reported_once_and_listening_goes_on(bridge, pair):
    lib, _ = pair
    inbox_dir = bridge.root / "sessions" / lib / "inbox"
    (inbox_dir / "msg-broken.json").write_bytes(b'{"id": "msg-broken", "fro')
    bridge.cli("app", "send", "library", "query", "still works", check=True)
    r = bridge.cli("lib", "listen", "--timeout", "5")
    assert r.returncode == 0 and "still works" in r.out
    assert "warning: moved unreadable inbox file msg-broken.json" in r.err
    again = bridge.cli("lib", "inbox")
    assert "warning" not in again.err
    assert list((bridge.root / "sessions" / lib / "quarantine").glob("*msg-broken.json"))


def test_json_errors_are_json(bridge):
    r = bridge.cli("nowhere", "whoami", "--json")
    assert r.returncode == 4
    out = orjson.loads(r.stdout)
    assert out["version"] == 1 and out["exit_code"] == 4 and "session-bridge start" in out["error"]


def test_bad_bridge_max_body(bridge, pair):
    one_line_error(bridge.cli("app", "send", "library", "query", "x", BRIDGE_MAX_BODY="lots"), 1, "BRIDGE_MAX_BODY")


def test_missing_body_on_a_terminal_is_explained(bridge, pair):
    r = bridge.cli("app", "send", "library", "query", "--file", "/nonexistent/file")
    one_line_error(r, 1, "cannot read /nonexistent/file")


def test_empty_body_from_stdin_is_refused(bridge, pair):
    one_line_error(bridge.cli("app", "ask", "library", "-", input=""), 1, "message body is empty")
    assert inbox(bridge, "lib") == []
