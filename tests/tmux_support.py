"""Helpers for the tmux driver's tests: a private tmux server, a fake agent that draws a given screen and records
every byte it reads, Claude Code screens recorded from 2.1.329, and polling with a deadline.

Run as a script, this module is the fake agent: `python tmux_support.py fake-agent SCREEN LOG`. It puts its
terminal in raw mode, asks for bracketed paste (as agent TUIs do), draws SCREEN (the `‸` in it marks where the
cursor goes; the rest of the screen never changes), then appends every byte it reads to LOG, unchanged.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Mapping

HERE = Path(__file__).resolve().parent
CURSOR = "‸"

# --- Claude Code 2.1.329 screens, as capture-pane showed them (120 columns) -------------------------------------------

RULE = "─" * 120
CLAUDE_IDLE = f"""
 ▐▛███▛█   Claude Code v2.1.329
▝▜██████▀  Opus 5.5 · API Usage Billing
 ▝▝   ▝▝   /tmp/project

❯ MENU earlier prompt
● Done: earlier prompt
✻ Cooked for 0s · done 2:09 PM
{RULE}
❯ {CURSOR}
{RULE}
  ⏸ manual mode on · ? for shortcuts"""

CLAUDE_BUSY = f"""
 ▐▛███▛█   Claude Code v2.1.329
▝▜██████▀  Opus 5.5 · API Usage Billing
 ▝▝   ▝▝   /tmp/project

❯ SLOW
● Waiting · 2s
  ⎿  $ python3 -c 'import os,time'
✽ Perusing… (3s · ↓ 54 tokens)
{RULE}
❯ {CURSOR}
{RULE}
  ⏸ manual mode on · esc to interrupt"""

# Busy with a draft typed meanwhile: Claude drops "esc to interrupt" from the footer; the spinner remains.
CLAUDE_BUSY_DRAFT = f"""
❯ SLOW
     (ctrl+b ctrl+b (twice) to run in background)
✽ Perusing… (4s · ↓ 54 tokens)
{RULE}
❯ draft while busy{CURSOR}
{RULE}
  ⏸ manual mode on"""

DASHES = "╌" * 120
CLAUDE_MENU = f"""
❯ MENU please
{RULE}
 Bash command
 Tip: auto mode handles these prompts for you — choose "switch to auto mode" below
 write a file
{DASHES}
 echo hi > /tmp/project/out.txt
{DASHES}
 Do you want to proceed?
 {CURSOR}❯ 1. Yes
   2. Yes, and always allow access to /tmp/project from this project
   3. Yes, and switch to auto mode · auto mode handles these prompts for you
   4. No
 Esc to cancel · Tab to amend"""

# AskUserQuestion with the cursor in its "Type something." field (the answer is typed there, then Enter).
CLAUDE_ASK_TEXT = f"""
❯ ASK me
{RULE}
 ☐ Color
Which color do you want?
  1. Red
     warm
  2. Blue
     cold
❯ 3. {CURSOR}Type something.
{RULE}
  4. Chat about this
Enter to select · ↑/↓ to navigate · ctrl+g to edit in Vim · Esc to cancel"""


# --- waiting ---------------------------------------------------------------------------------------------------------


def read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


# --- a private tmux server -------------------------------------------------------------------------------------------


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh user in the test's HOME: no tmux, agent, model or bridge variables from here."""
    drop = ("TMUX", "CLAUDE", "ANTHROPIC", "BRIDGE_", "XDG_", "PROJECT_DIR", "PS1", "PROMPT_COMMAND")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(HOME=str(home), LANG="C.UTF-8", TERM="xterm-256color", **extra)
    return env


class Tmux:
    """A tmux server of its own (socket in `base`, no config file), started with `env` as its environment;
    kill() ends it."""

    def __init__(self, base: Path, env: Mapping[str, str], width: int = 120, height: int = 40) -> None:
        from libtmux.server import Server

        sock = base / "tmux.sock"
        if len(str(sock)) > 100:  # a unix socket path holds ~107 bytes
            sock = Path("/tmp") / f"sbt-{os.getpid()}-{os.urandom(4).hex()}.sock"
        self.socket = str(sock)
        self.env = dict(env)
        self.width, self.height = width, height
        self.server = Server(socket_path=self.socket, config_file="/dev/null")
        # The first window holds the server open (a server exits with its last pane).
        subprocess.run(["tmux", "-S", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "main", "-x",
                        str(width), "-y", str(height), "cat"], env=self.env, check=True, timeout=30)

    def spawn(self, argv: list[str], cwd: Path | None = None, env: Mapping[str, str] | None = None):
        """A new window running argv (exec'd directly, no shell); its PaneRef."""
        from bridge.drivers.tmux import pane_for

        args = ["new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "main"]
        if cwd is not None:
            args += ["-c", str(cwd)]
        for k, v in (env or {}).items():
            args += ["-e", f"{k}={v}"]
        # several arguments are exec'd as they are; a lone one tmux runs through sh -c
        r = self.server.cmd(*args, *(argv if len(argv) > 1 else [shlex.join(argv)]))
        assert r.returncode == 0, r.stderr
        pane = r.stdout[0]
        self.server.cmd("resize-window", "-t", pane, "-x", str(self.width), "-y", str(self.height))
        return pane_for(pane, socket=self.socket)

    def keys(self, pane, *args: str) -> None:
        """send-keys straight to a pane (test input, not through the driver)."""
        r = self.server.cmd("send-keys", "-t", pane.pane, *args)
        assert r.returncode == 0, r.stderr

    def kill(self) -> None:
        self.server.cmd("kill-server")
        try:
            os.unlink(self.socket)
        except OSError:
            pass


def fake_agent(tmux: Tmux, tmp: Path, screen: str, name: str = "fake"):
    """A pane running the fake agent showing `screen`: (pane, log path). Waits until the screen is drawn."""
    from bridge.drivers.tmux import read_peer
    from support import wait_until  # here: run as the fake agent, this module needs none of the tests' helpers

    screen_file = tmp / f"{name}.screen"
    screen_file.write_text(screen)
    log = tmp / f"{name}.log"
    pane = tmux.spawn([sys.executable, str(HERE / "tmux_support.py"), "fake-agent", str(screen_file), str(log)])
    last = [r for r in plain(screen).replace(CURSOR, "").splitlines() if r.strip()][-1].strip()
    wait_until(lambda: log.exists() and last in read_peer(pane), 30, "the fake agent's screen")
    return pane, log


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


# --- the fake agent (run as a script) --------------------------------------------------------------------------------


def _cells(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in plain(text))


def _run_fake_agent(screen_path: str, log_path: str) -> None:
    import tty

    tty.setraw(0)
    screen = Path(screen_path).read_text()
    rows = screen.split("\n")
    at = next(((i, _cells(r.split(CURSOR)[0])) for i, r in enumerate(rows) if CURSOR in r), None)
    if at is None:
        at = (len(rows) - 1, _cells(rows[-1]))
    drawn = screen.replace(CURSOR, "").replace("\n", "\r\n")
    os.write(1, (f"\x1b[?2004h\x1b[2J\x1b[H{drawn}\x1b[{at[0] + 1};{at[1] + 1}H").encode())
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    while True:
        data = os.read(0, 65536)
        if not data:
            return
        os.write(log, data)


if __name__ == "__main__" and sys.argv[1:2] == ["fake-agent"]:
    _run_fake_agent(sys.argv[2], sys.argv[3])
