"""The protocol: connect, send, listen, ask, receive, reply, stop. Every front-end calls these.

Waiting blocks in the kernel (watch.DirWatch) and re-scans only when the inbox changes; every IDLE_S it also puts
back messages of dead readers, refreshes the heartbeat, and (for ask/receive) checks that the peer still lives.
Messages are handed out inside a `with` block: finalized as read when the block ends, put back if it raises, so a
reader that fails while printing loses nothing.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from bridge import identity, layout, message, sessions, validate
from bridge.errors import BridgeError, NoSession, PeerGone, Timeout
from bridge.sessions import Session
from bridge.store import Claim
from bridge.watch import watching

DEFAULT_MAX_BODY = 64 * 1024
IDLE_S = 1.0


def max_body() -> int:
    try:
        return int(os.environ.get("BRIDGE_MAX_BODY", DEFAULT_MAX_BODY))
    except ValueError:
        raise BridgeError("BRIDGE_MAX_BODY must be a number of bytes, e.g. 65536") from None


def check_body(content: str) -> str:
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError:
        raise BridgeError("message body is not valid UTF-8 text; send text, or a path to a file with the data") from None
    limit = max_body()
    if size > limit:
        raise BridgeError(
            f"message body is {size} bytes, over the {limit}-byte limit; write it to a file and send the path, "
            f"or raise BRIDGE_MAX_BODY"
        )
    return content


# --- sending -----------------------------------------------------------------------------------------------------


def send(me: Session, target: Session, type: str, content: str, in_reply_to: str | None = None) -> dict:
    """Deliver a message into target's inbox and keep the sender's copy in our outbox."""
    validate.message_type(type)
    check_body(content)
    if in_reply_to is not None:
        validate.message_id(in_reply_to)
    if not (target.dir / "inbox").is_dir():
        raise PeerGone(f"session {target.id} has no inbox any more (it ended); see: session-bridge peers")
    msg = message.build(sender=me.manifest, to=target.id, type=type, content=content, in_reply_to=in_reply_to)
    target.mailbox.deliver(msg)
    outbox = me.dir / "outbox"
    if outbox.is_dir():
        layout.atomic_write(outbox / message.filename(msg["id"]), layout.dumps(dict(msg, status="sent")), durable=False)
    sessions.remember_peer(me, target.id)
    sessions.touch(me)
    return msg


def connect(me: Session, target: Session) -> dict:
    """Say hello with a ping; the peer's listener records the connection without waking its agent."""
    return send(me, target, "ping", "connected")


# --- waiting -----------------------------------------------------------------------------------------------------


def _wait_claim(me: Session, accept: Callable[[dict], bool], timeout: float | None,
                idle: Callable[[], None] | None = None) -> Claim:
    try:
        return _claim_when_there(me, accept, timeout, idle)
    except FileNotFoundError:
        if me.dir.exists():
            raise
        raise NoSession(f"session {me.id} was stopped while waiting; start one again with: session-bridge start") \
            from None


def _claim_when_there(me: Session, accept: Callable[[dict], bool], timeout: float | None,
                      idle: Callable[[], None] | None) -> Claim:
    box = me.mailbox
    deadline = None if not timeout else time.monotonic() + timeout
    watch = watching(box.inbox)
    box.recover()
    next_idle = time.monotonic() + IDLE_S
    while True:
        seen = watch.generation
        claim = box.claim(accept)
        if claim is not None:
            return claim
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise Timeout(f"nothing arrived within {timeout:g}s")
        if now >= next_idle:
            box.recover()
            sessions.touch(me)
            if idle:
                idle()
            next_idle = now + IDLE_S
        wait_for = next_idle - now if deadline is None else min(next_idle, deadline) - now
        watch.wait(seen, max(wait_for, 0))


def _listenable(me: Session) -> Callable[[dict], bool]:
    box = me.mailbox

    def accept(msg: dict) -> bool:
        if msg["from"] == me.id:
            return False  # our own echo
        return not (msg["type"] == "response" and box.is_awaited(msg.get("inReplyTo")))  # an ask is waiting for it

    return accept


