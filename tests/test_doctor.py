"""The real agent CLIs (npm, in a temporary HOME) read what `init` writes and pass their own MCP health checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mcp_support import BIN, SESSION_BRIDGE, require_tool
from test_init_configs import Machine

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PROVIDERS = ["claude-code", "codex", "gemini-cli", "opencode"]


class RealMachine(Machine):
    """A temporary HOME (and TMPDIR, XDG dirs, CODEX_HOME inside it) with the real agent CLIs on PATH."""

    def __init__(self, tmp: Path, tools: dict[str, str]) -> None:
        super().__init__(tmp)
        (tmp / "tmp").mkdir()
        dirs = dict.fromkeys(str(Path(p).parent) for p in tools.values())
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("BRIDGE_", "CODEX_", "XDG_", "GEMINI_"))}
        self.env.update(HOME=str(self.home), TMPDIR=str(tmp / "tmp"), PROJECT_DIR=str(self.project),
                        XDG_CONFIG_HOME=str(self.home / ".config"), XDG_DATA_HOME=str(self.home / ".local/share"),
                        XDG_CACHE_HOME=str(self.home / ".cache"), XDG_STATE_HOME=str(self.home / ".local/state"),
                        PATH=os.pathsep.join([str(BIN), *dirs, "/usr/bin", "/bin"]))

    def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess:
        return self.host(SESSION_BRIDGE, *args, code=code)

    def host(self, *args: str, code: int | None = 0, **extra: str) -> subprocess.CompletedProcess:
        r = subprocess.run(list(args), env={**self.env, **extra}, capture_output=True, text=True, timeout=120,
                           cwd=self.project, stdin=subprocess.DEVNULL)
        if code is not None:
            assert r.returncode == code, f"{args} exited {r.returncode}: {r.stderr}{r.stdout}"
        return r

    def trust_in_gemini(self, level: str = "TRUST_FOLDER") -> Path:
        """Record the project in Gemini CLI's trusted folders as its "Trust folder" prompt does."""
        path = self.home / ".gemini" / "trustedFolders.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({str(self.project): level}, indent=2))
        return path


@pytest.fixture
def real(tmp_path) -> RealMachine:
    tools = {name: require_tool(name) for name in ("claude", "codex", "gemini", "opencode")}
    return RealMachine(tmp_path, tools)


def line_of(output: str, name: str = "session-bridge") -> str:
    lines = [ln for ln in ANSI.sub("", output).splitlines() if name in ln]
    assert lines, f"{name} not listed in:\n{output}"
    return lines[0]


def test_init_passes_each_hosts_own_health_check_and_uninstall_restores_the_files(real):
    originals = real.place("codex")
    originals.update(real.place("opencode"))
    gemini = real.path("H/.gemini/settings.json")  # the fixture, at user scope this time
    gemini.parent.mkdir(parents=True)
    gemini.write_bytes((Path(__file__).parent / "fixtures/hosts/gemini-cli/settings.json").read_bytes())
    originals[gemini] = gemini.read_bytes()

    real.run("init", *[a for p in PROVIDERS for a in ("--provider", p)])
    real.trust_in_gemini()  # Gemini CLI runs no MCP server in a folder it does not trust

    checks = {
        "claude": ["claude", "mcp", "list"],
        "gemini": ["gemini", "mcp", "list"],
        "opencode": ["opencode", "mcp", "list"],
        "codex": ["codex", "mcp", "list", "--json"],
    }
    with ThreadPoolExecutor(4) as pool:
        runs = dict(zip(checks, pool.map(lambda a: real.host(*a, code=None), checks.values())))
    out = {k: r.stdout + r.stderr for k, r in runs.items()}
    assert "✔ Connected" in line_of(out["claude"])
    assert f"{SESSION_BRIDGE} mcp" in line_of(out["claude"])
    assert "Connected" in line_of(out["gemini"]) and "Disconnected" not in line_of(out["gemini"])
    assert "connected" in line_of(out["opencode"]).lower()
    listed = {s["name"]: s for s in json.loads(runs["codex"].stdout)}
    assert listed["session-bridge"]["transport"]["command"] == SESSION_BRIDGE
    assert listed["session-bridge"]["transport"]["args"] == ["mcp"]
    assert listed["docs"]["transport"]["args"] == ["--docs"]  # the user's own server is still read

    # The inbox hooks init wrote run and answer with JSON (nothing waits: an empty answer).
    codex_hooks = json.loads(real.path("H/.codex/hooks.json").read_text())
    for command in (codex_hooks["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"],):
        r = subprocess.run(command, shell=True, input="{}", capture_output=True, text=True, timeout=30, env=real.env)
        assert r.returncode == 0 and isinstance(json.loads(r.stdout), dict)

    report = json.loads(real.run("doctor", "--json").stdout)
    rows = {r["provider"]: r for r in report["hosts"]}
    for provider in PROVIDERS:
        assert rows[provider]["health"] is True, rows[provider]
        assert rows[provider]["configured"] == ["user"]

    real.run("uninstall", *[a for p in PROVIDERS for a in ("--provider", p)])
    for path, before in originals.items():
        assert path.read_bytes() == before, path
    claude_state = json.loads((real.home / ".claude.json").read_text())
    assert "session-bridge" not in (claude_state.get("mcpServers") or {})


