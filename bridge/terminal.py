"""Peer-controlled text made safe for a terminal: control characters shown as visible escapes.

A peer writes message bodies, labels, project names and paths; a hostile or broken one could embed ESC[2J (clear
the screen), OSC 52 (write the user's clipboard), C1 controls that some terminals treat as ESC, or bidi overrides
that make text read differently than it runs (Trojan Source). Human output passes every such piece through safe();
--json output never does (JSON escapes controls itself, and scripts need the exact bytes).
"""

from __future__ import annotations

# Newline and tab are layout, not commands: bodies keep them. Everything else in C0, DEL and C1 becomes \xNN.
_CONTROLS = [c for c in range(0x20) if c not in (0x09, 0x0A)] + [0x7F] + list(range(0x80, 0xA0))
# Embeddings/overrides (LRE RLE PDF LRO RLO) and isolates (LRI RLI FSI PDI): the Trojan Source set.
_BIDI = list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A))

_TABLE = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _BIDI}
# One-line fields (a table cell, a KEY=value header) also escape newline and tab, so a name cannot forge a row.
_LINE_TABLE = _TABLE | {0x09: "\\x09", 0x0A: "\\x0a"}


def safe(text: object) -> str:
    """Text with terminal control characters (C0 but newline and tab, DEL, C1) and bidi overrides escaped.

    Non-strings (a hostile manifest may hold a number or a list where a name belongs) are str()-ed first."""
    return (text if isinstance(text, str) else str(text)).translate(_TABLE)


def safe_line(text: object) -> str:
    """Like safe(), for a field that must stay on one line: newline and tab are escaped too."""
    return (text if isinstance(text, str) else str(text)).translate(_LINE_TABLE)
