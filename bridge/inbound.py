"""A session's inbound policy: what happens to a message sent to it.

    accept   (default) it lands in the inbox, pending
    hold     it lands in inbox/.held/, where no reader sees it, until the user releases it (one rename into the inbox)
    refuse   nothing is written; the sender gets an error saying so

An allowlist (session ids, labels, `role@room`, `@room`, `label@machine`, `@machine`) narrows who may send at all:
anyone else is refused. A sender on another machine (bridge/remote.py) is held, whatever the mode, unless the
allowlist or the trusted contacts (`inbound trust label@machine`) name it or its machine explicitly. The policy lives
in the manifest ("inbound": {"mode", "allow", "trust"}), so the sender reads it where it finds the session.
"""

from __future__ import annotations

import os
from pathlib import Path

from bridge import layout, message, sessions, validate
from bridge.errors import BridgeError, PeerGone
from bridge.sessions import Session

MODES = ("accept", "hold", "refuse")


class Refused(PeerGone):
    """The recipient's inbound policy refuses this sender (exit code 5, like a peer that is not there)."""


def policy(session: Session) -> dict:
    """{"mode", "allow", "trust"} of a session, normalized (anything unreadable is accept, no lists)."""
    raw = session.manifest.get("inbound")
    raw = raw if isinstance(raw, dict) else {}
    return {"mode": raw.get("mode") if raw.get("mode") in MODES else "accept",
            "allow": _entries(raw.get("allow")), "trust": _entries(raw.get("trust"))}


def _entries(value: object) -> list[str]:
    return [a for a in value if isinstance(a, str) and _valid_entry(a)] if isinstance(value, list) else []


def _valid_entry(entry: str) -> bool:
    name, at, room = entry.partition("@")
    return (not name or validate.is_name(name)) and (not at or validate.is_name(room)) and bool(name or room)


def set_policy(session: Session, mode: str | None = None, allow: list[str] | None = None,
               trust: list[str] | None = None) -> dict:
    """Change the session's inbound mode, allowlist (an empty list allows everyone) and/or trusted remote contacts;
    returns the policy."""
    if mode is not None and mode not in MODES:
        raise BridgeError(f"unknown inbound mode {mode!r}; use one of {', '.join(MODES)}")
    for entry in [*(allow or []), *(trust or [])]:
        if not _valid_entry(entry):
            raise BridgeError(f"invalid allowlist entry {entry!r}: give a session id, label, role@room, @room, "
                              f"label@machine or @machine")

    def apply(m: dict) -> None:
        current = policy(Session(session.root, m))
        m["inbound"] = {"mode": mode or current["mode"], "allow": current["allow"] if allow is None else allow,
                        "trust": current["trust"] if trust is None else trust}

    return policy(sessions.modify(session, apply))


def trust(session: Session, contact: str) -> tuple[dict, list[str]]:
    """Trust a remote contact (`label@machine`, `id@machine` or `@machine`): its messages land like a local peer's
    from now on, and those held so far are released. Returns (policy, released ids)."""
    name, at, machine = contact.partition("@")
    if not at or not validate.is_machine(machine) or (name and not validate.is_name(name)):
        raise BridgeError(f"invalid contact {contact!r}: give label@machine, id@machine or @machine")
    p = set_policy(session, trust=sorted({*policy(session)["trust"], contact}))
    senders = {m["id"]: sessions.load(session.root, m["from"]) for m in held(session)
               if validate.is_session_id(m["from"])}
    ids = [i for i, s in senders.items() if s is not None and s.machine and contact in _remote_names(s)]
    return p, release(session, ids) if ids else []


def untrust(session: Session, contact: str) -> dict:
    """Stop trusting a remote contact: its next messages are held again (those already released stay). Returns the
    policy."""
    return set_policy(session, trust=[t for t in policy(session)["trust"] if t != contact])


def _allowed(sender: Session, allow: list[str]) -> bool:
    if not allow:
        return True
    names = {sender.id, sender.manifest.get("label"), sender.address, f"@{sender.room}" if sender.room else None}
    return any(entry in names | _remote_names(sender) for entry in allow)


def _remote_names(sender: Session) -> set[str]:
    """The names that single out a sender on another machine: id@machine, label@machine, @machine."""
    m = sender.machine
    if m is None:
        return set()
    label = sender.manifest.get("label")
    return {f"{sender.id}@{m}", f"@{m}", *([f"{label}@{m}"] if label else [])}


def decide(target: Session, sender: Session, solicited: bool = False) -> str:
    """'accept' or 'hold' for a message from sender to target; Refused (naming the fix) when its policy refuses. A
    remote sender is held unless named explicitly (allowlist or trusted contacts), or `solicited`: it answers a
    question target asked it."""
    p = policy(target)
    if p["mode"] == "refuse":
        raise Refused(f"{target.describe()} refuses messages (its inbound policy); its user can allow them again "
                      "(inbound accept)")
    if not _allowed(sender, p["allow"]):
        raise Refused(f"{target.describe()} accepts messages only from {', '.join(p['allow'])}; you are "
                      f"{sender.describe()}")
    if sender.machine and not solicited and not _remote_names(sender) & {*p["allow"], *p["trust"]}:
        return "hold"
    return p["mode"]


def held_dir(session: Session) -> Path:
    """inbox/.held/ of a session."""
    return session.dir / layout.INBOX / layout.HELD


def hold(target: Session, msg: dict) -> None:
    """Put a message in target's held folder (temp file + rename, as every write)."""
    folder = held_dir(target)
    layout.make_dirs(folder)
    layout.atomic_write(folder / message.filename(msg["id"]), layout.dumps(msg))


def held(session: Session) -> list[dict]:
    """The messages held for the user's release, oldest first."""
    out = []
    try:
        names = [n for n in os.listdir(held_dir(session)) if n.endswith(".json") and not n.startswith(".")]
    except FileNotFoundError:
        return []
    for n in names:
        try:
            out.append(message.parse(layout.read_bytes(held_dir(session) / n, message.file_cap())))
        except (OSError, message.BadMessage):
            continue
    return sorted(out, key=lambda m: message.fifo_key(m["id"], 0))


def release(session: Session, ids: list[str] | None = None) -> list[str]:
    """Move held messages (all, or those ids) into the inbox, each in one rename: pending from then on. A sender on
    another machine was told "held" (bridge/remote.py); it is now told "released", so its outbox says queued again."""
    from bridge.mailbox import write_receipt

    senders = {m["id"]: m["from"] for m in held(session)}
    wanted = list(senders) if ids is None else [validate.message_id(i) for i in ids]
    released = []
    for msg_id in wanted:
        name = message.filename(msg_id)
        try:
            os.rename(held_dir(session) / name, session.dir / layout.INBOX / name)
        except FileNotFoundError:
            if ids is not None:
                raise BridgeError(f"no held message {msg_id}; see the held ones with: inbound") from None
            continue
        released.append(msg_id)
        sender = sessions.load(session.root, senders[msg_id]) if validate.is_session_id(senders.get(msg_id)) else None
        if sender is not None and sender.machine:
            write_receipt(session.root, sender.id, msg_id, "released")
    return released


def is_held(root: Path, to: str, msg_id: str) -> bool:
    """True while a message we sent to session `to` waits in its held folder."""
    return validate.is_session_id(to) and os.path.lexists(
        layout.sessions_dir(root) / to / layout.INBOX / layout.HELD / message.filename(msg_id))
