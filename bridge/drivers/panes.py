"""Which tmux pane a session's agent runs in, for the tmux driver's push, read_peer, detect_question and respond."""

from __future__ import annotations

from bridge import layout, sessions
from bridge.drivers import tmux
from bridge.errors import BridgeError
from bridge.sessions import Session


def pane_of(session: Session, pane: str | None = None) -> tmux.PaneRef:
    """`pane` when given (a pane id like %3 or a tmux target); else the pane recorded when the session's agent
    bound it ($TMUX_PANE of its hooks or commands); else the one its agent process runs in. NoPane says why not."""
    if pane:
        return tmux.pane_for(pane)
    recorded = session.manifest.get("tmux")
    if isinstance(recorded, dict):
        return tmux.PaneRef.from_dict(recorded)
    pid = session.manifest.get("pid")
    if isinstance(pid, int):
        return tmux.pane_for(pid=pid)
    raise tmux.NoPane(f"no tmux pane known for {session.name}: its agent must run inside tmux, or pass --pane")


def peer_pane(name: str, pane: str | None = None) -> tuple[Session, tmux.PaneRef]:
    """A peer session by name (as `ask` takes it) and the pane its agent runs in."""
    root = layout.bridge_dir()
    peer = sessions.find_peer(root, name, sessions.current(root))
    try:
        return peer, pane_of(peer, pane)
    except tmux.NoPane as e:
        raise BridgeError(str(e)) from None
