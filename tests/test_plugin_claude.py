"""The plugin in the real Claude Code CLI (npm @anthropic-ai/claude-code), offline, on a fresh HOME.

`claude plugin validate --strict` must be clean; `claude plugin marketplace add <clone>` + `claude plugin install`
must work; the installed copy must bootstrap its private install on first use and run /bridge's commands; and
`claude -p` (which fires SessionStart, UserPromptSubmit and SessionEnd before it finds it is not logged in) must run
our hooks from hooks.json: bind the project's bridge session, hand the peer's query to the model once, and stop the
session on exit. What Claude did is read from its own transcript.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from claude_support import (MARKETPLACE, PLUGIN, base_python_bin, clean_env, export_tree, install_plugin, run,
                            transcript_context)
from support import REPO, require_tool


@pytest.fixture(scope="module")
def claude() -> str:
    return require_tool("claude")


def test_plugin_and_marketplace_validate_strict_with_no_warnings(claude, tmp_path):
    env = clean_env(tmp_path, tmp_path)
    for target in (REPO / ".claude-plugin" / "plugin.json", REPO):
        r = run([claude, "plugin", "validate", str(target), "--strict"], env)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "Validation passed" in out
        assert "warning" not in out.lower() and "error" not in out.lower(), out


def test_install_from_marketplace_bootstraps_and_claude_runs_the_hooks(claude, bridge, hosts, tmp_path):
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    tree = export_tree(tmp_path / "clone")
    env = clean_env(home, tmp)
    install_path = install_plugin(claude, env, tree)
    r = run([claude, "plugin", "details", f"{PLUGIN}@{MARKETPLACE}"], env)
    assert "Skills (2)  bridge, bridge-awareness" in r.stdout, r.stdout
    assert "Hooks (5)  SessionStart, UserPromptSubmit, PreToolUse, SessionEnd, Stop" in r.stdout, r.stdout

    # first /bridge start in the installed copy: no session-bridge on PATH, so it installs itself, once
    pip_cache = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    user = dict(env, PATH=f"{base_python_bin(tmp_path)}:/usr/bin:/bin", BRIDGE_DIR=str(bridge.root),
                PIP_CACHE_DIR=pip_cache)
    lib_dir = bridge.project("lib")
    crashed = hosts()
    r = run([str(install_path / "scripts" / "session-bridge"), "start", "--label", "library"],
            dict(user, BRIDGE_HOST_PID=crashed.pid), cwd=lib_dir, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "session-bridge: first use: installing from" in r.stderr and "installed in" in r.stderr
    lib = r.stdout.split()[3]
    assert r.stdout.startswith(f"Started bridge session {lib} for lib (label library).")
    assert (home / ".local" / "share" / "session-bridge" / "venv" / "bin" / "session-bridge").exists()
    # later calls, from either copy of the plugin, start at once
    for root in (install_path, tree):
        r = run([str(root / "scripts" / "session-bridge"), "status"], dict(user, BRIDGE_HOST_PID=crashed.pid),
                cwd=lib_dir)
        assert (r.returncode, r.stderr) == (0, ""), r.stderr
        assert r.stdout.startswith(f"Session {lib} (library)")
    crashed.exit()  # the Claude session that started it is gone; the next one in this project takes it over

    claude_env = dict(env, PATH=f"{Path(claude).parent}:/usr/bin:/bin", BRIDGE_DIR=str(bridge.root))
    # a project with no bridge session: the hooks run and add nothing
    run([claude, "-p", "hello"], claude_env, cwd=bridge.project("plain"))
    assert transcript_context(home) == {}

    app = bridge.start("app", "app")
    sent = bridge.cli("app", "send", lib, "query", "What replaced getUser()?", "--json", check=True)
    q = orjson.loads(sent.stdout)["message"]
    run([claude, "-p", "hello"], claude_env, cwd=lib_dir)
    got = transcript_context(home)
    assert len(got["SessionStart"]) == 1 and f"this Claude Code session is bridge session {lib} (library)" in \
        got["SessionStart"][0]
    [prompt] = got["UserPromptSubmit"]
    assert f"[query] from app ({app}) · {q['id']}\nWhat replaced getUser()?\n" in prompt
    assert f"{tree}/scripts/session-bridge reply {q['id']}" in prompt
    # `claude -p` ends with SessionEnd (reason "other"): the session is stopped and its peer told
    assert not (bridge.root / "sessions" / lib).exists()
    ended = orjson.loads(bridge.cli("app", "listen", "--json", "--timeout", "5", check=True).stdout)["message"]
    assert (ended["type"], ended["from"]) == ("session-ended", lib)
