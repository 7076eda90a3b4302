"""The message record of protocol v1: fields, ids, parsing and ordering.

    {"id", "from", "to", "type", "timestamp", "status", "content", "inReplyTo",
     "metadata": {"urgency", "fromProject", ...ours: "fromLabel", "attempt", "expiresAt", "readAt", "artifacts"}}

parse() is the one schema: it refuses a file whose required fields have the wrong type and normalizes the rest
(a numeric timestamp becomes ISO text, a metadata key of the wrong type is dropped), so whatever it accepts can be
presented by every front-end (CLI, MCP, hooks, scripts) and never bounces between readers.

Ids are msg-<19-digit ns time>-<random>: they sort by time, so FIFO per sender is a sort by id. The reference plugin
mints random ids (msg-<12 chars>); those fall back to the file's mtime for ordering.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from datetime import datetime, timezone
from typing import TypedDict

import orjson

from bridge import validate
from bridge.errors import BridgeError

KNOWN_TYPES = ("query", "response", "ping", "session-ended")
REQUIRED = ("id", "from", "to", "type", "content")
DEFAULT_MAX_BODY = 64 * 1024
ENVELOPE_CAP = 64 * 1024  # ids, names, metadata: everything but the body
ARTIFACT_HASH = re.compile(r"[0-9a-f]{64}")  # an artifact's name in the store (bridge/artifacts.py)
MAX_ATTACHMENTS = 32
_last_ns = 0
_lock = threading.Lock()


# The record on disk, as parse() returns it (functional syntax: "from" is a Python keyword).
Message = TypedDict("Message", {
    "id": str, "from": str, "to": str, "type": str, "timestamp": str | None, "status": str, "content": str,
    "inReplyTo": str | None, "metadata": dict,
})
Message.__doc__ = "A message record of protocol v1, normalized by parse()."


class BadMessage(ValueError):
    """A file in an inbox that is not a protocol message (corrupt, partial, foreign)."""


def now_iso() -> str:
    """Now as ISO-8601 UTC with Z, to the second (the reference's format)."""
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
    return f"msg-{ns:019d}-{os.urandom(3).hex()}"


def id_time_ns(msg_id: str) -> int | None:
    """The send time our ids carry, in ns since the epoch; None for the reference's random ids."""
    digits = msg_id[4:23]  # slicing, not a regex: a listing calls this once per pending message
    if msg_id.startswith("msg-") and len(msg_id) > 23 and msg_id[23] == "-" and digits.isdigit() and digits.isascii():
        return int(digits)
    return None


def build(*, sender: dict, to: str, type: str, content: str, in_reply_to: str | None = None,
          urgency: str = "normal", ttl: float | None = None) -> dict:
    """A new pending message from the session whose manifest is `sender`; ttl seconds make it expire unread."""
    metadata = {"urgency": urgency, "fromProject": sender.get("projectName", "unknown")}
    if sender.get("label"):
        metadata["fromLabel"] = sender["label"]
    if ttl is not None:
        metadata["expiresAt"] = datetime.fromtimestamp(time.time() + ttl, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")
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


def max_body() -> int:
    """The largest body a sender may send, in bytes of UTF-8 (BRIDGE_MAX_BODY, default 64 KiB)."""
    raw = os.environ.get("BRIDGE_MAX_BODY")
    if not raw:
        return DEFAULT_MAX_BODY
    try:
        value = int(raw)
    except ValueError:
        raise BridgeError("BRIDGE_MAX_BODY must be a number of bytes, e.g. 65536") from None
    if value <= 0:
        raise BridgeError("BRIDGE_MAX_BODY must be a positive number of bytes, e.g. 65536")
    return value


def file_cap() -> int:
    """The largest message file a reader opens: the envelope plus the body limit, with room for JSON escaping
    (a control character becomes six bytes). Anything bigger is quarantined unread."""
    try:
        body = max(max_body(), DEFAULT_MAX_BODY)
    except BridgeError:
        body = DEFAULT_MAX_BODY
    return ENVELOPE_CAP + 6 * body


def _text(msg: dict, key: str, *, limit: int | None = 1024) -> str:
    value = msg[key]
    if not isinstance(value, str):
        raise BadMessage(f"{key} is {type(value).__name__}, not text")
    if limit is not None and len(value) > limit:
        raise BadMessage(f"{key} is longer than {limit} characters")
    return value


def _timestamp(value: object, msg_id: str) -> str | None:
    """ISO-8601 text as sent; a number (seconds or milliseconds since the epoch) becomes ISO; missing or not a
    date: the id's time. Idempotent: what it returns, it returns again for itself."""
    if isinstance(value, str):
        return value[:64]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):
            pass
    ns = id_time_ns(msg_id)
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if ns else None


def _metadata(value: object) -> dict:
    """Known keys checked (a wrong type is dropped, as if absent); unknown keys kept for the peers that sent them."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMessage(f"metadata is {type(value).__name__}, not an object")
    meta = dict(value)
    for key in ("urgency", "fromProject", "fromLabel", "expiresAt"):
        if key in meta and not isinstance(meta[key], str):
            del meta[key]
    a = meta.get("attempt")
    if "attempt" in meta and (not isinstance(a, int) or isinstance(a, bool) or not 0 < a < 1_000_000):
        del meta["attempt"]
    if "artifacts" in meta:
        refs = artifact_refs(meta["artifacts"])
        if refs is None:
            del meta["artifacts"]
        else:
            meta["artifacts"] = refs
    return meta


def artifact_refs(value: object) -> list[dict] | None:
    """metadata.artifacts as every front-end may show it: a list of {sha256, name, size, type}, each checked; None
    (the key is dropped) when it or any of its entries is malformed."""
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        return None
    refs = []
    for r in value:
        if not isinstance(r, dict):
            return None
        sha, name, size, kind = r.get("sha256"), r.get("name"), r.get("size"), r.get("type")
        if not (isinstance(sha, str) and ARTIFACT_HASH.fullmatch(sha) and isinstance(name, str)
                and 0 < len(name) <= 255 and isinstance(kind, str) and 0 < len(kind) <= 255
                and isinstance(size, int) and not isinstance(size, bool) and 0 <= size < 1 << 53):
            return None
        refs.append({"sha256": sha, "name": name, "size": size, "type": kind})
    return refs


def parse(data: bytes) -> Message:
    """A message from file bytes, every field normalized to the one type every front-end presents, or BadMessage
    saying why it is not one. The same bytes always give the same message."""
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BadMessage(f"not valid UTF-8 JSON ({e})") from None
    if not isinstance(msg, dict):
        raise BadMessage("not a JSON object")
    missing = [k for k in REQUIRED if k not in msg]
    if missing:
        raise BadMessage(f"missing {', '.join(missing)}")
    msg_id = _text(msg, "id")
    if not validate.MESSAGE_ID.fullmatch(msg_id) or ".." in msg_id:
        raise BadMessage(f"id {msg_id[:40]!r} is not a message id")
    for key in ("from", "to"):
        _text(msg, key, limit=256)
    if not _text(msg, "type", limit=64):
        raise BadMessage("type is empty")
    _text(msg, "content", limit=None)
    status = msg.get("status", "pending")
    if not isinstance(status, str):
        raise BadMessage(f"status is {type(status).__name__}, not text")
    reply_to = msg.get("inReplyTo")
    if reply_to in ("", "null"):  # the reference writes an empty in-reply-to as given
        reply_to = None
    if reply_to is not None and not isinstance(reply_to, str):
        raise BadMessage(f"inReplyTo is {type(reply_to).__name__}, not text")
    msg.update(status=status[:32], inReplyTo=reply_to[:256] if reply_to else None,
               timestamp=_timestamp(msg.get("timestamp"), msg_id), metadata=_metadata(msg.get("metadata")))
    return msg


def attempt(msg: Message) -> int:
    """How many times this message has been handed out: more than 1 after a reader crashed with it."""
    value = msg.get("metadata", {}).get("attempt", 1)
    return value if isinstance(value, int) and value > 0 else 1


def sender_name(msg: Message) -> str:
    """What to call the sender: its label, else its project name, else its session id; `@machine` after it when it
    is on another machine."""
    meta = msg.get("metadata", {})
    name = str(meta.get("fromLabel") or meta.get("fromProject") or msg.get("from"))
    return f"{name}@{machine(msg)}" if machine(msg) else name


def machine(msg: Message) -> str | None:
    """The machine a message came from when the gateway brought it from another one (metadata.machine, which the
    receiving gateway sets from the server's subject), else None."""
    value = msg.get("metadata", {}).get("machine")
    return value if isinstance(value, str) and validate.is_machine(value) else None


def expired(msg: Message, now: float | None = None) -> bool:
    """True when the sender gave the message an expiry (metadata.expiresAt) and it has passed."""
    at = parse_iso(msg.get("metadata", {}).get("expiresAt"))
    return at is not None and (now or time.time()) >= at


def fifo_key(msg_id: str, mtime_ns: int) -> tuple[int, str]:
    """Order of delivery: our ids carry their send time; the reference's random ids use the file mtime."""
    t = id_time_ns(msg_id)
    return (t if t is not None else mtime_ns, msg_id)


def filename(msg_id: str) -> str:
    """The file name of a message in an inbox or outbox, after checking the id is safe as a path component."""
    return validate.message_id(msg_id) + ".json"
