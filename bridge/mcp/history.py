"""The MCP tools for the history index (bridge/index.py): past messages, one exchange as a thread, full-text search.

Registered on the server of bridge/mcp/tools.py when that module imports this one. Each reads the index after
catching it up with the message files; results carry `notes` when the index was rebuilt or busy.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

import bridge
from bridge import index, views
from bridge.mcp import models
from bridge.mcp.models import HistoryResult, SearchResult, ThreadResult
from bridge.mcp.tools import MessageId, tool

PeerFilter = Annotated[str | None, Field(description="Only messages to or from this session: its id, label or "
                                                     "project name")]
RoomFilter = Annotated[str | None, Field(description="Only messages sent in this room")]
Since = Annotated[str | None, Field(description="Only messages sent since: a duration back (30m, 2h, 7d, 1w) or an "
                                                "ISO date (2025-01-31)")]


def _message(row: dict) -> models.HistoryMessage:
    return models.HistoryMessage(**views.history_view(row))


@tool(read_only=True, idempotent=True)
def bridge_history(peer: PeerFilter = None, room: RoomFilter = None, since: Since = None,
                   limit: Annotated[int, Field(ge=1, le=1000, description="The newest this many")] = 50
                   ) -> HistoryResult:
    """List past messages between the sessions on this machine, oldest first, including sessions that have ended.

    Use it to recall what a peer said earlier before asking again; filter by peer, room or time. For one question
    with its answers call bridge_thread; to find a message by its words call bridge_search."""
    after = index.since(since) if since else None
    with index.reading(bridge.bridge_dir()) as ix:
        rows = ix.history(peer, room, after, limit)
        return HistoryResult(messages=[_message(r) for r in rows], notes=ix.notes)


@tool(read_only=True, idempotent=True)
def bridge_thread(message_id: MessageId) -> ThreadResult:
    """Show the exchange a message belongs to: the question it started from, then its answers and follow-ups in
    time order.

    Give any message of the exchange (a question, an answer, a follow-up), e.g. an id from bridge_history or
    bridge_search."""
    with index.reading(bridge.bridge_dir()) as ix:
        root_id, rows = ix.thread(message_id)
        return ThreadResult(root_id=root_id, messages=[_message(r) for r in rows], notes=ix.notes)


@tool(read_only=True, idempotent=True)
def bridge_search(query: Annotated[str, Field(description="Words to find (all must match); also \"a phrase\", "
                                                          "prefix*, OR, NOT, NEAR(a b, 5)")],
                  peer: PeerFilter = None, room: RoomFilter = None, since: Since = None,
                  limit: Annotated[int, Field(ge=1, le=100, description="At most this many matches")] = 20
                  ) -> SearchResult:
    """Search the text of every past message between the sessions on this machine (ended sessions included), best
    matches first, each with a snippet around the match.

    Use it to find what a peer already answered (e.g. "getUser", "breaking change"); then bridge_thread with a
    hit's id shows the whole exchange. A query that is not valid search syntax is run as plain words."""
    after = index.since(since) if since else None
    with index.reading(bridge.bridge_dir()) as ix:
        ran, rows = ix.search(query, peer, room, after, limit)
        return SearchResult(query=ran, hits=[models.SearchHit(**views.search_hit_view(r)) for r in rows],
                            notes=ix.notes)
