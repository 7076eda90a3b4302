"""The protocol: connect, send, listen, ask, receive, reply, read, notice, outbox, stop. Every front-end calls these.

Waiting blocks in the kernel (watch.DirWatch) and re-scans only when the inbox changes; every IDLE_S it also puts
back messages of dead readers, refreshes the heartbeat, and (for ask/receive) checks that the peer still lives.
Messages are handed out inside a `with` block: finalized as read when the block ends, put back if it raises, so a
reader that fails while printing loses nothing.

Delivery states, as the sender sees them in its outbox (`outbox()`): queued (in the peer's inbox), noticed (a driver
told the peer's agent it exists), read (the agent took it), answered (a reply to it arrived), undeliverable (the peer
ended before reading it), expired (its ttl passed unread). The reader's side leaves receipts in the sender's
receipts/ dir; where one is missing (a crash), the state is derived from the peer's inbox.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from bridge import artifacts, identity, inbound, layout, message, policy, render, sessions, validate, views
from bridge.errors import BridgeError, Next, NoSession, PeerGone, Timeout
from bridge.message import max_body
from bridge.sessions import Session
from bridge.mailbox import RECEIPTS, Claim, write_receipt
from bridge.watch import watching

IDLE_S = 1.0
SEE_LIVE = Next("peers", "see who is live with")
START_AGAIN = Next("start", "start one again with")
SEE_INBOX = Next("inbox", "see")
STATES = ("queued", "held", "noticed", "read", "answered", "undeliverable", "expired")


def seconds(value: float | None, what: str = "timeout") -> float | None:
    """A wait in seconds, checked: finite and >= 0 (0 or None waits forever). NaN would otherwise wait forever."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise BridgeError(f"{what} must be a finite number of seconds >= 0 (0 waits forever), not {value!r}")
    return float(value)


def check_body(content: str) -> str:
    """content if it is UTF-8 text within the body limit, else a BridgeError naming the fix."""
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError:
        raise BridgeError("message body is not valid UTF-8 text; send text, or a path to a file with the data") from None
    limit = max_body()
    if size > limit:
        raise BridgeError(
            f"message body is {size} bytes, over the {limit}-byte limit; attach the data as an artifact "
            f"(--attach FILE) and send a short note, or raise BRIDGE_MAX_BODY"
        )
    return content


# --- sending -----------------------------------------------------------------------------------------------------


def compose(me: Session, target: Session, type: str, content: str, in_reply_to: str | None = None,
            ttl: float | None = None, attachments: list | None = None) -> dict:
    """A checked, not yet sent message from me to target (ask marks its wait for the id before sending).
    `attachments`: artifacts it references (bridge.artifacts refs, or hashes of artifacts already shared)."""
    validate.message_type(type)
    check_body(content)
    if in_reply_to is not None:
        validate.message_id(in_reply_to)
    if ttl is not None and (seconds(ttl, "ttl") or 0) <= 0:
        raise BridgeError("ttl must be more than 0 seconds")
    msg = message.build(sender=me.manifest, to=target.id, type=type, content=content, in_reply_to=in_reply_to,
                        ttl=ttl)
    hops = policy.chain_hops(me, in_reply_to)
    if hops is not None:
        msg["metadata"]["hops"] = hops  # the loop guard's count: the bridge writes it, never the agent
    if attachments:
        msg["metadata"]["artifacts"] = _attachment_refs(me, attachments)
    if me.room:
        msg["metadata"]["room"] = me.room
        if me.role:
            msg["metadata"]["fromRole"] = me.role
    return msg


def _attachment_refs(me: Session, attachments: list) -> list[dict]:
    """Artifact references for metadata.artifacts: a hash is looked up in the store; a ref is checked."""
    if len(attachments) > message.MAX_ATTACHMENTS:
        raise BridgeError(f"{len(attachments)} attachments, over the {message.MAX_ATTACHMENTS} a message may carry; "
                          f"pack the files into one archive and attach that")
    refs = [artifacts.info(me.root, a) if isinstance(a, str) else a for a in attachments]
    if message.artifact_refs(refs) is None:
        raise BridgeError("an attachment is not an artifact reference {sha256, name, size, type}; share the file "
                          "and attach its hash")
    return refs


