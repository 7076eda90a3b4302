"""Gemini CLI: `mcpServers` and a BeforeAgent hook in ~/.gemini/settings.json or .gemini/settings.json."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bridge.hosts import jsonc
from bridge.hosts.base import NAME, Edit, Health, Host, HostError, Where, is_ours, json_edit, listed

class Gemini(Host):
    def path(self, w: Where, scope: str) -> Path:
        return (w.home if scope == "user" else w.project) / ".gemini" / "settings.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = w.server()
        hook = {"hooks": [{"type": "command", "name": NAME, "command": w.hook_command(), "timeout": 10000}]}
        path = self.path(w, scope)
        mcp = json_edit(path, install, ["mcpServers"], entry)
        text = mcp.after or ""
        # Both go into settings.json: the hook edit applies on top of the server edit.
        try:
            final = (jsonc.add_item(text, ["hooks", "BeforeAgent"], hook, is_ours) if install
                     else jsonc.remove_items(text, ["hooks", "BeforeAgent"], is_ours) if text.strip() else "")
        except jsonc.JsoncError as e:
            raise HostError(f"{path} is not valid JSON ({e}); fix it, then run this again") from None
        return [Edit(path, mcp.before, final or None, "MCP server and inbox hook")]

    def health(self, w: Where) -> Health:
        if not shutil.which("gemini"):
            return Health(None, "gemini is not on PATH")
        return listed(["gemini", "mcp", "list"], w, re.compile(r"\bConnected\b"), GEMINI_CLI_TRUST_WORKSPACE="true")


HOST = Gemini("gemini-cli", "Gemini CLI", ("gemini",), ("user", "project"),
              "the tools + a BeforeAgent inbox hook", (".gemini",))
