"""Qwen Code: `mcpServers` and hooks in ~/.qwen/settings.json ($QWEN_HOME) or .qwen/settings.json: UserPromptSubmit
(the inbox) and PreToolUse on its shell tool (the no-auto-commit guard).

Qwen Code (a Gemini CLI fork) takes Claude-style hooks in the `hooks` key of settings.json ({"matcher", "hooks":
[{"type": "command", "command", "timeout" in seconds}]}); a UserPromptSubmit hook's
{"hookSpecificOutput": {"additionalContext": …}} reaches the model, and its stdin carries `session_id`, so
`session-bridge hook user-prompt-submit` works as it is. Its PreToolUse reads Claude's answer too
(hookSpecificOutput.permissionDecision "deny" with permissionDecisionReason: Qwen Code 0.24's PreToolUseHookOutput),
so the guard is `session-bridge hook pre-tool-use`, matched on the shell tool's name, run_shell_command. Servers from
a project's .qwen/settings.json wait for the user's approval (`qwen mcp approve`, bound to a hash of the entry); init
does not approve on the user's behalf, and the health check names that fix. The health check is `qwen mcp list`,
which really connects to each server; it exits 0 even when one fails, so we read our server's line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bridge.hosts.base import NAME, Edit, Health, Host, Where, plain, run, settings_edit

LIST = ["qwen", "mcp", "list"]
LINE = re.compile(r"^\S+\s+" + re.escape(NAME) + r":")  # "✓ session-bridge: <command> (stdio) - Connected"
CONNECTED = re.compile(r"- Connected\b")
PENDING = "Pending approval"


def qwen_home(w: Where) -> Path:
    """$QWEN_HOME, else ~/.qwen."""
    return Path(os.environ["QWEN_HOME"]) if os.environ.get("QWEN_HOME") else w.home / ".qwen"


class Qwen(Host):
    def path(self, w: Where, scope: str) -> Path:
        return (qwen_home(w) if scope == "user" else w.project / ".qwen") / "settings.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        hook = {"matcher": "", "hooks": [{"type": "command", "command": w.hook_command(), "timeout": 10}]}
        guard = {"matcher": "run_shell_command", "hooks": [{"type": "command", "command": w.guard_command(),
                                                             "timeout": 10}]}
        path = self.path(w, scope)
        return [settings_edit(path, install, w.server(), (["hooks", "UserPromptSubmit"], hook),
                              (["hooks", "PreToolUse"], guard), what="MCP server, inbox hook and commit guard")]

    def health(self, w: Where) -> Health:
        """`qwen mcp list` in the project: it connects to each server and marks ours Connected or not."""
        if not shutil.which("qwen"):
            return Health(None, "qwen is not on PATH")
        try:
            r = run(LIST, w)
        except (OSError, subprocess.TimeoutExpired) as e:
            return Health(False, f"`{' '.join(LIST)}` did not finish: {e}")
        lines = [ln.strip() for ln in plain(r.stdout + r.stderr).splitlines()]
        line = next((ln for ln in lines if LINE.search(ln)), None)
        if line is None:
            return Health(False, f"`{' '.join(LIST)}` does not list {NAME}")
        if CONNECTED.search(line):
            return Health(True, line)
        if PENDING in line:
            return Health(False, line, f"approve the project's server in Qwen Code: run `qwen mcp approve {NAME}` "
                                       f"in {w.project}")
        return Health(False, line)


HOST = Qwen("qwen-code", "Qwen Code", ("qwen",), ("user", "project"),
            "the tools + a UserPromptSubmit inbox hook + a PreToolUse commit guard", (".qwen",))
