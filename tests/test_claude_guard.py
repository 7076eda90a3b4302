"""The no-auto-commit guard in the real Claude Code: a scripted model calls the Bash tool with `git commit -m "auto"`.

Claude Code (npm @anthropic-ai/claude-code, `claude -p`, the plugin installed from a marketplace clone of the working
tree) runs the plugin's PreToolUse hook (plugin/hooks/hooks.json -> scripts/hook -> `session-bridge hook
pre-tool-use`) before the command. In a session auto-mode drives the hook denies it: the repository gets no commit
and the tool result the model receives says why. A session auto-mode does not drive commits as usual (the user
allowed `git commit` once, so nothing else stands in the way). The model is tests/messages_api.py's scripted API.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from claude_support import ClaudeUser
from messages_api import MessagesApi, Request, Turn, bash
from support import require_tool

COMMIT = 'git commit -m "auto"'
REASON = "denied in a session auto-mode drives (no auto-commit)"


@pytest.fixture(scope="module")
def claude() -> str:
    return require_tool("claude")


@pytest.fixture
def user(claude, tmp_path) -> ClaudeUser:
    u = ClaudeUser.create(tmp_path, claude)
    u.allow("Bash(git commit:*)")  # the user allowed commits once: only the guard can stop one
    return u


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def repo_with_a_staged_change(base: Path) -> Path:
    """A git repository with one commit and a change staged for the next."""
    repo = base / "web"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "dev")
    (repo / "app.py").write_text("print('v1')\n")
    git(repo, "add", "app.py")
    git(repo, "commit", "-q", "-m", "v1")
    (repo / "app.py").write_text("print('v2')\n")
    git(repo, "add", "app.py")
    return repo


def committer(req: Request) -> Turn:
    """A model that commits the staged change, then reports what the Bash tool said."""
    done = req.exchanges(since_prompt=True)
    if not done:
        return Turn("Committing the change.", bash(COMMIT, "Commit the staged change"))
    last = done[-1]
    return Turn(f"{'refused' if last.is_error else 'committed'}: {last.output}")


def commit_in(user: ClaudeUser, repo: Path, **env: str):
    """`claude -p` in repo whose model runs `git commit -m "auto"`; (the Bash call's exchange, the run's result)."""
    with MessagesApi(committer) as api:
        proc = subprocess.run([user.claude, "-p", "commit the staged change"], env=user.env(api, **env), cwd=repo,
                              capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
        api.check()
    assert proc.returncode == 0, f"claude -p exited {proc.returncode}: {proc.stderr[-2000:]}"
    calls = [e for r in api.main_requests() for e in r.exchanges() if e.name == "Bash"]
    assert calls and calls[-1].command == COMMIT, api.summary()
    return calls[-1], proc


def start_web(user: ClaudeUser, repo: Path) -> str:
    r = user.bridge_cli(repo, "start", "--room", "shop", "--role", "web", "--json")
    assert r.returncode == 0, r.stderr
    return orjson.loads(r.stdout)["session"]["session_id"]


def test_a_run_auto_mode_started_cannot_commit(user, tmp_path):
    """As the spawn driver starts it: BRIDGE_AUTO=1 and the role's session (its wake policy is manual)."""
    repo = repo_with_a_staged_change(tmp_path)
    sid = start_web(user, repo)
    head = git(repo, "rev-parse", "HEAD")
    call, proc = commit_in(user, repo, BRIDGE_AUTO="1", BRIDGE_SESSION_ID=sid, BRIDGE_ROOM="shop", BRIDGE_ROLE="web")
    assert git(repo, "rev-parse", "HEAD") == head, "the guard let an auto-mode run commit"
    assert git(repo, "diff", "--cached", "--name-only") == "app.py"  # the change is still there, uncommitted
    assert call.is_error and REASON in call.output and "leave the change uncommitted" in call.output, call.output
    assert proc.stdout.startswith("refused: "), proc.stdout


def test_a_session_whose_role_auto_mode_wakes_cannot_commit(user, tmp_path):
    """A live session holding a role turned on (`auto on shop web`): no BRIDGE_AUTO, the settings make it driven."""
    repo = repo_with_a_staged_change(tmp_path)
    start_web(user, repo)
    r = user.bridge_cli(repo, "auto", "on", "shop", "web")
    assert r.returncode == 0, r.stderr
    head = git(repo, "rev-parse", "HEAD")
    call, _ = commit_in(user, repo)  # SessionStart binds claude to the project's session (role web)
    assert git(repo, "rev-parse", "HEAD") == head
    assert call.is_error and REASON in call.output, call.output


def test_a_session_auto_mode_does_not_drive_commits(user, tmp_path):
    """The control: the same role, wake policy manual, no BRIDGE_AUTO: the hook runs and leaves the commit alone."""
    repo = repo_with_a_staged_change(tmp_path)
    sid = start_web(user, repo)
    r = user.bridge_cli(repo, "auto", "set", "shop", "web", "--driver", "spawn")  # settings exist: the CLI decides
    assert r.returncode == 0, r.stderr
    head = git(repo, "rev-parse", "HEAD")
    call, proc = commit_in(user, repo, BRIDGE_SESSION_ID=sid)
    assert not call.is_error, call.output
    assert git(repo, "rev-parse", "HEAD~1") == head and git(repo, "log", "-1", "--format=%s") == "auto"
    assert proc.stdout.startswith("committed: "), proc.stdout