def _next_message(me: Session, timeout: float | None, idle: Callable[[], None] | None = None,
                  absorb_pings: bool = True) -> Claim:
    """Claim the next message for a listener; pings are recorded as connections and skipped."""
    deadline = None if not timeout else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        claim = _wait_claim(me, _listenable(me), remaining, idle)
        if not (absorb_pings and claim.message["type"] == "ping"):
            return claim
        me.mailbox.finalize(claim)
        sessions.remember_peer(me, claim.message["from"])


@contextmanager
def listen(me: Session, timeout: float | None = None, *, absorb_pings: bool = True) -> Iterator[dict]:
    """The next message for this session, oldest first. Pings are recorded as connections and skipped."""
    try:
        claim = _next_message(me, timeout, absorb_pings=absorb_pings)
    except Timeout:
        raise Timeout(f"no message within {timeout:g}s; listen again, or see who is connected with: "
                      "session-bridge status") from None
    with me.mailbox.delivering(claim) as msg:
        yield msg


@contextmanager
def receive(me: Session, msg_id: str, timeout: float | None = None, peer: Session | None = None) -> Iterator[dict]:
    """The reply to msg_id; fails fast with PeerGone if the peer's session ends first."""
    validate.message_id(msg_id)
    box = me.mailbox
    peer = peer or _recipient(me, msg_id)

    def peer_alive() -> None:
        if peer is not None:
            fresh = sessions.load(peer.root, peer.id)
            if fresh is None or fresh.liveness == "gone":
                raise PeerGone(
                    f"{peer.describe()} ended before answering; your message is {msg_id}. "
                    "See who is live with: session-bridge peers"
                )

    with box.awaiting(msg_id):
        try:
            claim = _wait_claim(me, lambda m: m.get("inReplyTo") == msg_id, timeout, peer_alive)
        except Timeout:
            who = peer.describe() if peer else "the peer"
            raise Timeout(
                f"no answer from {who} within {timeout:g}s; it may not be listening. Check with "
                f"`session-bridge peers`; fetch a late answer with `session-bridge receive {msg_id}`"
            ) from None
    with box.delivering(claim) as msg:
        yield msg


def _recipient(me: Session, msg_id: str) -> Session | None:
    """The session a message of our outbox went to, if it still exists."""
    try:
        sent = message.parse((me.dir / "outbox" / message.filename(msg_id)).read_bytes())
    except (OSError, message.BadMessage):
        return None
    return sessions.load(me.root, sent["to"]) if validate.is_session_id(sent["to"]) else None


@contextmanager
def ask(me: Session, target: Session, question: str, timeout: float | None = None) -> Iterator[tuple[dict, dict]]:
    """Send a query and wait for its answer: yields (question, answer)."""
    q = send(me, target, "query", question)
    with receive(me, q["id"], timeout, peer=target) as answer:
        yield q, answer


@contextmanager
def drain(me: Session) -> Iterator[list[dict]]:
    """Claim every message waiting for this session now (for hooks): finalized together, or all put back."""
    with drain_within(me, lambda m: 0, 0) as (msgs, _):
        yield msgs


def reply(me: Session, msg_id: str, content: str) -> dict:
    """Answer a message of our inbox; a still-pending original counts as delivered from now on."""
    validate.message_id(msg_id)
    check_body(content)
    box = me.mailbox
    original = box.find(msg_id)
    if original is None:
        raise BridgeError(f"no message {msg_id} in this session's inbox; see: session-bridge inbox --all")
    if original.get("status") == "pending":
        claim = box.claim(lambda m: m["id"] == msg_id)
        if claim is not None:
            box.finalize(claim)
    asker = sessions.load(me.root, original["from"]) if validate.is_session_id(original["from"]) else None
    if asker is None:
        raise PeerGone(f"the sender of {msg_id} ({original['from']}) has ended its session; the reply was not sent")
    return send(me, asker, "response", content, in_reply_to=msg_id)


# --- inspecting and ending ---------------------------------------------------------------------------------------


def inbox(me: Session, include_read: bool = False) -> list[dict]:
    box = me.mailbox
    box.recover()
    msgs = box.pending()
    if include_read:
        msgs = box.delivered() + msgs
    return msgs


