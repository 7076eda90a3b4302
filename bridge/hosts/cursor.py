"""Cursor: `mcpServers` in ~/.cursor/mcp.json or .cursor/mcp.json, and hooks in hooks.json: stop (the inbox) and
beforeShellExecution (the no-auto-commit guard: `session-bridge hook before-shell-execution` reads the payload's
`command` and answers {"permission": "deny", "user_message", "agent_message"}, as Cursor's hooks documentation gives
them; no Cursor CLI is on npm, so this is checked on documented payloads only)."""

from __future__ import annotations

from pathlib import Path

import orjson

from bridge.hosts import jsonc
from bridge.hosts.base import (CURSOR_HOOK, Edit, Health, Host, Where, command_check, hook_edit, json_edit, quote,
                               read)

class Cursor(Host):
    def path(self, w: Where, scope: str) -> Path:
        return (w.home if scope == "user" else w.project) / ".cursor" / "mcp.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = w.server()
        hooks = self.path(w, scope).with_name("hooks.json")
        return [json_edit(self.path(w, scope), install, ["mcpServers"], entry), self.hook_edit(hooks, w, install)]

    @staticmethod
    def hook_edit(path: Path, w: Where, install: bool) -> Edit:
        """Cursor's hooks.json ({"version": 1, "hooks": {...}}): a stop hook that hands over pending messages, and
        a beforeShellExecution hook, the no-auto-commit guard."""
        item = {"command": f"{quote(w.command)} {CURSOR_HOOK}"}
        guard = {"command": w.guard_command("before-shell-execution")}
        what = "inbox hook and commit guard"
        before = read(path)
        if before is None and install:
            doc = {"version": 1, "hooks": {"stop": [item], "beforeShellExecution": [guard]}}
            return Edit(path, None, orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n", what)
        edit = hook_edit(path, install, ["hooks", "stop"], item, (["hooks", "beforeShellExecution"], guard), what=what)
        if not install and edit.after is not None and "//" not in edit.after and "/*" not in edit.after \
                and jsonc.loads(edit.after) == {"version": 1}:
            edit.after = None  # init created this file: nothing of the user's is left in it
        return edit

    def health(self, w: Where) -> Health:
        return command_check(self.title, [self.path(w, s) for s in self.scopes])


HOST = Cursor("cursor", "Cursor", ("cursor-agent", "cursor"), ("user", "project"),
              "the tools + a stop hook that hands over pending messages + a beforeShellExecution commit guard",
              (".cursor",))
