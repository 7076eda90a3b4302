"""scripts/hook answers a Claude session that is not bridged from the shell alone, without starting Python.

Every Claude session on the machine runs the plugin's hooks on every prompt and after every turn, bridged or not.
The CLI here is a stand-in first on PATH that records each call: the fast path leaves no record and prints `{}`,
the slow path (the real CLI's job) leaves one and prints the stand-in's answer. Bridged sessions are started with
the real CLI, so the pointer files are the ones `session-bridge start` writes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from support import payload
from support import REPO

HOOK = REPO / "scripts" / "hook"
EVENTS = {"session-start": "SessionStart", "user-prompt-submit": "UserPromptSubmit", "session-end": "SessionEnd",
          "background-listen": "Stop"}
FAKE_CLI = """#!/bin/sh
echo "$*" >>"$CLI_CALLS"
cat >/dev/null
echo '{"fromCli": true}'
exit "${CLI_EXIT:-0}"
"""


class Machine:
    """A user's machine: a bridge dir, a home, project dirs, and the stand-in CLI."""

    def __init__(self, tmp: Path, bridge) -> None:
        self.tmp = tmp
        self.bridge = bridge
        self.home = tmp / "home"
        self.home.mkdir()
        fake = tmp / "fake-bin"
        fake.mkdir()
        (fake / "session-bridge").write_text(FAKE_CLI)
        (fake / "session-bridge").chmod(0o755)
        self.calls = tmp / "cli-calls"
        self.path = f"{fake}:/usr/bin:/bin"

    def start(self, project: str) -> str:
        """A real bridge session for tmp/<project> (the real CLI; it writes the project's pointer file)."""
        self.bridge.cli(project, "start", check=True)
        return (self.bridge.project(project) / ".claude" / "bridge-session").read_text()

    def hook(self, name: str, project: str | Path | None = None, cwd: Path | None = None, **env: str):
        """Run scripts/hook as Claude does: the event's JSON on stdin, CLAUDE_PROJECT_DIR set to the project."""
        base = {k: v for k, v in os.environ.items()
                if k not in ("BRIDGE_SESSION_ID", "PROJECT_DIR", "CLAUDE_PROJECT_DIR", "PWD")}
        base.update(PATH=self.path, HOME=str(self.home), BRIDGE_DIR=str(self.bridge.root), CLI_CALLS=str(self.calls))
        proj = None
        if project is not None:
            proj = Path(project) if Path(project).is_absolute() else self.bridge.project(str(project))
            base["CLAUDE_PROJECT_DIR"] = str(proj)
        base.update(env)
        self.calls.unlink(missing_ok=True)
        r = subprocess.run([str(HOOK), name], input=payload(EVENTS[name], proj or cwd or self.tmp),
                           capture_output=True, env=base, cwd=cwd or self.tmp, timeout=30)
        r.cli_ran = self.calls.exists()
        return r


@pytest.fixture
def machine(tmp_path, bridge) -> Machine:
    return Machine(tmp_path, bridge)


def fast(r) -> bool:
    """Answered `{}` with exit 0 and no CLI started."""
    return (r.returncode, r.stdout, r.cli_ran) == (0, b"{}\n", False)


def slow(r) -> bool:
    return r.cli_ran and r.stdout == b'{"fromCli": true}\n'


def test_no_bridge_at_all_answers_without_the_cli(machine):
    for name in EVENTS:
        assert fast(machine.hook(name, "app")), name
    assert not (machine.home / ".local").exists()  # never installs


def test_other_projects_bridged_still_answer_without_the_cli(machine):
    for other in ("lib", "api", "work/deep/nested"):
        machine.start(other)
    for name in EVENTS:
        assert fast(machine.hook(name, "app")), name
    # a sibling of a bridged project, and its parent, are not bridged either
    assert fast(machine.hook("user-prompt-submit", "work/deep/sibling"))
    assert fast(machine.hook("user-prompt-submit", "work"))


def test_internal_entries_in_sessions_do_not_count_as_a_session(machine):
    sessions = machine.bridge.root / "sessions"
    sessions.mkdir(parents=True)
    (sessions / ".registry.lock").write_text("")
    (sessions / ".gc").mkdir()
    assert fast(machine.hook("user-prompt-submit", "app"))


def test_a_bridged_project_and_its_subdirectories_use_the_cli(machine):
    machine.start("lib")
    for name in ("session-start", "user-prompt-submit", "session-end"):
        assert slow(machine.hook(name, "lib")), name
    assert slow(machine.hook("user-prompt-submit", "lib/src/pkg"))
    # without CLAUDE_PROJECT_DIR, the working directory is the project (as in current())
    sub = machine.bridge.project("lib/src")
    assert slow(machine.hook("user-prompt-submit", cwd=sub))
    assert fast(machine.hook("user-prompt-submit", cwd=machine.bridge.project("app")))


