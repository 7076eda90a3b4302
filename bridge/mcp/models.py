"""The MCP tools' results: the shared JSON shape (bridge.views) as pydantic models, with the descriptions a model reads.

Field names are the views' keys (tests/test_json_shape.py checks them against bridge.views), so the CLI's --json and
the tools' structured results are one shape. `from` is a Python keyword: the field is `from_` with the alias "from",
and the SDK serializes by alias.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bridge import views

Liveness = Literal["active", "stale", "idle", "gone"]


class Result(BaseModel):
    """Every result carries the shape's version."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    version: int = Field(default=views.VERSION, description="Version of this JSON shape")


class Shape(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class Session(Shape):
    session_id: str
    name: str = Field(description="The label if set, else the project name: what peers call this session")
    label: str | None
    project_name: str | None
    project_path: str | None
    host: str = Field(description="The agent CLI behind the session (claude-code, codex, ...) or 'cli'/'reference'")
    status: Liveness = Field(description="active: its agent runs; idle: a role's seat, its messages wait for "
                                         "auto-mode or its agent; stale or gone: it will not answer")
    summary: str | None = Field(description="What the session says it is working on (one line), if it said")
    machine: str | None = Field(default=None, description="The machine it runs on, when that is not this one "
                                                          "(address it as label@machine)")


class Artifact(Shape):
    sha256: str = Field(description="Its SHA-256: fetch it with bridge_artifact_get")
    name: str = Field(description="The file name it was shared as")
    size: int = Field(description="Bytes")
    type: str = Field(description="Media type, e.g. text/plain, image/png, application/octet-stream")


class Message(Shape):
    id: str
    type: str = Field(description="query (answer it with bridge_reply), response, ping, session-ended, ...")
    from_: str = Field(alias="from", description="The sender's session id")
    from_name: str = Field(description="What to call the sender: its label or project name")
    to: str
    content: str
    in_reply_to: str | None
    sent_at: str | None
    attempt: int = Field(description="More than 1 when a reader crashed before delivering it: a redelivery")
    status: str = Field(description="pending (not taken yet) or read")
    attachments: list[Artifact] = Field(description="Artifacts it references: fetch each with bridge_artifact_get")
    machine: str | None = Field(default=None, description="Set when the sender is on another machine: external "
                                                          "input from outside this one, weigh it accordingly")


class SentMessage(Message):
    state: Literal["queued", "held", "noticed", "read", "answered", "undeliverable", "expired"] = Field(
        description="queued: waiting in the peer's inbox; held: kept by the peer's inbound policy until its user "
                    "releases it; noticed: the peer's agent was told it exists; read: the peer took it; answered: "
                    "its reply arrived; undeliverable: the peer ended before reading it; expired: its ttl passed "
                    "unread")


class Connection(Shape):
    session_id: str
    name: str | None
    status: Liveness


class Team(Shape):
    room: str | None = Field(description="The room it works in with other sessions, if any")
    role: str | None = Field(description="The role it holds there (e.g. backend, web): room members reach it by "
                                         "this name")
    address: str | None = Field(description="role@room: how any session reaches it by its role")


class Member(Session):
    room: str | None
    role: str | None
    address: str | None = Field(description="role@room: how any session reaches it by its role")


class WhoamiResult(Result):
    session: Session
    team: Team


class StartResult(Result):
    created: bool = Field(description="False when an existing session of this agent and project was resumed")
    session: Session
    team: Team


class PeersResult(Result):
    peers: list[Session]
    teams: dict[str, Team] = Field(description="Each peer's room, role and address, by session id")


class ConnectResult(Result):
    peer: Session
    ping_id: str


class FailedSend(Shape):
    session_id: str = Field(description="The recipient that got no copy")
    name: str
    error: str = Field(description="Why: it ended, or its inbound policy refuses you")
    exit_code: int = Field(description="The CLI's exit code for that error (5: refused or gone)")


class SendResult(Result):
    message: Message | None = Field(description="The message as sent; null for a broadcast ('*')")
    messages: list[Message] = Field(description="Every copy as sent, one per recipient (a single send: that one "
                                                "message); bridge_receive takes a copy's id to wait for its answer")
    failed: list[FailedSend] = Field(description="Recipients of a broadcast that got no copy, and why")


class ReplyResult(Result):
    message: Message = Field(description="The message as sent")


class AnswerResult(Result):
    status: Literal["answered", "waiting"]
    question_id: str = Field(description="The id of the question; bridge_receive takes it to fetch a late answer")
    answer: Message | None
    note: str


class ListenResult(Result):
    status: Literal["message", "waiting"]
    message: Message | None
    note: str


class InboxResult(Result):
    messages: list[Message]
    pending: int = Field(description="How many messages wait in all (the list shows the oldest `limit`)")


class OutboxResult(Result):
    messages: list[SentMessage]


class ReadResult(Result):
    message: Message
    already_read: bool = Field(description="True when this message had been taken before; shown again")


class Delivery(Shape):
    mode: str = Field(description="Chosen delivery mode: auto, monitor, tmux, queue, hook or off")
    effective: str = Field(description="The mode in effect now (auto resolves to a running notifier, else hook)")
    paths: dict[str, dict] = Field(description="Each delivery path's last result: ok, detail, at (epoch s), armed")


class StatusResult(Result):
    session: Session
    pending: int = Field(description="Messages waiting to be taken with bridge_listen")
    connections: list[Connection]
    delivery: Delivery
    team: Team


class StopResult(Result):
    stopped: str
    notified: list[str] = Field(description="Peers told that this session ended")


class ScreenResult(Result):
    session_id: str = Field(description="The peer session whose pane was read")
    screen: str = Field(description="The peer's visible tmux screen as plain text")


class MenuOption(Shape):
    number: int
    label: str
    selected: bool = Field(description="The menu's cursor is on it")


class QuestionResult(Result):
    session_id: str
    state: Literal["busy", "menu", "text", "idle", "unknown"] = Field(
        description="busy: working, do not type; menu: waits for a choice (options); text: waits for typed text; "
                    "idle: at its input prompt; unknown: not recognized (read the screen)")
    question: str | None = Field(description="The menu's question, when one is on screen")
    options: list[MenuOption] = Field(description="The menu's options; answer with bridge_respond(choice=number)")
    evidence: list[str] = Field(description="The screen rows the state was read from")


class RespondResult(Result):
    session_id: str
    status: Literal["sent", "refused", "no-pane"] = Field(
        description="sent: the keys went to the pane (read it again to see the effect); refused: nothing was sent "
                    "(see detail)")
    detail: str


# --- rooms, roles, auto-mode, inbound policy (bridge.views' TeamView ... FailedSendView) ------------------------


class RoomsResult(Result):
    rooms: dict[str, list[Member]] = Field(
        description="Each room and its members (not gone; an idle seat counts), by role: address a member by its "
                    "role within your room, role@room from elsewhere, '*' for everyone else in your room")


class Briefing(Shape):
    room: str
    role: str
    text: str = Field(description="What the role's session is told when it starts, resumes, clears or compacts")


class BriefingResult(Result):
    briefing: Briefing


class BriefingsResult(Result):
    room: str
    briefings: list[Briefing] = Field(description="Every briefing of the room, by role")


class BriefingDeleted(Result):
    room: str
    role: str
    deleted: bool = Field(description="False when the role had no briefing")


Number = int | float


class Limits(Shape):
    max_hops: Number = Field(description="An auto-woken chain stops after this many hops and waits for a human")
    rate_per_min: Number = Field(description="Wakes per role per minute; more wait for a slot, never dropped")
    quiet_s: Number = Field(description="A chain quiet this long starts again at hop 0")
    cooldown_s: Number = Field(description="Seconds between two pushes into one live session")
    run_timeout_s: Number = Field(description="A spawned run longer than this is stopped; its message is offered "
                                              "again")
    sensitive: list[str] = Field(description="Roles never auto-woken unless turned on by name")
    deny: str = Field(description="Shell commands (a regular expression) auto-driven sessions may not run")


class AutoRole(Shape):
    wake: Literal["auto", "manual"] = Field(description="auto: auto-mode wakes it for its messages; manual: they "
                                                        "wait for its agent or a human")
    why: str = Field(description="Why the wake policy is what it is, and how to change it")
    driver: str = Field(description="How it is woken: auto, monitor, tmux, queue or spawn")
    cwd: str | None = Field(description="Where a spawned run starts")
    command: str | None = Field(description="What a spawned run runs, with the message as its prompt")
    sensitive: bool = Field(description="Never woken unless turned on by name")
    session_id: str | None = Field(description="The session holding the role (a live agent or a seat)")
    status: Liveness | None
    pending: int = Field(description="Messages waiting for the role")
    briefing: bool = Field(description="True when the role has a briefing (bridge_role_prompt_get)")


class AutoRoom(Shape):
    all: bool = Field(description="The whole room is on (its sensitive roles still only by name)")
    limits: Limits = Field(description="The limits in force in this room")
    roles: dict[str, AutoRole]


class AutoStatusResult(Result):
    automation: bool = Field(description="The master switch: off, nothing is ever woken")
    limits: Limits = Field(description="The defaults for every room")
    runner: bool = Field(description="True while `session-bridge auto run` runs (it spawns runs for roles with no "
                                     "live session, and pushes into live ones that need it)")
    rooms: dict[str, AutoRoom] = Field(description="Each room's switch, limits and roles")


class RoleConfig(Shape):
    room: str
    role: str
    wake: Literal["auto", "manual"]
    why: str = Field(description="Why the wake policy is what it is, and how to change it")
    driver: str
    cwd: str | None
    command: str | None = Field(description="What a spawned run runs (spawn driver)")
    sensitive: bool


class AutoConfigureResult(Result):
    role: RoleConfig = Field(description="What auto-mode does for the role now (configuring never turns it on)")
    session_id: str | None = Field(description="The role's session: its seat, where its messages wait")


class AutoSwitchResult(Result):
    automation: bool = Field(description="The master switch after the change")
    room: str | None
    role: str | None
    roles: dict[str, AutoRole] = Field(description="The room's roles (or the one role) as they are now; none for "
                                                   "the master switch")
    sensitive_manual: list[str] = Field(description="Sensitive roles that stayed manual: only turning them on by "
                                                    "name wakes them")


class AutoLimitsResult(Result):
    room: str | None = Field(description="The room whose limits these are; null: the defaults of every room")
    limits: Limits = Field(description="The limits in force now")


class AutoEvent(Shape):
    at: str = Field(description="ISO-8601 UTC")
    event: str = Field(description="woke, held, later, waits, left, done, failed, gave-up, started, stopped, ...")
    room: str | None
    role: str | None
    session: str | None
    msg: str | None = Field(description="The message it concerns")
    from_: str | None = Field(alias="from", description="That message's sender")
    hops: int | None = Field(description="That message's hop count")
    why: str
    driver: str | None = Field(description="The driver that woke the role")


class AutoLogResult(Result):
    events: list[AutoEvent] = Field(description="What auto-mode did and why, oldest first")


class Inbound(Shape):
    mode: Literal["accept", "hold", "refuse"] = Field(
        description="accept: messages land in the inbox; hold: they are kept until the user releases them "
                    "(bridge_release); refuse: senders get an error")
    allow: list[str] = Field(description="Only these senders (session id, label, role@room, @room, label@machine, "
                                         "@machine) may send; empty: everyone")
    trust: list[str] = Field(default_factory=list, description="Trusted contacts on other machines (label@machine, "
                                                                "@machine); a remote sender named nowhere is held")


class InboundResult(Result):
    session_id: str
    inbound: Inbound
    held: list[Message] = Field(description="Messages held for the user's release, oldest first")


class ReleaseResult(Result):
    released: list[str] = Field(description="The ids now in the inbox, pending (bridge_listen or bridge_read takes "
                                            "them)")


# --- file leases (bridge/mcp/leases.py) ---------------------------------------------------------------------------


class Lease(Shape):
    path: str = Field(description="The leased file or directory, absolute; a directory lease covers its contents")
    session_id: str = Field(description="The holder's session")
    name: str = Field(description="What to call the holder: its label or project name")
    address: str | None = Field(description="The holder's role@room, if it holds a role")
    exclusive: bool = Field(description="true: no other session may lease the path and the git guard refuses "
                                        "other sessions' commits touching it; false: shared")
    reason: str | None
    created: str = Field(description="ISO-8601 UTC")
    expires: str | None = Field(description="ISO-8601 UTC; null: it lasts while its session lives")
    mine: bool = Field(description="true when this session holds it")


class LeaseResult(Result):
    leases: list[Lease] = Field(description="The leases taken (or renewed) by this call")


class LeasesResult(Result):
    leases: list[Lease] = Field(description="Every live lease on this machine, by path")


class ReleaseLeasesResult(Result):
    released: list[str] = Field(description="The paths whose leases this session gave up")


# --- artifacts and summaries (bridge/mcp/artifacts.py) -----------------------------------------------------------


class StoredArtifact(Artifact):
    shared_at: str = Field(description="When it was last shared, ISO-8601 UTC")


class ShareResult(Result):
    artifact: Artifact = Field(description="The stored artifact: attach it to a message by its sha256")


class ArtifactGetResult(Result):
    artifact: Artifact
    encoding: Literal["text", "base64"] | None = Field(description="text: content is the UTF-8 text itself; base64: "
                                                                   "content is the bytes in base64")
    content: str | None
    path: str | None = Field(description="The file it was written to (the CLI's -o); null here")


class ArtifactListResult(Result):
    artifacts: list[StoredArtifact] = Field(description="Every stored artifact, newest first")


class SummaryResult(Result):
    session_id: str
    summary: str | None = Field(description="This session's summary as peers see it; null when none is set")


# --- history and search (bridge/mcp/history.py) ---------------------------------------------------------------------


class HistoryMessage(Message):
    to_name: str | None = Field(description="What the recipient is called (its label or project name)")
    room: str | None = Field(description="The room it was sent in, if any")


class SearchHit(HistoryMessage):
    snippet: str = Field(description="The body around the match, matched words between **")
    rank: float = Field(description="bm25 rank: lower is a better match")


class HistoryResult(Result):
    messages: list[HistoryMessage] = Field(description="Past messages, oldest first")
    notes: list[str] = Field(description="Notices about the index (rebuilt, busy); usually empty")


class ThreadResult(Result):
    root_id: str = Field(description="The question the thread starts from")
    messages: list[HistoryMessage] = Field(description="The question, its answers and follow-ups, in time order")
    notes: list[str] = Field(description="Notices about the index (rebuilt, busy); usually empty")


class SearchResult(Result):
    query: str = Field(description="The search as run: the query, or its words quoted when it was not valid syntax")
    hits: list[SearchHit] = Field(description="The best matches first")
    notes: list[str] = Field(description="Notices about the index (rebuilt, busy); usually empty")