def post(me: Session, target: Session, msg: dict) -> dict:
    """Deliver a composed message into target's inbox (one rename), then keep our copy in the outbox. A peer that
    ended (its inbox is gone, even mid-send) raises PeerGone and the copy is kept marked undeliverable."""
    gone = PeerGone(f"{target.describe()} has ended; the message was not delivered", SEE_LIVE)
    if not (target.dir / layout.INBOX).is_dir():
        _keep_sent(me, msg, "undeliverable")
        raise gone
    fresh = sessions.load(target.root, target.id) or target  # its inbound policy as it is now
    try:
        if inbound.decide(fresh, me) == "hold":
            inbound.hold(fresh, msg)
        else:
            target.mailbox.deliver(msg)
    except BridgeError as e:
        if isinstance(e.__cause__, FileNotFoundError):  # stop renamed the session away under us
            _keep_sent(me, msg, "undeliverable")
            raise gone from None
        raise
    _keep_sent(me, msg)
    sessions.remember_peer(me, target.id)
    sessions.touch(me)
    return msg


def send(me: Session, target: Session, type: str, content: str, in_reply_to: str | None = None,
         ttl: float | None = None, attachments: list | None = None) -> dict:
    """Deliver a message into target's inbox and keep the sender's copy in our outbox (`attachments` as for
    compose)."""
    msg = post(me, target, compose(me, target, type, content, in_reply_to, ttl, attachments))
    if type == "response" and in_reply_to:
        write_receipt(me.root, target.id, in_reply_to, "answered")
    return msg


def send_all(me: Session, targets: list[Session], type: str, content: str, ttl: float | None = None,
             attachments: list | None = None) -> tuple[list[dict], list[tuple[Session, BridgeError]]]:
    """A broadcast: one copy per recipient, each its own message (id: the broadcast's id + the recipient's), each
    delivered exactly once by that recipient's mailbox. Returns (sent copies, [(recipient, why not)])."""
    validate.message_type(type)
    check_body(content)  # a bad body fails once, before any copy is sent
    sent, failed = [], []
    base = message.new_id()
    for target in targets:
        try:
            msg = compose(me, target, type, content, ttl=ttl, attachments=attachments)
            msg["id"] = f"{base}-{target.id}"
            msg["metadata"]["broadcast"] = base
            sent.append(post(me, target, msg))
        except BridgeError as e:  # one refusing or ended recipient does not stop the others' copies
            failed.append((target, e))
    if not sent and failed:
        raise failed[0][1]
    return sent, failed


def _keep_sent(me: Session, msg: dict, state: str | None = None) -> None:
    outbox = me.dir / layout.OUTBOX
    if outbox.is_dir():
        layout.atomic_write(outbox / message.filename(msg["id"]), layout.dumps(dict(msg, status="sent")),
                            durable=False)
    if state:
        write_receipt(me.root, me.id, msg["id"], state)


def connect(me: Session, target: Session) -> dict:
    """Say hello with a ping; the peer's listener records the connection without waking its agent."""
    return send(me, target, "ping", "connected")


# --- waiting -----------------------------------------------------------------------------------------------------


def _wait_claim(me: Session, accept: Callable[[dict], bool], timeout: float | None,
                idle: Callable[[], None] | None = None) -> Claim:
    try:
        return _claim_when_there(me, accept, timeout, idle)
    except (FileNotFoundError, NoSession):
        if me.dir.exists():
            raise
        raise NoSession(f"session {me.id} was stopped while waiting", START_AGAIN) from None


def _claim_when_there(me: Session, accept: Callable[[dict], bool], timeout: float | None,
                      idle: Callable[[], None] | None) -> Claim:
    box = me.mailbox
    timeout = seconds(timeout)
    deadline = None if not timeout else time.monotonic() + timeout
    watch = watching(box.inbox)
    box.follow()
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
            if not me.dir.exists():  # stopped elsewhere: say so now, not at the next heartbeat write
                raise NoSession(f"session {me.id} was stopped while waiting", START_AGAIN)
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
    timeout = seconds(timeout)
    deadline = None if not timeout else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        claim = _wait_claim(me, _listenable(me), remaining, idle)
        if not (absorb_pings and claim.message["type"] == "ping"):
            return claim
        me.mailbox.finalize(claim)
        sessions.remember_peer(me, claim.message["from"])


@contextmanager
def listen(me: Session, timeout: float | None = None, *, absorb_pings: bool = True,
           idle: Callable[[], None] | None = None) -> Iterator[dict]:
    """The next message for this session, oldest first. Pings are recorded as connections and skipped. `idle` is
    called about every second while waiting: raise from it to stop waiting (a cancelled caller)."""
    try:
        claim = _next_message(me, timeout, idle, absorb_pings=absorb_pings)
    except Timeout:
        raise Timeout(f"no message within {timeout:g}s",
                      Next("status", "listen again, or see who is connected with")) from None
    with me.mailbox.delivering(claim) as msg:
        yield msg


