"""The announcer for each notifier kind (bridge.drivers.notifier): which driver tells the agent."""

from __future__ import annotations

from bridge import layout, render
from bridge.drivers.notifier import Announcer, Later, pointer, stdout_announcer
from bridge.errors import BridgeError
from bridge.sessions import Session

BUSY_RETRY_S = 5.0  # a busy agent is looked at again this soon (a push waits for its prompt)


def pick(kind: str, pane: str | None = None) -> Announcer:
    """monitor: a line on stdout; queue: Codex's queue; tmux: a push into the agent's pane (`pane`, else the one
    recorded for the session)."""
    if kind == "monitor":
        return stdout_announcer
    if kind == "queue":
        from bridge.drivers import codex

        return codex.announce
    if kind == "tmux":
        return tmux_announcer(pane)
    raise ValueError(f"unknown notifier kind {kind!r}")


def tmux_announcer(pane: str | None = None) -> Announcer:
    """Paste a one-line pointer into the agent's tmux pane when it shows the agent idle (bridge.drivers.tmux.push);
    busy or in its cooldown: try again later, nothing marked. The pane: `pane` (checked now: a bad one is an error
    at start), else the one recorded when the session bound, else the one the agent's process runs in."""
    from bridge.drivers import panes, tmux

    fixed = tmux.pane_for(pane) if pane else None

    def announce(session: Session, due: list[dict]) -> str:
        ref = fixed or panes.pane_of(session)
        result = tmux.push(ref, pointer(due, render.cli_command()), state_dir=session.root / layout.TMUX_STATE)
        if result.status == "pushed":
            return result.detail
        if result.status in ("busy", "cooldown"):
            raise Later(result.detail, result.retry_after or BUSY_RETRY_S)
        raise BridgeError(result.detail)

    return announce
