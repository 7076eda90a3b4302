"""GitHub Copilot CLI: `mcpServers` in ~/.copilot/mcp-config.json ($COPILOT_HOME) or the project's .github/mcp.json.

Copilot also reads a project's .mcp.json, but that is Claude Code's file (claude_code.py writes it), so project scope
uses .github/mcp.json. Copilot loads workspace servers only in a folder the user trusts (`trustedFolders` in
~/.copilot/config.json, or its trust prompt); user servers always load. The entry is what `copilot mcp add` writes
(type "local", tools ["*"]).

No inbox hook: Copilot's hooks (~/.copilot/hooks/*.json) do hand a prompt hook's {"additionalContext": …} to the
model, but not the Claude-shaped {"hookSpecificOutput": {…}} that `session-bridge hook user-prompt-submit` prints
(checked with Copilot 1.0.102 against a stub model). No health check either: `copilot mcp list` only lists the
config, and the one check that connects runs a prompt; so doctor only checks that the configured command exists.

The no-auto-commit guard is a preToolUse hook in a hooks file of our own, $COPILOT_HOME/hooks/session-bridge.json (or
the project's .github/hooks/session-bridge.json): {"version": 1, "hooks": {"preToolUse": [{"type": "command",
"bash": ..., "timeoutSec": 10}]}}. Copilot hands it {"toolName": "bash", "toolArgs": "<the arguments as JSON>"} and
blocks the tool on {"permissionDecision": "deny", "permissionDecisionReason": ...} (GitHub's hooks configuration
reference); `session-bridge hook copilot-pre-tool-use` reads and answers those. init writes the whole file and
uninstall removes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from bridge.hosts.base import NAME, Edit, Health, Host, Where, command_check, json_edit, read


def copilot_home(w: Where) -> Path:
    """$COPILOT_HOME, else ~/.copilot."""
    return Path(os.environ["COPILOT_HOME"]) if os.environ.get("COPILOT_HOME") else w.home / ".copilot"


class Copilot(Host):
    def path(self, w: Where, scope: str) -> Path:
        return copilot_home(w) / "mcp-config.json" if scope == "user" else w.project / ".github" / "mcp.json"

    def hooks_path(self, w: Where, scope: str) -> Path:
        """Our own hooks file, among the user's ($COPILOT_HOME/hooks/) or the repository's (.github/hooks/)."""
        base = copilot_home(w) / "hooks" if scope == "user" else w.project / ".github" / "hooks"
        return base / f"{NAME}.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = {"type": "local", **w.server(tools=["*"])}
        return [json_edit(self.path(w, scope), install, ["mcpServers"], entry), self.guard_edit(w, scope, install)]

    def guard_edit(self, w: Where, scope: str, install: bool) -> Edit:
        """The hooks file with the preToolUse commit guard: written whole by init, removed by uninstall."""
        path = self.hooks_path(w, scope)
        hook = {"type": "command", "bash": w.guard_command("copilot-pre-tool-use"), "timeoutSec": 10}
        env = w.env()
        if env:
            hook["env"] = env
        doc = {"version": 1, "hooks": {"preToolUse": [hook]}}
        before = read(path)
        after = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n" if install else None
        return Edit(path, before, after if install or before is not None else None, "commit guard")

    def health(self, w: Where) -> Health:
        h = command_check(self.title, [self.path(w, s) for s in self.scopes])
        if h.ok is None:
            h.detail = (f"the configured command exists; {self.title} has no offline MCP health check "
                        f"(`copilot mcp list` does not connect)")
        return h


HOST = Copilot("copilot", "Copilot CLI", ("copilot",), ("user", "project"), "the tools + a preToolUse commit guard",
               (".copilot",))
