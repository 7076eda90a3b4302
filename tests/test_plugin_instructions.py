"""The shell commands the model is told to run (commands/bridge.md, the bridge-awareness SKILL.md) work as written.

Every ```bash block is taken from the Markdown, ${CLAUDE_PLUGIN_ROOT} is substituted as Claude Code does, the <...>
placeholders are filled the way the text tells the model to fill them, and the result runs under bash in a scripted
two-session scenario: the library's session listens and answers, the app's session connects and asks. Outputs are
read the way the text says to read them. Every block must be run by the scenario, so a new one cannot go untested.
"""

from __future__ import annotations

import re
import subprocess

import orjson
import pytest

from support import Host
from support import REPO

DOCS = {"bridge.md": REPO / "commands" / "bridge.md",
        "SKILL.md": REPO / "plugin" / "skills" / "bridge-awareness" / "SKILL.md"}
PLACEHOLDER = re.compile(r"<([a-z][a-z-]*)>")
HEADER = re.compile(r"^\[(?P<type>[a-z-]+)\] from (?P<peer>\S+) \((?P<id>[^)]+)\) · (?P<msg>msg-[\w-]+)", re.M)


def bash_blocks(doc: str) -> list[tuple[str, str]]:
    """(section heading, command) for every ```bash block, ${CLAUDE_PLUGIN_ROOT} substituted."""
    out, section, block = [], "", None
    for line in DOCS[doc].read_text().splitlines():
        if block is not None:
            if line.startswith("```"):
                out.append((section, "\n".join(block).replace("${CLAUDE_PLUGIN_ROOT}", str(REPO))))
                block = None
            else:
                block.append(line)
        elif line.startswith("```bash"):
            block = []
        elif line.startswith("#"):
            section = line.lstrip("#").strip()
    return out


class Docs:
    """Finds a documented command by its section and what it runs, fills it in, and records that it ran."""

    def __init__(self) -> None:
        self.blocks = {(doc, i): sb for doc in DOCS for i, sb in enumerate(bash_blocks(doc))}
        self.ran: set[tuple[str, int]] = set()

    def command(self, doc: str, section: str, contains: str, **values: str) -> str:
        found = [k for k, (s, cmd) in self.blocks.items() if k[0] == doc and s == section and contains in cmd]
        assert len(found) == 1, f"{doc} § {section}: expected one block with {contains!r}, found {len(found)}"
        self.ran.add(found[0])
        cmd = self.blocks[found[0]][1]
        for name, value in values.items():
            cmd = cmd.replace(f"<{name}>", value)
        assert not PLACEHOLDER.search(cmd), f"unfilled placeholder in {cmd!r}"
        return cmd


class Session:
    """One agent session: its project, its stand-in Claude process, and a bash to run documented commands in."""

    def __init__(self, bridge, project: str, host: Host) -> None:
        self.env = bridge.env(project, BRIDGE_HOST_PID=host.pid)
        self.cwd = bridge.project(project)

    def run(self, cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", cmd], env=self.env, cwd=self.cwd, capture_output=True, text=True,
                              timeout=timeout)

    def spawn(self, cmd: str) -> subprocess.Popen:
        return subprocess.Popen(["bash", "-c", cmd], env=self.env, cwd=self.cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}{r.stdout}"
    return r.stdout


def finish(p: subprocess.Popen, timeout: float = 30) -> str:
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"exit {p.returncode}: {err}{out}"
    return out


TEAM_ACTIONS = ("rooms", "role-prompt", "auto", "inbound")
HISTORY_ACTIONS = ("history", "search")  # tests/test_history_command.py runs these


@pytest.fixture
def docs() -> Docs:
    return Docs()


def test_every_documented_command_is_a_known_action(docs):
    assert {s for (doc, _), (s, _) in docs.blocks.items() if doc == "bridge.md"} == {
        "start", "connect", "listen", "ask", "reply", "peers", "status", "inbox", "stop", "rooms", "role-prompt",
        "auto", "inbound", *HISTORY_ACTIONS}
    for _, cmd in docs.blocks.values():
        assert cmd.startswith(f'"{REPO}/scripts/session-bridge" '), cmd


