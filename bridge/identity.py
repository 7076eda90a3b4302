"""Who is calling: the project directory and the agent process that hosts this session.

The host is the agent CLI (claude, codex, gemini, ...) above the caller, so the CLI, hooks and MCP server of one agent
session resolve to the same bridge session. A process is named by pid + create time, so pid reuse can't fool liveness.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

# Process names (or script basenames for node-based CLIs) of agent CLIs, and the host name we record for each.
AGENTS = {
    "claude": "claude-code",
    "codex": "codex",
    "gemini": "gemini-cli",
    "opencode": "opencode",
    "cursor-agent": "cursor",
    "cline": "cline",
    "grok": "grok",
    "copilot": "copilot",
    "qwen": "qwen-code",
    "amp": "amp",
}
# Processes between an agent and us that are not the host: shells, launchers, sandboxes.
WRAPPERS = {
    "sh", "bash", "dash", "zsh", "fish", "ksh", "env", "timeout", "nohup", "sudo", "xargs", "time", "stdbuf",
    "uv", "uvx", "pipx", "npx", "session-bridge", "codex-linux-sandbox", "bwrap", "sandbox-exec",
}


@dataclass(frozen=True)
class Proc:
    """A process named by pid and create time (so a reused pid never looks alive), and its agent kind."""
    pid: int
    started: float  # psutil create_time(), seconds since the epoch
    kind: str | None = None  # "claude-code", "codex", ... when it is a known agent

    def alive(self) -> bool:
        """True while this exact process runs."""
        return process_alive(self.pid, self.started)


def process_alive(pid: int, started: float | None) -> bool:
    """True while that exact process (pid + create time) exists and is not a zombie."""
    import psutil  # here and below, not at the top: a one-shot send with BRIDGE_SESSION_ID never asks

    try:
        p = psutil.Process(pid)
        if started is not None and abs(p.create_time() - started) > 0.05:
            return False
        return p.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


@lru_cache(maxsize=1)
def this_process() -> Proc:
    """This process."""
    import psutil

    p = psutil.Process()
    return Proc(p.pid, p.create_time())


def _agent_kind(p: psutil.Process) -> str | None:
    import psutil

    try:
        names = [p.name()]
        cmd = p.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    names += [os.path.basename(a) for a in cmd[:2]]
    for name in names:
        name = name.removesuffix(".js").removesuffix(".exe")
        if name in AGENTS:
            return AGENTS[name]
    return None


@lru_cache(maxsize=1)
def agent_process() -> Proc | None:
    """The agent process above us; else the first ancestor that is not a shell or launcher.

    BRIDGE_HOST_PID overrides the search (tests, unusual launchers)."""
    import psutil

    override = os.environ.get("BRIDGE_HOST_PID")
    try:
        if override:
            p = psutil.Process(int(override))
            return Proc(p.pid, p.create_time(), _agent_kind(p))
        chain = psutil.Process().parents()
    except (psutil.Error, ValueError):
        return None
    for p in chain:
        kind = _agent_kind(p)
        if kind:
            return Proc(p.pid, p.create_time(), kind)
    for p in chain:
        try:
            if p.name() not in WRAPPERS and p.pid != 1:
                return Proc(p.pid, p.create_time())
        except psutil.Error:
            continue
    return None


def agent_kind() -> str:
    """The kind of agent above us (claude-code, codex, ...), else cli."""
    h = agent_process()
    if h and h.kind:
        return h.kind
    return "cli"


def headless() -> bool:
    """True when the agent above us answers one prompt and exits (`claude -p` / `--print`): nobody is left to wake
    later, so nothing may hold it open waiting for a message."""
    import psutil

    h = agent_process()
    if h is None:
        return False
    try:
        args = psutil.Process(h.pid).cmdline()[1:]
    except psutil.Error:
        return False
    return any(a in ("-p", "--print") or a.startswith("--print=") for a in args)


def env_above(name: str) -> str | None:
    """The value of environment variable `name` in this process or the nearest ancestor that has it. A child cannot
    change what its parents were launched with: auto-mode's marks (BRIDGE_AUTO) and an admin launch (BRIDGE_ADMIN)
    are read here, so a model that unsets a variable in its own shell does not shed them."""
    import psutil

    if os.environ.get(name):
        return os.environ[name]
    try:
        chain = psutil.Process().parents()
    except psutil.Error:
        return None
    for p in chain:
        try:
            value = p.environ().get(name)
        except psutil.Error:
            continue
        if value:
            return value
    return None


def agent_env(name: str) -> str | None:
    """The value of environment variable `name` in the agent process above us (what its session was launched with),
    None when there is no agent or it lacks the variable."""
    import psutil

    h = agent_process()
    if h is None or not h.kind:
        return None
    try:
        return psutil.Process(h.pid).environ().get(name) or None
    except psutil.Error:
        return None


def tmux_pane() -> dict | None:
    """The tmux pane this process runs in ($TMUX_PANE, and the server socket from $TMUX), else None."""
    pane, server = os.environ.get("TMUX_PANE"), os.environ.get("TMUX")
    if not pane or not server:
        return None
    return {"pane": pane, "socket": server.split(",")[0]}


def project_dir() -> Path:
    """PROJECT_DIR, else CLAUDE_PROJECT_DIR, else the working directory."""
    raw = os.environ.get("PROJECT_DIR") or os.environ.get("CLAUDE_PROJECT_DIR") or os.getcwd()
    return Path(raw).absolute()


def agent_session_id() -> str | None:
    """The agent's own session id where the host exports one."""
    for var in ("CLAUDE_CODE_SESSION_ID", "CODEX_THREAD_ID", "GEMINI_SESSION_ID", "QWEN_CODE_SESSION_ID",
                "COPILOT_AGENT_SESSION_ID"):
        if os.environ.get(var):
            return os.environ[var]
    return None