def test_doctor_reports_a_server_that_cannot_start_with_the_fix(real):
    """A config that points at a command that no longer exists fails the host's own check, and doctor says so."""
    settings = real.path("H/.config/opencode/opencode.json")
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"mcp": {"session-bridge": {
        "type": "local", "command": ["/gone/bin/session-bridge", "mcp"], "enabled": True}}}))
    r = real.run("doctor", "--provider", "opencode", code=1)
    row = next(ln for ln in r.stdout.splitlines() if ln.startswith("opencode"))
    assert "FAILED" in row and "session-bridge init --provider opencode" in row


def test_doctor_tells_the_truth_about_geminis_trusted_folder(real):
    """Gemini CLI disables every MCP server in a folder it does not trust: doctor must not say ok there (it used to
    force trust for its own check), and names how to trust the folder."""
    real.run("init", "--provider", "gemini-cli")
    trusted_folders = real.home / ".gemini" / "trustedFolders.json"

    def gemini_line() -> str:
        r = real.host("gemini", "mcp", "list", code=None)
        return line_of(r.stdout + r.stderr)

    def doctor(code: int) -> tuple[dict, str]:
        row = json.loads(real.run("doctor", "--provider", "gemini-cli", "--json", code=code).stdout)["hosts"][0]
        table = real.run("doctor", "--provider", "gemini-cli", code=code).stdout
        return row, next(ln for ln in table.splitlines() if ln.startswith("Gemini CLI"))

    # Untrusted (no trusted-folders file yet): Gemini itself lists the server as Disabled.
    assert "Disabled" in gemini_line()
    row, line = doctor(1)
    assert row["health"] is False and row["configured"] == ["user"]
    assert f"does not trust the folder {real.project}" in row["detail"] and "Disabled" in row["detail"]
    assert f'"{real.project}": "TRUST_FOLDER"' in row["fix"] and str(trusted_folders) in row["fix"]
    assert "Trust folder" in row["fix"] and "the server does not start" not in row["fix"]
    assert "FAILED" in line and row["fix"] in line

    # Distrusted explicitly (the prompt's "Don't trust"): the fix says to change that entry.
    real.trust_in_gemini("DO_NOT_TRUST")
    assert "Disabled" in gemini_line()
    row, line = doctor(1)
    assert "DO_NOT_TRUST" in row["detail"] and f'set "{real.project}" to "TRUST_FOLDER"' in row["fix"]

    # Trusted as the CLI records it: Gemini connects, and doctor says ok.
    real.trust_in_gemini()
    assert "Connected" in gemini_line()
    row, line = doctor(0)
    assert row["health"] is True and row["fix"] == "" and "Connected" in row["detail"]
    assert line.split()[:5] == ["Gemini", "CLI", "yes", "user", "ok"]
