"""Installing the Claude Code plugin also gives the MCP server: Claude's own `mcp list` connects to it."""

from __future__ import annotations

import json
import os
import re
import subprocess

from mcp_support import BIN, REPO, SESSION_BRIDGE, require_tool


def test_the_plugin_ships_the_server_and_claude_connects_to_it(tmp_path):
    claude = require_tool("claude")
    manifest = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    servers = json.loads((REPO / manifest["mcpServers"]).read_text())["mcpServers"]
    assert servers["bridge"] == {"command": "${CLAUDE_PLUGIN_ROOT}/scripts/session-bridge", "args": ["mcp"]}

    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "CLAUDE_"))}
    env.update(HOME=str(tmp_path), TMPDIR=str(tmp_path / "tmp"), PATH=f"{BIN}:{os.path.dirname(claude)}:/usr/bin:/bin")

    def run(*args: str) -> str:
        r = subprocess.run([claude, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"claude {' '.join(args)}: {r.stderr}{r.stdout}"
        return r.stdout

    run("plugin", "marketplace", "add", str(REPO))
    run("plugin", "install", "session-bridge@session-bridge")
    listed = [ln for ln in run("mcp", "list").splitlines() if ln.startswith("plugin:session-bridge:bridge")]
    assert len(listed) == 1 and "✔ Connected" in listed[0]
    assert re.search(r"scripts/session-bridge mcp", listed[0])

    # doctor sees the plugin, and init does not add the server a second time.
    def bridge(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([SESSION_BRIDGE, *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)

    report = json.loads(bridge("doctor", "--provider", "claude-code", "--json").stdout)["hosts"][0]
    assert report["configured"] == ["plugin"] and report["health"] is True and report["fix"] == ""
    assert "already configured" in bridge("init", "--provider", "claude-code").stdout
    assert "session-bridge" not in json.loads((tmp_path / ".claude.json").read_text()).get("mcpServers", {})
