"""The smaller commands (whoami, peers, inbox, send, gc, demo) and the help text the README mirrors."""

from __future__ import annotations

import re

import orjson
import pytest

from bridge.cli import main
from support import REPO


def test_whoami(bridge):
    sid = bridge.start("lib", "library")
    r = bridge.cli("lib", "whoami", check=True)
    assert r.out.startswith(f"{sid}  lib  {bridge.project('lib')}  label=library")
    assert orjson.loads(bridge.cli("lib", "whoami", "--json").stdout)["sessionId"] == sid


def test_peers_lists_others_not_me(bridge):
    assert "No other bridge sessions" in bridge.cli("app", "peers").out
    lib = bridge.start("lib", "library")
    app = bridge.start("app")
    lines = bridge.cli("app", "peers", check=True).out.splitlines()
    assert lines[0].split() == ["SESSION", "LABEL", "PROJECT", "HOST", "STATUS", "PATH"]
    assert lines[1].split()[:5] == [lib, "library", "lib", "cli", "active"]
    assert app not in "\n".join(lines)


def test_inbox_peeks_without_taking(bridge):
    bridge.start("lib", "library")
    bridge.start("app")
    mid = bridge.cli("app", "send", "library", "query", "first line\nsecond", check=True).out.strip()
    r = bridge.cli("lib", "inbox", check=True)
    assert re.match(rf"{mid}\s+pending\s+query\s+from \w+: first line$", r.out.strip())
    assert bridge.cli("lib", "inbox", check=True).out == r.out  # still there
    bridge.cli("lib", "listen", "--timeout", "5", check=True)
    assert bridge.cli("lib", "inbox").out == "No pending messages.\n"
    all_ = orjson.loads(bridge.cli("lib", "inbox", "--all", "--json").stdout)
    assert [(m["id"], m["status"]) for m in all_] == [(mid, "read")]


def test_send_any_type_and_in_reply_to(bridge):
    bridge.start("lib", "library")
    bridge.start("app")
    m = orjson.loads(bridge.cli("app", "send", "library", "note", "fyi", "--in-reply-to", "msg-abc", "--json").stdout)
    assert (m["type"], m["inReplyTo"], m["status"]) == ("note", "msg-abc", "pending")
    got = orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "5").stdout)
    assert got["type"] == "note"  # unknown types are delivered as they are


def test_gc_reports(bridge):
    bridge.start("lib")
    r = bridge.cli("lib", "gc", check=True)
    assert r.out == "Removed 0 session(s), redelivered 0 message(s), deleted 0 temp file(s).\n"


def test_demo_runs_the_whole_exchange_and_cleans_up(bridge, tmp_path):
    r = bridge.cli("x", "demo", timeout=120, TMPDIR=str(tmp_path))
    assert r.returncode == 0, r.err
    assert r.out.count("<- query from app") == 3 and r.out.count("-> answer from library") == 3
    assert "fetchUser(id: str" in r.out and "Done:" in r.out
    woke = [float(x) for x in re.findall(r"woke ([\d.]+) ms", r.out)]
    assert len(woke) == 3
    assert not list(tmp_path.glob("session-bridge-demo-*"))


@pytest.mark.parametrize("name", sorted(c for c in main.commands if c != "compat"))
def test_every_command_has_help_with_an_example_and_a_readme_row(name):
    cmd = main.commands[name]
    assert cmd.help and ("Example" in cmd.help or name in ("hook", "mcp"))
    readme = (REPO / "README.md").read_text()
    assert f"session-bridge {name}" in readme


def test_version():
    from click.testing import CliRunner

    from bridge import __version__

    assert CliRunner().invoke(main, ["--version"]).output == f"session-bridge, version {__version__}\n"

