"""Helpers for the MCP server and host-config tests: real `session-bridge` processes, raw JSON-RPC over pipes."""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import threading
from pathlib import Path


from support import BIN, REPO, require_tool  # noqa: F401 - re-exported for the MCP tests

SESSION_BRIDGE = str(BIN / "session-bridge")
FIXTURES = REPO / "tests" / "fixtures"


def env(root: Path, project: Path, **extra: str) -> dict:
    project.mkdir(parents=True, exist_ok=True)
    e = dict(os.environ, BRIDGE_DIR=str(root), PROJECT_DIR=str(project))
    for k in ("BRIDGE_SESSION_ID", "CLAUDE_CODE_SESSION_ID", "BRIDGE_CHANNELS", "BRIDGE_MCP_WAIT"):
        e.pop(k, None)
    e.update(extra)
    return e


def cli(root: Path, project: Path, *args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    r = subprocess.run([SESSION_BRIDGE, *args], env=env(root, project, **extra), capture_output=True, text=True,
                       timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"session-bridge {' '.join(args)} exited {r.returncode}: {r.stderr}{r.stdout}")
    return r


class RawServer:
    """`session-bridge mcp` spoken to line by line, to check the wire itself (handshakes, notifications)."""

    def __init__(self, root: Path, project: Path, *args: str, pump: bool = True, **extra: str) -> None:
        """pump=False reads stdout in the caller's thread, so the test may close the pipe (a reader thread would
        hold it open)."""
        self.proc = subprocess.Popen([SESSION_BRIDGE, "mcp", *args], env=env(root, project, **extra),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.lines: queue.Queue = queue.Queue()
        self.errors: queue.Queue = queue.Queue()
        self.next_id = 0
        self.notes: list = []  # notifications that came before a response (request())
        self.pump = pump
        if pump:
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors), daemon=True).start()

    @staticmethod
    def _pump(stream, q: queue.Queue) -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    def send(self, obj: dict) -> None:
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float = 20) -> dict:
        if self.pump:
            line = self.lines.get(timeout=timeout)
        else:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            assert ready, f"no answer within {timeout}s"
            line = self.proc.stdout.readline() or None
        assert line is not None, "the server closed its stdout"
        return json.loads(line)

    def request(self, method: str, params: dict | None = None, timeout: float = 20) -> dict:
        """Send a request and return its response; notifications that come first are kept in self.notes."""
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        while True:
            reply = self.recv(timeout)
            if reply.get("id") == self.next_id:
                return reply
            self.notes.append(reply)

    def notify(self, method: str, params: dict | None = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, **({"params": params} if params is not None else {})})

    def initialize(self) -> dict:
        self.notes = []
        r = self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                        "clientInfo": {"name": "test", "version": "1"}})
        self.notify("notifications/initialized")
        return r

    def stderr_until(self, text: str, timeout: float = 30) -> str:
        seen = []
        while True:
            line = self.errors.get(timeout=timeout)
            assert line is not None, f"server exited without printing {text!r}: {''.join(seen)}"
            seen.append(line)
            if text in line:
                return line

    def close(self) -> int:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
