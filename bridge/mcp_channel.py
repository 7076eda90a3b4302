"""Running the MCP server over stdio, and (opt-in) pushing this session's messages to the agent as channel events.

With channels on, the server declares `experimental["claude/channel"]` in both handshakes (`initialize` and the
2026-07-28 `server/discover`) and, once the client has connected, claims each message for this session (the core's
exactly-once claim; answers an ask is waiting for are left to it) and sends it as
`notifications/claude/channel {"content", "meta"}`. A message counts as delivered only once its line has been
written and flushed to the client's pipe; if the push fails or the server stops first, the core puts it back.
"""

from __future__ import annotations

import os
import sys
from io import TextIOWrapper
from typing import Literal

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp_types import DiscoverResult, Notification, NotificationParams, RequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from bridge import layout, protocol, sessions
from bridge.errors import BridgeError, Timeout

CAPABILITY = "claude/channel"
METHOD = "notifications/claude/channel"
LISTEN_S = 30.0  # one wait of the pusher; it loops, re-checking which session it serves


class ChannelParams(NotificationParams):
    content: str
    meta: dict[str, str]


class ChannelNotification(Notification[ChannelParams, Literal["notifications/claude/channel"]]):
    method: Literal["notifications/claude/channel"] = METHOD
    params: ChannelParams


def notification(msg: dict) -> ChannelNotification:
    from bridge.message import sender_name

    content = msg["content"]
    if msg["type"] == "query":
        content += (f"\n\n(A question from peer session {sender_name(msg)}. Answer it from your full context with "
                    f"the bridge_reply tool, message_id {msg['id']}.)")
    meta = {"message_id": msg["id"], "type": msg["type"], "from": sender_name(msg), "from_session": msg["from"]}
    if msg.get("inReplyTo"):
        meta["in_reply_to"] = msg["inReplyTo"]
    return ChannelNotification(params=ChannelParams(content=content, meta=meta))


class TrackedStdout:
    """The stdout the SDK's stdio transport writes through; tells a waiting push when its line has been flushed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.line = ""
        self.waiters: dict[str, anyio.Event] = {}

    async def write(self, text: str) -> int:
        self.line = text
        return await self.inner.write(text)

    async def flush(self) -> None:
        await self.inner.flush()
        if METHOD in self.line:
            for msg_id, flushed in list(self.waiters.items()):
                if f'"{msg_id}"' in self.line:
                    flushed.set()


class Pusher:
    def __init__(self, out: TrackedStdout) -> None:
        self.out = out
        self.client = None  # the ServerSession of the connected client, set once its handshake is done
        self.connected = anyio.Event()

    async def on_message(self, ctx, call_next):
        """Server middleware: the first message after `initialize` means the client is ready for notifications."""
        result = await call_next(ctx)
        if ctx.method != "initialize" and self.client is None:
            self.client = ctx.session
            self.connected.set()
        return result

    async def run(self) -> None:
        from bridge.mcp_tools import taken

        await self.connected.wait()
        root = layout.bridge_dir()
        while True:
            me = await anyio.to_thread.run_sync(sessions.wait_current, root, None, abandon_on_cancel=True)
            try:
                async with taken(lambda: protocol.listen(me, LISTEN_S)) as msg:
                    await self.push(msg)
            except Timeout:
                continue
            except (BridgeError, OSError) as e:  # the session ended under us, or its files are unusable
                print(f"session-bridge mcp: channel: {e}", file=sys.stderr)
                await anyio.sleep(1)
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as e:
                print(f"session-bridge mcp: channel push failed ({e!r}); the message was put back, "
                      "pushes stop until the server restarts", file=sys.stderr)
                return

    async def push(self, msg: dict) -> None:
        flushed = anyio.Event()
        self.out.waiters[msg["id"]] = flushed
        try:
            await self.client.send_notification(notification(msg))
            await flushed.wait()
        except BaseException:
            print(f"session-bridge mcp: channel push of {msg['id']} did not complete; the message is put back",
                  file=sys.stderr, flush=True)
            raise
        finally:
            self.out.waiters.pop(msg["id"], None)


def _private_stdout() -> TextIOWrapper:
    """The wire on a private copy of fd 1; fd 1 itself goes to stderr so stray prints cannot corrupt the stream."""
    wire = os.dup(1)
    os.dup2(2, 1)
    return TextIOWrapper(os.fdopen(wire, "wb"), encoding="utf-8")


async def run_stdio(server: MCPServer, channels: bool) -> None:
    # MCPServer runs stdio only with default capabilities; the low-level server takes ours and our stdout.
    lowlevel = server._lowlevel_server
    experimental = {CAPABILITY: {}} if channels else None
    options = lowlevel.create_initialization_options(experimental_capabilities=experimental)

    async def discover(ctx, params: RequestParams) -> DiscoverResult:
        # The SDK's default server/discover answer drops experimental capabilities.
        return DiscoverResult(
            supported_versions=list(MODERN_PROTOCOL_VERSIONS),
            capabilities=lowlevel.get_capabilities(experimental_capabilities=experimental,
                                                   protocol_version=ctx.protocol_version),
            instructions=lowlevel.instructions,
        )

    lowlevel.add_request_handler("server/discover", RequestParams, discover)
    out = TrackedStdout(anyio.wrap_file(_private_stdout()))
    pusher = Pusher(out)
    server.middleware.append(pusher.on_message)
    try:
        async with stdio_server(stdout=out) as (read_stream, write_stream):
            async with anyio.create_task_group() as tg:
                if channels:
                    tg.start_soon(pusher.run)
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
