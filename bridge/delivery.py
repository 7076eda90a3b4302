"""How a session's messages reach its agent between the agent's own reads: the delivery mode, and each path's last
result (what `status` and `doctor` show).

Modes (the manifest's "delivery"; `session-bridge delivery MODE`):

    auto     the best that runs for this session now (resolve())
    monitor  a notifier prints a pointer line that the host turns into a turn (Claude Code's plugin monitors)
    tmux     a notifier pastes a pointer prompt into the agent's tmux pane when the agent is idle
    queue    a notifier queues a pointer into the agent's thread (Codex: `codex queue --thread`)
    hook     nothing in the background: the prompt hook hands messages over at the user's next prompt
    off      nothing automatic: messages wait until the agent listens, reads or asks

Every mode but off also lets the prompt hook hand over what waits at the next prompt. The MCP server's opt-in
channel pointers (Claude Code `--channels`) follow the same rule as the Stop hook's background wait: only where no
monitor runs, and never with hook or off. A notifier only notices (the
message is read when the agent takes it), so a path's "ok" means "told", never "delivered".
"""

from __future__ import annotations

import os
import time

from bridge import identity, layout, sessions
from bridge.errors import BridgeError
from bridge.sessions import Session

MODES = ("auto", "monitor", "tmux", "queue", "hook", "off")
# background: the Stop hook's wait (Claude Code); channel: the MCP server's opt-in channel pointers (Claude Code)
PATHS = ("monitor", "tmux", "queue", "channel", "hook", "background")
NOTIFIERS = ("monitor", "tmux", "queue")  # the modes a long-running notifier serves
RUNNING = (*NOTIFIERS, "channel")  # paths served by a process that keeps running: status says whether it does


def mode(session: Session) -> str:
    """The session's chosen mode (auto when unset or unknown)."""
    chosen = session.manifest.get("delivery")
    return chosen if chosen in MODES else "auto"


def set_mode(session: Session, chosen: str) -> Session:
    """Choose how messages reach this session's agent (one of MODES)."""
    if chosen not in MODES:
        raise BridgeError(f"unknown delivery mode {chosen!r}; use one of: {', '.join(MODES)}")
    return sessions.update(session, delivery=chosen)


def resolve(session: Session) -> str:
    """The mode in effect: the chosen one; for auto, the notifier that runs for this session now (a Claude Code
    monitor first, then a tmux or Codex-queue notifier), else hook."""
    chosen = mode(session)
    if chosen != "auto":
        return chosen
    return next((kind for kind in NOTIFIERS if armed(session, kind)), "hook")


def record(session: Session, path: str, ok: bool, detail: str, **extra: object) -> None:
    """Remember a path's latest result (ok and a one-line detail, e.g. "armed", "noticed 2 message(s)",
    "codex queue exited 1: ..."), with the time and the recording process. Never raises: a notifier goes on."""
    entry = {"ok": ok, "detail": detail[:300], "at": time.time(), "pid": os.getpid(),
             "pidStartedAt": identity.this_process().started, **extra}
    try:
        layout.make_dirs(session.dir / layout.DELIVERY)
        layout.atomic_write(session.dir / layout.DELIVERY / f"{path}.json", layout.dumps(entry), durable=False)
    except OSError:
        pass  # a stopped session: nothing to report to


def last(session: Session) -> dict[str, dict]:
    """Each path's latest result, by path name (only paths that ran)."""
    out = {}
    for path in PATHS:
        try:
            entry = layout.read_json(session.dir / layout.DELIVERY / f"{path}.json")
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict) and isinstance(entry.get("at"), (int, float)):
            out[path] = entry
    return out


def armed(session: Session, path: str) -> bool:
    """True while the process that last recorded `path` still runs (a notifier serving this session)."""
    entry = last(session).get(path)
    if not entry or not isinstance(entry.get("pid"), int):
        return False
    return identity.process_alive(entry["pid"], entry.get("pidStartedAt"))


def describe(session: Session, now: float | None = None) -> str:
    """One line for status and doctor, e.g. "mode auto (monitor): monitor running, last: noticed 1 message(s) 12 s
    ago"."""
    now = now or time.time()
    effective = resolve(session)
    head = f"mode {mode(session)}" + (f" ({effective})" if mode(session) == "auto" else "")
    parts = []
    for path, entry in last(session).items():
        running = ("running, " if armed(session, path) else "not running, ") if path in RUNNING else ""
        outcome = "last" if entry["ok"] else "last FAILED"
        parts.append(f"{path} {running}{outcome}: {entry['detail']} {max(0, round(now - entry['at']))} s ago")
    return head + (": " + "; ".join(parts) if parts else ": no delivery yet")


def pushes_here(session: Session) -> bool:
    """Whether a channel pointer should serve this session: delivery is not hook or off, and no running notifier
    already tells the agent."""
    return mode(session) not in ("hook", "off") and resolve(session) not in NOTIFIERS


def background_waits(session: Session) -> bool:
    """Whether the Stop hook's background wait (background listening on) should serve this session: not in a
    headless `claude -p` (nobody is left to wake, and the wait would hold the process open), delivery is not off,
    and no running notifier already wakes the agent (a monitor does it without holding a hook)."""
    return not identity.headless() and mode(session) != "off" and resolve(session) not in NOTIFIERS


def prompt_hook_hands_over(session: Session) -> bool:
    """Whether the prompt hook hands waiting messages over with the user's prompt: every mode but off."""
    return mode(session) != "off"
