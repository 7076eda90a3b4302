"""Helpers the tests share (fixtures are in conftest.py): the real CLI in subprocesses, a bridge dir with project
dirs, stand-in agent processes, and the recorded Claude Code hook payloads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import orjson
import pytest

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
CLI = [sys.executable, "-m", "bridge"]
T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 60, what: str = "the condition", every: float = 0.05,
               details: Callable[[], str] | None = None) -> T:
    """check()'s first truthy value, polled until the deadline; else AssertionError naming `what` with check()'s
    last value (and details() if given). For conditions nothing notifies a test of: a file, a pane's text, a
    process's state. Generous deadlines: the machine may be loaded."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s (last: {got!r})"
                                 + (f"\n{details()}" if details else ""))
        time.sleep(every)


def require_tool(name: str) -> str:
    """The path of a real external tool; skip without it, but fail in CI (BRIDGE_REQUIRE_TOOLS=1)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("BRIDGE_REQUIRE_TOOLS"):
            pytest.fail(f"{name} is required (./dev test installs it)")
        pytest.skip(f"{name} not installed")
    return path


class Bridge:
    """A bridge dir plus helpers to act as the session of a given project directory."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "bridge"
        self.tmp = tmp

    def project(self, name: str) -> Path:
        p = self.tmp / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def env(self, project: Path | str, **extra: str) -> dict:
        env = dict(os.environ, BRIDGE_DIR=str(self.root), PROJECT_DIR=str(self.project(str(project))))
        env.update(extra)
        return env

    def cli(self, project: str, *args: str, input: str | bytes | None = None, timeout: float = 30,
            check: bool = False, **extra: str) -> subprocess.CompletedProcess:
        r = subprocess.run([*CLI, *args], env=self.env(project, **extra), capture_output=True,
                           input=input.encode() if isinstance(input, str) else input, timeout=timeout)
        r.out = r.stdout.decode()
        r.err = r.stderr.decode()
        if check and r.returncode != 0:
            raise AssertionError(f"{args} exited {r.returncode}: {r.err}{r.out}")
        return r

    def script(self, project: str, name: str, *args: str, timeout: float = 30, **extra: str):
        r = subprocess.run([str(SCRIPTS / name), *args], env=self.env(project, **extra), capture_output=True,
                           timeout=timeout)
        r.out = r.stdout.decode()
        r.err = r.stderr.decode()
        return r

    def spawn(self, project: str, *args: str, **extra: str) -> subprocess.Popen:
        return subprocess.Popen([*CLI, *args], env=self.env(project, **extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def start(self, project: str, label: str | None = None) -> str:
        args = ["start", "--json"] + (["--label", label] if label else [])
        return orjson.loads(self.cli(project, *args, check=True).stdout)["session"]["session_id"]

    def use(self, project: str, monkeypatch) -> None:
        """Make in-process core calls act as the session of this project."""
        monkeypatch.setenv("BRIDGE_DIR", str(self.root))
        monkeypatch.setenv("PROJECT_DIR", str(self.project(project)))


PAYLOADS = Path(__file__).with_name("fixtures") / "claude_hooks"


class Host:
    """A stand-in for one agent process (BRIDGE_HOST_PID), alive until exit(). With `agent` (e.g. "claude") its
    command line names that agent CLI, so the bridge takes it for one."""

    def __init__(self, agent: str | None = None, tmp: Path | None = None) -> None:
        argv = [sys.executable, "-c", "import sys; sys.stdin.read()"]
        if agent is not None:
            script = (tmp or Path("/tmp")) / agent
            script.write_text("import sys\nsys.stdin.read()\n")
            argv = [sys.executable, str(script)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
        self.pid = str(self.proc.pid)

    def exit(self) -> None:
        """End the stand-in (the agent exits)."""
        self.proc.stdin.close()
        self.proc.wait()


def payload(event: str, project: Path, **fields) -> bytes:
    """The recorded stdin of a Claude Code hook event, with cwd and the given fields replaced."""
    data = orjson.loads((PAYLOADS / f"{event}.json").read_bytes())
    data.update(cwd=str(project), **fields)
    return orjson.dumps(data)
