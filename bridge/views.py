"""The one JSON shape of what the bridge shows: the CLI's --json and the MCP server's results are built here.

Every result is an object with `"version": VERSION`; keys are snake_case; a message keeps the record's own names
for id, type, from, to and content, so `jq .content` works on any message. docs/json.md documents each result and
a test checks the MCP result models against these TypedDicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict

from bridge import message

if TYPE_CHECKING:
    from bridge.leases import Lease
    from bridge.sessions import Session

VERSION = 1
Liveness = Literal["active", "stale", "idle", "gone"]  # idle: a seat (bridge.sessions.liveness)


# Functional syntax: "from" is a Python keyword.
MessageView = TypedDict("MessageView", {
    "id": str, "type": str, "from": str, "from_name": str, "to": str, "content": str, "in_reply_to": str | None,
    "sent_at": str | None, "attempt": int, "status": str, "attachments": list,  # list[ArtifactView]
    "machine": str | None,
})
MessageView.__doc__ = ("A message as every front-end shows it (`attachments`: the artifacts it references; `machine`: "
                       "the machine a remote sender is on, None for this one's).")
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
    summary: str | None
    machine: str | None  # the machine a remote session runs on (bridge/remote.py); None for this machine's own


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
            "sent_at": msg.get("timestamp"), "attempt": message.attempt(msg), "status": msg.get("status", "pending"),
            "attachments": [dict(r) for r in msg.get("metadata", {}).get("artifacts") or []],
            "machine": message.machine(msg)}


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
            "project_path": m.get("projectPath"), "host": m.get("host", "reference"), "status": s.liveness,
            "summary": s.summary, "machine": s.machine}


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


# --- rooms and roles, auto-mode, inbound policy ------------------------------------------------------------------


class TeamView(TypedDict):
    """Where a session sits: its room, its role there, and `role@room`, the address any session reaches it by
    (each null outside a room / without a role)."""

    room: str | None
    role: str | None
    address: str | None


MemberView = TypedDict("MemberView", {**SessionView.__annotations__, **TeamView.__annotations__})
MemberView.__doc__ = "A session of a room: the session with its room, role and address (status `idle`: a seat)."


class LimitsView(TypedDict):
    """Auto-mode's rails in force (bridge.rooms.LIMITS)."""

    max_hops: int
    rate_per_min: int | float
    quiet_s: int | float
    cooldown_s: int | float
    run_timeout_s: int | float
    sensitive: list[str]
    deny: str


class RoleConfigView(TypedDict):
    """What auto-mode does for one role now (bridge.rooms.RoleConfig): wake (`auto` or `manual`) and why, its
    driver, directory and command, whether it is sensitive."""

    room: str
    role: str
    wake: str
    why: str
    driver: str
    cwd: str | None
    command: str | None
    sensitive: bool


class RoleAutoView(TypedDict):
    """One role in `auto status`: its policy, and the session holding it (null when none), how it is, how many
    messages wait for it, whether it has a briefing."""

    wake: str
    why: str
    driver: str
    cwd: str | None
    command: str | None
    sensitive: bool
    session_id: str | None
    status: str | None
    pending: int
    briefing: bool


class RoomAutoView(TypedDict):
    """One room in `auto status`: whether the whole room is on, its limits, and {role: RoleAutoView}."""

    all: bool
    limits: LimitsView
    roles: dict[str, RoleAutoView]


class AutoStatusView(TypedDict):
    """auto-mode as it stands (bridge.rooms.overview): the master switch, the default limits, whether a runner
    runs, and {room: RoomAutoView}."""

    automation: bool
    limits: LimitsView
    runner: bool
    rooms: dict[str, RoomAutoView]


AutoEventView = TypedDict("AutoEventView", {
    "at": str, "event": str, "room": str | None, "role": str | None, "session": str | None, "msg": str | None,
    "from": str | None, "hops": int | None, "why": str, "driver": str | None,
})
AutoEventView.__doc__ = ("One line of auto-mode's log (logs/auto.jsonl): when, what (woke, held, later, waits, left, "
                         "done, failed, gave-up, started, stopped, ...), for which role@room and message, and why.")


class BriefingView(TypedDict):
    """A role's briefing: the text SessionStart hands the session that holds role@room."""

    room: str
    role: str
    text: str


class InboundView(TypedDict):
    """A session's inbound policy: mode (`accept`, `hold`, `refuse`), the allowlist (empty: everyone) and the
    trusted remote contacts (a sender on another machine not named in either is held)."""

    mode: str
    allow: list[str]
    trust: list[str]


class FailedSendView(TypedDict):
    """A broadcast recipient that did not get its copy, and why (the error's exit code: 5 refused or gone)."""

    session_id: str
    name: str
    error: str
    exit_code: int


def team_view(s: Session) -> TeamView:
    """A session's room, role and address."""
    return {"room": s.room, "role": s.role, "address": s.address}


def member_view(s: Session) -> MemberView:
    """A session of a room, with its room, role and address."""
    return {**session_view(s), **team_view(s)}  # type: ignore[typeddict-item]


def limits_view(limits: dict) -> LimitsView:
    """Limits as bridge.rooms.limits() gives them."""
    return {k: limits[k] for k in LimitsView.__annotations__}  # type: ignore[return-value]


def role_config_view(cfg: object) -> RoleConfigView:
    """A bridge.rooms.RoleConfig."""
    return {k: getattr(cfg, k) for k in RoleConfigView.__annotations__}  # type: ignore[return-value]


