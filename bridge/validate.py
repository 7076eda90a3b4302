"""Names that become path components: checked here so nothing outside the bridge dir is ever touched."""

import re

from bridge.errors import BridgeError, Next

SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MACHINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")  # a NATS subject token and key-value key part: no dots
MESSAGE_TYPE = re.compile(r"[a-z][a-z0-9-]{0,31}")


def _check(pattern: re.Pattern, value: object, what: str, rule: str, next: Next | None = None) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value) or ".." in value:
        raise BridgeError(f"invalid {what} {value!r}: {rule}", next)
    return value


def session_id(value: object) -> str:
    """value if it is a valid session id (a path component), else a BridgeError."""
    return _check(SESSION_ID, value, "session id", "use 1-64 of A-Z a-z 0-9 _ -", Next("peers", "see the ids with"))


def message_id(value: object) -> str:
    """value if it is a valid message id (a file name), else a BridgeError."""
    return _check(MESSAGE_ID, value, "message id", "use the id printed by send/ask/listen, e.g. msg-1732...")


def label(value: object) -> str:
    """value if it is a valid session label, else a BridgeError."""
    return _check(LABEL, value, "label", "use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit")


def room(value: object) -> str:
    """value if it is a valid room name, else a BridgeError."""
    return _check(LABEL, value, "room", "use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit, e.g. shop")


def role(value: object) -> str:
    """value if it is a valid role name, else a BridgeError."""
    return _check(LABEL, value, "role", "use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit, e.g. web")


def machine(value: object) -> str:
    """value if it is a valid machine name (one token of a NATS subject), else a BridgeError."""
    return _check(MACHINE, value, "machine name", "use 1-32 of A-Z a-z 0-9 _ - (no dots), e.g. laptop")


def is_machine(value: object) -> bool:
    """True for a string that is a valid machine name."""
    return isinstance(value, str) and MACHINE.fullmatch(value) is not None


def team(room_name: object, role_name: object) -> None:
    """Check a room and a role given together (either may be None); a role needs its room."""
    if room_name is not None:
        room(room_name)
    if role_name is not None:
        role(role_name)
        if room_name is None:
            raise BridgeError(f"role {role_name!r} needs a room: name the room too (--room R, or BRIDGE_ROOM)")


def message_type(value: object) -> str:
    """value if it is a valid message type, else a BridgeError."""
    return _check(MESSAGE_TYPE, value, "message type", "use lowercase letters, digits and -, e.g. query")


def is_session_id(value: object) -> bool:
    """True for a string that is a valid session id."""
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


def is_name(value: object) -> bool:
    """True for a string that is a valid label, room or role name."""
    return isinstance(value, str) and LABEL.fullmatch(value) is not None and ".." not in value
