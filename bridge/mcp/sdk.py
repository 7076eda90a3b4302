"""The one module that touches the MCP SDK's internals: the handshakes, the channel capability, the stdio wire.

MCPServer runs stdio only with default capabilities, so this module runs the low-level server with ours. With
channels it also refuses `server/discover` (the 2026-07-28 handshake) with -32601 before the SDK sees it: Claude Code
drops channel events on such "modern" connections, and falls back to `initialize` (where `experimental
["claude/channel"]` is honoured) when discover is refused. Without channels the SDK answers discover as usual. This
module also owns the wire: stdout is a private copy of fd 1 (fd 1 itself goes to stderr so a stray print cannot
corrupt the stream), wrapped so a push can wait until its line has been flushed. Everything here depends on SDK
details (tested against the pinned `mcp` range in pyproject.toml).
"""

from __future__ import annotations

import os
import sys
from io import TextIOWrapper
from typing import Awaitable, Callable, Literal

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import (METHOD_NOT_FOUND, ErrorData, JSONRPCError, JSONRPCRequest, Notification,
                       NotificationParams)

CHANNEL_CAPABILITY = "claude/channel"
CHANNEL_METHOD = "notifications/claude/channel"
DISCOVER = "server/discover"


class ChannelParams(NotificationParams):
    content: str
    meta: dict[str, str]


class ChannelNotification(Notification[ChannelParams, Literal["notifications/claude/channel"]]):
    """notifications/claude/channel {"content", "meta"}: arrives in a live Claude session as a <channel> event.
    Typed params: a plain-dict params would lose fields."""

    method: Literal["notifications/claude/channel"] = CHANNEL_METHOD
    params: ChannelParams


class TrackedStdout:
    """The stdout the SDK's stdio transport writes through; tells a waiting push when its line has been flushed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.line = ""
        self.waiters: dict[str, anyio.Event] = {}

    async def write(self, text: str) -> int:
        """Write one line of the wire, remembering it for flush()."""
        self.line = text
        return await self.inner.write(text)

    async def flush(self) -> None:
        """Flush, then wake the push (by message id) whose channel line this was."""
        await self.inner.flush()
        if CHANNEL_METHOD in self.line:
            for msg_id, flushed in list(self.waiters.items()):
                if f'"{msg_id}"' in self.line:
                    flushed.set()


def _private_stdout() -> TextIOWrapper:
    wire = os.dup(1)
    os.dup2(2, 1)
    return TextIOWrapper(os.fdopen(wire, "wb"), encoding="utf-8")


def discover_refusal(request_id) -> SessionMessage:
    """The -32601 answer to `server/discover` that makes Claude Code fall back to `initialize`."""
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(
        code=METHOD_NOT_FOUND,
        message="server/discover is not served with --channels: use initialize (channel events need it)")))


def _is_discover(item: object) -> bool:
    return (isinstance(item, SessionMessage) and isinstance(item.message, JSONRPCRequest)
            and item.message.method == DISCOVER)


async def _refuse_discover(source, sink, replies) -> None:
    """Relay the client's messages to the server, answering each `server/discover` on the wire itself: the SDK
    fixes a connection's era at its first request, so discover must never reach it for `initialize` to follow."""
    async with sink, replies:
        try:
            async for item in source:
                if _is_discover(item):
                    await replies.send(discover_refusal(item.message.id))
                else:
                    await sink.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the server stopped reading first: nothing left to relay


async def run_stdio(server: MCPServer, *, channels: bool = False,
                    companion: Callable[[TrackedStdout], Awaitable[None]] | None = None) -> None:
    """Serve `server` over stdio until the client closes stdin. With channels, declare the channel capability in
    `initialize` and refuse `server/discover`; `companion(wire)` runs beside the server (the channel pusher) and is
    cancelled with it."""
    lowlevel = server._lowlevel_server
    experimental = {CHANNEL_CAPABILITY: {}} if channels else None
    options = lowlevel.create_initialization_options(experimental_capabilities=experimental)
    out = TrackedStdout(anyio.wrap_file(_private_stdout()))
    try:
        async with stdio_server(stdout=out) as (read_stream, write_stream):
            async with anyio.create_task_group() as tg:
                if channels:
                    source = read_stream
                    relay, read_stream = anyio.create_memory_object_stream(0)
                    tg.start_soon(_refuse_discover, source, relay, write_stream.clone())
                if companion is not None:
                    tg.start_soon(companion, out)
                await lowlevel.run(read_stream, write_stream, options)
                tg.cancel_scope.cancel()
    except Exception as e:
        if not _client_gone(e):
            raise
        print("session-bridge mcp: the client closed the connection", file=sys.stderr)


def _client_gone(e: BaseException) -> bool:
    if isinstance(e, (BrokenPipeError, ConnectionResetError)):
        return True
    inner = getattr(e, "exceptions", None)  # an exception group from the task groups
    return bool(inner) and all(_client_gone(x) for x in inner)
