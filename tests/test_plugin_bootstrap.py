"""scripts/session-bridge without a session-bridge on PATH, with no pip run: the private install's fast path, what a
start answers while an install runs (held here by the test: the lock plus install.json), hooks that never install,
and the error without a usable Python. (Real installs, killed at the worst moments, are in test_install_detached.py;
the one from a Claude Code marketplace install in test_plugin_claude.py.)"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from support import REPO

LAUNCHER = REPO / "scripts" / "session-bridge"
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
INSTALLING = re.compile(r"^session-bridge is installing itself \(started (\d+) s ago\), ready in about (\d+) s; (.*)$")


def toolbox(tmp: Path, python: str | None) -> str:
    """A PATH with only what the launcher uses (dirname, cmp) and the given python3."""
    d = tmp / "bin"
    d.mkdir()
    for tool in ("dirname", "cmp"):
        (d / tool).symlink_to(shutil.which(tool))
    if python:
        (d / "python3").symlink_to(python)
    return str(d)


def data_dir(home: Path) -> Path:
    return home / ".local" / "share" / "session-bridge"


def fake_venv(home: Path) -> Path:
    """What a finished private install looks like, with a stand-in CLI that says it ran."""
    venv = data_dir(home) / "venv"
    (venv / "bin").mkdir(parents=True)
    cli = venv / "bin" / "session-bridge"
    cli.write_text('#!/bin/sh\necho "private CLI ran with: $*"\n')
    cli.chmod(0o755)
    return venv


def stamp(venv: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", venv / ".installed-pyproject.toml")


@contextmanager
def install_running(home: Path, ago: float, last_seconds: float | None = None):
    """Another start's install, as the launcher sees it: install.lock held, install.json saying when it began."""
    data = data_dir(home)
    data.mkdir(parents=True, exist_ok=True)
    state = {"status": "running", "started": time.time() - ago, "attempt": 1}
    if last_seconds is not None:
        state["last_seconds"] = last_seconds
    (data / "install.json").write_text(json.dumps(state))
    with open(data / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield data


def installing(line: str, estimate: float) -> tuple[int, str]:
    """Check one "installing itself" line: the age and the wait add up to the estimate; return (age, its ending)."""
    m = INSTALLING.match(line)
    assert m, line
    ago, left = int(m[1]), int(m[2])
    assert left == max(5, round(estimate - ago)), line
    return ago, m[3]


def test_a_finished_private_install_runs_at_once(tmp_path):
    home = tmp_path / "home"
    stamp(fake_venv(home))
    env = {"HOME": str(home), "PATH": toolbox(tmp_path, None)}
    r = subprocess.run([str(LAUNCHER), "status", "--json"], env=env, capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, "private CLI ran with: status --json\n", "")


def test_a_command_waits_for_the_install_in_progress_and_then_runs(tmp_path):
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": toolbox(tmp_path, BASE_PYTHON)}
    with install_running(home, ago=5, last_seconds=20):
        p = subprocess.Popen([str(LAUNCHER), "peers"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        ago, rest = installing(p.stderr.readline().rstrip("\n"), 20)
        assert ago >= 5 and rest == "waiting for it"
        stamp(fake_venv(home))  # ... and it finishes
    out, err = p.communicate(timeout=30)
    assert (p.returncode, out, err) == (0, "private CLI ran with: peers\n", "")


def test_a_command_that_cannot_wait_says_in_one_line_how_long_to_wait(tmp_path):
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": toolbox(tmp_path, BASE_PYTHON), "BRIDGE_INSTALL_WAIT": "0"}
    with install_running(home, ago=3):  # no install finished here before: the default estimate, 30 s
        r = subprocess.run([str(LAUNCHER), "start"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    [line] = r.stderr.splitlines()
    assert line.startswith("Error: ")
    assert installing(line.removeprefix("Error: "), 30)[1] == "run the command again then"


def mcp_while_installing(env: dict, *requests: dict) -> tuple[list[dict], subprocess.CompletedProcess]:
    """Start the MCP server through the launcher, send the requests one at a time (each after the answer to the
    previous one), and return the answers and the finished process."""
    p = subprocess.Popen([str(LAUNCHER), "mcp"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    answers = []
    for req in requests:
        p.stdin.write(json.dumps(req) + "\n")
        p.stdin.flush()
        answers.append(json.loads(p.stdout.readline()))
    out, err = p.communicate(timeout=30)  # it exits by itself, stdin still open (communicate closes it after)
    return answers, subprocess.CompletedProcess(p.args, p.returncode, out, err)


DISCOVER = {"jsonrpc": "2.0", "id": "server-discover-probe-1", "method": "server/discover",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}
INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "1"}}}


def check_error(answer: dict, request: dict, estimate: float) -> None:
    assert set(answer) == {"jsonrpc", "id", "error"} and answer["id"] == request["id"], answer
    error = answer["error"]
    assert error["code"] == -32000  # not -32601, which tells a client the server is a legacy one
    assert installing(error["message"], estimate)[1] == "retry then"
    assert error["data"] == {"installing": True, "retryAfterSeconds": int(INSTALLING.match(error["message"])[2])}


def test_mcp_while_installing_fails_claude_codes_handshake_with_how_long_to_wait(tmp_path):
    """Claude Code 2.1.329 sends server/discover, then, when that fails, initialize on the same pipe: both get the
    error (checked against the real claude in test_install_detached.py), then the server exits."""
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": toolbox(tmp_path, BASE_PYTHON)}
    with install_running(home, ago=4, last_seconds=25):
        notice = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {}}  # nothing to answer
        p = subprocess.Popen([str(LAUNCHER), "mcp"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        p.stdin.write(json.dumps(notice) + "\n" + json.dumps(DISCOVER) + "\n")
        p.stdin.flush()
        check_error(json.loads(p.stdout.readline()), DISCOVER, 25)
        p.stdin.write(json.dumps(INITIALIZE) + "\n")
        p.stdin.flush()
        check_error(json.loads(p.stdout.readline()), INITIALIZE, 25)
        out, err = p.communicate(timeout=30)
    assert (p.returncode, out) == (0, "")
    [line] = err.splitlines()  # what Claude Code keeps in its MCP log
    installing(line, 25)
    assert not (data_dir(home) / "venv").exists()  # the install in progress is the only one: none was started


def test_mcp_while_installing_fails_the_initialize_handshake_and_exits(tmp_path):
    """Gemini CLI, opencode, Codex... send initialize first: it gets the error and the server exits at once."""
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": toolbox(tmp_path, BASE_PYTHON)}
    with install_running(home, ago=50, last_seconds=25):  # longer than the estimate: "about 5 s"
        answers, r = mcp_while_installing(env, INITIALIZE)
    check_error(answers[0], INITIALIZE, 25)
    assert INSTALLING.match(answers[0]["error"]["message"])[2] == "5"
    assert (r.returncode, r.stdout) == (0, "")


def test_hooks_never_install(tmp_path):
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": toolbox(tmp_path, BASE_PYTHON), "BRIDGE_BOOTSTRAP": "never"}
    r = subprocess.run([str(LAUNCHER), "hook", "user-prompt-submit"], env=env, capture_output=True, text=True,
                       timeout=30, input="{}")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == ("session-bridge is not installed yet (it installs itself on first use: /bridge, or the MCP "
                        "server)\n")
    assert not data_dir(home).exists()


def test_without_python_310_the_error_says_what_to_install(tmp_path):
    old = tmp_path / "python3.8"
    old.write_text("#!/bin/sh\nexit 1\n")  # answers the version check like Python 3.8 would
    old.chmod(0o755)
    env = {"HOME": str(tmp_path / "home"), "PATH": toolbox(tmp_path, str(old))}
    r = subprocess.run([str(LAUNCHER), "start"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("Error: session-bridge needs Python >= 3.10 to install itself; install Python 3.10 or newer "
                        f"(python3 on PATH), or install the CLI yourself with: pipx install {REPO}\n")