def test_the_instructions_run_as_written_in_a_two_session_scenario(bridge, hosts, docs):
    lib, app = Session(bridge, "lib", hosts()), Session(bridge, "app", hosts())
    md, skill = "bridge.md", "SKILL.md"

    # not started yet: exit 4, and the text says to run start
    assert lib.run(docs.command(md, "status", "status")).returncode == 4
    assert app.run(docs.command(skill, "Is this session bridged, and to whom?", "status")).returncode == 4

    out = ok(lib.run(docs.command(md, "start", "start", label="library")))
    lib_id = re.search(r"bridge session (\w+) for lib \(label library\)", out).group(1)
    ok(app.run(docs.command(md, "start", "start", label="app")))
    out = ok(app.run(docs.command(md, "connect", "connect", peer="library")))
    assert out.startswith(f"Connected to 'lib' ({lib_id})")
    r = app.run(docs.command(md, "connect", "connect", peer="nosuchpeer"))
    assert r.returncode == 5 and "no session named 'nosuchpeer'" in r.stderr
    assert "library" in ok(app.run(docs.command(md, "peers", "peers")))

    # /bridge listen --background, then plain /bridge listen (which turns it off first)
    assert "is on" in ok(lib.run(docs.command(md, "listen", "background on")))
    assert "is off" in ok(lib.run(docs.command(md, "listen", "background off")))

    # round 1: listen, ask, answer with the heredoc form (code, quotes, $ and backticks survive)
    listen = docs.command(md, "listen", "listen --timeout 540")
    listener = lib.spawn(listen)
    asker = app.spawn(docs.command(md, "ask", "ask", peer="library", question="What replaced getUser() in v2?"))
    heard = finish(listener)
    head = HEADER.search(heard)
    assert (head["type"], head["peer"]) == ("query", "app") and "What replaced getUser() in v2?" in heard
    answer = 'Use fetchUser(id):\n\n    const u = await fetchUser(id) // was getUser("$ID")\n\nSee `src/users.ts`.'
    ok(lib.run(docs.command(md, "reply", "<<'EOF'", **{"message-id": head["msg"], "answer": answer})))
    assert finish(asker).rstrip("\n") == answer

    # round 2 (a follow-up), answered with the one-line form
    listener = lib.spawn(listen)
    asker = app.spawn(docs.command(md, "ask", "ask", peer="library", question="And for admins?"))
    head = HEADER.search(finish(listener))
    ok(lib.run(docs.command(md, "reply", '"<answer>"', **{"message-id": head["msg"], "answer": "fetchAdmin(id)"})))
    assert finish(asker) == "fetchAdmin(id)\n"

    # the skill's ask and reply: "ask the library ..." from the app, answered from the library's listen loop
    ok(app.run(docs.command(skill, "Is this session bridged, and to whom?", "status")))
    listener = lib.spawn(listen)
    asker = app.spawn(docs.command(skill, "Asking", "ask", peer="library", question="Is 2.0 a breaking change?"))
    head = HEADER.search(finish(listener))
    ok(lib.run(docs.command(skill, "Answering", "reply", **{"message-id": head["msg"], "answer": "Yes: see MIGRATING.md"})))
    assert finish(asker).rstrip("\n") == "Yes: see MIGRATING.md"

    # an ask that timed out: the error names the message id, and bridge.md's receive command fetches the late answer
    r = app.run('session-bridge ask library "Late one?" --timeout 0.5')
    assert r.returncode == 3
    late_id = re.search(r"session-bridge receive (msg-[\w-]+)", r.stderr).group(1)
    receive = re.search(r'`("\$\{CLAUDE_PLUGIN_ROOT\}/scripts/session-bridge" receive [^`]+)`',
                        DOCS[md].read_text()).group(1).replace("${CLAUDE_PLUGIN_ROOT}", str(REPO))
    head = HEADER.search(finish(lib.spawn(listen)))
    assert head["msg"] == late_id
    ok(lib.run(f'session-bridge reply {late_id} "late but here"'))
    assert ok(app.run(receive.replace("<message-id>", late_id))) == "late but here\n"

    out = ok(lib.run(docs.command(md, "status", "status")))
    assert f"Session {lib_id} (library) · 0 pending" in out and "app [active]" in out
    out = ok(lib.run(docs.command(md, "inbox", "inbox --all")))
    assert len(re.findall(r"^msg-\S+ +read +query ", out, re.M)) == 4

    out = ok(lib.run(docs.command(md, "stop", "stop")))
    assert out.startswith(f"Stopped session {lib_id}; told 1 peer(s)")
    ended = orjson.loads(ok(app.run("session-bridge listen --json --timeout 5")))["message"]
    assert (ended["type"], ended["from"]) == ("session-ended", lib_id)

    team = {k for k, (section, _) in docs.blocks.items() if section in TEAM_ACTIONS + HISTORY_ACTIONS}  # run elsewhere
    assert docs.ran | team == set(docs.blocks), f"documented but never run: {set(docs.blocks) - docs.ran - team}"
