"""bridge/hosts/jsonc.py, the in-place JSON/JSONC editor `init` uses: property tests over generated config files."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.hosts import jsonc

keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=10) | \
    st.floats(allow_nan=False, allow_infinity=False, width=32)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                      max_leaves=10)
ENTRY = {"command": "/opt/venv/bin/session-bridge", "args": ["mcp"]}


@st.composite
def config_files(draw) -> tuple[str, dict]:
    """A config object rendered the way people write them: some indentation, maybe comments, maybe trailing commas."""
    doc = draw(st.dictionaries(keys.filter(lambda k: k != "mcpServers"), values, max_size=4))
    if draw(st.booleans()):
        doc["mcpServers"] = draw(st.dictionaries(keys.filter(lambda k: k != "session-bridge"), values, max_size=3))
    indent = draw(st.sampled_from([None, 2, 4, "\t"]))
    text = json.dumps(doc, indent=indent, ensure_ascii=draw(st.booleans()))
    if indent is not None and draw(st.booleans()):
        lines = text.split("\n")
        at = draw(st.integers(1, len(lines)))
        lines.insert(at, "  // a comment, with \"quotes\" and { braces }")
        text = "\n".join(lines)
    if draw(st.booleans()):
        text = "/* header */\n" + text + "\n"
    return text, doc


@settings(max_examples=300, deadline=None)
@given(config_files())
def test_set_then_remove_gives_back_the_same_bytes(case):
    text, doc = case
    assert jsonc.loads(text) == doc
    added = jsonc.set_member(text, ["mcpServers"], "session-bridge", ENTRY)
    after = jsonc.loads(added)
    assert after["mcpServers"]["session-bridge"] == ENTRY
    assert {k: v for k, v in after.items() if k != "mcpServers"} == {k: v for k, v in doc.items() if k != "mcpServers"}
    assert {k: v for k, v in after["mcpServers"].items() if k != "session-bridge"} == doc.get("mcpServers", {})
    assert jsonc.set_member(added, ["mcpServers"], "session-bridge", ENTRY) == added  # idempotent
    back = jsonc.remove_member(added, ["mcpServers"], "session-bridge")
    if doc == {} and "/*" not in text and "//" not in text:
        assert back == ""  # nothing but our entry was left: the file goes
    elif doc.get("mcpServers") == {}:
        assert jsonc.loads(back) == {k: v for k, v in doc.items() if k != "mcpServers"}  # the empty object goes too
    else:
        assert back == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_garbage_is_refused_with_a_position_never_a_crash(text):
    try:
        jsonc.loads(text)
    except jsonc.JsoncError as e:
        assert "\n" not in str(e)


@pytest.mark.parametrize("text, where", [
    ('{"a": 1,, }', "line 1, column 9"),
    ('{\n  "a": [1, 2\n}', "line 3, column 1"),
    ('{"a": "unterminated}', "line 1"),
    ("[1, 2]", "top level is not a JSON object"),
    ('{"a": 1} trailing', "after the end"),
    ("{/* open", "unclosed /* comment"),
])
def test_errors_say_where(text, where):
    with pytest.raises(jsonc.JsoncError, match=re.escape(where)):
        jsonc.loads(text)
