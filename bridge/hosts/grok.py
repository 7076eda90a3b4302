"""Grok CLI (@vibe-kit/grok-cli): `mcpServers` in the project's .grok/settings.json (project scope only).

Grok reads MCP servers only from `<cwd>/.grok/settings.json` (~/.grok/user-settings.json holds the API key and
models, never servers). Its loader takes `Object.values(mcpServers)` and goes by each entry's "name", so an entry
repeats its name, and its transport is the nested object `grok mcp add` writes ({"type": "stdio", "command", "args",
"env"}; the README's `"transport": "stdio"` string does not load). It has no hooks. The health check is its own
`grok mcp test session-bridge` in the project, which really starts the server (initialize + tools/list) and prints
"✓ Successfully connected to …" or "✗ Failed to connect to …", but on success never exits: we read until that line
(or a deadline), then kill its process group.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

from bridge.hosts.base import NAME, Edit, Health, Host, Where, json_edit, plain

TEST_TIMEOUT_S = 20
OK = re.compile(r"✓\s*Successfully connected to " + re.escape(NAME) + r"\b")
FAILED = re.compile(r"✗\s*Failed to connect to " + re.escape(NAME) + r"\b.*")


def first_line(args: list[str], cwd: Path, patterns: list[re.Pattern], timeout: float) -> tuple[str | None, str]:
    """Run args in cwd (own process group, no stdin) until a stdout/stderr line matches one of patterns, the process
    exits, or timeout; then kill the group. Returns (the matching line or None, all the output read)."""
    proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    out, buf, found = [], b"", None
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while found is None:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break  # it exited (or closed its output)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = plain(raw.decode("utf-8", "replace")).strip()
                out.append(line)
                if any(p.search(line) for p in patterns):
                    found = line
                    break
        if found is None and buf:  # a last line without a newline
            line = plain(buf.decode("utf-8", "replace")).strip()
            out.append(line)
            found = line if any(p.search(line) for p in patterns) else None
    finally:
        sel.close()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.stdout.close()
        proc.wait()
    return found, "\n".join(ln for ln in out if ln)


class Grok(Host):
    def path(self, w: Where) -> Path:
        return w.project / ".grok" / "settings.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        transport = {"type": "stdio", "command": w.command, "args": ["mcp"], "env": w.env()}
        return [json_edit(self.path(w), install, ["mcpServers"], {"name": NAME, "transport": transport})]

    def health(self, w: Where) -> Health:
        """`grok mcp test session-bridge` in the project: it starts the server and lists its tools."""
        if not shutil.which("grok"):
            return Health(None, "grok is not on PATH")
        args = ["grok", "mcp", "test", NAME]
        try:
            line, out = first_line(args, w.project, [OK, FAILED], TEST_TIMEOUT_S)
        except OSError as e:
            return Health(False, f"`{' '.join(args)}` did not run: {e}")
        if line is None:
            last = out.splitlines()[-1] if out else "no output"
            return Health(False, f"`{' '.join(args)}` said neither connected nor failed within "
                                 f"{TEST_TIMEOUT_S}s (last: {last})")
        return Health(bool(OK.search(line)), line)


HOST = Grok("grok", "Grok CLI", ("grok",), ("project",), "the tools")
