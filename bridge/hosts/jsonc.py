"""Edit JSON / JSONC config files (comments, trailing commas) in place, keeping every other byte as it was.

Agent CLIs keep their settings in hand-edited JSON with comments (Gemini CLI, Cursor, opencode). A parse + dump would
drop the comments and reorder or reformat the user's file, so edits here splice text: a member is inserted as the
first member of its object (or the first item of its array) with the object's own indentation, and removing it cuts
exactly that text again. `init` then `uninstall` gives back the original bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_WS = " \t\r\n"
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


class JsoncError(ValueError):
    """The text is not JSON (with comments); the message says where."""


@dataclass
class Node:
    kind: str  # object | array | scalar
    start: int
    end: int  # exclusive
    value: object = None
    members: list["Member"] = field(default_factory=list)  # objects
    items: list["Node"] = field(default_factory=list)  # arrays


@dataclass
class Member:
    key: str
    key_start: int
    value: Node


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def fail(self, what: str) -> JsoncError:
        line = self.text.count("\n", 0, self.i) + 1
        col = self.i - (self.text.rfind("\n", 0, self.i) + 1) + 1
        return JsoncError(f"{what} at line {line}, column {col}")

    def skip(self) -> None:
        t, n = self.text, len(self.text)
        while self.i < n:
            c = t[self.i]
            if c in _WS:
                self.i += 1
            elif t.startswith("//", self.i):
                end = t.find("\n", self.i)
                self.i = n if end < 0 else end + 1
            elif t.startswith("/*", self.i):
                end = t.find("*/", self.i + 2)
                if end < 0:
                    raise self.fail("unclosed /* comment")
                self.i = end + 2
            else:
                return

    def value(self) -> Node:
        self.skip()
        if self.i >= len(self.text):
            raise self.fail("unexpected end of file")
        c = self.text[self.i]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr()
        start = self.i
        if c == '"':
            return Node("scalar", start, self.string_end(), self.decode(start, self.i))
        for word, val in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return Node("scalar", start, self.i, val)
        m = _NUMBER.match(self.text, self.i)
        if not m or not m.group(0):
            raise self.fail(f"unexpected {c!r}")
        self.i = m.end()
        return Node("scalar", start, self.i, json.loads(m.group(0)))

    def string_end(self) -> int:
        t, j = self.text, self.i + 1
        while j < len(t):
            if t[j] == "\\":
                j += 2
            elif t[j] == '"':
                self.i = j + 1
                return self.i
            elif t[j] == "\n":
                break
            else:
                j += 1
        raise self.fail("unterminated string")

    def decode(self, start: int, end: int) -> str:
        try:
            return json.loads(self.text[start:end])
        except json.JSONDecodeError:
            raise self.fail("bad string escape") from None

    def obj(self) -> Node:
        node = Node("object", self.i, 0, {})
        self.i += 1
        while True:
            self.skip()
            if self.text.startswith("}", self.i):
                break
            if self.i >= len(self.text) or self.text[self.i] != '"':
                raise self.fail("expected a \"key\" or }")
            key_start = self.i
            key = self.decode(key_start, self.string_end())
            self.skip()
            if not self.text.startswith(":", self.i):
                raise self.fail("expected :")
            self.i += 1
            val = self.value()
            node.members.append(Member(key, key_start, val))
            node.value[key] = val.value
            self.skip()
            if self.text.startswith(",", self.i):
                self.i += 1
            elif not self.text.startswith("}", self.i):
                raise self.fail("expected , or }")
        self.i += 1
        node.end = self.i
        return node

    def arr(self) -> Node:
        node = Node("array", self.i, 0, [])
        self.i += 1
        while True:
            self.skip()
            if self.text.startswith("]", self.i):
                break
            item = self.value()
            node.items.append(item)
            node.value.append(item.value)
            self.skip()
            if self.text.startswith(",", self.i):
                self.i += 1
            elif not self.text.startswith("]", self.i):
                raise self.fail("expected , or ]")
        self.i += 1
        node.end = self.i
        return node


def parse(text: str) -> Node:
    """The tree of a JSONC document whose top level is an object; an empty file is an empty object."""
    if not text.strip():
        return Node("object", 0, 0, {})
    p = _Parser(text)
    root = p.value()
    p.skip()
    if p.i != len(text):
        raise p.fail("unexpected text after the end")
    if root.kind != "object":
        raise JsoncError("the file's top level is not a JSON object")
    return root


def loads(text: str) -> dict:
    return parse(text).value


# --- editing -----------------------------------------------------------------------------------------------------


def _unit(text: str) -> str:
    m = re.search(r"\n([ \t]+)\S", text)
    return m.group(1) if m else "  "


def _line_indent(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    m = re.match(r"[ \t]*", text[start:pos])
    return m.group(0)


def _ws_before(text: str, pos: int) -> int:
    while pos > 0 and text[pos - 1] in _WS:
        pos -= 1
    return pos


def _dump(value: object, indent: str, unit: str) -> str:
    return json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", "\n" + indent)


def _find(root: Node, path: list[str]) -> tuple[Node, list[str]]:
    """The deepest existing object along path, and the keys still missing below it."""
    node = root
    for n, key in enumerate(path):
        child = next((m.value for m in node.members if m.key == key), None)
        if child is None or child.kind != "object":
            if child is not None:
                raise JsoncError(f"{'.'.join(path[:n + 1])} is not an object; fix it by hand first")
            return node, path[n:]
        node = child
    return node, []


def _insert_first(text: str, container: Node, starts: list[int], piece_for: callable) -> str:
    """Put a new first member/item into an object or array; piece_for(indent) renders it."""
    unit = _unit(text)
    if starts:
        first = starts[0]
        ws = text[_ws_before(text, first):first]
        indent = ws.rsplit("\n", 1)[-1] if "\n" in ws else _line_indent(text, first)
        return text[:first] + piece_for(indent) + "," + ws + text[first:]
    outer = _line_indent(text, container.start)
    indent = outer + unit
    inner = text[container.start + 1:container.end - 1]
    if not inner.strip(_WS):
        return (text[:container.start + 1] + "\n" + indent + piece_for(indent) + "\n" + outer
                + text[container.end - 1:])
    return text[:container.start + 1] + "\n" + indent + piece_for(indent) + text[container.start + 1:]


def _cut(text: str, container: Node, spans: list[tuple[int, int]], n: int) -> str:
    """Remove member/item n of a container, given each one's (start, end)."""
    start, end = spans[n]
    after = end
    while after < len(text) and text[after] in _WS:
        after += 1
    if n + 1 == len(spans) and text.startswith(",", after):
        end = after + 1  # a trailing comma after the last member goes with it
    if n + 1 < len(spans):
        return text[:start] + text[spans[n + 1][0]:]
    if n > 0:
        return text[:spans[n - 1][1]] + text[end:]
    rest = text[container.start + 1:start] + text[end:container.end - 1]
    if not rest.replace(",", "").strip(_WS):
        return text[:container.start + 1] + text[container.end - 1:]
    return text[:_ws_before(text, start)] + text[end:]