@contextmanager
def receive(me: Session, msg_id: str, timeout: float | None = None, peer: Session | None = None, *,
            sending: dict | None = None, idle: Callable[[], None] | None = None, again: bool = True) -> Iterator[dict]:
    """The reply to msg_id; fails fast with PeerGone if the peer's session ends first. A reply that reached this
    session before (a listen, a hook, a channel push took it) is yielded again at once, with "status": "read"
    (unless `again` is False: the reference scripts wait for a pending one only). With
    `sending` (a composed message to peer), it is posted only once the wait is marked, so no other reader of this
    session can take a fast answer. `idle` as for listen."""
    validate.message_id(msg_id)
    if sending is None and again:
        earlier = delivered_reply(me, msg_id)
        if earlier is not None:
            yield earlier
            return
    peer = peer or _recipient(me, msg_id)
    with me.mailbox.awaiting(msg_id):
        if sending is not None:
            post(me, peer, sending)
        claim = _await_reply(me, msg_id, timeout, peer, idle)
    with me.mailbox.delivering(claim) as msg:
        yield msg


@contextmanager
def ask(me: Session, target: Session, question: str, timeout: float | None = None,
        attachments: list | None = None) -> Iterator[tuple[dict, dict]]:
    """Send a query (with `attachments` as for compose) and wait for its answer: yields (question, answer)."""
    q = compose(me, target, "query", question, attachments=attachments)
    with receive(me, q["id"], timeout, target, sending=q) as answer:
        yield q, answer


def _await_reply(me: Session, msg_id: str, timeout: float | None, peer: Session | None,
                 idle: Callable[[], None] | None = None) -> Claim:
    def peer_alive() -> None:
        if idle is not None:
            idle()
        if peer is not None:
            fresh = sessions.load(peer.root, peer.id)
            if fresh is None or fresh.liveness == "gone":
                raise PeerGone(f"{peer.describe()} ended before answering; your message is {msg_id}", SEE_LIVE)

    try:
        return _wait_claim(me, lambda m: m.get("inReplyTo") == msg_id, timeout, peer_alive)
    except Timeout:
        who = peer.describe() if peer else "the peer"
        state = sent_state(me, msg_id)
        said = {"queued": "your message is still queued: not read yet, so the peer may not be listening",
                "noticed": "the peer was told about your message but has not read it yet",
                "read": "the peer has read your message and not answered yet"}.get(state, f"your message is {state}")
        raise Timeout(f"no answer from {who} within {timeout:g}s; {said}",
                      Next("receive", "fetch a late answer with", (msg_id,))) from None


def _recipient(me: Session, msg_id: str) -> Session | None:
    """The session a message of our outbox went to, if it still exists."""
    sent = _sent(me, msg_id)
    return sessions.load(me.root, sent["to"]) if sent and validate.is_session_id(sent["to"]) else None


def _sent(me: Session, msg_id: str) -> dict | None:
    try:
        return message.parse(layout.read_bytes(me.dir / layout.OUTBOX / message.filename(msg_id), message.file_cap()))
    except (OSError, message.BadMessage):
        return None


# --- what became of what we sent -----------------------------------------------------------------------------------


def sent_state(me: Session, msg_id: str, receipts: set[str] | None = None, sent: dict | None = None) -> str:
    """The delivery state of a message this session sent: queued, noticed, read, answered, undeliverable or
    expired. Receipts left by the reader's side decide; where one is missing (a crash), the peer's inbox does."""
    if receipts is None:
        receipts = {st for st in RECEIPTS if os.path.lexists(me.dir / layout.RECEIPTS / f"{msg_id}.{st}")}
    for state in ("answered", "read", "expired", "undeliverable"):
        if state in receipts:
            return state
    sent = sent or _sent(me, msg_id)
    to = sent.get("to") if sent else None
    peer_dir = layout.sessions_dir(me.root) / to if validate.is_session_id(to) else None
    if peer_dir is not None:  # a receipt lost in a crash: the peer's inbox still knows
        try:
            filed = message.parse(layout.read_bytes(peer_dir / layout.INBOX / layout.READ / f"{msg_id}.json",
                                                    message.file_cap()))
            return "expired" if filed["status"] == "expired" else "read"
        except (OSError, message.BadMessage):
            pass
    if sent is not None and (peer_dir is None or not (peer_dir / layout.MANIFEST).exists()):
        return "undeliverable"
    if sent is not None and message.expired(sent):
        return "expired"
    if ("held" in receipts and "released" not in receipts) or (
            to is not None and inbound.is_held(me.root, to, msg_id)):
        return "held"
    if "noticed" in receipts or (peer_dir is not None and
                                 os.path.lexists(peer_dir / layout.INBOX / layout.NOTICED / msg_id)):
        return "noticed"
    return "queued"


