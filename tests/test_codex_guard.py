"""The no-auto-commit guard in the real Codex CLI: `init --provider codex` writes its PreToolUse hook, and a fake
model (tests/fake_responses_api.py) makes Codex run `git commit -m "auto"` through its shell tool.

In a run auto-mode started (`codex exec` with BRIDGE_AUTO=1, as the spawn driver runs a role's command) Codex blocks
the command on the hook's Claude-shaped denial and hands the model our reason; the repository gets no commit. Without
auto-mode the same command commits. The sandbox is off (danger-full-access) so that only the hook can stop it;
`--dangerously-bypass-hook-trust` stands for the user having trusted the hook in Codex's /hooks once.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fake_responses_api import ResponsesApi, exec_command
from support import require_tool
from test_claude_guard import REASON, git, repo_with_a_staged_change
from test_init_configs import SESSION_BRIDGE, guard


@pytest.fixture(scope="module")
def codex() -> str:
    return require_tool("codex")


def commit_with_codex(codex: str, tmp_path: Path, **env: str) -> tuple[Path, str, str]:
    """init --provider codex, then `codex exec` whose model runs `git commit -m "auto"` in a repository with a
    staged change; (the repository, HEAD before, what the model was told the command did)."""
    repo = repo_with_a_staged_change(tmp_path)
    head = git(repo, "rev-parse", "HEAD")

    def policy(req):
        outputs = req.tool_outputs()
        return [exec_command('git commit -m "auto"')] if not outputs else f"result: {outputs[-1]}"

    with ResponsesApi(policy=policy) as api:
        home = api.codex_home(tmp_path / "codex-home")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "CODEX_"))}
        base.update(api.env(home), BRIDGE_DIR=str(tmp_path / "bridge"), HOME=str(tmp_path),
                    PATH=f"{Path(SESSION_BRIDGE).parent}:{Path(codex).parent}:/usr/bin:/bin")
        r = subprocess.run([SESSION_BRIDGE, "init", "--provider", "codex"], env=base, cwd=repo, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert guard() in (home / "hooks.json").read_text()
        r = subprocess.run([codex, "exec", "--json", "--skip-git-repo-check", "--sandbox", "danger-full-access",
                            "--dangerously-bypass-hook-trust", "commit the staged change"], env=dict(base, **env),
                           cwd=repo, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"codex exec exited {r.returncode}: {r.stderr[-2000:]}"
        told = [out for req in api.responses() for out in req.tool_outputs()]
    assert told, f"codex ran no command: {r.stdout[-2000:]}"
    return repo, head, told[-1]


def test_codex_in_a_run_auto_mode_started_cannot_commit(codex, tmp_path):
    repo, head, told = commit_with_codex(codex, tmp_path, BRIDGE_AUTO="1")
    assert git(repo, "rev-parse", "HEAD") == head, "Codex committed in an auto-mode run"
    assert "blocked by PreToolUse hook" in told and REASON in told, told


def test_codex_outside_auto_mode_commits(codex, tmp_path):
    repo, head, told = commit_with_codex(codex, tmp_path)
    assert git(repo, "rev-parse", "HEAD~1") == head and git(repo, "log", "-1", "--format=%s") == "auto", told
