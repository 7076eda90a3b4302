"""A session's inbound policy: what happens to a message sent to it.

    accept   (default) it lands in the inbox, pending
    hold     it lands in inbox/.held/, where no reader sees it, until the user releases it (one rename into the inbox)
    refuse   nothing is written; the sender gets an error saying so

An allowlist (session ids, labels, `role@room`, `@room`) narrows who may send at all: anyone else is refused. The
policy lives in the manifest ("inbound": {"mode", "allow"}), so the sender reads it where it finds the session.
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
    """{"mode", "allow"} of a session, normalized (anything unreadable is accept, no allowlist)."""
    raw = session.manifest.get("inbound")
    raw = raw if isinstance(raw, dict) else {}
    allow = raw.get("allow") if isinstance(raw.get("allow"), list) else []
    return {"mode": raw.get("mode") if raw.get("mode") in MODES else "accept",
            "allow": [a for a in allow if isinstance(a, str) and _valid_entry(a)]}


def _valid_entry(entry: str) -> bool:
    name, at, room = entry.partition("@")
    return (not name or validate.is_name(name)) and (not at or validate.is_name(room)) and bool(name or room)


def set_policy(session: Session, mode: str | None = None, allow: list[str] | None = None) -> dict:
    """Change the session's inbound mode and/or allowlist (an empty list allows everyone); returns the policy."""
    if mode is not None and mode not in MODES:
        raise BridgeError(f"unknown inbound mode {mode!r}; use one of {', '.join(MODES)}")
    for entry in allow or []:
        if not _valid_entry(entry):
            raise BridgeError(f"invalid allowlist entry {entry!r}: give a session id, label, role@room or @room")

    def apply(m: dict) -> None:
        current = policy(Session(session.root, m))
        m["inbound"] = {"mode": mode or current["mode"], "allow": current["allow"] if allow is None else allow}

    return policy(sessions.modify(session, apply))


def _allowed(sender: Session, allow: list[str]) -> bool:
    if not allow:
        return True
    names = {sender.id, sender.manifest.get("label"), sender.address, f"@{sender.room}" if sender.room else None}
    return any(entry in names for entry in allow)


def decide(target: Session, sender: Session) -> str:
    """'accept' or 'hold' for a message from sender to target; Refused (naming the fix) when its policy refuses."""
    p = policy(target)
    if p["mode"] == "refuse":
        raise Refused(f"{target.describe()} refuses messages (its inbound policy); its user can allow them again "
                      "(inbound accept)")
    if not _allowed(sender, p["allow"]):
        raise Refused(f"{target.describe()} accepts messages only from {', '.join(p['allow'])}; you are "
                      f"{sender.describe()}")
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
    """Move held messages (all, or those ids) into the inbox, each in one rename: pending from then on."""
    wanted = [m["id"] for m in held(session)] if ids is None else [validate.message_id(i) for i in ids]
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
    return released


def is_held(root: Path, to: str, msg_id: str) -> bool:
    """True while a message we sent to session `to` waits in its held folder."""
    return validate.is_session_id(to) and os.path.lexists(
        layout.sessions_dir(root) / to / layout.INBOX / layout.HELD / message.filename(msg_id))