def _peers_talked_to(me: Session) -> set[str]:
    ids = set(me.manifest.get("connections") or [])
    for folder, key in ((me.dir / "outbox", "to"), (me.mailbox.read_dir, "from"), (me.mailbox.inbox, "from")):
        try:
            names = [n for n in os.listdir(folder) if n.endswith(".json")]
        except OSError:
            continue
        for n in names:
            try:
                ids.add(message.parse((folder / n).read_bytes())[key])
            except (OSError, message.BadMessage):
                continue
    ids.discard(me.id)
    return {i for i in ids if validate.is_session_id(i)}


def stop(me: Session) -> list[str]:
    """End this session: tell every peer it talked to, then remove its directory and pointer."""
    notified = []
    for pid in sorted(_peers_talked_to(me)):
        peer = sessions.load(me.root, pid)
        if peer is not None and (peer.dir / "inbox").is_dir():
            try:
                send(me, peer, "session-ended", "Session ended")
                notified.append(pid)
            except BridgeError:
                continue
    sessions.remove(me)
    return notified


def status(me: Session) -> dict:
    peers = []
    for pid in me.manifest.get("connections") or []:
        peer = sessions.load(me.root, pid) if validate.is_session_id(pid) else None
        peers.append({
            "sessionId": pid,
            "name": peer.name if peer else None,
            "status": peer.liveness if peer else "gone",
        })
    return {"session": me.manifest, "pending": len(me.mailbox.pending()), "connections": peers}


# --- for hosts that push into the agent (hooks) ------------------------------------------------------------------


@contextmanager
def drain_within(me: Session, size: Callable[[dict], int], budget: int) -> Iterator[tuple[list[dict], int]]:
    """Like drain, but claims messages oldest first only while the sum of size(message) stays within budget.
    Yields (claimed messages, how many stay pending); the claimed ones are finalized together or all put back."""
    box = me.mailbox
    box.recover()
    accept = _listenable(me)
    claims, used = [], 0
    for msg, _, _ in box.scan():
        if not accept(msg):
            continue
        cost = size(msg)
        if used + cost > budget:
            break
        claim = box.claim(lambda m, wanted=msg["id"]: m["id"] == wanted)
        if claim is not None:
            claims.append(claim)
            used += cost
    left = sum(1 for m in box.pending() if accept(m))
    try:
        yield [c.message for c in claims], left
    except BaseException:
        for c in claims:
            box.release(c)
        raise
    for c in claims:
        box.finalize(c)
        if c.message["type"] == "ping":
            sessions.remember_peer(me, c.message["from"])


class _Unwanted(Exception):
    """Background listening was turned off, the session ended, or its host agent exited."""


@contextmanager
def listen_in_background(me: Session, timeout: float | None = None) -> Iterator[dict | None]:
    """The next message, for a host that wakes an idle agent with it (Claude Code's asyncRewake hook).

    At most one background listener per session waits (a second one yields None at once). It yields None, too, when
    the manifest's backgroundListen is turned off, the session ends, its host agent exits, or the timeout passes.
    """
    try:
        lock = FileLock(me.dir / ".background.lock", timeout=0)
        lock.acquire()
    except (FileLockTimeout, OSError):
        yield None
        return
    try:
        host = identity.host()  # the agent to wake; gone means nobody to wake

        def still_wanted() -> None:
            fresh = sessions.load(me.root, me.id)
            if fresh is None or not fresh.manifest.get("backgroundListen") or host is None or not host.alive():
                raise _Unwanted

        try:
            still_wanted()
            claim = _next_message(me, timeout, still_wanted)
        except (_Unwanted, Timeout, FileNotFoundError):
            claim = None
        if claim is None:
            yield None
            return
        with me.mailbox.delivering(claim) as msg:
            yield msg
    finally:
        lock.release()


# --- for front-ends that hand out an answer again (the MCP server's bridge_receive) -------------------------------


def delivered_reply(me: Session, msg_id: str) -> dict | None:
    """The reply to msg_id if one was already delivered to this session (by a listen, a hook or a channel push):
    the newest such response, or None. Reads the delivered messages, so use it for an explicit request only."""
    validate.message_id(msg_id)
    replies = [m for m in me.mailbox.delivered() if m.get("inReplyTo") == msg_id and m.get("type") == "response"]
    return replies[-1] if replies else None
