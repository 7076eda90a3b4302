"""The smaller commands (whoami, peers, inbox, send, gc, demo) and the help text the README mirrors."""

from __future__ import annotations

import re
import time

import orjson
import pytest

from bridge.cli import main
from support import REPO


def test_whoami(bridge):
    sid = bridge.start("lib", "library")
    r = bridge.cli("lib", "whoami", check=True)
    assert r.out.startswith(f"{sid}  lib  {bridge.project('lib')}  label=library")
    assert orjson.loads(bridge.cli("lib", "whoami", "--json").stdout)["session"]["session_id"] == sid


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
    assert [(m["id"], m["status"]) for m in all_["messages"]] == [(mid, "read")] and all_["pending"] == 0


def test_send_any_type_and_in_reply_to(bridge):
    bridge.start("lib", "library")
    bridge.start("app")
    r = bridge.cli("app", "send", "library", "note", "fyi", "--in-reply-to", "msg-abc", "--json", check=True)
    sent = orjson.loads(r.stdout)
    m = sent["message"]
    assert (sent["version"], m["type"], m["in_reply_to"], m["status"]) == (1, "note", "msg-abc", "pending")
    got = orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "5").stdout)
    assert got["status"] == "message" and got["message"]["type"] == "note"  # unknown types are delivered as they are


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


def test_receive_shows_at_once_a_reply_a_listen_already_took(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q = bridge.cli("app", "send", "library", "query", "what changed?", check=True).out.strip()
    bridge.cli("lib", "listen", "--timeout", "5", check=True)
    bridge.cli("lib", "reply", q, "fetchUser replaced getUser", check=True)
    took = orjson.loads(bridge.cli("app", "listen", "--json", "--timeout", "5", check=True).stdout)["message"]
    assert (took["type"], took["in_reply_to"]) == ("response", q)
    started = time.monotonic()
    r = bridge.cli("app", "receive", q, "--timeout", "30", check=True)  # nothing new will come: it must not wait
    assert time.monotonic() - started < 15
    assert r.out == "fetchUser replaced getUser\n"
    assert "(delivered before; shown again)" in r.err and "from library" in r.err
    again = orjson.loads(bridge.cli("app", "receive", q, "--json", "--timeout", "1", check=True).stdout)
    assert (again["version"], again["status"], again["question_id"]) == (1, "answered", q)
    assert (again["answer"]["id"], again["answer"]["content"], again["answer"]["status"]) == (
        took["id"], "fetchUser replaced getUser", "read")


def test_peers_json_shows_one_status_per_peer(bridge, hosts):
    lib = bridge.start("lib", "library")
    agent = hosts()
    old = bridge.cli("old", "start", "--json", check=True, BRIDGE_HOST_PID=agent.pid)
    gone = orjson.loads(old.stdout)["session"]["session_id"]
    agent.exit()
    bridge.start("app")
    out = orjson.loads(bridge.cli("app", "peers", "--json", check=True).stdout)
    assert out["version"] == 1 and set(out) == {"version", "peers", "teams"}
    by_id = {p["session_id"]: p for p in out["peers"]}
    assert set(by_id) == {lib, gone}
    assert (by_id[lib]["status"], by_id[lib]["name"], by_id[lib]["label"]) == ("active", "library", "library")
    assert by_id[gone]["status"] == "gone"
    for p in out["peers"]:
        assert "liveness" not in p and set(p) == {"session_id", "name", "label", "project_name", "project_path",
                                                  "host", "status", "summary", "machine"}


def test_the_readme_has_a_row_for_every_agent_cli_doctor_knows():
    from bridge.hosts import HOSTS

    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- other-agents:start -->")[1].split("<!-- other-agents:end -->")[0]
    assert len(HOSTS) == 10
    for host in HOSTS.values():
        assert f"\n| {host.title} |" in section, host.title
