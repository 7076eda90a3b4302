"""`session-bridge init / uninstall` on fixture configs of each host: what is added, and that nothing else changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import tomlkit

from bridge.hosts import jsonc
from mcp_support import BIN, FIXTURES, SESSION_BRIDGE

HOSTS = FIXTURES / "hosts"
# provider -> (scope, {fixture file: where the host reads it; H = home, P = project})
CASES = {
    "claude-code": ("project", {".mcp.json": "P/.mcp.json"}),
    "codex": ("user", {"config.toml": "H/.codex/config.toml", "hooks.json": "H/.codex/hooks.json"}),
    "gemini-cli": ("project", {"settings.json": "P/.gemini/settings.json"}),
    "cursor": ("user", {"mcp.json": "H/.cursor/mcp.json", "hooks.json": "H/.cursor/hooks.json"}),
    "opencode": ("user", {"opencode.jsonc": "H/.config/opencode/opencode.jsonc"}),
    "cline": ("user", {"cline_mcp_settings.json": "H/.cline/data/settings/cline_mcp_settings.json"}),
}
HOOK = f"{SESSION_BRIDGE} hook user-prompt-submit"
GUARD_EVENTS = ("pre-tool-use", "before-tool", "before-shell-execution", "copilot-pre-tool-use")  # the commit guard


def guard(event: str = "pre-tool-use") -> str:
    """The no-auto-commit guard's command as init writes it for a host (event: the host's answer format)."""
    return f"{SESSION_BRIDGE} hook {event}"


def is_ours(hook: dict) -> bool:
    text = json.dumps(hook)
    return "hook user-prompt-submit" in text or "cursor-hook" in text or any(f"hook {e}\"" in text
                                                                             for e in GUARD_EVENTS)


class Machine:
    """A temporary HOME and project, with only session-bridge (no agent CLI) on PATH."""

    def __init__(self, tmp: Path) -> None:
        self.home, self.project = tmp / "home", tmp / "project"
        self.home.mkdir()
        self.project.mkdir()

    def path(self, where: str) -> Path:
        base, rest = where.split("/", 1)
        return (self.home if base == "H" else self.project) / rest

    def place(self, provider: str) -> dict[Path, bytes]:
        """Copy the provider's fixtures where the host reads them; returns their original bytes."""
        placed = {}
        for name, where in CASES[provider][1].items():
            dest = self.path(where)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HOSTS / provider / name, dest)
            placed[dest] = dest.read_bytes()
        return placed

    def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "CODEX_", "XDG_"))}
        env.update(HOME=str(self.home), PROJECT_DIR=str(self.project), PATH=f"{BIN}:/usr/bin:/bin")
        r = subprocess.run([SESSION_BRIDGE, *args], env=env, capture_output=True, text=True, timeout=60,
                           cwd=self.project)
        assert r.returncode == code, f"{args} exited {r.returncode}: {r.stderr}{r.stdout}"
        return r


@pytest.fixture
def machine(tmp_path) -> Machine:
    return Machine(tmp_path)


def parsed(path: Path) -> dict:
    text = path.read_text()
    return tomlkit.parse(text).unwrap() if path.suffix == ".toml" else jsonc.loads(text)


def server_entry(provider: str, config: dict) -> dict | None:
    if provider == "codex":
        return (config.get("mcp_servers") or {}).get("session-bridge")
    if provider == "opencode":
        return (config.get("mcp") or {}).get("session-bridge")
    return (config.get("mcpServers") or {}).get("session-bridge")


def command_of(provider: str, entry: dict) -> list[str]:
    return entry["command"] if provider == "opencode" else [entry["command"], *entry["args"]]


def without_ours(config: dict) -> dict:
    """The config with everything init adds taken out again (to compare the rest)."""
    out = json.loads(json.dumps(config))
    for key in ("mcp_servers", "mcp", "mcpServers"):
        if isinstance(out.get(key), dict):
            out[key].pop("session-bridge", None)
            if not out[key]:
                del out[key]
    hooks = out.get("hooks") if isinstance(out.get("hooks"), dict) else {}
    for event in list(hooks):
        hooks[event] = [h for h in hooks[event] if not is_ours(h)]
        if not hooks[event]:
            del hooks[event]
    if "hooks" in out and not out["hooks"]:
        del out["hooks"]
    return out


def hook_commands(config: dict, event: str) -> list[str]:
    return [h["command"] for group in (config.get("hooks") or {}).get(event, []) for h in group["hooks"]]


