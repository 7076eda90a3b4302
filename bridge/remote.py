"""Peers on other machines: the file side of the gateway (bridge/gateway/ is the network side). No network here.

A session on another machine is mirrored here as a *proxy*: a session dir like any other, whose manifest says
`"machine": "<name>"` (and `"remote": true`). Every local command then works unchanged: `peers` lists it, `send`,
`ask` and `reply` write into its inbox with the usual atomic write, and readers on the far side write their receipts
(read, answered, ...) into the proxy of the sender there. The gateway moves those files across:

    outgoing()      a proxy's pending messages          -> published to the peer's machine, then forwarded() drops them
    deliver()       a message that arrived from machine M -> the local recipient's inbox (idempotent by message id)
    receipts_out()  receipts readers left in proxies     -> published to the sender's machine, then dropped
    apply_receipt() a receipt that arrived from machine M -> the local sender's receipts/ (only for what it sent to M)

Presence: record() is what a machine says of each local session; mirror() and unmirror() keep the proxies in step
with what the other machines say. A proxy's heartbeat is the last time its machine said it was live, so it goes
stale and gone by the usual rules when that machine stops saying so.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bridge import identity, inbound, layout, message, sessions, validate
from bridge.errors import BridgeError
from bridge.mailbox import RECEIPTS, write_receipt
from bridge.sessions import Session

FORWARDED_RECEIPTS = RECEIPTS  # what a reader's side tells the sender's machine
PRESENCE_KEYS = ("sessionId", "label", "projectName", "projectPath", "room", "role", "summary", "host", "startedAt",
                 "lastHeartbeat")
HEARTBEAT_WRITE_S = 20  # a proxy's manifest is rewritten for a heartbeat at most this often (it changes nothing else)
STATUS_CAP = 64 * 1024
LOG_CAP = 1024 * 1024


def local_sessions(root: Path) -> list[Session]:
    """This machine's own sessions that are not gone: what its gateway announces."""
    return [s for s in sessions.all_sessions(root) if s.machine is None and s.liveness != "gone"]


def proxies(root: Path, machine: str | None = None) -> list[Session]:
    """The proxies of remote sessions (of one machine, if given)."""
    return [s for s in sessions.all_sessions(root) if s.machine and (machine is None or s.machine == machine)]


# --- presence ------------------------------------------------------------------------------------------------------


def record(session: Session) -> dict:
    """What this machine tells the others about one of its sessions (no pid, no local-only state)."""
    out = {k: session.manifest.get(k) for k in PRESENCE_KEYS if session.manifest.get(k) is not None}
    out["summary"] = session.summary
    out["liveness"] = session.liveness
    return out


def mirror(root: Path, machine: str, rec: dict) -> Session | None:
    """Create or refresh the proxy of session rec["sessionId"] on `machine`. None (and nothing written) when the id
    is not valid or is a session of this machine or of another machine: ids are minted per machine, and a clash must
    never let a remote peer take over a local session's name."""
    sid = rec.get("sessionId")
    if not validate.is_machine(machine) or not validate.is_session_id(sid):
        return None
    fields = _proxy_fields(machine, rec)
    existing = sessions.load(root, sid)
    if existing is None:
        with sessions.registry_lock(root):
            existing = sessions.load(root, sid)
            if existing is None:
                return _create_proxy(root, sid, fields)
    if existing.machine != machine:
        return None
    stale = {k: v for k, v in fields.items() if existing.manifest.get(k) != v and k != "lastHeartbeat"}
    beat = message.parse_iso(existing.manifest.get("lastHeartbeat")) or 0
    new_beat = message.parse_iso(fields["lastHeartbeat"]) or 0
    if not stale and new_beat - beat < HEARTBEAT_WRITE_S:
        return existing
    gone = [k for k in existing.manifest if k in _MIRRORED and k not in fields]
    try:
        return sessions.modify(existing, lambda m: (m.update(fields), [m.pop(k, None) for k in gone]))
    except BridgeError:
        return None  # removed meanwhile: the next presence update makes it again


_MIRRORED = ("label", "projectName", "projectPath", "room", "role", "summary", "host", "startedAt")


def _proxy_fields(machine: str, rec: dict) -> dict:
    fields: dict = {"sessionId": rec["sessionId"], "machine": machine, "remote": True, "status": "active"}
    for key in ("label", "room", "role"):
        if validate.is_name(rec.get(key)):
            fields[key] = rec[key]
    for key in ("projectName", "host", "startedAt"):
        if isinstance(rec.get(key), str) and 0 < len(rec[key]) <= 256:
            fields[key] = rec[key]
    path = rec.get("projectPath")
    if isinstance(path, str) and 0 < len(path) <= 4096:
        fields["projectPath"] = f"{machine}:{path}"  # never an absolute path here: no local project is its
    summary = sessions.summary_of({"summary": rec.get("summary")})
    if summary:
        fields["summary"] = summary
    live = rec.get("liveness") in ("active", "idle")
    fields["lastHeartbeat"] = message.now_iso() if live else (
        rec["lastHeartbeat"] if message.parse_iso(rec.get("lastHeartbeat")) else "1970-01-01T00:00:00Z")
    return fields


