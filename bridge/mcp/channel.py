"""(Opt-in) pushing this session's messages to the agent as Claude Code channel events.

Once the client has connected, the pusher claims each message for this session (the core's exactly-once claim;
answers an ask is waiting for are left to it) and sends it as `notifications/claude/channel {"content", "meta"}`. A
message counts as delivered only once its line has been written and flushed to the client's pipe; if the push fails
or the server stops first, the core puts it back.
"""

from __future__ import annotations

import sys

import anyio
import anyio.to_thread

import bridge
from bridge import message
from bridge.errors import BridgeError, Timeout
from bridge.mcp.sdk import ChannelNotification, ChannelParams, TrackedStdout
from bridge.mcp.waits import taken

LISTEN_S = 30.0  # one wait of the pusher; it loops, re-checking which session it serves


def notification(msg: dict) -> ChannelNotification:
    """A message as a channel event: its content (a query says how to answer it) and its ids as meta."""
    content = msg["content"]
    name = message.sender_name(msg)
    if msg["type"] == "query":
        content += (f"\n\n(A question from peer session {name}. Answer it from your full context with "
                    f"the bridge_reply tool, message_id {msg['id']}.)")
    meta = {"message_id": msg["id"], "type": msg["type"], "from": name, "from_session": msg["from"]}
    if msg.get("inReplyTo"):
        meta["in_reply_to"] = msg["inReplyTo"]
    return ChannelNotification(params=ChannelParams(content=content, meta=meta))


class Pusher:
    """Pushes each message of this session once the client is ready; register on_message as server middleware and
    run run(wire) beside the server."""

    def __init__(self) -> None:
        self.out: TrackedStdout | None = None
        self.client = None  # the ServerSession of the connected client, set once its handshake is done
        self.connected = anyio.Event()

    async def on_message(self, ctx, call_next):
        """Server middleware: the first message after `initialize` means the client is ready for notifications."""
        result = await call_next(ctx)
        if ctx.method != "initialize" and self.client is None:
            self.client = ctx.session
            self.connected.set()
        return result

    async def run(self, out: TrackedStdout) -> None:
        """Wait for the client, then push every message of this session until cancelled."""
        self.out = out
        await self.connected.wait()
        root = bridge.bridge_dir()
        while True:
            me = await anyio.to_thread.run_sync(bridge.wait_current, root, 1.0, abandon_on_cancel=True)
            if me is None:  # no session yet; short waits, so a stopping server never waits on this thread
                continue
            try:
                async with taken(lambda idle: bridge.listen(me, LISTEN_S, idle=idle)) as msg:
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
        """Send one message and return once its line is flushed to the client (else raise: it is put back)."""
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
