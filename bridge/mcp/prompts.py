"""The MCP prompts for an admin session: auto-mode's settings in a few words (show-config, set-mode, configure-role,
set-limits, automation).

A prompt changes nothing itself: it is a short text that tells the session's model which bridge tool to call with
which arguments, and what to do when the tool refuses (settings change only in an admin session; rooms.require_admin
decides, in the tools). Arguments arrive as strings; a bad one is an invalid-params error naming the fix.
"""

from __future__ import annotations

import inspect
import json
import shlex
from typing import Annotated, Callable

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import Field

from bridge import validate
from bridge.rooms import DRIVERS
CLI_FLAGS = {"max_hops": "--max-hops", "rate_per_min": "--rate", "quiet_s": "--quiet", "cooldown_s": "--cooldown",
             "run_timeout_s": "--run-timeout"}  # `session-bridge auto limits`

ADMIN = ("Only an admin session may change auto-mode's settings (a human's terminal, or an agent session launched "
         "with BRIDGE_ADMIN=1). If the tool answers that this session may not, do not try another way (no shell "
         "command, no editing files under the bridge directory): tell the user to run `{command}` in their own "
         "terminal.")

Room = Annotated[str, Field(description="The room, e.g. shop")]
Role = Annotated[str, Field(description="The role within the room, e.g. web")]
OptionalRoom = Annotated[str | None, Field(description="One room, e.g. shop; omitted: every room")]


def _bad(text: str) -> MCPError:
    return MCPError(INVALID_PARAMS, text)


def _name(value: str | None, what: str) -> str | None:
    if value is not None and not validate.is_name(value):
        raise _bad(f"invalid {what} {value!r}: use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit")
    return value


