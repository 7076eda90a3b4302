"""Auto-mode's rails: the hop count a chain carries, the gate every waker passes, and the guard on commands.

The rails hold whatever the model does: the hop count is written by the bridge (from the wake auto-mode recorded),
not by the agent; the rate limit and the single flight live on disk and are shared by every process that wakes a
role (the runner, a session's own notifier); the guard is a host hook (PreToolUse), not an instruction.

    hops     metadata.hops of a message. A session acting on an auto-wake (a spawned run, or a live session pushed
             within quiet_s) sends with the waking message's hops + 1; a reply carries at least its question's + 1.
             A message at max_hops never wakes anyone: the chain stops there, however long each turn took.
    gate     manual roles, sensitive roles not named, and the loop guard hold a message (it waits for a human);
             the rate limit and a push's cooldown make it wait for a slot (it is woken later, never dropped).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from bridge import identity, layout, rooms
from bridge.sessions import Session

RATE_WINDOW_S = 60.0  # rate_per_min counts wakes in this window (BRIDGE_RATE_WINDOW_S overrides it, for tests)
# Commands that change auto-mode's settings: also denied to auto-driven sessions by the guard (defence in depth:
# the CLI refuses them there too, see rooms.require_admin).
SETTINGS_CHANGE = r"""(session-bridge["']?|-m\s+bridge)\s+(auto\s+(on|off|set|limits)|role-prompt\s+(set|delete))\b"""


def hops(msg: dict | None) -> int:
    """How many auto-woken hops led to this message (metadata.hops; 0 when absent or not a count)."""
    value = (msg or {}).get("metadata", {}).get("hops")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1_000_000 else 0


# --- the hop count a sender's message carries --------------------------------------------------------------------


def record_wake(session: Session, msg: dict, *, running: bool = False) -> None:
    """Remember that auto-mode woke `session` with `msg` (its .woken file): what it sends next continues the chain.
    `running` marks a spawned run in progress (the chain holds however long it takes; end_run closes it)."""
    record = {"msg": msg["id"], "hops": hops(msg), "at": time.time(), "running": running}
    layout.atomic_write(session.dir / layout.WOKEN, layout.dumps(record), durable=False)


def end_run(session: Session) -> None:
    """A spawned run ended: from now on the quiet gap counts."""
    record = _woken(session)
    if record is not None:
        record.update(running=False, at=time.time())
        layout.atomic_write(session.dir / layout.WOKEN, layout.dumps(record), durable=False)


def _woken(session: Session) -> dict | None:
    try:
        data = layout.read_json(session.dir / layout.WOKEN, layout.SMALL_CAP)
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("hops"), int) and isinstance(data.get("at"), (int, float))
    return data if ok else None


def chain_hops(session: Session, in_reply_to: str | None = None, now: float | None = None) -> int | None:
    """The metadata.hops of a message `session` sends now: None when it is not acting on an auto-wake (a human's
    message starts no chain), else the wake's hops + 1 (a reply: at least its question's + 1)."""
    record = _woken(session)
    if record is None:
        return None
    now = now or time.time()
    quiet_s = _limit(session, "quiet_s")
    fresh = record.get("running") is True or now - record["at"] <= quiet_s or in_reply_to == record.get("msg")
    if not fresh:
        return None
    base = record["hops"]
    if in_reply_to:
        base = max(base, hops(session.mailbox.find(in_reply_to)))
    record["at"] = now  # the chain is active: the quiet gap counts from its last message
    layout.atomic_write(session.dir / layout.WOKEN, layout.dumps(record), durable=False)
    return base + 1


def _limit(session: Session, key: str) -> object:
    settings = rooms.load(session.root)
    return rooms.limits(settings, session.room or "")[key]


# --- the gate ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether a message may wake its role now. Not waking: `later` is when to ask again (a rate or cooldown slot),
    None when it waits for a human (manual, sensitive, loop guard)."""

    wake: bool
    why: str
    later: float | None = None


def gate(cfg: rooms.RoleConfig, limits: dict, msg: dict) -> Verdict:
    """The rails that depend on the message and the settings only: wake policy (manual and sensitive roles are
    in cfg.wake), and the loop guard."""
    if cfg.wake != "auto":
        return Verdict(False, cfg.why)
    h = hops(msg)
    if h >= limits["max_hops"]:
        return Verdict(False, f"loop guard: the chain reached hop {h} of max_hops {limits['max_hops']}; it waits "
                              "for a human")
    return Verdict(True, f"{cfg.why}; hop {h} of {limits['max_hops']}")


def take_slot(root: Path, room: str, role: str, limits: dict, *, push: bool = False,
              now: float | None = None) -> float | None:
    """Count one wake of role@room if its rate limit (and, for a push into a live session, the cooldown) allows one
    now: None. Otherwise the time a slot frees, and nothing is counted. Shared on disk by every waker."""
    now = now or time.time()
    window = float(os.environ.get("BRIDGE_RATE_WINDOW_S") or RATE_WINDOW_S)
    folder = root / layout.ROOMS / room / layout.RAILS
    layout.make_dirs(folder)
    path = folder / f"{role}.json"
    with layout.dir_lock(folder):
        try:
            state = layout.read_json(path, layout.SMALL_CAP * 4)
        except (OSError, ValueError):
            state = {}
        state = state if isinstance(state, dict) else {}
        wakes = [t for t in state.get("wakes", []) if isinstance(t, (int, float)) and now - t < window]
        rate = int(limits["rate_per_min"])
        if len(wakes) >= rate:
            return sorted(wakes)[-rate] + window
        last_push = state.get("last_push") if isinstance(state.get("last_push"), (int, float)) else 0
        if push and now - last_push < limits["cooldown_s"]:
            return last_push + limits["cooldown_s"]
        state = {"wakes": [*wakes, now], "last_push": now if push else last_push}
        layout.atomic_write(path, layout.dumps(state), durable=False)
    return None


# --- the guard (a host's pre-tool hook) --------------------------------------------------------------------------


def auto_driven(session: Session | None) -> bool:
    """True for a session auto-mode drives: a process auto-mode started (BRIDGE_AUTO on it or an ancestor), or a
    session whose role is auto-woken, or one acting on a wake now. Every other session is untouched by the guard."""
    if identity.env_above("BRIDGE_AUTO") == "1":
        return True
    if session is None:
        return False
    if session.role and rooms.role_config(rooms.load(session.root), session.room, session.role).wake == "auto":
        return True
    record = _woken(session)
    return record is not None and (record.get("running") is True
                                   or time.time() - record["at"] <= _limit(session, "quiet_s"))


def guard(session: Session | None, command: str, root: Path) -> str | None:
    """Why an auto-driven session may not run this shell command (a commit, a push, a reset, a settings change),
    or None when it may. Sessions auto-mode does not drive may run anything."""
    if not isinstance(command, str) or not command or not auto_driven(session):
        return None
    deny = rooms.limits(rooms.load(root), session.room if session and session.room else "")["deny"]
    if re.search(deny, command):
        return ("session-bridge: denied in a session auto-mode drives (no auto-commit): a human reviews and runs "
                "git commit, push and reset; leave the change uncommitted and say so in your reply")
    if re.search(SETTINGS_CHANGE, command):
        return ("session-bridge: a session auto-mode drives may read auto-mode's settings (auto status) but never "
                "change them; ask a human to")
    return None


def spawn_env(base: dict, session: Session, msg: dict) -> dict:
    """The environment of a run auto-mode spawns for `session` woken by `msg`: its room, role and session id (its
    replies come from the role), the marks the rails read (BRIDGE_AUTO, BRIDGE_HOPS), and never BRIDGE_ADMIN."""
    env = {k: v for k, v in base.items() if k not in ("BRIDGE_ADMIN", "CLAUDECODE", "CLAUDE_CODE_SESSION_ID",
                                                       "BRIDGE_HOST_PID", "TMUX_PANE")}
    env.update(BRIDGE_ROOM=session.room or "", BRIDGE_ROLE=session.role or "", BRIDGE_SESSION_ID=session.id,
               BRIDGE_AUTO="1", BRIDGE_HOPS=str(hops(msg)), BRIDGE_WAKE=msg["id"])
    return env


def admit(session: Session, due: list[dict]) -> tuple[list[dict], float | None]:
    """For a session's own notifier (its monitor line, tmux push or queue): the messages of `due` that may wake it
    now, and when to look again if the rate limit said not yet. A session outside a room is not auto-mode's: all
    of due, as before. In a room, a line that wakes the agent is a wake like any other and passes the same gate."""
    if not session.role:
        return due, None
    settings = rooms.load(session.root)
    cfg, lim = rooms.role_config(settings, session.room, session.role), rooms.limits(settings, session.room)
    ok = []
    for msg in due:
        verdict = gate(cfg, lim, msg)
        if verdict.wake:
            ok.append(msg)
        else:
            log_event(session.root, "held", session, msg, why=verdict.why, once=True)
    if not ok:
        return [], None
    later = take_slot(session.root, session.room, session.role, lim, push=True)
    if later is not None:
        return [], later
    record_wake(session, max(ok, key=hops))
    for msg in ok:
        log_event(session.root, "woke", session, msg, why=f"{cfg.why}; through its own notifier")
    return ok, None


# --- what auto-mode did: logs/auto.jsonl -------------------------------------------------------------------------

LOG_CAP = 1024 * 1024  # rotated to auto.jsonl.1 beyond this
_said: dict[str, str] = {}  # msg id -> the last "held" reason this process logged (once per change)


def log_path(root: Path) -> Path:
    """$BRIDGE_DIR/logs/auto.jsonl."""
    return root / layout.LOGS / layout.AUTO_LOG


def log_event(root: Path, event: str, session: Session | None, msg: dict | None, *, why: str = "",
              once: bool = False, **extra: object) -> None:
    """Append one line to the auto log: event (woke, held, later, done, failed, gave-up, ...), the role and message
    it concerns and why. `once`: skip it when this process already logged the same reason for the message."""
    key = (msg or {}).get("id", "")
    if once and key and _said.get(key) == f"{event}:{why}":
        return
    if key:
        _said[key] = f"{event}:{why}"
    line = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event,
            "room": session.room if session else None, "role": session.role if session else None,
            "session": session.id if session else None, "msg": key or None,
            "from": (msg or {}).get("from"), "hops": hops(msg) if msg else None, "why": why, **extra}
    layout.append_log(log_path(root), line, LOG_CAP)


def read_log(root: Path, limit: int = 50) -> list[dict]:
    """The last `limit` lines of the auto log, oldest first (unreadable lines skipped)."""
    return layout.read_log(log_path(root), LOG_CAP, limit)
