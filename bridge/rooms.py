"""Rooms: auto-mode's settings, role briefings, and who may change them.

    $BRIDGE_DIR/rooms/settings.json
      {"version": 1, "automation": true,                     the master switch (`auto off` stops every wake)
       "limits": {"max_hops": 6, "rate_per_min": 12, ...},   defaults for every room (LIMITS)
       "rooms": {"shop": {"all": false,                      `auto on shop`: every role that is not sensitive
                          "limits": {...},                   this room's overrides
                          "roles": {"web": {"wake": "auto" | "manual", "driver", "cwd", "command"}}}}}
    $BRIDGE_DIR/rooms/<room>/briefings/<role>.md              the text SessionStart hands the role's session

Settings are read fresh on every decision, so a change takes effect without restarting anything; they are changed
read-modify-write under one flock. Only an admin changes them (`require_admin`): a human at a terminal, or an agent
session launched with BRIDGE_ADMIN=1; never a session auto-mode woke, whatever its own environment now says.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bridge import identity, layout, validate
from bridge.errors import BridgeError

WAKES = ("auto", "manual")
DRIVERS = ("auto", "monitor", "tmux", "queue", "spawn")
DEFAULT_COMMAND = "claude -p"
# git's commit, push or reset as a command: after a separator, a space, a quote (`sh -c "git push"`) or a path
# (/usr/bin/git), past git's options, those that take a value too (`git -C repo commit`, `-c k=v`, `--git-dir DIR`);
# an option's value never starts with "-", so no input makes the match backtrack without end.
DENY = (r"""(^|[\s;&|(`'"/\\])git\s+((-[Cc]|--(git-dir|work-tree|namespace|exec-path|config-env|super-prefix))\s+"""
        r"""("[^"]*"|'[^']*'|[^-\s]\S*)\s+|-\S+\s+)*(commit|push|reset)\b""")
LIMITS = {
    "max_hops": 6,  # an auto-woken chain stops after this many hops (metadata.hops)
    "rate_per_min": 12,  # wakes per role per minute; more wait for a free slot, never dropped
    "quiet_s": 600,  # a chain that was quiet this long starts again at hop 0
    "cooldown_s": 10,  # between two pushes into one live session
    "run_timeout_s": 1800,  # a spawned run longer than this is stopped (its message is offered again)
    "sensitive": ["infra", "qa"],  # never auto-woken unless turned on by name
    "deny": DENY,  # what auto-driven sessions may not run (policy.guard)
}
BRIEFING_CAP = 32 * 1024


class NotAdmin(BridgeError):
    """The caller may read the settings but not change them."""


# --- settings ----------------------------------------------------------------------------------------------------


def settings_path(root: Path) -> Path:
    """$BRIDGE_DIR/rooms/settings.json."""
    return root / layout.ROOMS / layout.SETTINGS


def load(root: Path) -> dict:
    """The settings as on disk now, normalized (a missing or unreadable file is the defaults: nothing auto)."""
    try:
        data = layout.read_json(settings_path(root))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    rooms = data.get("rooms") if isinstance(data.get("rooms"), dict) else {}
    return {"version": 1, "automation": data.get("automation", True) is not False,
            "limits": _limits(data.get("limits"), LIMITS), "rooms": {r: _room(v) for r, v in rooms.items()
                                                                      if validate.is_name(r)}}


def _limits(raw: object, base: dict) -> dict:
    """base with the valid keys of raw over it (a hand-edited file with a wrong type keeps the default)."""
    out = dict(base)
    for key, value in (raw.items() if isinstance(raw, dict) else ()):
        if key in LIMITS and _valid_limit(key, value):
            out[key] = value
    return out


def _valid_limit(key: str, value: object) -> bool:
    if key == "sensitive":
        return isinstance(value, list) and all(validate.is_name(v) for v in value)
    if key == "deny":
        return isinstance(value, str) and _compiles(value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= (1 if key != "quiet_s" else 0)


def _compiles(pattern: str) -> bool:
    import re

    try:
        re.compile(pattern)
        return True
    except re.error:
        return False


def _room(raw: object) -> dict:
    raw = raw if isinstance(raw, dict) else {}
    roles = raw.get("roles") if isinstance(raw.get("roles"), dict) else {}
    limits = {k: v for k, v in (raw.get("limits") or {}).items() if k in LIMITS and _valid_limit(k, v)} \
        if isinstance(raw.get("limits"), dict) else {}
    return {"all": raw.get("all") is True, "limits": limits,
            "roles": {r: _role(v) for r, v in roles.items() if validate.is_name(r)}}


def _role(raw: object) -> dict:
    raw = raw if isinstance(raw, dict) else {}
    out: dict = {}
    if raw.get("wake") in WAKES:
        out["wake"] = raw["wake"]
    if raw.get("driver") in DRIVERS:
        out["driver"] = raw["driver"]
    for key in ("cwd", "command"):
        if isinstance(raw.get(key), str) and raw[key]:
            out[key] = raw[key]
    return out


def change(root: Path, fn: Callable[[dict], None]) -> dict:
    """Read-modify-write the settings under their lock, after require_admin(); returns the new settings."""
    require_admin()
    folder = root / layout.ROOMS
    layout.make_dirs(folder)
    with layout.dir_lock(folder):
        data = load(root)
        fn(data)
        layout.atomic_write(settings_path(root), layout.dumps(data))
    return data


def limits(settings: dict, room: str) -> dict:
    """The limits in force in `room`: the defaults with the room's overrides."""
    return {**settings["limits"], **settings["rooms"].get(room, {}).get("limits", {})}


@dataclass(frozen=True)
class RoleConfig:
    """What auto-mode does for one role now: wake (auto or manual) and why, its driver, directory and command."""

    room: str
    role: str
    wake: str
    why: str
    driver: str
    cwd: str | None
    command: str | None
    sensitive: bool


def role_config(settings: dict, room: str, role: str) -> RoleConfig:
    """The effective policy of role@room. A sensitive role is auto only when turned on by name: turning its whole
    room on, or configuring its driver, leaves it manual."""
    room_cfg = settings["rooms"].get(room, {"all": False, "roles": {}})
    rc = room_cfg["roles"].get(role, {})
    sensitive = role in limits(settings, room)["sensitive"]
    driver = rc.get("driver", "auto")
    command = rc.get("command") or (DEFAULT_COMMAND if driver == "spawn" else None)

    def cfg(wake: str, why: str) -> RoleConfig:
        return RoleConfig(room, role, wake, why, driver, rc.get("cwd"), command, sensitive)

    if not settings["automation"]:
        return cfg("manual", "automation is off everywhere (turn it on with: auto on)")
    if rc.get("wake") == "auto":
        return cfg("auto", f"{role} is turned on by name")
    if rc.get("wake") == "manual":
        return cfg("manual", f"{role} is turned off by name")
    if room_cfg["all"] and sensitive:
        return cfg("manual", f"{role} is sensitive: the room being on does not wake it; turn it on by name: "
                             f"auto on {room} {role}")
    if room_cfg["all"]:
        return cfg("auto", f"room {room} is on")
    return cfg("manual", f"wake policy is manual (turn it on with: auto on {room} {role})")


def set_role(root: Path, room: str, role: str, **fields: str | None) -> dict:
    """Configure role@room (driver, cwd, command; None leaves a field as it is). Its wake policy is untouched."""
    validate.room(room)
    validate.role(role)
    if fields.get("driver") is not None and fields["driver"] not in DRIVERS:
        raise BridgeError(f"unknown driver {fields['driver']!r}; use one of {', '.join(DRIVERS)}")
    if fields.get("cwd") is not None:
        cwd = Path(fields["cwd"]).expanduser().absolute()
        if not cwd.is_dir():
            raise BridgeError(f"--cwd {cwd} is not a directory; give the role's project directory")
        fields["cwd"] = str(cwd)
    if fields.get("command") is not None:
        command_words(fields["command"])

    def apply(data: dict) -> None:
        rc = _role_entry(data, room, role)
        rc.update({k: v for k, v in fields.items() if v is not None})

    return change(root, apply)


def command_words(command: str) -> list[str]:
    """A role's command split as a shell would, checked non-empty."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError as e:
        raise BridgeError(f"cannot split command {command!r} ({e}); quote it as a shell would") from None
    if not words:
        raise BridgeError("the command is empty; give one, e.g. --command 'claude -p'")
    return words


def _role_entry(data: dict, room: str, role: str) -> dict:
    room_cfg = data["rooms"].setdefault(room, {"all": False, "limits": {}, "roles": {}})
    return room_cfg["roles"].setdefault(role, {})


def switch(root: Path, on: bool, room: str | None = None, role: str | None = None) -> dict:
    """`auto on|off [ROOM [ROLE]]`: the master switch; a whole room (its roles' own settings cleared, sensitive ones
    left as named); or one role by name (the only way a sensitive role is turned on)."""
    validate.team(room, role)

    def apply(data: dict) -> None:
        if room is None:
            data["automation"] = on
            return
        if role is not None:
            _role_entry(data, room, role)["wake"] = "auto" if on else "manual"
            return
        room_cfg = data["rooms"].setdefault(room, {"all": False, "limits": {}, "roles": {}})
        room_cfg["all"] = on
        sensitive = limits(data, room)["sensitive"]
        for name, rc in room_cfg["roles"].items():
            if not on or name not in sensitive:
                rc.pop("wake", None)
        if on:
            data["automation"] = True

    return change(root, apply)


def set_limits(root: Path, room: str | None = None, **values: object) -> dict:
    """Change limits (LIMITS' keys; None leaves one as it is) for every room, or for one room."""
    bad = [k for k, v in values.items() if v is not None and (k not in LIMITS or not _valid_limit(k, v))]
    if "deny" in bad:
        import re

        try:
            re.compile(values["deny"])
        except (re.error, TypeError) as e:
            raise BridgeError(f"the deny pattern is not a regular expression ({e}); fix it, e.g. "
                              r"'git\s+(commit|push)'") from None
    if bad:
        raise BridgeError(f"invalid limit {bad[0]}={values[bad[0]]!r}; numbers must be >= 1 (quiet_s >= 0), "
                          "sensitive a list of role names, deny a regular expression")
    if room is not None:
        validate.room(room)

    def apply(data: dict) -> None:
        target = data["limits"] if room is None else \
            data["rooms"].setdefault(room, {"all": False, "limits": {}, "roles": {}})["limits"]
        target.update({k: v for k, v in values.items() if v is not None})

    return change(root, apply)


def configured_roles(settings: dict) -> list[tuple[str, str]]:
    """Every (room, role) the settings name."""
    return [(r, role) for r, cfg in settings["rooms"].items() for role in cfg["roles"]]


# --- who may change them -----------------------------------------------------------------------------------------


def admin_problem() -> str | None:
    """Why the caller may not change settings, or None if it may: a human at a terminal (no agent above it), or an
    agent session launched with BRIDGE_ADMIN=1. A session auto-mode woke never may (BRIDGE_AUTO is set on the
    process auto-mode started, and read from there: the woken agent cannot unset it for its parent)."""
    if identity.env_above("BRIDGE_AUTO") == "1":
        return "this session was woken by auto-mode: it may read the settings but never change them"
    agent = identity.agent_process()
    if agent is None or not agent.kind:
        return None
    if identity.agent_env("BRIDGE_ADMIN") == "1":
        return None
    return (f"settings change only from a human terminal or an agent session launched with BRIDGE_ADMIN=1 (this "
            f"is a {agent.kind} session); run the command in your own terminal")


def require_admin() -> None:
    """NotAdmin unless the caller may change settings (admin_problem)."""
    problem = admin_problem()
    if problem:
        raise NotAdmin(problem)


# --- briefings ---------------------------------------------------------------------------------------------------


def _briefing_path(root: Path, room: str, role: str) -> Path:
    return root / layout.ROOMS / validate.room(room) / layout.BRIEFINGS / f"{validate.role(role)}.md"


def briefing(root: Path, room: str, role: str) -> str | None:
    """role@room's briefing, or None."""
    try:
        return layout.read_bytes(_briefing_path(root, room, role), BRIEFING_CAP).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def set_briefing(root: Path, room: str, role: str, text: str) -> Path:
    """Save role@room's briefing (UTF-8 text up to 32 KiB) in one rename; returns its path."""
    require_admin()
    if not text.strip():
        raise BridgeError("the briefing is empty; give its text, or '-' to read it from stdin")
    if len(text.encode("utf-8", "replace")) > BRIEFING_CAP:
        raise BridgeError(f"the briefing is over {BRIEFING_CAP // 1024} KiB; keep it to what the role must know "
                          "when it starts, and point at files for the rest")
    path = _briefing_path(root, room, role)
    layout.make_dirs(path.parent)
    layout.atomic_write(path, text.encode("utf-8"))
    return path


def delete_briefing(root: Path, room: str, role: str) -> bool:
    """Remove role@room's briefing; False if it had none."""
    require_admin()
    path = _briefing_path(root, room, role)
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def briefings(root: Path, room: str) -> dict[str, str]:
    """{role: briefing} for every role of `room` that has one."""
    folder = root / layout.ROOMS / validate.room(room) / layout.BRIEFINGS
    try:
        names = sorted(n[:-3] for n in os.listdir(folder) if n.endswith(".md") and validate.is_name(n[:-3]))
    except OSError:
        return {}
    return {n: text for n in names if (text := briefing(root, room, n)) is not None}


# --- what auto-mode would do now ---------------------------------------------------------------------------------


def configure(root: Path, room: str, role: str, driver: str | None = None, cwd: str | None = None,
              command: str | None = None) -> RoleConfig:
    """`auto set`: configure role@room's driver, directory and command, and give the role a seat (a session kept
    for it, where its messages wait while no agent holds it). Its wake policy is untouched: configuring a role,
    even a spawn command, never turns it on."""
    from bridge import sessions

    set_role(root, room, role, driver=driver, cwd=cwd, command=command)
    cfg = role_config(load(root), room, role)
    sessions.seat(root, room, role, cfg.cwd)
    return cfg


def runner_running(root: Path) -> bool:
    """True while an `auto run` holds this bridge dir's runner lock."""
    folder = root / layout.LOCKS
    if not (folder / layout.AUTO_LOCK).exists():
        return False
    lock = layout.lock(folder / layout.AUTO_LOCK, timeout=0)
    try:
        lock.acquire()
    except TimeoutError:
        return True
    lock.release()
    return False


def overview(root: Path) -> dict:
    """auto-mode as it stands: the master switch, default limits, whether a runner runs, and per room each role's
    effective policy (wake and why, driver, command) with its session, liveness and pending count."""
    from bridge import sessions

    settings = load(root)
    live = sessions.rooms(root)
    names = sorted(set(settings["rooms"]) | set(live))
    out = {}
    for room in names:
        roles = set(settings["rooms"].get(room, {}).get("roles", {})) | {s.role for s in live.get(room, []) if s.role}
        entries = {}
        for role in sorted(roles):
            cfg = role_config(settings, room, role)
            holder = sessions.role_session(root, room, role)
            entries[role] = {"wake": cfg.wake, "why": cfg.why, "driver": cfg.driver, "cwd": cfg.cwd,
                             "command": cfg.command, "sensitive": cfg.sensitive,
                             "session_id": holder.id if holder else None,
                             "status": holder.liveness if holder else None,
                             "pending": holder.mailbox.count() if holder else 0,
                             "briefing": briefing(root, room, role) is not None}
        out[room] = {"all": settings["rooms"].get(room, {}).get("all", False), "limits": limits(settings, room),
                     "roles": entries}
    return {"automation": settings["automation"], "limits": settings["limits"], "runner": runner_running(root),
            "rooms": out}