def set_member(text: str, path: list[str], key: str, value: object) -> str:
    """Set path.key to value: replace the value if the key exists, else insert it (creating missing objects)."""
    if not text.strip():
        return json.dumps(_nest(path, key, value), indent=2, ensure_ascii=False) + "\n"
    root = parse(text)
    node, missing = _find(root, path)
    if not missing:
        existing = next((m for m in node.members if m.key == key), None)
        if existing is not None:
            if existing.value.value == value:
                return text
            indent = _line_indent(text, existing.key_start)
            v = existing.value
            return text[:v.start] + _dump(value, indent, _unit(text)) + text[v.end:]
        new_key, new_value = key, value
    else:
        new_key, new_value = missing[0], _nest(missing[1:], key, value)
    piece = lambda indent: json.dumps(new_key) + ": " + _dump(new_value, indent, _unit(text))  # noqa: E731
    return _insert_first(text, node, [m.key_start for m in node.members], piece)


def _nest(path: list[str], key: str, value: object) -> dict:
    out = {key: value}
    for k in reversed(path):
        out = {k: out}
    return out


def remove_member(text: str, path: list[str], key: str) -> str:
    """Remove path.key, and then any object along path that this left empty."""
    root = parse(text)
    node, missing = _find(root, path)
    if missing or not any(m.key == key for m in node.members):
        return text
    n = next(i for i, m in enumerate(node.members) if m.key == key)
    text = _cut(text, node, [(m.key_start, m.value.end) for m in node.members], n)
    return _prune(text, path)


def _prune(text: str, path: list[str]) -> str:
    """Drop now-empty objects/arrays along path, deepest first (they were there only for our entry)."""
    for depth in range(len(path), 0, -1):
        root = parse(text)
        parent, missing = _find(root, path[:depth - 1])
        member = next((m for m in parent.members if m.key == path[depth - 1]), None)
        if missing or member is None:
            continue
        v = member.value
        inner = text[v.start + 1:v.end - 1] if v.kind in ("object", "array") else "x"
        if inner.strip(_WS):
            break
        n = parent.members.index(member)
        text = _cut(text, parent, [(m.key_start, m.value.end) for m in parent.members], n)
    if not text.strip(_WS).replace(" ", "") or re.fullmatch(r"\s*\{\s*\}\s*", text):
        return ""
    return text


def add_item(text: str, path: list[str], item: object, same: callable) -> str:
    """Make `item` the first element of the array at path (creating it) unless an element with same(e) exists;
    an existing one is replaced."""
    if not text.strip():
        return set_member(text, path[:-1], path[-1], [item])
    root = parse(text)
    node, missing = _find(root, path[:-1])
    arr = None if missing else next((m.value for m in node.members if m.key == path[-1]), None)
    if arr is None:
        return set_member(text, path[:-1], path[-1], [item])
    if arr.kind != "array":
        raise JsoncError(f"{'.'.join(path)} is not a list; fix it by hand first")
    for it in arr.items:
        if same(it.value):
            if it.value == item:
                return text
            return text[:it.start] + _dump(item, _line_indent(text, it.start), _unit(text)) + text[it.end:]
    piece = lambda indent: _dump(item, indent, _unit(text))  # noqa: E731
    return _insert_first(text, arr, [it.start for it in arr.items], piece)


def remove_items(text: str, path: list[str], same: callable) -> str:
    """Remove every element e of the array at path with same(e); then prune what that left empty."""
    while True:
        root = parse(text)
        node, missing = _find(root, path[:-1])
        arr = None if missing else next((m.value for m in node.members if m.key == path[-1]), None)
        if arr is None or arr.kind != "array":
            return text
        hits = [n for n, it in enumerate(arr.items) if same(it.value)]
        if not hits:
            return _prune(text, path)
        text = _cut(text, arr, [(it.start, it.end) for it in arr.items], hits[0])