@pytest.mark.parametrize("provider", CASES)
def test_init_then_uninstall_leaves_each_config_byte_identical(machine, provider):
    scope = CASES[provider][0]
    originals = machine.place(provider)

    out = machine.run("init", "--provider", provider, "--scope", scope).stdout
    assert "added" in out
    for path, before in originals.items():
        after = parsed(path)
        assert without_ours(after) == without_ours(parsed_bytes(before, path))  # every other setting kept
        for line in before.decode().splitlines():  # ... and every comment
            if "//" in line or line.lstrip().startswith(("#", "/*")):
                assert line.split("//")[-1].split("#")[-1].strip() in path.read_text()
        assert path.with_name(path.name + ".session-bridge.bak").read_bytes() == before

    config = {p.name: parsed(p) for p in originals}
    main = next(c for c in config.values() if server_entry(provider, c))
    assert command_of(provider, server_entry(provider, main)) == [SESSION_BRIDGE, "mcp"]
    if provider == "codex":
        assert hook_commands(config["hooks.json"], "UserPromptSubmit")[0] == HOOK
        assert hook_commands(config["hooks.json"], "Stop") == ["notify-send 'codex is done'"]
        # the commit guard on Codex's shell tool, which its hooks match as "Bash"
        assert config["hooks.json"]["hooks"]["PreToolUse"] == [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": guard(), "timeout": 10}]}]
    if provider == "gemini-cli":
        assert hook_commands(main, "BeforeAgent") == [HOOK]
        [before_tool] = main["hooks"]["BeforeTool"]
        assert before_tool["matcher"] == "run_shell_command" and hook_commands(main, "BeforeTool") == [
            guard("before-tool")]
        assert before_tool["hooks"][0]["timeout"] == 10000  # milliseconds in Gemini CLI
    if provider == "cursor":
        stop = config["hooks.json"]["hooks"]["stop"]
        assert [h["command"] for h in stop] == [f"{SESSION_BRIDGE} cursor-hook", "./hooks/notify.sh"]
        assert config["hooks.json"]["hooks"]["beforeShellExecution"] == [{"command": guard("before-shell-execution")}]
        assert config["hooks.json"]["hooks"]["afterFileEdit"] == [{"command": "./hooks/format.sh"}]

    installed = {p: p.read_bytes() for p in originals}
    again = machine.run("init", "--provider", provider, "--scope", scope).stdout
    assert "already configured" in again and "added" not in again
    assert {p: p.read_bytes() for p in originals} == installed

    machine.run("uninstall", "--provider", provider, "--scope", scope)
    for path, before in originals.items():
        assert path.read_bytes() == before


def parsed_bytes(data: bytes, path: Path) -> dict:
    text = data.decode()
    return tomlkit.parse(text).unwrap() if path.suffix == ".toml" else jsonc.loads(text)


@pytest.mark.parametrize("provider", CASES)
def test_init_creates_a_missing_config_and_uninstall_removes_it_again(machine, provider):
    scope = CASES[provider][0]
    machine.run("init", "--provider", provider, "--scope", scope)
    paths = [machine.path(w) for w in CASES[provider][1].values()]
    if provider == "opencode":
        paths = [machine.home / ".config" / "opencode" / "opencode.json"]  # a new file gets the plain name
    main = parsed(paths[0])
    assert command_of(provider, server_entry(provider, main)) == [SESSION_BRIDGE, "mcp"]
    if provider == "opencode":
        assert server_entry(provider, main)["type"] == "local" and server_entry(provider, main)["enabled"] is True

    machine.run("uninstall", "--provider", provider, "--scope", scope)
    assert [p for p in paths if p.exists()] == []


@pytest.mark.parametrize("provider", CASES)
def test_a_stale_entry_is_updated_in_place(machine, provider):
    """Already installed from an old location (e.g. a moved venv): init points it at this command, nothing else."""
    scope = CASES[provider][0]
    originals = machine.place(provider)
    machine.run("init", "--provider", provider, "--scope", scope)
    for path in originals:
        path.write_text(path.read_text().replace(SESSION_BRIDGE, "/old/venv/bin/session-bridge"))
    stale = {p: p.read_text() for p in originals}

    machine.run("init", "--provider", provider, "--scope", scope)
    for path, text in stale.items():
        assert path.read_text() == text.replace("/old/venv/bin/session-bridge", SESSION_BRIDGE)
    machine.run("uninstall", "--provider", provider, "--scope", scope)
    for path, before in originals.items():
        assert path.read_bytes() == before


def test_dry_run_prints_the_diff_and_writes_nothing(machine):
    originals = machine.place("gemini-cli")
    out = machine.run("init", "--provider", "gemini-cli", "--scope", "project", "--dry-run").stdout
    assert "+    \"session-bridge\": {" in out and f'+      "command": "{SESSION_BRIDGE}",' in out
    assert "BeforeAgent" in out
    assert {p: p.read_bytes() for p in originals} == originals
    assert not list(machine.project.rglob("*.bak"))


def test_a_broken_config_is_left_alone_with_a_one_line_error(machine):
    path = machine.path("H/.cursor/mcp.json")
    path.parent.mkdir(parents=True)
    path.write_text('{"mcpServers": {"x": }')
    r = machine.run("init", "--provider", "cursor", code=1)
    assert r.stderr.count("\n") == 1
    assert str(path) in r.stderr and "not valid JSON" in r.stderr and "line 1" in r.stderr
    assert path.read_text() == '{"mcpServers": {"x": }'


def test_codex_refuses_project_scope_and_names_the_fix(machine):
    r = machine.run("init", "--provider", "codex", "--scope", "project", code=1)
    assert "--scope user" in r.stderr


def test_without_provider_only_installed_clis_are_configured(machine):
    r = machine.run("init", code=1)
    assert "found no agent CLI" in r.stderr and "--provider" in r.stderr

    (machine.home / ".cursor").mkdir()  # Cursor (the editor) installed; nothing else
    out = machine.run("init").stdout
    assert out.startswith("Cursor: added MCP server")
    assert not (machine.home / ".codex").exists() and not (machine.home / ".gemini").exists()


def test_all_configures_every_cli_and_json_output_names_each_file(machine):
    report = json.loads(machine.run("init", "--all", "--scope", "user", "--json", code=1).stdout)
    by = {r["provider"]: r for r in report}
    assert len(by) == 10 and set(CASES) <= set(by)
    # a CLI that reads no user-level servers is skipped with the command that configures it, not an error
    assert by["grok"]["skipped"].endswith("use --provider grok --scope project") and not by["grok"]["files"]
    # Claude Code's user config is changed only through the claude command, which is not installed here.
    assert "claude command is not on PATH" in by["claude-code"]["error"]
    for provider in set(CASES) - {"claude-code"}:
        assert by[provider]["files"] and all(f["changed"] for f in by[provider]["files"])


def test_doctor_lists_every_host_with_the_fix(machine):
    (machine.home / ".cursor").mkdir()
    machine.run("init", "--provider", "cursor")
    report = json.loads(machine.run("doctor", "--json").stdout)
    rows = {r["provider"]: r for r in report["hosts"]}
    assert report["version"] == 1 and report["command"] == SESSION_BRIDGE
    assert rows["cursor"]["configured"] == ["user"] and rows["cursor"]["fix"] == ""
    assert rows["codex"]["installed"] is None
    assert rows["codex"]["fix"] == "install Codex, then: session-bridge init --provider codex"
    assert rows["cursor"]["health"] is None and "no MCP health check" in rows["cursor"]["detail"]

    # The venv moved: the config points at a command that is gone.
    config = machine.path("H/.cursor/mcp.json")
    config.write_text(config.read_text().replace(SESSION_BRIDGE, "/old/venv/bin/session-bridge"))
    broken = json.loads(machine.run("doctor", "--json", code=1).stdout)
    row = next(r for r in broken["hosts"] if r["provider"] == "cursor")
    assert row["health"] is False and "/old/venv/bin/session-bridge" in row["detail"]
    assert "session-bridge init --provider cursor" in row["fix"]
    machine.run("init", "--provider", "cursor")
    table = machine.run("doctor").stdout.splitlines()
    assert table[0].split() == ["HOST", "INSTALLED", "CONFIGURED", "HEALTH", "FIX", "/", "DETAIL"]
    rows, after = table[1:11], table[11:]  # the ten agent CLIs, then how each installed one wakes an idle session
    assert not any(" wakes: " in r for r in rows)
    assert after and all(" wakes: " in line for line in after)
    assert any(line.startswith("Cursor wakes: no wake primitive") for line in after)


def test_a_config_that_is_a_symlink_stays_one(machine):
    """Dotfile managers link configs into HOME: init edits the file behind the link, not the link."""
    dotfiles = machine.home / "dotfiles" / "mcp.json"
    dotfiles.parent.mkdir()
    shutil.copyfile(HOSTS / "cursor" / "mcp.json", dotfiles)
    link = machine.path("H/.cursor/mcp.json")
    link.parent.mkdir()
    link.symlink_to(dotfiles)
    mode = dotfiles.stat().st_mode

    machine.run("init", "--provider", "cursor")
    assert link.is_symlink() and server_entry("cursor", parsed(dotfiles))["command"] == SESSION_BRIDGE
    assert dotfiles.stat().st_mode == mode
    machine.run("uninstall", "--provider", "cursor")
    assert link.is_symlink() and dotfiles.read_bytes() == (HOSTS / "cursor" / "mcp.json").read_bytes()