def _create_proxy(root: Path, sid: str, fields: dict) -> Session:
    """A proxy's dir appears in one rename, manifest and all (under the registry lock)."""
    layout.make_dirs(layout.sessions_dir(root))  # a gateway may run before any local session has started
    tmp = layout.sessions_dir(root) / f"{layout.TEMP_PREFIXES[0]}proxy-{sid}-{os.urandom(4).hex()}"
    os.mkdir(tmp, layout.DIR_MODE)
    try:
        layout.make_session_dirs(tmp)
        manifest = {"projectName": sid, "capabilities": sessions.CAPABILITIES, "connections": [],
                    "startedAt": fields["lastHeartbeat"], **fields}
        layout.atomic_write(tmp / layout.MANIFEST, layout.dumps(manifest))
        os.rename(tmp, layout.session_dir(root, sid))
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Session(root, manifest)


def unmirror(root: Path, sid: str, machine: str) -> bool:
    """Remove the proxy of a session `machine` says has ended; its unsent messages become undeliverable for their
    senders, as with any peer that ends. False if there is no such proxy."""
    s = sessions.load(root, sid) if validate.is_session_id(sid) else None
    if s is None or s.machine != machine:
        return False
    sessions.remove(s)
    return True


# --- outgoing: local senders -> a remote peer ------------------------------------------------------------------------


def outgoing(proxy: Session, limit: int = 100) -> list[dict]:
    """The proxy's pending messages, oldest first (bad files are quarantined by the mailbox, as for any reader)."""
    try:
        return proxy.mailbox.peek(limit)
    except FileNotFoundError:
        return []  # the proxy was removed meanwhile


def forwarded(proxy: Session, msg_id: str) -> None:
    """The peer's machine has the message (the server acknowledged it): drop the proxy's copy. The sender's outbox
    keeps its own, and the peer's receipts say what becomes of it."""
    layout.unlink_quietly(proxy.mailbox.inbox / message.filename(msg_id))
    layout.unlink_quietly(proxy.mailbox.noticed_dir / msg_id)


def undeliverable(proxy: Session, msg: dict) -> None:
    """A message that can never reach the peer's machine: its sender sees it undeliverable; the copy goes."""
    write_receipt(proxy.root, msg["from"], msg["id"], "undeliverable")
    forwarded(proxy, msg["id"])


def receipts_out(proxy: Session) -> list[tuple[str, str]]:
    """(message id, state) of each receipt a local reader left for the proxy's session."""
    try:
        names = os.listdir(proxy.dir / layout.RECEIPTS)
    except FileNotFoundError:
        return []
    out = []
    for n in sorted(names):
        msg_id, _, state = n.rpartition(".")
        if state in FORWARDED_RECEIPTS and validate.MESSAGE_ID.fullmatch(msg_id):
            out.append((msg_id, state))
    return out


def receipt_forwarded(proxy: Session, msg_id: str, state: str) -> None:
    """The sender's machine has the receipt: drop it here."""
    layout.unlink_quietly(proxy.dir / layout.RECEIPTS / f"{msg_id}.{state}")


# --- incoming: a remote sender -> a local session ------------------------------------------------------------------


def deliver(root: Path, machine: str, data: bytes) -> tuple[str, str]:
    """Write a message that arrived from `machine` into its local recipient's inbox, once: (outcome, detail) with
    outcome delivered, held, duplicate (already here: a redelivery), undeliverable, bounced (its sender's id is taken
    here, so no proxy can carry its receipt: the gateway tells that machine directly, see bounced()) or bad. The
    message is marked with the machine it came from (metadata.machine, from the subject the server vouches for, never
    from the payload)."""
    try:
        msg = message.parse(data)
    except message.BadMessage as e:
        return "bad", str(e)
    msg["metadata"]["machine"] = machine
    msg["status"] = "pending"
    sender = sessions.load(root, msg["from"]) if validate.is_session_id(msg["from"]) else None
    if sender is None or sender.machine != machine:
        sender = mirror(root, machine, _sender_record(msg)) if sender is None else None
    if sender is None:
        return "bounced", f"sender {msg['from']!r} is not a session of {machine} (its id is taken here)"
    target = sessions.load(root, msg["to"]) if validate.is_session_id(msg["to"]) else None
    if target is None or target.machine:
        write_receipt(root, sender.id, msg["id"], "undeliverable")
        return "undeliverable", f"no session {msg['to']!r} on this machine"
    if target.mailbox.knows(msg["id"]):
        return "duplicate", target.id
    try:
        if inbound.decide(target, sender, solicited=_answers(target, sender, msg)) == "hold":
            inbound.hold(target, msg)
            write_receipt(root, sender.id, msg["id"], "held")
            return "held", target.id
    except inbound.Refused as e:
        write_receipt(root, sender.id, msg["id"], "undeliverable")
        return "undeliverable", str(e)
    target.mailbox.deliver(msg)
    return "delivered", target.id


