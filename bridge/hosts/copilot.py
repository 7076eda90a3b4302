"""GitHub Copilot CLI: `mcpServers` in ~/.copilot/mcp-config.json ($COPILOT_HOME) or the project's .github/mcp.json.

Copilot also reads a project's .mcp.json, but that is Claude Code's file (claude_code.py writes it), so project scope
uses .github/mcp.json. Copilot loads workspace servers only in a folder the user trusts (`trustedFolders` in
~/.copilot/config.json, or its trust prompt); user servers always load. The entry is what `copilot mcp add` writes
(type "local", tools ["*"]).

No inbox hook: Copilot's hooks (~/.copilot/hooks/*.json) do hand a prompt hook's {"additionalContext": …} to the
model, but not the Claude-shaped {"hookSpecificOutput": {…}} that `session-bridge hook user-prompt-submit` prints
(checked with Copilot 1.0.102 against a stub model). No health check either: `copilot mcp list` only lists the
config, and the one check that connects runs a prompt; so doctor only checks that the configured command exists.
"""

from __future__ import annotations

import os
from pathlib import Path

from bridge.hosts.base import Edit, Health, Host, Where, command_check, json_edit


def copilot_home(w: Where) -> Path:
    """$COPILOT_HOME, else ~/.copilot."""
    return Path(os.environ["COPILOT_HOME"]) if os.environ.get("COPILOT_HOME") else w.home / ".copilot"


class Copilot(Host):
    def path(self, w: Where, scope: str) -> Path:
        return copilot_home(w) / "mcp-config.json" if scope == "user" else w.project / ".github" / "mcp.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = {"type": "local", **w.server(tools=["*"])}
        return [json_edit(self.path(w, scope), install, ["mcpServers"], entry)]

    def health(self, w: Where) -> Health:
        h = command_check(self.title, [self.path(w, s) for s in self.scopes])
        if h.ok is None:
            h.detail = (f"the configured command exists; {self.title} has no offline MCP health check "
                        f"(`copilot mcp list` does not connect)")
        return h


HOST = Copilot("copilot", "Copilot CLI", ("copilot",), ("user", "project"), "the tools", (".copilot",))