def test_the_working_directory_counts_with_symlinks_resolved(machine, tmp_path):
    """A project reached through a symlink: the pointer is found in the real parent, as os.getcwd() sees it."""
    machine.start("real")
    (tmp_path / "real" / "proj").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real" / "proj")
    assert slow(machine.hook("user-prompt-submit", cwd=tmp_path / "link", PWD=str(tmp_path / "link")))


def test_bridge_session_id_in_the_environment_uses_the_cli(machine):
    sid = machine.start("lib")
    assert slow(machine.hook("user-prompt-submit", "app", BRIDGE_SESSION_ID=sid))
    assert slow(machine.hook("session-end", "app", BRIDGE_SESSION_ID="whatever"))


def test_project_dir_wins_over_claude_project_dir(machine):
    machine.start("lib")
    app = machine.bridge.project("app")
    lib = machine.bridge.project("lib")
    assert slow(machine.hook("user-prompt-submit", "app", PROJECT_DIR=str(lib)))
    assert fast(machine.hook("user-prompt-submit", "lib", PROJECT_DIR=str(app)))


def test_bridge_dir_defaults_to_the_home_and_expands_a_tilde(machine):
    machine.start("lib")  # in machine.bridge.root
    home_bridge = machine.home / ".claude" / "session-bridge"
    home_bridge.parent.mkdir(parents=True)
    home_bridge.symlink_to(machine.bridge.root)
    assert slow(machine.hook("user-prompt-submit", "lib", BRIDGE_DIR=""))
    assert slow(machine.hook("user-prompt-submit", "lib", BRIDGE_DIR="~/.claude/session-bridge"))
    assert fast(machine.hook("user-prompt-submit", "lib", BRIDGE_DIR="~/elsewhere"))


def test_background_listen_costs_nothing_until_a_session_turns_it_on(machine):
    sid = machine.start("lib")
    machine.start("app")
    assert fast(machine.hook("background-listen", "lib"))
    assert fast(machine.hook("background-listen", "app"))
    flag = machine.bridge.root / "sessions" / sid / ".background-listen"
    flag.write_text("")  # what `session-bridge background on` leaves
    # which session is the caller's (its agent's process, the pointer, BRIDGE_SESSION_ID) is the CLI's to decide
    assert slow(machine.hook("background-listen", "lib"))
    assert slow(machine.hook("background-listen", "app"))
    flag.unlink()
    assert fast(machine.hook("background-listen", "lib"))


def test_a_session_of_this_project_without_a_pointer_still_uses_the_cli(machine):
    """The pointer is gone (git clean -x, a read-only project): the CLI finds the session by its agent's process
    or its manifest's projectPath, which the launcher reads from the session's .project."""
    machine.start("lib")
    (machine.bridge.project("lib") / ".claude" / "bridge-session").unlink()
    for name in ("session-start", "user-prompt-submit", "session-end"):
        assert slow(machine.hook(name, "lib")), name
        assert slow(machine.hook(name, "lib/src")), name
        assert fast(machine.hook(name, "app")), name


def test_a_session_without_a_project_index_is_left_to_the_cli(machine):
    """A session the reference plugin (or an older session-bridge) wrote has no .project: it may be ours."""
    sid = machine.start("lib")
    (machine.bridge.root / "sessions" / sid / ".project").unlink()
    assert slow(machine.hook("user-prompt-submit", "app"))


def test_a_pointer_that_is_not_a_regular_file_goes_to_the_cli(machine):
    machine.start("other")
    proj = machine.bridge.project("weird")
    (proj / ".claude" / "bridge-session").mkdir(parents=True)
    assert slow(machine.hook("user-prompt-submit", "weird"))
    fifo = machine.bridge.project("fifo")
    (fifo / ".claude").mkdir()
    os.mkfifo(fifo / ".claude" / "bridge-session")
    assert slow(machine.hook("user-prompt-submit", "fifo"))  # never blocks opening it


def test_the_slow_path_keeps_its_exit_codes(machine):
    sid = machine.start("lib")
    (machine.bridge.root / "sessions" / sid / ".background-listen").write_text("")
    r = machine.hook("background-listen", "lib", CLI_EXIT="2")
    assert (r.returncode, r.cli_ran) == (2, True)  # wakes the agent
    for code in ("1", "2", "4"):
        r = machine.hook("user-prompt-submit", "lib", CLI_EXIT=code)
        assert (r.returncode, r.stdout.endswith(b"{}\n"), r.cli_ran) == (0, True, True), code
    r = machine.hook("background-listen", "lib", CLI_EXIT="1")
    assert (r.returncode, r.stdout.endswith(b"{}\n")) == (0, True)


def test_a_missing_cli_on_the_slow_path_still_answers_empty(machine):
    machine.start("lib")
    r = machine.hook("user-prompt-submit", "lib", PATH="/usr/bin:/bin")
    assert (r.returncode, r.stdout) == (0, b"{}\n")
    assert not (machine.home / ".local").exists()
