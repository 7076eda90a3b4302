"""Grok CLI, Copilot CLI, Qwen Code and Amp: `init` / `uninstall` on fixture-like configs (byte for byte), and each
CLI's own health check, run for real (npm, in a temporary HOME) through `session-bridge doctor`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mcp_support import SESSION_BRIDGE, require_tool
from test_doctor import RealMachine
from test_init_configs import HOOK, Machine, guard

GONE = "/gone/bin/session-bridge"

# Configs as users have them (H = home, P = project): our entry goes in among their own servers and settings.
FIXTURES = {
    "grok": {"project": ("P/.grok/settings.json", """\
{
  "model": "grok-4-latest",
  "mcpServers": {
    "linear": {
      "name": "linear",
      "transport": {"type": "stdio", "command": "npx", "args": ["-y", "linear-mcp"], "env": {"LINEAR_KEY": "k"}}
    }
  }
}
""")},
    "copilot": {
        "user": ("H/.copilot/mcp-config.json", """\
{
  "mcpServers": {
    "playwright": {
      "type": "local",
      "command": "npx",
      "args": ["@playwright/mcp@latest"],
      "tools": ["*"]
    }
  }
}
"""),
        "project": ("P/.github/mcp.json", '{"mcpServers": {"docs": {"command": "./bin/docs-mcp", "args": []}}}\n'),
    },
    "qwen-code": {
        "user": ("H/.qwen/settings.json", """\
{
  // my Qwen settings
  "model": {"name": "qwen3-coder-plus"},
  "hooks": {
    "UserPromptSubmit": [
      {"matcher": "", "hooks": [{"type": "command", "command": "./hooks/log-prompt.sh"}]}
    ],
    "Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "notify-send done"}]}]
  },
  "mcpServers": {
    "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."], "trust": false}
  }
}
"""),
        "project": ("P/.qwen/settings.json", '{\n\t"tools": {"sandbox": false}\n}'),
    },
    "amp": {
        "user": ("H/.config/amp/settings.json", """\
{
    "amp.dangerouslyAllowAll": false,
    "amp.mcpServers": {
        "postgres": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-postgres"]}
    },
    "amp.notifications.enabled": true
}
"""),
        "project": ("P/.amp/settings.json", '{"amp.tools.disable": ["browser_navigate"]}\n'),
    },
}
CASES = [(provider, scope) for provider, scopes in FIXTURES.items() for scope in scopes]
SERVERS_KEY = {"amp": "amp.mcpServers"}


def load(path: Path) -> dict:
    from bridge.hosts import jsonc

    return jsonc.loads(path.read_text())


def ours(provider: str, config: dict) -> dict:
    return config[SERVERS_KEY.get(provider, "mcpServers")]["session-bridge"]


def place(m: Machine, provider: str, scope: str) -> tuple[Path, bytes]:
    where, text = FIXTURES[provider][scope]
    path = m.path(where)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path, path.read_bytes()


@pytest.fixture
def machine(tmp_path) -> Machine:
    return Machine(tmp_path)


@pytest.mark.parametrize(("provider", "scope"), CASES)
def test_init_then_uninstall_gives_the_file_back_byte_for_byte(machine, provider, scope):
    path, before = place(machine, provider, scope)
    user_servers = set(load(path).get(SERVERS_KEY.get(provider, "mcpServers"), {}))

    dry = machine.run("init", "--provider", provider, "--scope", scope, "--dry-run").stdout
    assert f'"command": "{SESSION_BRIDGE}"' in dry
    assert path.read_bytes() == before and not list(path.parent.glob("*.bak"))

    assert "added" in machine.run("init", "--provider", provider, "--scope", scope).stdout
    config = load(path)
    entry = ours(provider, config)
    assert set(config[SERVERS_KEY.get(provider, "mcpServers")]) == user_servers | {"session-bridge"}
    if provider == "grok":  # Grok goes by the entry's name, and wants the nested transport object
        assert entry == {"name": "session-bridge",
                         "transport": {"type": "stdio", "command": SESSION_BRIDGE, "args": ["mcp"], "env": {}}}
        assert config["model"] == "grok-4-latest"
    else:
        assert [entry["command"], *entry["args"]] == [SESSION_BRIDGE, "mcp"]
    if provider == "copilot":
        assert entry["type"] == "local" and entry["tools"] == ["*"]
    if provider == "qwen-code":  # the inbox hook goes before the user's own, theirs untouched
        prompt = config["hooks"]["UserPromptSubmit"]
        commands = [h["command"] for group in prompt for h in group["hooks"]]
        assert commands == [HOOK, *(["./hooks/log-prompt.sh"] if scope == "user" else [])]
        assert prompt[0]["hooks"][0]["timeout"] == 10  # seconds in Qwen Code
        # the commit guard on Qwen Code's shell tool (Claude-shaped answers)
        assert config["hooks"]["PreToolUse"] == [{"matcher": "run_shell_command", "hooks": [
            {"type": "command", "command": guard(), "timeout": 10}]}]
    hooks_file = machine.path("H/.copilot/hooks/session-bridge.json" if scope == "user"
                              else "P/.github/hooks/session-bridge.json")
    if provider == "copilot":  # the commit guard, in a hooks file of our own
        assert json.loads(hooks_file.read_text()) == {"version": 1, "hooks": {"preToolUse": [
            {"type": "command", "bash": guard("copilot-pre-tool-use"), "timeoutSec": 10}]}}
    assert path.with_name(path.name + ".session-bridge.bak").read_bytes() == before

    installed = path.read_bytes()
    again = machine.run("init", "--provider", provider, "--scope", scope).stdout
    assert "already configured" in again and path.read_bytes() == installed

    machine.run("uninstall", "--provider", provider, "--scope", scope)
    assert path.read_bytes() == before and not hooks_file.exists()
    assert "not configured" in machine.run("uninstall", "--provider", provider, "--scope", scope).stdout


@pytest.mark.parametrize(("provider", "scope"), CASES)
def test_init_creates_a_missing_config_and_uninstall_removes_it(machine, provider, scope):
    path = machine.path(FIXTURES[provider][scope][0])
    machine.run("init", "--provider", provider, "--scope", scope)
    assert ours(provider, load(path))
    machine.run("uninstall", "--provider", provider, "--scope", scope)
    assert not path.exists()


def test_grok_reads_servers_only_from_the_project(machine):
    r = machine.run("init", "--provider", "grok", code=1)
    assert r.stderr.count("\n") == 1 and "--scope project" in r.stderr
    assert not list(machine.home.rglob("*")) and not list(machine.project.rglob("*"))


def test_doctor_lists_ten_agents(machine):
    report = json.loads(machine.run("doctor", "--json").stdout)
    assert [r["provider"] for r in report["hosts"]] == [
        "claude-code", "codex", "gemini-cli", "opencode", "cursor", "cline", "grok", "copilot", "qwen-code", "amp"]


# --- the real CLIs -----------------------------------------------------------------------------------------------


class NewMachine(RealMachine):
    def __init__(self, tmp: Path, tools: dict[str, str]) -> None:
        super().__init__(tmp, tools)
        for k in [k for k in self.env if k.startswith(("COPILOT_", "QWEN_", "AMP_", "GROK_"))]:
            del self.env[k]  # AMP_API_KEY too: doctor must get by without the user's key

    def doctor(self, provider: str, code: int = 0) -> dict:
        return json.loads(self.run("doctor", "--provider", provider, "--json", code=code).stdout)["hosts"][0]

    def break_command(self, path: Path) -> None:
        """The configured session-bridge moved away (e.g. a deleted venv)."""
        path.write_text(path.read_text().replace(SESSION_BRIDGE, GONE))


def real(tmp_path: Path, name: str) -> NewMachine:
    return NewMachine(tmp_path, {name: require_tool(name)})


def test_grok_mcp_test_connects_and_doctor_stops_it(tmp_path):
    m = real(tmp_path, "grok")
    m.run("init", "--provider", "grok", "--scope", "project")
    row = m.doctor("grok")
    assert row["health"] is True and row["configured"] == ["project"], row
    assert "Successfully connected to session-bridge" in row["detail"]
    leftover = subprocess.run(["pgrep", "-f", "grok mcp test session-bridge"], capture_output=True, text=True)
    assert leftover.stdout == ""  # the hanging `grok mcp test` and the server it started are gone

    m.break_command(m.project / ".grok" / "settings.json")
    row = m.doctor("grok", code=1)
    assert row["health"] is False and "Failed to connect to session-bridge" in row["detail"], row
    assert GONE in row["detail"] and "session-bridge init --provider grok" in row["fix"]


def test_qwen_mcp_list_connects_and_a_project_server_waits_for_approval(tmp_path):
    m = real(tmp_path, "qwen")
    m.run("init", "--provider", "qwen-code")
    row = m.doctor("qwen-code")
    assert row["health"] is True and row["detail"].endswith("- Connected"), row

    m.break_command(m.home / ".qwen" / "settings.json")
    row = m.doctor("qwen-code", code=1)
    assert row["health"] is False and "Disconnected" in row["detail"], row
    m.run("uninstall", "--provider", "qwen-code")

    m.run("init", "--provider", "qwen-code", "--scope", "project")
    row = m.doctor("qwen-code", code=1)
    assert row["health"] is False and "Pending approval" in row["detail"], row
    assert "qwen mcp approve session-bridge" in row["fix"]
    m.host("qwen", "mcp", "approve", "session-bridge")
    assert m.doctor("qwen-code")["health"] is True

    # The inbox hook init wrote runs and answers with JSON (nothing waits: an empty answer).
    hook = load(m.project / ".qwen" / "settings.json")["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"]
    r = subprocess.run(hook, shell=True, input='{"session_id": "q1"}', capture_output=True, text=True, timeout=30,
                       env=m.env, cwd=m.project)
    assert r.returncode == 0 and isinstance(json.loads(r.stdout), dict)


def test_amp_mcp_doctor_connects_without_an_api_key(tmp_path):
    m = real(tmp_path, "amp")
    m.run("init", "--provider", "amp")
    row = m.doctor("amp")
    pinned = len(json.loads((Path(__file__).parent / "fixtures" / "mcp_tools.json").read_text()))
    assert row["health"] is True and f"connected ({pinned} tools:" in row["detail"] and "bridge_ask" in row["detail"], row

    m.break_command(m.home / ".config" / "amp" / "settings.json")
    row = m.doctor("amp", code=1)
    assert row["health"] is False and "error" in row["detail"] and GONE in row["detail"], row
    m.run("uninstall", "--provider", "amp")

    m.run("init", "--provider", "amp", "--scope", "project")
    row = m.doctor("amp", code=1)
    assert row["health"] is False and "awaiting approval" in row["detail"], row
    assert "amp mcp approve session-bridge" in row["fix"]


def test_copilot_reads_what_init_writes_and_doctor_checks_the_command(tmp_path_factory, tmp_path):
    m = real(tmp_path, "copilot")
    m.env["COPILOT_PKG_CACHE_HOME"] = str(tmp_path_factory.getbasetemp() / "copilot-pkg")  # unpacked once
    m.run("init", "--provider", "copilot")
    listed = m.host("copilot", "mcp", "list").stdout
    assert "User servers:\n  session-bridge (local)" in listed, listed

    m.run("init", "--provider", "copilot", "--scope", "project")
    config = m.home / ".copilot" / "config.json"  # Copilot loads workspace servers only in a trusted folder
    config.write_text(json.dumps({"trustedFolders": [str(m.project)]}))
    listed = m.host("copilot", "mcp", "list").stdout  # the workspace entry shadows the user's of the same name
    assert "Workspace servers:\n  session-bridge (local)" in listed, listed

    row = m.doctor("copilot")
    assert row["health"] is None and row["configured"] == ["user", "project"], row
    assert "no offline MCP health check" in row["detail"]

    m.break_command(m.project / ".github" / "mcp.json")
    row = m.doctor("copilot", code=1)
    assert row["health"] is False and GONE in row["detail"], row
