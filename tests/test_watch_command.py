"""`session-bridge watch` (the notifier behind the Claude Code plugin's monitor) and scripts/monitor, as real
processes: one short pointer line per new message (never its body), coalesced bursts, noticed-not-read, silence while
unbridged or in another delivery mode, no exit on errors, exit when the agent is gone."""

from __future__ import annotations

import os
import selectors
import subprocess
import time

import orjson
import psutil
import pytest

from support import CLI, SCRIPTS, wait_until

DEADLINE = 60  # generous: a loaded 2-core machine


class Lines:
    """A process's stdout, read line by line with a deadline (never a sleep)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.sel = selectors.DefaultSelector()
        self.sel.register(proc.stdout, selectors.EVENT_READ)
        self.buf = b""

    def next(self, timeout: float = DEADLINE) -> str:
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                raise AssertionError(f"no line within {timeout}s (have {self.buf!r})")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"stdout closed (exit {self.proc.wait()}); have {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def until(condition, what: str, timeout: float = DEADLINE):
    """support.wait_until, with this module's deadline."""
    return wait_until(condition, timeout, what)


@pytest.fixture
def watcher(bridge, hosts):
    """start(project) runs `session-bridge watch` for a stand-in agent of that project; all are ended after."""
    started = []

    def start(project: str, host=None, *args: str, **env: str):
        host = host or hosts("claude")
        proc = subprocess.Popen([*CLI, "watch", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=bridge.env(project, BRIDGE_HOST_PID=host.pid, BRIDGE_NOTIFIER_RECHECK="0.5",
                                               **env))
        started.append(proc)
        return proc, Lines(proc), host

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


def states(bridge, sender: str) -> dict[str, str]:
    out = orjson.loads(bridge.cli(sender, "outbox", "--json", check=True).stdout)
    return {m["id"]: m["state"] for m in out["messages"]}


def test_a_message_becomes_one_pointer_line_and_stays_unread_until_taken(bridge, watcher, hosts):
    host = hosts("claude")
    bridge.cli("lib", "start", "--label", "lib", check=True, BRIDGE_HOST_PID=host.pid)
    bridge.start("app", "app")
    proc, lines, _ = watcher("lib", host)
    body = "what changed in v2?\n" + "SECRET-BODY " * 200
    q = bridge.cli("app", "send", "lib", "query", body, check=True).out.strip()
    line = lines.next()
    assert line.startswith("session-bridge: query ") and q in line and "from app" in line
    assert '"what changed in v2?"' in line and "SECRET-BODY" not in line and len(line) <= 500
    assert f"read {q}" in line and f"reply {q}" in line  # the commands that take and answer it
    until(lambda: states(bridge, "app").get(q) == "noticed", "the sender sees its query noticed")
    inbox = orjson.loads(bridge.cli("lib", "inbox", "--json", check=True, BRIDGE_HOST_PID=host.pid).stdout)
    assert q in [m["id"] for m in inbox["messages"]]  # noticed is not read
    taken = orjson.loads(bridge.cli("lib", "read", q, "--json", check=True, BRIDGE_HOST_PID=host.pid).stdout)
    assert taken["message"]["content"] == body
    until(lambda: states(bridge, "app").get(q) == "read", "read once taken")
    assert proc.poll() is None


def test_a_burst_becomes_one_line_and_every_message_is_noticed(bridge, watcher, hosts):
    host = hosts("claude")
    bridge.cli("lib", "start", "--label", "lib", check=True, BRIDGE_HOST_PID=host.pid)
    bridge.start("app", "app")
    bridge.start("web", "web")
    proc, lines, _ = watcher("lib", host)
    first = bridge.cli("app", "send", "lib", "note", "one", check=True).out.strip()
    assert first in lines.next()
    # sent right after a line: they wait out the 2 s rate limit together and come as one line
    sent = [bridge.cli(p, "send", "lib", "note", f"n{i}", check=True).out.strip()
            for i, p in enumerate(["app", "web", "app"])]
    line = lines.next()
    assert line.startswith("session-bridge: 3 new messages from ") and all(m in line for m in sent)
    assert "app (2)" in line and "web (1)" in line
    until(lambda: all(states(bridge, "app").get(m) == "noticed" for m in [first, sent[0], sent[2]]), "all noticed")


def test_silent_until_the_agent_bridges_then_it_announces_without_a_restart(bridge, watcher, hosts):
    host = hosts("claude")
    proc, lines, _ = watcher("lib", host)
    log = bridge.root / "logs" / f"monitor-{host.pid}.log"
    until(lambda: log.exists() and "no bridge session for this agent yet" in log.read_text(), "it says why")
    bridge.cli("lib", "start", "--label", "lib", check=True, BRIDGE_HOST_PID=host.pid)
    bridge.start("app", "app")
    q = bridge.cli("app", "ask", "lib", "hello?", "--timeout", "1").out  # times out: nobody answers
    line = lines.next()
    assert "query" in line and '"hello?"' in line
    assert proc.poll() is None and q == ""


def test_another_delivery_mode_keeps_it_quiet_and_auto_brings_it_back(bridge, watcher, hosts):
    host = hosts("claude")
    bridge.cli("lib", "start", "--label", "lib", check=True, BRIDGE_HOST_PID=host.pid)
    bridge.start("app", "app")
    bridge.cli("lib", "delivery", "hook", check=True, BRIDGE_HOST_PID=host.pid)
    proc, lines, _ = watcher("lib", host)
    log = bridge.root / "logs" / f"monitor-{host.pid}.log"
    quiet = bridge.cli("app", "send", "lib", "note", "not announced", check=True).out.strip()
    until(lambda: log.exists() and "delivery is hook, not monitor: silent" in log.read_text(), "it says why")
    assert states(bridge, "app")[quiet] == "queued"
    bridge.cli("lib", "delivery", "auto", check=True, BRIDGE_HOST_PID=host.pid)
    assert quiet in lines.next()  # the waiting one is announced once the mode allows it
    status = orjson.loads(bridge.cli("lib", "status", "--json", check=True, BRIDGE_HOST_PID=host.pid).stdout)
    assert status["delivery"]["mode"] == "auto" and status["delivery"]["effective"] == "monitor"
    assert status["delivery"]["paths"]["monitor"]["armed"] is True


def test_it_survives_a_stopped_session_and_hostile_files_and_ends_with_its_agent(bridge, watcher, hosts):
    host = hosts("claude")
    sid = bridge.cli("lib", "start", "--label", "lib", check=True, BRIDGE_HOST_PID=host.pid).out
    bridge.start("app", "app")
    proc, lines, _ = watcher("lib", host)
    inbox = next((bridge.root / "sessions").glob("*/inbox"))
    os.mkfifo(inbox / "msg-1-fifo000.json")  # not a message: quarantined, never blocks the notifier
    good = bridge.cli("app", "send", "lib", "note", "after the fifo", check=True).out.strip()
    assert good in lines.next()
    bridge.cli("lib", "stop", check=True, BRIDGE_HOST_PID=host.pid)
    log = bridge.root / "logs" / f"monitor-{host.pid}.log"
    until(lambda: "no bridge session for this agent yet" in log.read_text(), "it waits for a new session")
    assert proc.poll() is None and sid
    bridge.cli("lib", "start", "--label", "lib", check=True, BRIDGE_HOST_PID=host.pid)
    again = bridge.cli("app", "send", "lib", "note", "to the new session", check=True).out.strip()
    assert again in lines.next()
    host.exit()
    assert proc.wait(timeout=DEADLINE) == 0
    assert "ending: the agent exited" in log.read_text()


def test_the_monitor_script_waits_in_the_shell_until_bridged(bridge, hosts, tmp_path):
    """scripts/monitor: no Python while the session is not bridged, then `watch`'s lines once it is."""
    host = hosts("claude")
    env = bridge.env("lib", BRIDGE_HOST_PID=host.pid, BRIDGE_NOTIFIER_RECHECK="0.5", CLAUDE_PROJECT_DIR=str(
        bridge.project("lib")), PATH=f"{os.path.dirname(CLI[0])}:{os.environ['PATH']}")
    env.pop("PROJECT_DIR")
    bridge.start("other", "other")  # a session elsewhere on the machine: not this project's
    proc = subprocess.Popen([str(SCRIPTS / "monitor")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=bridge.project("lib"))
    try:
        me = psutil.Process(proc.pid)

        def children() -> list[str]:
            try:
                return [c.name() for c in me.children(recursive=True)]
            except psutil.Error:
                return []

        seen = until(lambda: (names := children()) and "sleep" in names and names, "the shell waits in sleep")
        assert not any(n.startswith("python") or n == "session-bridge" for n in seen), seen
        bridge.cli("lib", "start", "--label", "lib", check=True, BRIDGE_HOST_PID=host.pid)
        q = bridge.cli("other", "send", "lib", "query", "are you there?", check=True).out.strip()
        line = Lines(proc).next()
        assert q in line and '"are you there?"' in line
    finally:
        for p in psutil.Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()
        proc.wait()