def _choice(value: str, what: str, choices: tuple[str, ...]) -> str:
    word = value.strip().lower()
    if word not in choices:
        raise _bad(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return word


def _call(tool: str, **args: object) -> str:
    """`tool {"arg": value, ...}` with the omitted (None) arguments left out."""
    given = {k: v for k, v in args.items() if v is not None}
    return f"{tool} {json.dumps(given)}" if given else f"{tool} (no arguments)"


def _cli(*words: str | None) -> str:
    return " ".join(["session-bridge", *(shlex.quote(w) for w in words if w is not None)])


def show_config(room: OptionalRoom = None) -> str:
    """Show auto-mode's settings and who is in each room (reads only)."""
    _name(room, "room")
    where = f"room {room}" if room else "each room"
    rooms = _call("bridge_rooms", room=room)
    return (f"Show the user how auto-mode stands. Call bridge_auto_status, and {rooms} for who is in {where}. "
            "Report: whether automation is on and whether its runner (`session-bridge auto run`) runs; for "
            f"{where}, each role's wake policy (auto or manual) and why, its driver, command and directory, whether "
            "a session holds it (active, or an idle seat) and how many messages wait for it, whether it has a "
            "briefing; and the limits in force (max_hops, rate_per_min, quiet_s, cooldown_s, run_timeout_s, the "
            "sensitive roles, the deny pattern). Change nothing.")


def set_mode(room: Room, role: Role,
             mode: Annotated[str, Field(description="auto: auto-mode wakes the role for its messages; manual: they "
                                                    "wait for its agent or a human")]) -> str:
    """Set one role's wake policy: auto or manual."""
    _name(room, "room")
    _name(role, "role")
    on = _choice(mode, "mode", ("auto", "manual")) == "auto"
    text = (f"Set the wake policy of role {role} in room {room} to {'auto' if on else 'manual'}: call "
            f"{_call('bridge_auto_switch', on=on, room=room, role=role)}. Then tell the user the role's wake policy "
            "and why, from the result's roles.")
    if on:
        text += (" Turning a role on by name is also how a sensitive role (infra, qa by default) is turned on: say "
                 "so if it is one.")
    return f"{text} {ADMIN.format(command=_cli('auto', 'on' if on else 'off', room, role))}"


def configure_role(room: Room, role: Role,
                   driver: Annotated[str | None, Field(description="spawn (run `command` when no session holds the "
                                                                   "role), monitor, tmux, queue or auto")] = None,
                   cwd: Annotated[str | None, Field(description="The role's project directory (absolute)")] = None,
                   command: Annotated[str | None, Field(description="What a spawned run runs, e.g. 'claude -p'")]
                   = None) -> str:
    """Configure how auto-mode wakes a role: its driver, directory and command."""
    _name(room, "room")
    _name(role, "role")
    if driver is not None:
        driver = _choice(driver, "driver", DRIVERS)
    cli = _cli("auto", "set", room, role, *(["--driver", driver] if driver else []),
               *(["--cwd", cwd] if cwd else []), *(["--command", command] if command else []))
    return (f"Configure role {role} in room {room} for auto-mode: call "
            f"{_call('bridge_auto_configure', room=room, role=role, driver=driver, cwd=cwd, command=command)}. This "
            "gives the role a seat (a session where its messages wait while no agent holds it) and never turns it "
            f"on: tell the user so, and that `set-mode` (bridge_auto_switch with room and role) turns it on. "
            f"{ADMIN.format(command=cli)}")


def set_limits(room: OptionalRoom = None,
               max_hops: Annotated[str | None, Field(description="An auto-woken chain stops after this many hops")]
               = None,
               rate_per_min: Annotated[str | None, Field(description="Wakes per role per minute")] = None,
               quiet_s: Annotated[str | None, Field(description="Seconds of quiet after which a chain starts again "
                                                               "at hop 0")] = None,
               cooldown_s: Annotated[str | None, Field(description="Seconds between two pushes into one live "
                                                                  "session")] = None,
               run_timeout_s: Annotated[str | None, Field(description="Seconds after which a spawned run is "
                                                                     "stopped")] = None,
               sensitive: Annotated[str | None, Field(description="Comma-separated roles never woken unless turned "
                                                                 "on by name, e.g. infra,qa")] = None) -> str:
    """Change auto-mode's limits, for every room or one room."""
    _name(room, "room")
    numbers = {k: _number(v, k) for k, v in dict(max_hops=max_hops, rate_per_min=rate_per_min, quiet_s=quiet_s,
                                                   cooldown_s=cooldown_s, run_timeout_s=run_timeout_s).items()}
    roles = None
    if sensitive is not None:
        roles = [r.strip() for r in sensitive.split(",") if r.strip()]
        for r in roles:
            _name(r, "role")
    if all(v is None for v in numbers.values()) and roles is None:
        raise _bad(f"give at least one limit: {', '.join(CLI_FLAGS)} or sensitive")
    where = f"room {room}" if room else "every room (the defaults)"
    flags = [w for k, v in numbers.items() if v is not None for w in (CLI_FLAGS[k], str(v))]
    cli = _cli("auto", "limits", room, *flags, *(["--sensitive", ",".join(roles)] if roles is not None else []))
    return (f"Change auto-mode's limits for {where}: call "
            f"{_call('bridge_auto_limits', room=room, **numbers, sensitive=roles)}. Then tell the user the limits "
            f"now in force, from the result. {ADMIN.format(command=cli)}")


def _number(value: str | None, what: str) -> int | float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise _bad(f"{what} must be a number, not {value!r}") from None
    if not number >= (0 if what == "quiet_s" else 1) or number == float("inf"):
        raise _bad(f"{what} must be a finite number >= {0 if what == 'quiet_s' else 1}, not {value!r}")
    return int(number) if number.is_integer() else number


def automation(state: Annotated[str, Field(description="on or off")], room: OptionalRoom = None) -> str:
    """Turn auto-mode on or off, everywhere or for one room."""
    _name(room, "room")
    on = _choice(state, "state", ("on", "off")) == "on"
    if room:
        what = (f"Turn auto-mode {'on' if on else 'off'} for room {room}: call "
                f"{_call('bridge_auto_switch', on=on, room=room)}, then tell the user which of its roles now wake "
                "automatically and why, from the result's roles.")
        what += (" Its sensitive roles (infra, qa by default) stay manual, listed in sensitive_manual: they only "
                 "wake when turned on by name (set-mode); say so." if on else
                 " Roles turned on by name in it are turned off too.")
    else:
        what = (f"Turn auto-mode {'on' if on else 'off'} everywhere (the master switch): call "
                f"{_call('bridge_auto_switch', on=on)}.")
        what += (" Only rooms and roles turned on wake anyone: call bridge_auto_status and tell the user which "
                 "roles now wake automatically and why." if on else " Nothing is woken until it is on again.")
    return f"{what} {ADMIN.format(command=_cli('auto', 'on' if on else 'off', room))}"


PROMPTS: dict[str, Callable[..., str]] = {"show-config": show_config, "set-mode": set_mode,
                                          "configure-role": configure_role, "set-limits": set_limits,
                                          "automation": automation}


def register(server: MCPServer) -> None:
    """Add the prompts to `server`, each described by its docstring."""
    for name, fn in PROMPTS.items():
        server.prompt(name=name, description=inspect.cleandoc(fn.__doc__ or ""))(fn)