def outbox(me: Session, limit: int | None = 50) -> list[dict]:
    """The messages this session sent (the newest `limit`, oldest first), each with its delivery `state`."""
    folder = me.dir / layout.OUTBOX
    try:
        names = sorted((n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith(".")),
                       key=lambda n: message.fifo_key(n[:-5], 0))
    except FileNotFoundError:
        return []
    receipts: dict[str, set[str]] = {}
    try:
        for n in os.listdir(me.dir / layout.RECEIPTS):
            msg_id, _, state = n.rpartition(".")
            receipts.setdefault(msg_id, set()).add(state)
    except FileNotFoundError:
        pass
    out = []
    for n in names[-limit:] if limit else names:
        try:
            msg = message.parse(layout.read_bytes(folder / n, message.file_cap()))
        except (OSError, message.BadMessage):
            continue
        out.append(dict(msg, state=sent_state(me, msg["id"], receipts.get(msg["id"], set()), msg)))
    return out


# --- taking one message, and telling the agent one exists ---------------------------------------------------------


@contextmanager
def read(me: Session, msg_id: str) -> Iterator[tuple[dict, bool]]:
    """Take one message by id: yields (message, taken_now). A pending one is delivered when the block ends (put back
    if it raises); one already read is yielded again with taken_now False."""
    validate.message_id(msg_id)
    box = me.mailbox
    box.recover()
    claim = box.claim_id(msg_id)
    if claim is None:
        found = box.find(msg_id)
        if found is None:
            raise BridgeError(f"no message {msg_id} for this session", SEE_INBOX)
        if found["status"] == "pending":
            raise BridgeError(f"message {msg_id} is being delivered by another reader of this session right now")
        yield found, False
        return
    with box.delivering(claim) as msg:
        yield msg, True


@contextmanager
def notice(me: Session, limit: int = 20) -> Iterator[list[dict]]:
    """The messages a notifier (monitor line, tmux nudge, channel) should point the agent at now: not yet noticed,
    or noticed and still unread after the backoff. Marked noticed (not read) when the block ends without error,
    so a pointer that was never shown is offered again."""
    box = me.mailbox
    box.recover()
    accept = _listenable(me)
    due = box.due_notices(lambda m: m["type"] != "ping" and accept(m), limit=limit)
    yield due
    for msg in due:
        box.mark_noticed(msg)


def reply(me: Session, msg_id: str, content: str, attachments: list | None = None) -> dict:
    """Answer a message of our inbox (with `attachments` as for compose); a still-pending original counts as
    delivered from now on."""
    validate.message_id(msg_id)
    check_body(content)
    if attachments:
        attachments = _attachment_refs(me, attachments)  # a bad one fails before the original counts as delivered
    box = me.mailbox
    original = box.find(msg_id)
    if original is None:
        raise BridgeError(f"no message {msg_id} in this session's inbox", SEE_INBOX)
    if original.get("status") == "pending":
        claim = box.claim_id(msg_id)
        if claim is not None:
            box.finalize(claim)
    asker = sessions.load(me.root, original["from"]) if validate.is_session_id(original["from"]) else None
    if asker is None:
        raise PeerGone(f"the sender of {msg_id} ({original['from']}) has ended its session; the reply was not sent")
    return send(me, asker, "response", content, in_reply_to=msg_id, attachments=attachments)


# --- inspecting and ending ---------------------------------------------------------------------------------------


def must_read(me: Session, cap: int = 1000) -> tuple[int, bool]:
    """How many waiting messages the agent must read (pings only record a connection), counting the oldest `cap`:
    (count, True if more wait beyond the cap)."""
    box = me.mailbox
    box.recover()
    seen = box.peek(cap)
    return sum(1 for m in seen if m["type"] != "ping"), box.waiting() > len(seen)


def inbox(me: Session, include_read: bool = False, limit: int | None = None) -> list[dict]:
    """Messages waiting for this session (the oldest `limit`), without taking them; with include_read the delivered
    ones first."""
    box = me.mailbox
    box.recover()
    msgs = box.peek(limit)
    if include_read:
        msgs = box.delivered() + msgs
    return msgs


