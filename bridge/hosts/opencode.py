"""opencode: `mcp` (type local) in ~/.config/opencode/opencode.json[c] or ./opencode.json[c]."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bridge.hosts.base import Edit, Health, Host, Where, json_edit, listed

class OpenCode(Host):
    def path(self, w: Where, scope: str) -> Path:
        base = w.xdg_config / "opencode" if scope == "user" else w.project
        for name in ("opencode.jsonc", "opencode.json"):
            if (base / name).exists():
                return base / name
        return base / "opencode.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = {"type": "local", "command": [w.command, "mcp"], "enabled": True}
        if w.env():
            entry["environment"] = w.env()
        return [json_edit(self.path(w, scope), install, ["mcp"], entry)]

    def health(self, w: Where) -> Health:
        if not shutil.which("opencode"):
            return Health(None, "opencode is not on PATH")
        return listed(["opencode", "mcp", "list"], w, re.compile(r"\bconnected\b", re.I))


HOST = OpenCode("opencode", "opencode", ("opencode",), ("user", "project"), "the tools")
