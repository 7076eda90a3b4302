"""Codex: `[mcp_servers.session-bridge]` in $CODEX_HOME/config.toml, and hooks in hooks.json: UserPromptSubmit (the
inbox) and PreToolUse on its shell tool (the no-auto-commit guard).

Codex's PreToolUse takes Claude's shapes (its pre-tool-use.command.{input,output} schemas in Codex 0.169.0): the
shell tool is matched as "Bash" with tool_input.command, and {"hookSpecificOutput": {"hookEventName": "PreToolUse",
"permissionDecision": "deny", "permissionDecisionReason": ...}} blocks it (a deny needs a non-empty reason; Codex
rejects "allow" and "ask", so the guard answers {} when it does not deny)."""

from __future__ import annotations

import os
import shutil
import subprocess

import orjson

from bridge.hosts.base import NAME, Edit, Health, Host, Where, hook_edit, run, toml_edit

class Codex(Host):
    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = w.server()
        hook = {"hooks": [{"type": "command", "command": w.hook_command(), "timeout": 10}]}
        guard = {"matcher": "Bash", "hooks": [{"type": "command", "command": w.guard_command(), "timeout": 10}]}
        return [toml_edit(w.codex_home / "config.toml", install, entry),
                hook_edit(w.codex_home / "hooks.json", install, ["hooks", "UserPromptSubmit"], hook,
                          (["hooks", "PreToolUse"], guard), what="inbox hook and commit guard")]

    def health(self, w: Where) -> Health:
        if not shutil.which("codex"):
            return Health(None, "codex is not on PATH")
        try:
            r = run(["codex", "mcp", "list", "--json"], w)
            servers = {s["name"]: s for s in orjson.loads(r.stdout)}
        except (OSError, subprocess.TimeoutExpired, orjson.JSONDecodeError, KeyError, TypeError) as e:
            return Health(False, f"`codex mcp list --json` failed: {e}")
        ours = servers.get(NAME)
        if ours is None:
            return Health(False, f"codex does not list {NAME}")
        cmd = (ours.get("transport") or {}).get("command")
        if not cmd or not os.access(cmd, os.X_OK):
            return Health(False, f"codex starts {cmd!r}, which is not an executable")
        return Health(True, f"codex reads {cmd} mcp (codex has no connection check)")


HOST = Codex("codex", "Codex", ("codex",), ("user",),
             "the tools + a UserPromptSubmit inbox hook + a PreToolUse commit guard", (".codex",),
             wake="codex queue --thread starts a turn in the idle thread: run session-bridge watch --driver queue "
                  "beside it")