def auto_status_view(overview: dict) -> AutoStatusView:
    """bridge.rooms.overview() in the shared shape."""
    rooms = {name: {"all": r["all"], "limits": limits_view(r["limits"]),
                    "roles": {role: {k: e[k] for k in RoleAutoView.__annotations__} for role, e in r["roles"].items()}}
             for name, r in overview["rooms"].items()}
    return {"automation": overview["automation"], "limits": limits_view(overview["limits"]),
            "runner": overview["runner"], "rooms": rooms}  # type: ignore[typeddict-item]


def switch_view(status: AutoStatusView, room: str | None, role: str | None) -> dict:
    """What `auto on|off [ROOM [ROLE]]` shows after the change (both front-ends): the master switch, what was named,
    the room's roles (or the one role) as they are now, and the sensitive ones among them that stayed manual."""
    roles = status["rooms"].get(room, {}).get("roles", {}) if room else {}
    if role is not None:
        roles = {role: roles[role]} if role in roles else {}
    return {"automation": status["automation"], "room": room, "role": role, "roles": roles,
            "sensitive_manual": sorted(r for r, e in roles.items() if e["sensitive"] and e["wake"] == "manual")}


def auto_event_view(line: dict) -> AutoEventView:
    """A line of bridge.policy.read_log(), with every key present (extra keys, e.g. a run's pid, dropped)."""
    out = {k: line.get(k) for k in AutoEventView.__annotations__}
    out["at"], out["event"], out["why"] = str(line.get("at") or ""), str(line.get("event") or ""), \
        str(line.get("why") or "")
    return out  # type: ignore[return-value]


def inbound_view(policy: dict) -> InboundView:
    """bridge.inbound.policy() of a session."""
    return {"mode": policy["mode"], "allow": list(policy["allow"]), "trust": list(policy["trust"])}


def failed_send_view(target: Session, error: str, exit_code: int) -> FailedSendView:
    """One recipient a broadcast could not reach; `error` already worded by the front-end."""
    return {"session_id": target.id, "name": target.name, "error": error, "exit_code": exit_code}


# --- history and search (bridge/index.py) --------------------------------------------------------------------------
HistoryView = TypedDict("HistoryView", {**MessageView.__annotations__, "to_name": str | None, "room": str | None})
HistoryView.__doc__ = ("A message of the history index (bridge/index.py): the message, with what its recipient is "
                       "called (null when the index never saw its session) and the room it was sent in.")
SearchHitView = TypedDict("SearchHitView", {**HistoryView.__annotations__, "snippet": str, "rank": float})
SearchHitView.__doc__ = ("A search match: the message, a snippet of its body around the match (matches between **), "
                         "and its rank (bm25: lower is better).")


def history_view(row: dict) -> HistoryView:
    """A row of bridge.index in the shared shape."""
    import orjson  # already loaded by every front-end; here, not at the top, to keep this section self-contained

    return {"id": row["id"], "type": row["type"], "from": row["sender"],
            "from_name": row["from_name"] or row["sender"],
            "to": row["recipient"], "content": row["content"], "in_reply_to": row["in_reply_to"],
            "sent_at": row["sent_at"], "attempt": row["attempt"] or 1, "status": row["status"] or "sent",
            "to_name": row["to_name"], "room": row["room"],
            "attachments": [dict(r) for r in orjson.loads(row["attachments"])] if row.get("attachments") else [],
            "machine": row.get("machine")}


def search_hit_view(row: dict) -> SearchHitView:
    """A search match of bridge.index (a row with `snippet` and `rank`)."""
    return {**history_view(row), "snippet": row["snippet"], "rank": row["rank"]}  # type: ignore[typeddict-item]


# (history-views: end)

# --- artifacts (bridge/artifacts.py) -------------------------------------------------------------------------------
class ArtifactView(TypedDict):
    """An artifact: its SHA-256 (how it is fetched), the file name it was shared as, its size in bytes and media
    type. A message's `attachments` are these."""

    sha256: str
    name: str
    size: int
    type: str


class StoredArtifactView(ArtifactView):
    """An artifact in the store (`artifact list`): its reference and when it was last shared (ISO-8601 UTC)."""

    shared_at: str


def artifact_view(ref: dict) -> ArtifactView:
    """An artifact reference (bridge.artifacts.ref) in the shared shape."""
    return {"sha256": ref["sha256"], "name": ref["name"], "size": ref["size"], "type": ref["type"]}


def stored_artifact_view(entry: dict) -> StoredArtifactView:
    """An entry of bridge.artifacts.list_all()."""
    return {**artifact_view(entry), "shared_at": entry["shared_at"]}  # type: ignore[typeddict-item]


# (artifact-views: end)

# --- leases (bridge/leases.py) -------------------------------------------------------------------------------------
class LeaseView(TypedDict):
    """A live file lease: the path (absolute), its holder, shared or exclusive, why, and until when (ISO-8601 UTC,
    null: while its session lives); `mine` when the caller's session holds it."""

    path: str
    session_id: str
    name: str
    address: str | None
    exclusive: bool
    reason: str | None
    created: str
    expires: str | None
    mine: bool


class BlockedPathView(TypedDict):
    """A staged path the git guard refuses, and the lease that blocks it."""

    path: str
    lease: LeaseView


def lease_view(lease: Lease, me: str | None) -> LeaseView:
    """A lease (bridge.leases.Lease) in the shared shape; `me` is the caller's session id, if any."""
    holder = lease.holder
    return {"path": lease.path, "session_id": lease.session, "name": holder.name if holder else lease.session,
            "address": holder.address if holder else None, "exclusive": lease.exclusive, "reason": lease.reason,
            "created": lease.created, "expires": lease.expires, "mine": lease.session == me}


def blocked_path_view(path: str, lease: Lease, me: str | None) -> BlockedPathView:
    """One path the guard refuses (bridge.leases.guard_check)."""
    return {"path": path, "lease": lease_view(lease, me)}


# (lease-views: end)
