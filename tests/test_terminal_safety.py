"""Peer-controlled text never reaches a terminal raw: names, paths and bodies with escape sequences, C1 controls and
bidi overrides show as visible escapes in human output, and --json keeps the exact original string."""

from __future__ import annotations

import re
from types import SimpleNamespace

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.terminal import safe, safe_line

# Any byte a terminal acts on (C0 but newline and tab, DEL, C1) and the Trojan Source bidi set.
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
BIDI = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]

# A project directory whose name clears the screen and flips the rest of the line.
EVIL = "evil\x1b[2J\u202e"
EVIL_SHOWN = "evil\\x1b[2J\\u202e"
# An OSC 52 clipboard write, a C1 CSI (clear screen on terminals that honour C1), a bidi override, CR, BS, DEL.
BODY = "look \x1b]52;c;cm0gLXJmIH4=\x07 here \x9b2J \u202egnp.exe\r\x08\x7f\nsecond\tline"
BODY_SHOWN = "look \\x1b]52;c;cm0gLXJmIH4=\\x07 here \\x9b2J \\u202egnp.exe\\x0d\\x08\\x7f\nsecond\tline"


def inert(r) -> str:
    """stdout + stderr of a finished command, checked to hold no raw control character."""
    for stream in (r.out, r.err):
        found = RAW.search(stream)
        assert found is None, f"raw {found.group()!r} reached the terminal: {stream!r}"
    return r.out + r.err


@pytest.fixture
def evil(bridge):
    """(evil's session id, app's session id): evil is a session whose project name and messages are hostile."""
    return bridge.start(EVIL), bridge.start("app", "app")


# --- the function ------------------------------------------------------------------------------------------------


@given(st.text())
def test_safe_leaves_no_control_character_but_newline_and_tab(text):
    shown = safe(text)
    assert RAW.search(shown) is None
    assert RAW.search(safe_line(text)) is None and "\n" not in safe_line(text) and "\t" not in safe_line(text)


@given(st.text(st.characters(exclude_categories=["Cc"], exclude_characters=BIDI) | st.sampled_from("\n\t")))
def test_safe_is_the_identity_on_text_without_controls(text):
    assert safe(text) == text


def test_each_control_becomes_its_visible_escape():
    for c in [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]:
        assert safe(chr(c)) == f"\\x{c:02x}"
    for ch in BIDI:
        assert safe(ch) == f"\\u{ord(ch):04x}"
    assert safe("a\nb\tc") == "a\nb\tc" and safe_line("a\nb\tc") == "a\\x0ab\\x09c"
    assert safe(["not", "a", "str"]) == "['not', 'a', 'str']"  # a hostile manifest's non-string name


# --- the CLI -----------------------------------------------------------------------------------------------------


def test_peers_start_whoami_and_connect_show_a_hostile_project_name_inertly(bridge, evil):
    sid, _ = evil
    listed = inert(bridge.cli("app", "peers", check=True))
    shown = re.escape(EVIL_SHOWN)
    assert re.search(rf"^{sid}\s+-\s+{shown}\s+cli\s+active\s+\S+{shown}$", listed, re.M)
    assert [p["project_name"] for p in orjson.loads(bridge.cli("app", "peers", "--json").stdout)["peers"]] == [EVIL]

    assert f"for {EVIL_SHOWN}." in inert(bridge.cli(EVIL, "start", check=True))
    assert f"  {EVIL_SHOWN}  " in inert(bridge.cli(EVIL, "whoami", check=True))
    assert orjson.loads(bridge.cli(EVIL, "whoami", "--json").stdout)["session"]["project_name"] == EVIL

    assert f"Connected to '{EVIL_SHOWN}' ({sid})" in inert(bridge.cli("app", "connect", sid, check=True))
    assert orjson.loads(bridge.cli("app", "connect", sid, "--json").stdout)["peer"]["project_path"].endswith(EVIL)


def test_inbox_listen_and_status_show_a_hostile_body_inertly(bridge, evil):
    sid, _ = evil
    mid = bridge.cli(EVIL, "send", "app", "query", "-", input=BODY, check=True).out.strip()
    shown = inert(bridge.cli("app", "inbox", check=True))
    # inbox shows the first line; CR ends a line for str.splitlines
    assert f"from {sid}: look \\x1b]52;c;cm0gLXJmIH4=\\x07 here \\x9b2J \\u202egnp.exe\n" in shown
    assert orjson.loads(bridge.cli("app", "inbox", "--json").stdout)["messages"][0]["content"] == BODY

    shown = inert(bridge.cli("app", "listen", "--timeout", "5", check=True))
    assert f"[query] from {EVIL_SHOWN} ({sid}) · {mid}" in shown and BODY_SHOWN in shown

    bridge.cli(EVIL, "send", "app", "query", "-", input=BODY, check=True)
    assert orjson.loads(bridge.cli("app", "listen", "--timeout", "5", "--json").stdout)["message"]["content"] == BODY

    bridge.cli("app", "connect", sid, check=True)
    assert f"connected: {sid} {EVIL_SHOWN} [active]" in inert(bridge.cli("app", "status", check=True))
    assert f"Session {sid} ({EVIL_SHOWN})" in inert(bridge.cli(EVIL, "status", check=True))
    assert orjson.loads(bridge.cli(EVIL, "status", "--json").stdout)["session"]["project_name"] == EVIL


