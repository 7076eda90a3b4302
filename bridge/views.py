"""The one JSON shape of what the bridge shows: the CLI's --json and the MCP server's results are built here.

Every result is an object with `"version": VERSION`; keys are snake_case; a message keeps the record's own names
for id, type, from, to and content, so `jq .content` works on any message. docs/json.md documents each result and
a test checks the MCP result models against these TypedDicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict

from bridge import message

if TYPE_CHECKING:
    from bridge.sessions import Session

VERSION = 1
Liveness = Literal["active", "stale", "gone"]


# Functional syntax: "from" is a Python keyword.
MessageView = TypedDict("MessageView", {
    "id": str, "type": str, "from": str, "from_name": str, "to": str, "content": str, "in_reply_to": str | None,
    "sent_at": str | None, "attempt": int, "status": str,
})
MessageView.__doc__ = "A message as every front-end shows it."
SentView = TypedDict("SentView", {**MessageView.__annotations__, "state": str})
SentView.__doc__ = "A message this session sent, with its delivery state."


class SessionView(TypedDict):
    """A session: what peers call it, where it runs, and one status (active, stale or gone)."""

    session_id: str
    name: str
    label: str | None
    project_name: str | None
    project_path: str | None
    host: str
    status: Liveness


class ConnectionView(TypedDict):
    """A peer this session talked to, and whether it is still there."""

    session_id: str
    name: str | None
    status: Liveness


NoticeView = TypedDict("NoticeView", {"id": str, "type": str, "from": str, "from_name": str, "sent_at": str | None,
                                      "subject": str})
NoticeView.__doc__ = ("A pointer to a waiting message: enough to decide to read it (a subject: the body's first line, "
                      "cut short), never its body.")
SUBJECT_CHARS = 100


class DeliveryView(TypedDict):
    """How messages reach the session's agent: the chosen mode, the one in effect, and each path's last result
    ({path: {ok, detail, at, armed}}; `at` in seconds since the epoch)."""

    mode: str
    effective: str
    paths: dict[str, dict]


def message_view(msg: dict) -> MessageView:
    """A parsed message record (message.parse) in the shared shape."""
    return {"id": msg["id"], "type": msg["type"], "from": msg["from"], "from_name": message.sender_name(msg),
            "to": msg["to"], "content": msg["content"], "in_reply_to": msg.get("inReplyTo"),
            "sent_at": msg.get("timestamp"), "attempt": message.attempt(msg), "status": msg.get("status", "pending")}


def sent_view(msg: dict) -> SentView:
    """A message this session sent, with its delivery state (protocol.outbox adds `state`)."""
    return {**message_view(msg), "state": msg["state"]}


def notice_view(msg: dict) -> NoticeView:
    """The pointer a notifier prints for a waiting message."""
    first = next((line.strip() for line in msg["content"].splitlines() if line.strip()), "")
    subject = first if len(first) <= SUBJECT_CHARS else first[:SUBJECT_CHARS - 1] + "…"
    return {"id": msg["id"], "type": msg["type"], "from": msg["from"], "from_name": message.sender_name(msg),
            "sent_at": msg.get("timestamp"), "subject": subject}


def session_view(s: Session) -> SessionView:
    """A session in the shared shape; `status` is its liveness (the manifest's own "status" is the reference's
    constant "active" and never shown)."""
    m = s.manifest
    return {"session_id": s.id, "name": s.name, "label": m.get("label"), "project_name": m.get("projectName"),
            "project_path": m.get("projectPath"), "host": m.get("host", "reference"), "status": s.liveness}


def connection_view(c: dict) -> ConnectionView:
    """One of protocol.status's connections."""
    return {"session_id": c["sessionId"], "name": c["name"], "status": c["status"]}


def result(**fields: object) -> dict:
    """A versioned result object."""
    return {"version": VERSION, **fields}


def delivery_view(s: Session) -> DeliveryView:
    """A session's delivery mode and paths (bridge.delivery)."""
    from bridge import delivery  # status and doctor only: the hooks' imports stay small

    paths = {p: {"ok": e["ok"], "detail": e.get("detail", ""), "at": e["at"],
                 "armed": p in delivery.RUNNING and delivery.armed(s, p)} for p, e in delivery.last(s).items()}
    return {"mode": delivery.mode(s), "effective": delivery.resolve(s), "paths": paths}