def bounced(data: bytes) -> tuple[str, str]:
    """(sender id, message id) of a message deliver() bounced, for the undeliverable receipt its machine gets."""
    msg = message.parse(data)
    return msg["from"], msg["id"]


def _answers(target: Session, sender: Session, msg: dict) -> bool:
    """True when msg is a response to a message target sent to sender (an answer it asked for)."""
    if msg["type"] != "response" or not msg.get("inReplyTo") or not validate.MESSAGE_ID.fullmatch(msg["inReplyTo"]):
        return False
    try:
        asked = message.parse(layout.read_bytes(target.dir / layout.OUTBOX / message.filename(msg["inReplyTo"]),
                                                message.file_cap()))
    except (OSError, message.BadMessage):
        return False
    return asked["to"] == sender.id


def _sender_record(msg: dict) -> dict:
    """A presence record for a sender we have not heard of yet, from what its message says (presence fills in the
    rest), so that the reply to it has somewhere to go."""
    meta = msg["metadata"]
    return {"sessionId": msg["from"], "label": meta.get("fromLabel"), "projectName": meta.get("fromProject"),
            "room": meta.get("room"), "role": meta.get("fromRole"), "liveness": "active"}


def apply_receipt(root: Path, machine: str, sender: object, msg_id: object, state: object) -> bool:
    """Record a receipt `machine` sent for a message local session `sender` sent: only if that message went to a
    session of that machine (a machine can speak only of what was sent to it). False when it is refused."""
    if state not in FORWARDED_RECEIPTS or not validate.is_session_id(sender) or not isinstance(msg_id, str) \
            or not validate.MESSAGE_ID.fullmatch(msg_id):
        return False
    me = sessions.load(root, sender)
    if me is None or me.machine:
        return False
    try:
        sent = message.parse(layout.read_bytes(me.dir / layout.OUTBOX / message.filename(msg_id),
                                               message.file_cap()))
    except (OSError, message.BadMessage):
        return False
    peer = sessions.load(root, sent["to"]) if validate.is_session_id(sent["to"]) else None
    if peer is None or peer.machine != machine:
        return False
    write_receipt(root, me.id, msg_id, state)
    return True


# --- what `remote status` shows ----------------------------------------------------------------------------------


def status_path(root: Path) -> Path:
    """$BRIDGE_DIR/remote/gateway.json: the running gateway's own account of itself."""
    return root / layout.REMOTE / layout.GATEWAY_STATUS


def write_status(root: Path, status: dict) -> None:
    """Replace the gateway's status file (one rename)."""
    path = status_path(root)
    layout.make_dirs(path.parent)
    layout.atomic_write(path, layout.dumps({**status, "pid": os.getpid(), "at": message.now_iso()}), durable=False)


def gateway_lock(root: Path):
    """The lock one gateway per bridge dir holds while it runs (a filelock.FileLock)."""
    layout.make_dirs(root / layout.LOCKS)
    return layout.lock(root / layout.LOCKS / layout.GATEWAY_LOCK, timeout=1)


def status(root: Path) -> dict:
    """Whether a gateway runs for this bridge dir, what it last said of itself, and the remote peers known here."""
    try:
        saved = layout.read_json(status_path(root), STATUS_CAP)
    except (OSError, ValueError):
        saved = None
    saved = saved if isinstance(saved, dict) else {}
    pid = saved.get("pid")
    running = isinstance(pid, int) and identity.process_alive(pid, None) and _lock_held(root)
    waiting = sum(p.mailbox.count() for p in proxies(root) if p.mailbox.inbox.is_dir())
    machines: dict[str, int] = {}
    for p in proxies(root):
        if p.liveness != "gone":
            machines[p.machine] = machines.get(p.machine, 0) + 1
    return {"running": running, "machine": saved.get("machine"), "server": saved.get("server"),
            "connected": bool(running and saved.get("connected")), "last_error": saved.get("last_error"),
            "counts": saved.get("counts") if isinstance(saved.get("counts"), dict) else {},
            "updated_at": saved.get("at"), "machines": machines, "waiting_to_send": waiting}


def _lock_held(root: Path) -> bool:
    lock = gateway_lock(root)
    try:
        lock.acquire(timeout=0)
    except TimeoutError:
        return True
    lock.release()
    return False


def log_path(root: Path) -> Path:
    """$BRIDGE_DIR/logs/gateway.jsonl."""
    return root / layout.LOGS / layout.GATEWAY_LOG


def log_event(root: Path, event: str, **fields: object) -> None:
    """One line in the gateway's log: what it did (forwarded, delivered, duplicate, held, refused, ...) and why."""
    layout.append_log(log_path(root), {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event,
                                       **fields}, LOG_CAP)


def read_log(root: Path, limit: int = 50) -> list[dict]:
    """The gateway log's last `limit` lines, oldest first."""
    return layout.read_log(log_path(root), LOG_CAP, limit)
