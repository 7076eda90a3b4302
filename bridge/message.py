"""The message record of protocol v1: fields, ids, parsing and ordering.

    {"id", "from", "to", "type", "timestamp", "status", "content", "inReplyTo",
     "metadata": {"urgency", "fromProject", ...ours: "fromLabel", "attempt"}}

Ids are msg-<19-digit ns time>-<random>: they sort by time, so FIFO per sender is a sort by id. The reference plugin
mints random ids (msg-<12 chars>); those fall back to the file's mtime for ordering.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import datetime, timezone

import orjson

from bridge import validate

KNOWN_TYPES = ("query", "response", "ping", "session-ended")
REQUIRED = ("id", "from", "to", "type", "content")
_TIMED_ID = re.compile(r"msg-(\d{19})-")
_last_ns = 0
_lock = threading.Lock()


class BadMessage(ValueError):
    """A file in an inbox that is not a protocol message (corrupt, partial, foreign)."""


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: object) -> float | None:
    """Seconds since the epoch for an ISO-8601 timestamp, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def new_id() -> str:
    """A fresh message id, strictly increasing within this process."""
    global _last_ns
    with _lock:
        ns = max(time.time_ns(), _last_ns + 1)
        _last_ns = ns
    return f"msg-{ns:019d}-{secrets.token_hex(3)}"


def id_time_ns(msg_id: str) -> int | None:
    m = _TIMED_ID.match(msg_id)
    return int(m.group(1)) if m else None


def build(*, sender: dict, to: str, type: str, content: str, in_reply_to: str | None = None,
          urgency: str = "normal") -> dict:
    """A new pending message from the session whose manifest is `sender`."""
    metadata = {"urgency": urgency, "fromProject": sender.get("projectName", "unknown")}
    if sender.get("label"):
        metadata["fromLabel"] = sender["label"]
    return {
        "id": new_id(),
        "from": sender["sessionId"],
        "to": to,
        "type": type,
        "timestamp": now_iso(),
        "status": "pending",
        "content": content,
        "inReplyTo": in_reply_to,
        "metadata": metadata,
    }


def parse(data: bytes) -> dict:
    """A message from file bytes; BadMessage says why it is not one."""
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BadMessage(f"not valid UTF-8 JSON ({e})") from None
    if not isinstance(msg, dict):
        raise BadMessage("not a JSON object")
    missing = [k for k in REQUIRED if k not in msg]
    if missing:
        raise BadMessage(f"missing {', '.join(missing)}")
    if not validate.MESSAGE_ID.fullmatch(str(msg["id"])) or not all(
        isinstance(msg[k], str) for k in REQUIRED
    ):
        raise BadMessage("fields of the wrong type")
    if msg.get("inReplyTo") is not None and not isinstance(msg["inReplyTo"], str):
        raise BadMessage("inReplyTo is not a string")
    if not isinstance(msg.get("metadata", {}), dict):
        raise BadMessage("metadata is not an object")
    msg.setdefault("metadata", {})
    msg.setdefault("status", "pending")
    return msg


def attempt(msg: dict) -> int:
    value = msg.get("metadata", {}).get("attempt", 1)
    return value if isinstance(value, int) and value > 0 else 1


def sender_name(msg: dict) -> str:
    meta = msg.get("metadata", {})
    return str(meta.get("fromLabel") or meta.get("fromProject") or msg.get("from"))


def fifo_key(msg_id: str, mtime_ns: int) -> tuple[int, str]:
    """Order of delivery: our ids carry their send time; the reference's random ids use the file mtime."""
    t = id_time_ns(msg_id)
    return (t if t is not None else mtime_ns, msg_id)


def filename(msg_id: str) -> str:
    return validate.message_id(msg_id) + ".json"
