"""Codex's wake primitive: `codex queue --thread <id> --message <text>` starts a turn in an idle live Codex thread
(or queues it behind the current one). Exit 0 only means Codex accepted the text, not that the agent read anything."""

from __future__ import annotations

import shutil
import subprocess

from bridge import render
from bridge.drivers.notifier import pointer
from bridge.errors import BridgeError
from bridge.sessions import Session

QUEUE_TIMEOUT_S = 20


def queue(thread_id: str, text: str, codex: str | None = None) -> None:
    """Queue `text` into Codex thread `thread_id`; BridgeError with Codex's own words when it refuses."""
    exe = codex or shutil.which("codex")
    if exe is None:
        raise BridgeError("codex is not on PATH; install Codex CLI or choose another delivery mode")
    try:
        r = subprocess.run([exe, "queue", "--thread", thread_id, "--message", text], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=QUEUE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BridgeError(f"codex queue did not finish within {QUEUE_TIMEOUT_S}s") from None
    if r.returncode != 0:
        raise BridgeError(f"codex queue exited {r.returncode}: {_reason(r.stderr or r.stdout)}")


def _reason(output: str) -> str:
    """Codex's own one-line reason: its `Error: ...` line (a stack backtrace follows it), else its first line."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith("WARNING:")]
    return next((line for line in lines if line.startswith("Error:")), lines[0] if lines else "no output")


def announce(session: Session, due: list[dict]) -> str:
    """Announcer for the notifier: one pointer into the session's Codex thread (the manifest's agentSessionId,
    recorded from CODEX_THREAD_ID when a Codex hook or command bound the session)."""
    thread = session.manifest.get("agentSessionId")
    if not isinstance(thread, str) or not thread:
        raise BridgeError("no Codex thread id for this session yet (a Codex hook or command records it)")
    queue(thread, pointer(due, render.cli_command()))
    return f"queued a pointer to {len(due)} message(s) into Codex thread {thread}"
