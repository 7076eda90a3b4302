"""message.parse is the one schema: whatever it accepts, every front-end can present, and re-parsing what it returns
changes nothing. Hypothesis builds message files that mix valid and wrong-typed fields; one real-process test checks
that a numeric timestamp (the bug that made a message bounce between readers forever) is delivered once everywhere.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import anyio
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mcp import Client, StdioServerParameters

from bridge import layout, mailbox, message, render, views
from bridge.mcp import tools as mcp_tools
from bridge.terminal import safe, safe_line
from mcp_support import SESSION_BRIDGE, env

# --- strategies --------------------------------------------------------------------------------------------------

# Any unicode JSON can carry: C0/C1 controls, DEL, bidi overrides, NUL, astral characters (never lone surrogates:
# orjson refuses them on both sides).
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=24)
NASTY = st.sampled_from(["", "\x00", "\x1b[2J", "\x1b]52;c;cm0gLXJmIH4=\x07", "a\nb", "\u202eevil", "\x9b31m",
                         "null", "pending", "read", "\U0001f600"])
I64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson can write
FLOATS = st.floats(allow_nan=True, allow_infinity=True)  # orjson writes nan and inf as null
JUNK = st.one_of(st.none(), st.booleans(), I64, FLOATS, TEXT, NASTY, st.lists(I64, max_size=2),
                 st.dictionaries(TEXT, I64, max_size=2))


MISSING = object()


def something(*good, odds: int = 3):
    """A valid value `odds` times in odds + 1, else any JSON value of any type."""
    valid = st.one_of(*good)
    return st.integers(0, odds).flatmap(lambda i: JUNK if i == 0 else valid)


def optional(strategy):
    """Present two times in three."""
    return st.integers(0, 2).flatmap(lambda i: st.just(MISSING) if i == 0 else strategy)


def record(fields: dict):
    """A JSON object of those fields (MISSING ones left out), plus up to two unknown keys."""
    return st.fixed_dictionaries(fields).flatmap(lambda d: st.dictionaries(TEXT, JUNK, max_size=2).map(
        lambda extra: {**extra, **{k: v for k, v in d.items() if v is not MISSING}}))


NS = st.integers(min_value=10**18, max_value=10**19 - 1)
TIMED_ID = st.builds(lambda ns, h: f"msg-{ns:019d}-{h}", NS, st.text("0123456789abcdef", min_size=6, max_size=6))
REFERENCE_ID = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=12).map(lambda s: f"msg-{s}")
BAD_ID = st.sampled_from(["", "../x", "msg-a/b", ".hidden", "msg..x", "x" * 129, "msg-\n"])
IDS = st.one_of(TIMED_ID, REFERENCE_ID, BAD_ID)
SESSION = st.one_of(st.sampled_from(["lib001", "app001", "abc123"]), TEXT, NASTY, st.text(max_size=300))
TYPES = st.one_of(st.sampled_from(message.KNOWN_TYPES), st.sampled_from(["custom-kind", "Weird Type!", "x" * 65]),
                  TEXT, NASTY)
SECONDS = st.integers(min_value=0, max_value=4_000_000_000)
TIMESTAMPS = st.one_of(
    st.builds(lambda s: datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), SECONDS),
    SECONDS, SECONDS.map(lambda s: s * 1000), st.floats(min_value=-1e13, max_value=4e12), I64, FLOATS,
    st.sampled_from(["2026-13-45T99:99:99Z", "yesterday", "x" * 100]),
)
METADATA = record({
    "urgency": optional(something(st.sampled_from(["normal", "high"]))),
    "fromProject": optional(something(TEXT, NASTY)),
    "fromLabel": optional(something(TEXT, NASTY)),
    "attempt": optional(something(st.integers(min_value=1, max_value=12), I64)),
    "expiresAt": optional(something(st.sampled_from([
        "2020-01-01T00:00:00Z", "2999-01-01T00:00:00.000000Z", "0001-01-01T00:00:00-23:59",
        "9999-12-31T23:59:59+23:59"]), TEXT)),
    "readAt": optional(JUNK), "hops": optional(JUNK), "room": optional(JUNK), "artifacts": optional(JUNK),
})
OPTIONAL_FIELDS = {
    "timestamp": optional(something(TIMESTAMPS)),
    "status": optional(something(st.sampled_from(["pending", "read", "sent", "x" * 40]))),
    "inReplyTo": optional(something(IDS, st.sampled_from(["", "null"]))),
    "metadata": optional(something(METADATA)),
}


def required_fields(odds: int) -> dict:
    ids = st.one_of(TIMED_ID, REFERENCE_ID, BAD_ID) if odds < 5 else \
        st.integers(0, odds).flatmap(lambda i: BAD_ID if i == 0 else st.one_of(TIMED_ID, REFERENCE_ID))
    return {"id": something(ids, odds=odds), "from": something(SESSION, odds=odds),
            "to": something(SESSION, odds=odds), "type": something(TYPES, odds=odds),
            "content": something(TEXT, NASTY, st.text(max_size=2000), odds=odds)}


# Any field may be missing or of any type.
MESSAGES = record({**{k: optional(v) for k, v in required_fields(3).items()}, **OPTIONAL_FIELDS})
# Every required field there, nearly always valid: about half of these parse, and exercise the normalizing.
LIKELY = record({**required_fields(20), **OPTIONAL_FIELDS})

RAW_CONTROLS = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}  # what must never reach a terminal raw
SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- what every front-end does with a message --------------------------------------------------------------------


def present_everywhere(m: dict) -> None:
    """Present a parsed message the way each front-end does; any exception fails the property."""
    # types every front-end relies on
    for key in ("id", "from", "to", "type", "content", "status"):
        assert isinstance(m[key], str), key
    assert m["inReplyTo"] is None or isinstance(m["inReplyTo"], str)
    assert m["timestamp"] is None or isinstance(m["timestamp"], str)
    meta = m["metadata"]
    assert isinstance(meta, dict)
    for key in ("urgency", "fromProject", "fromLabel", "expiresAt"):
        assert key not in meta or isinstance(meta[key], str), key
    # the shared shape and its renderers (CLI, hooks, notifiers)
    view = views.message_view(m)
    orjson.dumps(views.result(message=view, notices=[views.notice_view(m)]))
    for terminal in (True, False):
        assert isinstance(render.message(view, "session-bridge", terminal=terminal), str)
    assert isinstance(render.summary(view), str) and isinstance(render.notice(views.notice_view(m), "x"), str)
    # MCP: the result model, serialized as the server sends it
    out = mcp_tools.message_out(m)
    assert mcp_tools.presented(m) == out
    assert out.sent_at == m["timestamp"] and out.attempt == message.attempt(m)
    orjson.loads(out.model_dump_json())
    # the reference script contract (compat bridge-listen / bridge-receive / check-inbox)
    for value in (meta.get("fromProject", "unknown"), m.get("inReplyTo") or "", m["to"], m["from"]):
        assert isinstance(value, str)
        line = safe_line(value)
        assert "\n" not in line and not RAW_CONTROLS & set(line)
    # core helpers
    assert isinstance(message.sender_name(m), str)
    a = message.attempt(m)
    assert type(a) is int and a >= 1
    assert message.expired(m) in (True, False)
    message.fifo_key(m["id"], 0)
    for value in (m["id"], m["from"], m["to"], m["type"], m["content"], m["status"], m["inReplyTo"] or "",
                  m["timestamp"] or "", *(v for v in meta.values() if isinstance(v, str))):
        shown = safe(value)
        assert not (RAW_CONTROLS - {"\n", "\t"}) & set(shown)
        assert not RAW_CONTROLS & set(safe_line(value))


def stored_again(m: dict) -> None:
    """What the store writes back (a read copy, a put-back with one more attempt) parses to what it meant."""
    read = message.parse(layout.dumps(dict(m, status="read", metadata=dict(m["metadata"], readAt=message.now_iso()))))
    assert read["status"] == "read" and read["content"] == m["content"]
    tries = message.attempt(m) + 1
    if tries <= mailbox.MAX_ATTEMPTS:
        back = message.parse(layout.dumps(dict(m, metadata=dict(m["metadata"], attempt=tries))))
        assert message.attempt(back) == tries


def check(obj: dict) -> None:
    data = orjson.dumps(obj)
    try:
        m = message.parse(data)
    except message.BadMessage as e:
        assert str(e)  # says why
        return
    assert message.parse(data) == m  # the same bytes, the same message
    present_everywhere(m)
    stored_again(m)
    assert message.parse(orjson.dumps(m)) == m  # what the store writes back reads as the same message


# --- 1. the property ---------------------------------------------------------------------------------------------


@SETTINGS
@given(MESSAGES)
def test_anything_parse_accepts_every_front_end_can_present(obj):
    check(obj)


@SETTINGS
@given(LIKELY)
@example({"id": "msg-1795000000000000000-abcdef", "from": "a", "to": "b", "type": "query", "content": "c",
          "timestamp": 1795000000000, "metadata": {"attempt": True, "fromProject": 5, "fromLabel": None}})
@example({"id": "msg-abcdefabcdef", "from": "a", "to": "b", "type": "query", "content": "c", "timestamp": 1e300,
          "status": "pending", "inReplyTo": "null", "metadata": None})
@example({"id": "msg-abcdefabcdef", "from": "a", "to": "b", "type": "response", "content": "\x1b[2J",
          "timestamp": -1e15, "inReplyTo": "",
          "metadata": {"attempt": 999_999, "expiresAt": "0001-01-01T00:00:00-23:59"}})
def test_nearly_valid_messages_are_presentable_or_refused(obj):
    check(obj)


@pytest.mark.parametrize("ts", [2**63 - 1, 1e20, 1e300, -1e15])
def test_an_unconvertible_numeric_timestamp_parses_the_same_twice(ts):
    raw = {"id": "msg-1795000000000000000-abcdef", "from": "a", "to": "b", "type": "query", "content": "c",
           "timestamp": ts}
    first = message.parse(orjson.dumps(raw))
    assert message.parse(orjson.dumps(first)) == first


# --- 2. normalizing and refusing ---------------------------------------------------------------------------------


def base(**kw) -> dict:
    m = {"id": "msg-1795000000000000000-abcdef", "from": "app001", "to": "lib001", "type": "query",
         "timestamp": "2026-11-18T11:06:40Z", "status": "pending", "content": "hi", "inReplyTo": None,
         "metadata": {"urgency": "normal", "fromProject": "app"}}
    m.update(kw)
    return m


@pytest.mark.parametrize("ts,iso", [
    (1700000000, "2023-11-14T22:13:20Z"),
    (1700000000.75, "2023-11-14T22:13:20Z"),
    (1700000000000, "2023-11-14T22:13:20Z"),  # milliseconds (JavaScript's Date.now())
    (1700000000999.0, "2023-11-14T22:13:20Z"),
    (0, "1970-01-01T00:00:00Z"),
])
def test_a_numeric_timestamp_becomes_iso_text(ts, iso):
    m = message.parse(orjson.dumps(base(timestamp=ts)))
    assert m["timestamp"] == iso
    assert mcp_tools.message_out(m).sent_at == iso


def test_a_missing_timestamp_is_the_ids_time_and_text_is_kept():
    assert message.parse(orjson.dumps({k: v for k, v in base().items() if k != "timestamp"}))["timestamp"] == \
        "2026-11-18T11:06:40Z"
    assert message.parse(orjson.dumps(base(timestamp="2026-01-01T00:00:00.123+02:00")))["timestamp"] == \
        "2026-01-01T00:00:00.123+02:00"


@pytest.mark.parametrize("kind", ["custom-kind", "handoff", "Weird Type!", "ç"])
def test_an_unknown_type_is_kept(kind):
    m = message.parse(orjson.dumps(base(type=kind)))
    assert m["type"] == kind
    assert kind in render.message(views.message_view(m)) and mcp_tools.message_out(m).type == kind


@pytest.mark.parametrize("field", ["id", "from", "to", "type", "content"])
@pytest.mark.parametrize("value", [5, 1.5, None, True, [], {}, ["x"], {"a": "b"}])
def test_a_wrong_typed_required_field_is_refused_by_name(field, value):
    with pytest.raises(message.BadMessage, match=rf"^{field} is \w+, not text$"):
        message.parse(orjson.dumps(base(**{field: value})))


@pytest.mark.parametrize("field", ["id", "from", "to", "type", "content"])
def test_a_missing_required_field_is_refused_by_name(field):
    with pytest.raises(message.BadMessage, match=rf"missing {field}"):
        message.parse(orjson.dumps({k: v for k, v in base().items() if k != field}))


@pytest.mark.parametrize("field,value", [("status", 5), ("status", None), ("status", []), ("inReplyTo", 5),
                                         ("inReplyTo", ["msg-x"]), ("inReplyTo", {}), ("metadata", "x"),
                                         ("metadata", [1]), ("metadata", 5)])
def test_a_wrong_typed_optional_field_is_refused_by_name(field, value):
    with pytest.raises(message.BadMessage, match=rf"^{field} is \w+, not "):
        message.parse(orjson.dumps(base(**{field: value})))


@pytest.mark.parametrize("key,value", [("urgency", 1), ("fromProject", ["app"]), ("fromLabel", {}),
                                       ("expiresAt", 1700000000), ("attempt", "2"), ("attempt", True),
                                       ("attempt", 0), ("attempt", -3), ("attempt", 2.0), ("attempt", 10**6)])
def test_a_wrong_typed_metadata_key_is_dropped(key, value):
    m = message.parse(orjson.dumps(base(metadata={"fromProject": "app", "hops": [1], key: value})))
    assert key not in m["metadata"]
    assert m["metadata"]["hops"] == [1]  # unknown keys are kept for the peers that sent them
    assert message.attempt(m) == 1


@pytest.mark.parametrize("data", [b"", b"[]", b"5", b"null", b'"msg"', b"{", b"\xff\xfe", b'{"id": "a"'])
def test_what_is_not_a_json_object_is_refused(data):
    with pytest.raises(message.BadMessage):
        message.parse(data)


# --- 3. end to end: a numeric timestamp through the CLI and the MCP server ---------------------------------------

T = 20  # hang detector for every subprocess and every MCP call


def numeric_message(sender: str, to: str, content: str) -> dict:
    """A message as a foreign writer (a JavaScript peer) might write it: a millisecond timestamp."""
    return {"id": message.new_id(), "from": sender, "to": to, "type": "query", "timestamp": int(time.time() * 1000),
            "status": "pending", "content": content, "inReplyTo": None,
            "metadata": {"urgency": "normal", "fromProject": "app"}}


def written_into(bridge, sid: str, msg: dict) -> None:
    layout.atomic_write(bridge.root / "sessions" / sid / "inbox" / f"{msg['id']}.json", orjson.dumps(msg))


def settled(bridge, sid: str, ids: list[str]) -> None:
    """Each message delivered once: a read copy each, no claim left, nothing pending, nothing quarantined."""
    d = bridge.root / "sessions" / sid
    assert sorted(p.name for p in (d / "inbox" / ".read").iterdir()) == sorted(f"{i}.json" for i in ids)
    assert list((d / "inbox" / ".claimed").iterdir()) == []
    assert [p for p in (d / "inbox").iterdir() if p.is_file() and not p.is_symlink()] == []
    assert list((d / "quarantine").iterdir()) == []
    for i in ids:
        copy = orjson.loads((d / "inbox" / ".read" / f"{i}.json").read_bytes())
        assert copy["status"] == "read" and message.attempt(copy) == 1


def test_a_numeric_timestamp_is_delivered_once_by_the_cli(bridge):
    lib = bridge.start("lib", "library")
    app = bridge.start("app", "app")
    odd = numeric_message(app, lib, "sent with a number for a timestamp")
    written_into(bridge, lib, odd)
    got = orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "5", check=True, timeout=T).stdout)["message"]
    assert (got["id"], got["content"]) == (odd["id"], odd["content"])
    assert got["sent_at"] == datetime.fromtimestamp(odd["timestamp"] // 1000, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert got["attempt"] == 1
    later = bridge.cli("app", "send", "library", "query", "a normal one", check=True, timeout=T).out.strip()
    assert orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "5", check=True,
                                   timeout=T).stdout)["message"]["id"] == later
    assert bridge.cli("lib", "listen", "--timeout", "1", timeout=T).returncode == 3
    settled(bridge, lib, [odd["id"], later])


def test_a_numeric_timestamp_is_delivered_once_over_mcp_and_the_next_message_follows(bridge):
    app = bridge.start("app", "app")
    params = StdioServerParameters(command=SESSION_BRIDGE, args=["mcp"], env=env(bridge.root, bridge.project("lib")))

    async def call(client: Client, tool: str, **args) -> dict:
        with anyio.fail_after(T):
            r = await client.call_tool(tool, args)
        assert not r.is_error, f"{tool} failed: {r.content[0].text}"
        return r.structured_content

    async def main() -> tuple[str, list[str]]:
        with anyio.fail_after(4 * T):
            async with Client(params, mode="legacy") as lib:
                sid = (await call(lib, "bridge_start", label="library"))["session"]["session_id"]
                odd = numeric_message(app, sid, "sent with a number for a timestamp")
                written_into(bridge, sid, odd)
                first = await call(lib, "bridge_listen", wait_s=5)
                assert first["status"] == "message", first
                got = first["message"]
                assert (got["id"], got["content"], got["attempt"]) == (odd["id"], odd["content"], 1)
                assert got["sent_at"] == datetime.fromtimestamp(odd["timestamp"] // 1000, timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")

                later = bridge.cli("app", "send", "library", "query", "a normal one", check=True,
                                   timeout=T).out.strip()
                second = await call(lib, "bridge_listen", wait_s=5)
                assert second["status"] == "message", second
                assert (second["message"]["id"], second["message"]["attempt"]) == (later, 1)
                idle = await call(lib, "bridge_listen", wait_s=1)
                assert idle["status"] == "waiting"  # the odd one never comes back (attempt 2, 3, 4...)
                return sid, [odd["id"], later]

    sid, ids = anyio.run(main)
    settled(bridge, sid, ids)
