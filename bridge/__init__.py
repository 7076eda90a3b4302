"""session-bridge: coding-agent sessions ask each other questions through files on the local disk.

The public API the front-ends (CLI, MCP server, hooks, scripts) call, resolved lazily so a one-shot command imports
only the modules it uses:

    bridge.start(label, room, role) / me() / peers() / find_peer / recipients     sessions (bridge.sessions)
    bridge.send / send_all / connect / ask / receive / listen / reply / read    the protocol (bridge.protocol)
    rooms and roles: bridge.sessions (members, rooms, seat); auto-mode's settings and briefings: bridge/rooms.py;
    its rails: bridge/policy.py; who may send to a session: bridge/inbound.py
    bridge.inbox / outbox / notice / status / stop / digest / gc
    bridge.BridgeError, Next, NoSession, PeerNotFound, PeerGone, Timeout     errors with a structured next step
    bridge.views (the JSON shape), bridge.render (the text), bridge.Message (the record)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# name -> "module" (the attribute of the same name) or "module:attribute"
_API = {
    "Session": "sessions", "others": "sessions", "find_peer": "sessions", "register": "sessions",
    "current": "sessions", "require_current": "sessions", "bind": "sessions", "for_agent": "sessions",
    "update": "sessions", "set_background": "sessions", "gc": "sessions", "all_sessions": "sessions",
    "wait_current": "sessions", "recipients": "sessions", "send_all": "protocol",
    "seconds": "protocol", "check_body": "protocol", "compose": "protocol", "send": "protocol",
    "connect": "protocol", "ask": "protocol", "receive": "protocol", "listen": "protocol", "reply": "protocol",
    "read": "protocol", "notice": "protocol", "outbox": "protocol", "inbox": "protocol", "status": "protocol",
    "stop": "protocol", "digest": "protocol", "drain_within": "protocol", "must_read": "protocol",
    "listen_in_background": "protocol",
    "BridgeError": "errors", "Next": "errors", "NoSession": "errors", "PeerNotFound": "errors",
    "PeerGone": "errors", "Timeout": "errors",
    "Message": "message", "BadMessage": "message", "max_body": "message", "bridge_dir": "layout",
    "views": "bridge.views", "render": "bridge.render",
}
__all__ = ["__version__", "start", "me", "peers", *_API]


def __getattr__(name: str) -> object:
    """Resolve an API name on first use (PEP 562)."""
    where = _API.get(name)
    if where is None:
        raise AttributeError(f"module 'bridge' has no attribute {name!r}")
    if where.startswith("bridge."):
        value = importlib.import_module(where)
    else:
        value = getattr(importlib.import_module(f"bridge.{where}"), name)
    globals()[name] = value
    return value


def start(label: str | None = None, room: str | None = None, role: str | None = None) -> tuple[Session, bool]:
    """Start (or resume) the caller's session in $BRIDGE_DIR, in `room` holding `role` if given (else BRIDGE_ROOM /
    BRIDGE_ROLE): (session, created)."""
    from bridge import layout, sessions

    return sessions.register(layout.bridge_dir(), label, room, role)


def me() -> Session:
    """The caller's session, or NoSession naming the next step (start one)."""
    from bridge import layout, sessions

    return sessions.require_current(layout.bridge_dir())


def peers() -> list[Session]:
    """Every session on this machine but the caller's."""
    from bridge import layout, sessions

    return sessions.others(layout.bridge_dir())


if TYPE_CHECKING:
    from bridge.sessions import Session
