"""Cline: `mcpServers` in ~/.cline/data/settings/cline_mcp_settings.json (user scope only)."""

from __future__ import annotations

from pathlib import Path

from bridge.hosts.base import Edit, Health, Host, Where, command_check, json_edit

class Cline(Host):
    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = w.server(disabled=False)
        return [json_edit(self.path(w), install, ["mcpServers"], entry)]

    def path(self, w: Where) -> Path:
        return w.home / ".cline" / "data" / "settings" / "cline_mcp_settings.json"

    def health(self, w: Where) -> Health:
        return command_check(self.title, [self.path(w)])


HOST = Cline("cline", "Cline", ("cline",), ("user",), "the tools", (".cline",))
