"""Amp: `amp.mcpServers` in ~/.config/amp/settings.json ($XDG_CONFIG_HOME) or the project's .amp/settings.json.

The key is the one flat name "amp.mcpServers" (VS Code style), as `amp mcp add` writes it. Servers from a project's
.amp/settings.json wait for the user's approval (`amp mcp approve`, stored in the user settings); init does not
approve on the user's behalf, and the health check names that fix. Amp has no shell hooks (only experimental
TypeScript plugins), so messages come through the tools. The health check is `amp mcp doctor session-bridge`, which
really connects; without an API key it starts a browser login and waits, so it runs with a dummy AMP_API_KEY when
the environment has none, and with no stdin. It exits 0 even when a server fails, so we read our server's line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bridge.hosts.base import NAME, Edit, Health, Host, Where, json_edit, plain, run

DOCTOR = ["amp", "mcp", "doctor", NAME]
KEY = ["amp.mcpServers"]
LINE = re.compile(r"^" + re.escape(NAME) + r" \([^)]*\):\s*(.*)$")  # "session-bridge (user settings): connected (…)"


class Amp(Host):
    def path(self, w: Where, scope: str) -> Path:
        return (w.xdg_config / "amp" if scope == "user" else w.project / ".amp") / "settings.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        return [json_edit(self.path(w, scope), install, KEY, w.server())]

    def health(self, w: Where) -> Health:
        """`amp mcp doctor session-bridge` in the project: it starts the server and lists its tools."""
        if not shutil.which("amp"):
            return Health(None, "amp is not on PATH")
        extra = {} if os.environ.get("AMP_API_KEY") else {"AMP_API_KEY": "session-bridge-doctor"}
        try:
            r = run(DOCTOR, w, **extra)
        except (OSError, subprocess.TimeoutExpired) as e:
            return Health(False, f"`{' '.join(DOCTOR)}` did not finish: {e}")
        lines = [ln.strip() for ln in plain(r.stdout + r.stderr).splitlines()]
        ours = [(ln, m.group(1)) for ln in lines if (m := LINE.search(ln))]
        if not ours:
            return Health(False, f"`{' '.join(DOCTOR)}` does not list {NAME}")
        line, state = ours[-1]  # after "reconnecting (attempt n …)" lines comes the verdict
        if state.startswith("connected"):
            return Health(True, line)
        if "awaiting approval" in state:
            return Health(False, line, f"approve the project's server in Amp: run `amp mcp approve {NAME}` "
                                       f"in {w.project}")
        return Health(False, line)


HOST = Amp("amp", "Amp", ("amp",), ("user", "project"), "the tools", (".config/amp",))
