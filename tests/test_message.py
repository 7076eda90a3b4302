"""The message record: hypothesis for parsing anything, ids that sort by time."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import message
from bridge.message import BadMessage

SENDER = {"sessionId": "abc123", "projectName": "app", "label": "app"}


@given(st.text(max_size=2000), st.sampled_from(message.KNOWN_TYPES + ("custom-type",)))
def test_built_messages_parse_back_unchanged(content, kind):
    m = message.build(sender=SENDER, to="lib123", type=kind, content=content)
    assert message.parse(orjson.dumps(m)) == m


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_bad_message(data):
    try:
        m = message.parse(data)
    except BadMessage:
        return
    assert all(isinstance(m[k], str) for k in message.REQUIRED)


@given(st.dictionaries(st.sampled_from(["id", "from", "to", "type", "content", "inReplyTo", "metadata"]),
                       st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.text(max_size=5), st.lists(st.integers(0, 9)))))
def test_json_objects_of_wrong_shape_are_bad_messages(obj):
    try:
        m = message.parse(orjson.dumps(obj))
    except BadMessage:
        return
    assert isinstance(m["metadata"], dict)


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'"x"', b"\xff\xfe", b'{"id": "../x", "from": "a", "to": "b", '
                                  b'"type": "query", "content": "c"}'])
def test_corrupt_partial_and_foreign_files_are_bad(data):
    with pytest.raises(BadMessage):
        message.parse(data)


def test_ids_sort_by_time_and_are_unique():
    ids = [message.new_id() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == 2000
    assert all(message.id_time_ns(i) for i in ids)


def test_reference_ids_order_by_mtime():
    assert message.fifo_key("msg-zzzz", 1) < message.fifo_key("msg-aaaa", 2)
    assert message.id_time_ns("msg-k3j9x2abcd12") is None


def test_attempt_defaults_to_one():
    assert message.attempt({"metadata": {}}) == 1
    assert message.attempt({"metadata": {"attempt": 3}}) == 3
    assert message.attempt({"metadata": {"attempt": "x"}}) == 1
