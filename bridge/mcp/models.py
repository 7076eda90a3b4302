"""The MCP tools' results: the shared JSON shape (bridge.views) as pydantic models, with the descriptions a model reads.

Field names are the views' keys (tests/test_json_shape.py checks them against bridge.views), so the CLI's --json and
the tools' structured results are one shape. `from` is a Python keyword: the field is `from_` with the alias "from",
and the SDK serializes by alias.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bridge import views

Liveness = Literal["active", "stale", "gone"]


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
    status: Liveness = Field(description="active: its agent runs; stale or gone: it will not answer")


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


class SentMessage(Message):
    state: Literal["queued", "noticed", "read", "answered", "undeliverable", "expired"] = Field(
        description="queued: waiting in the peer's inbox; noticed: the peer's agent was told it exists; read: the "
                    "peer took it; answered: its reply arrived; undeliverable: the peer ended before reading it; "
                    "expired: its ttl passed unread")


class Connection(Shape):
    session_id: str
    name: str | None
    status: Liveness


class WhoamiResult(Result):
    session: Session


class StartResult(Result):
    created: bool = Field(description="False when an existing session of this agent and project was resumed")
    session: Session


class PeersResult(Result):
    peers: list[Session]


class ConnectResult(Result):
    peer: Session
    ping_id: str


class SendResult(Result):
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