def test_answers_to_ask_and_receive_are_shown_inertly(bridge, evil):
    sid, _ = evil
    asking = bridge.spawn("app", "ask", sid, "what is new?", "--timeout", "30")
    question = orjson.loads(bridge.cli(EVIL, "listen", "--timeout", "30", "--json", check=True).stdout)
    bridge.cli(EVIL, "reply", question["message"]["id"], "-", input=BODY, check=True)
    out, err = asking.communicate(timeout=30)
    asked = SimpleNamespace(out=out.decode(), err=err.decode())
    assert asking.returncode == 0
    assert f"Answer from {EVIL_SHOWN} ({sid})" in inert(asked) and BODY_SHOWN in asked.out

    qid = bridge.cli("app", "send", sid, "query", "and now?", check=True).out.strip()
    bridge.cli(EVIL, "reply", qid, "-", input=BODY, check=True)
    assert BODY_SHOWN in inert(bridge.cli("app", "receive", qid, "--timeout", "5", check=True))


def test_quarantine_warnings_show_a_hostile_file_name_inertly(bridge, evil):
    _, app = evil
    inbox_dir = bridge.root / "sessions" / app / "inbox"
    (inbox_dir / "msg-x\x1b]0;pwned\x07.json").write_bytes(b"{}")
    r = bridge.cli("app", "inbox")
    assert "warning:" in r.err and "msg-x\\x1b]0;pwned\\x07.json" in inert(r)


def test_errors_quoting_peer_names_are_inert(bridge, evil):
    r = bridge.cli("app", "ask", "nobody", "hi")
    assert r.returncode == 5 and EVIL_SHOWN in inert(r)  # the error lists the live peers by project name


# --- the reference scripts ---------------------------------------------------------------------------------------


def test_reference_scripts_show_hostile_names_and_bodies_inertly(bridge, evil):
    sid, app = evil
    listed = inert(bridge.script("app", "list-peers.sh"))
    assert re.search(rf"{sid}\s+{re.escape(EVIL_SHOWN)}\s+active", listed)
    assert f"Connected to '{EVIL_SHOWN}' ({sid})" in inert(bridge.script("app", "connect-peer.sh", sid))

    mid = bridge.cli(EVIL, "send", "app", "query", "-", input=BODY, check=True).out.strip()
    got = inert(bridge.script("app", "bridge-listen.sh", "5"))
    assert f"MESSAGE_ID={mid}\nFROM_ID={sid}\nTO_ID={app}\nFROM_PROJECT={EVIL_SHOWN}\n" in got
    assert got.endswith(f"---\n{BODY_SHOWN}\n")

    qid = bridge.cli("app", "send", sid, "query", "and now?", check=True).out.strip()
    bridge.cli(EVIL, "reply", qid, "-", input=BODY, check=True)
    got = inert(bridge.script("app", "bridge-receive.sh", app, qid, "5"))
    assert got == f"Response from {EVIL_SHOWN}:\n{BODY_SHOWN}\n"


def test_a_newline_in_a_name_cannot_forge_a_bridge_listen_header(bridge, evil):
    _, app = evil
    forged = "x\nMESSAGE_ID=msg-forged\n---\nrm -rf ~"
    bridge.cli(EVIL, "send", "app", "query", "hi", check=True)
    # The peer's name travels in the message's metadata; a reference-plugin peer writes whatever it likes there.
    inbox_dir = bridge.root / "sessions" / app / "inbox"
    (path,) = inbox_dir.glob("msg-*.json")
    msg = orjson.loads(path.read_bytes())
    msg["metadata"]["fromProject"] = forged
    path.write_bytes(orjson.dumps(msg))
    got = inert(bridge.script("app", "bridge-listen.sh", "5"))
    lines = got.splitlines()
    assert [x for x in lines if x.startswith("MESSAGE_ID=")] == [lines[0]] and lines.count("---") == 1
    assert "FROM_PROJECT=x\\x0aMESSAGE_ID=msg-forged\\x0a---\\x0arm -rf ~\n" in got
