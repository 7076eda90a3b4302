"""Claude Code: the plugin ships the server; else `claude mcp add-json` (user) or `.mcp.json` (project)."""

from __future__ import annotations

import shutil
import re
from pathlib import Path

import orjson

from bridge.hosts import jsonc
from bridge.hosts.base import NAME, Edit, Health, Host, HostError, Where, json_edit, listed, read, run

class ClaudeCode(Host):
    def plugin(self, w: Where) -> Path | None:
        """Claude's settings file if the session-bridge plugin is enabled there (the plugin ships the server)."""
        path = w.home / ".claude" / "settings.json"
        try:
            enabled = jsonc.loads(read(path) or "{}").get("enabledPlugins") or {}
        except jsonc.JsoncError:
            return None
        return path if any(k.startswith(NAME + "@") and v for k, v in enabled.items()) else None

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = {"type": "stdio", "command": w.command, "args": ["mcp"], "env": w.env()}
        settings = self.plugin(w)
        if install and settings is not None:
            return [Edit(settings, "", "", "MCP server (the session-bridge plugin ships it)")]
        if scope == "project":
            return [json_edit(w.project / ".mcp.json", install, ["mcpServers"], entry)]
        # ~/.claude.json belongs to Claude Code, which rewrites it while it runs: only `claude mcp` changes it.
        state = read(w.home / ".claude.json") or "{}"
        try:
            current = (jsonc.loads(state).get("mcpServers") or {}).get(NAME)
        except jsonc.JsoncError:
            current = None
        before = orjson.dumps(current).decode() if current is not None else None
        after = orjson.dumps(entry).decode() if install else None
        if install and current is not None and current.get("command") == w.command \
                and current.get("args") == ["mcp"] and (current.get("env") or {}) == entry["env"]:
            after = before
        return [Edit(w.home / ".claude.json", before, after, "MCP server (claude mcp)")]

    def configured(self, w: Where) -> list[str]:
        found = ["plugin"] if self.plugin(w) else []
        for scope in self.scopes:
            edits = self.edits(w, scope, install=False)
            if any(e.changes for e in edits):
                found.append(scope)
        return found

    def apply(self, w: Where, scope: str, install: bool, edit: Edit) -> Path | None:
        """~/.claude.json belongs to Claude Code, which rewrites it while it runs: change it through `claude mcp`."""
        if scope != "user":
            return edit.apply()
        claude = shutil.which("claude")
        if claude is None:
            raise HostError("the claude command is not on PATH; install Claude Code, or install the session-bridge "
                            "plugin, which ships the MCP server")
        steps = []
        if edit.before is not None:
            steps.append([claude, "mcp", "remove", "-s", "user", NAME])
        if install:
            steps.append([claude, "mcp", "add-json", "-s", "user", NAME, edit.after])
        for args in steps:
            r = run(args, w)
            if r.returncode != 0:
                raise HostError(f"`claude mcp {args[2]}` failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
        return None

    def health(self, w: Where) -> Health:
        if not shutil.which("claude"):
            return Health(None, "claude is not on PATH")
        return listed(["claude", "mcp", "list"], w, re.compile(r"✔ Connected|\bConnected\b"))


HOST = ClaudeCode("claude-code", "Claude Code", ("claude",), ("user", "project"),
                  "the 17 bridge_* tools (or the plugin: tools, /bridge, skill, hooks)",
                  wake="the plugin's monitor wakes an idle interactive session with a pointer line; with "
                       "background listening on and no monitor, the Stop hook; none in claude -p")