def _peers_talked_to(me: Session) -> set[str]:
    ids = set(me.manifest.get("connections") or [])
    for folder, key in ((me.dir / layout.OUTBOX, "to"), (me.mailbox.read_dir, "from"), (me.mailbox.inbox, "from")):
        try:
            names = [n for n in os.listdir(folder) if n.endswith(".json")]
        except OSError:
            continue
        for n in names:
            try:
                ids.add(message.parse(layout.read_bytes(folder / n, message.file_cap()))[key])
            except (OSError, message.BadMessage):
                continue
    ids.discard(me.id)
    return {i for i in ids if validate.is_session_id(i)}


def stop(me: Session) -> list[str]:
    """End this session: tell every peer it talked to, then remove its directory and pointer."""
    notified = []
    for pid in sorted(_peers_talked_to(me)):
        peer = sessions.load(me.root, pid)
        if peer is not None and (peer.dir / layout.INBOX).is_dir():
            try:
                send(me, peer, "session-ended", "Session ended")
                notified.append(pid)
            except BridgeError:
                continue
    sessions.remove(me)
    return notified


def status(me: Session) -> dict:
    """This session's manifest, how many messages wait (counted from names, never parsed) and its connections."""
    peers = []
    for pid in me.manifest.get("connections") or []:
        peer = sessions.load(me.root, pid) if validate.is_session_id(pid) else None
        peers.append({
            "sessionId": pid,
            "name": peer.name if peer else None,
            "status": peer.liveness if peer else "gone",
            "summary": sessions.summary_of(peer.manifest) if peer else None,
        })
    return {"session": me.manifest, "pending": me.mailbox.count(), "connections": peers}


# --- for hosts that push into the agent (hooks) ------------------------------------------------------------------


@contextmanager
def drain_within(me: Session, size: Callable[[dict], int], budget: int | None) -> Iterator[tuple[list[dict], int]]:
    """Claim messages oldest first while the sum of size(message) stays within budget (None: no limit).
    Yields (claimed messages, how many stay pending); the claimed ones are delivered when the block ends
    (so write them out inside it) and all put back if it raises. Costs O(log n) per message in the backlog."""
    box = me.mailbox
    box.recover()
    accept = _listenable(me)
    claims, used = [], 0
    while (claim := box.claim(accept)) is not None:
        box.follow()  # a drain looks again and again; an empty inbox is looked at once (the hook on every prompt)
        cost = size(claim.message)
        if budget is not None and used + cost > budget:
            box.release(claim, redelivery=False)
            break
        claims.append(claim)
        used += cost
    try:
        yield [c.message for c in claims], box.waiting()
    except BaseException:
        for c in claims:
            box.release(c)
        raise
    for c in claims:
        box.finalize(c)
        if c.message["type"] == "ping":
            sessions.remember_peer(me, c.message["from"])


@contextmanager
def digest(me: Session, budget: int, head: str, command: str, read_more: str) -> Iterator[str | None]:
    """The messages waiting for this session as one text for an agent's context (what every hook hands over):
    `head`, then the oldest messages that fit in `budget` characters, each with the `command reply` that answers
    it, then how many more wait and `read_more`, how to read them. None when nothing waits. The messages count as
    read when the block ends: write the text inside it; if the block raises they stay pending."""

    def rest(left: int) -> str:
        return f"({left} more message(s) wait, too long to show here; {read_more})"

    def text(msg: dict) -> str:
        return render.message(views.message_view(msg), command)

    room = budget - len(head) - len(rest(10**6)) - 4  # the parts are joined with blank lines
    with drain_within(me, lambda m: len(text(m)) + 2, room) as (msgs, left):
        yield "\n\n".join([head, *map(text, msgs), *([rest(left)] if left else [])]) if msgs or left else None


class _Unwanted(Exception):
    """Background listening was turned off, the session ended, or its host agent exited."""


@contextmanager
def listen_in_background(me: Session, timeout: float | None = None) -> Iterator[dict | None]:
    """The next message, for a host that wakes an idle agent with it (Claude Code's asyncRewake hook).

    At most one background listener per session waits (a second one yields None at once). It yields None, too, when
    the manifest's backgroundListen is turned off, the session ends, its host agent exits, or the timeout passes.
    """
    try:
        lock = layout.lock(me.dir / layout.BACKGROUND_LOCK, timeout=0)
        lock.acquire()
    except (TimeoutError, OSError):  # filelock.Timeout: another listener holds it
        yield None
        return
    try:
        host = identity.agent_process()  # the agent to wake; gone means nobody to wake

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
