"""The announcer for each notifier kind (bridge.drivers.notifier): which driver tells the agent."""

from __future__ import annotations

from bridge.drivers.notifier import Announcer, stdout_announcer


def pick(kind: str, pane: str | None = None) -> Announcer:
    """monitor: a line on stdout; queue: Codex's queue; tmux: a push into the agent's pane (`pane`, else the one
    recorded for the session)."""
    if kind == "monitor":
        return stdout_announcer
    if kind == "queue":
        from bridge.drivers import codex

        return codex.announce
    if kind == "tmux":
        from bridge.drivers import tmux_announce

        return tmux_announce.announcer(pane)
    raise ValueError(f"unknown notifier kind {kind!r}")
