"""The git pre-commit guard (session-bridge guard install|uninstall|check) with real git and real commits: a commit
touching a path another live session leased exclusively is refused naming the holder, its role@room and reason;
released, stopped, expired and shared leases, and the holder's own, do not block. Install/uninstall round trip, a
foreign hook (refused, or chained with --chain and put back), core.hooksPath, and a CLI that disappeared."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from bridge.leases import CHAINED, MARK
from support import BIN, CLI, require_tool, wait_until


def git(repo: Path, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {r.stderr}")
    return r


def sb(bridge, host, *args: str, cwd: Path | None = None, exe: list[str] | None = None,
       **extra: str) -> subprocess.CompletedProcess:
    """The CLI as the session of project "repo" hosted by `host`, run in the repo."""
    r = subprocess.run([*(exe or CLI), *args], env=bridge.env("repo", BRIDGE_HOST_PID=host.pid, **extra),
                       cwd=cwd or bridge.project("repo"), capture_output=True, text=True, timeout=60)
    r.out, r.err = r.stdout, r.stderr
    return r


def ok(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, r.err + r.out
    return orjson.loads(r.out) if r.out.startswith("{") else {}


@pytest.fixture
def repo(bridge, hosts):
    """A git repo (the project "repo") with one commit, two live sessions in it with their own agents — holder
    (web@shop, "alpha") and committer ("beta") — and the guard installed."""
    require_tool("git")
    path = bridge.project("repo")
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.com")
    (path / ".git" / "info" / "exclude").write_text(".claude/\n")  # the bridge's pointer file
    (path / "src").mkdir()
    (path / "src" / "auth.py").write_text("x = 1\n")
    (path / "README.md").write_text("hello\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    holder, committer = hosts(), hosts()
    a = ok(sb(bridge, holder, "start", "--json", "--label", "alpha", "--room", "shop", "--role", "web"))
    b = ok(sb(bridge, committer, "start", "--json", "--label", "beta"))
    ok(sb(bridge, committer, "guard", "install"))
    return path, (holder, a["session"]["session_id"]), (committer, b["session"]["session_id"])


def commit(bridge, host, repo: Path, *files: str, message: str = "change") -> subprocess.CompletedProcess:
    """Change and stage `files`, then run a real `git commit` as the session of `host`."""
    for f in files:
        with open(repo / f, "a") as out:
            out.write(f"{message}\n")
    git(repo, "add", *files)
    return git(repo, "commit", "-m", message, env=bridge.env("repo", BRIDGE_HOST_PID=host.pid), check=False)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def test_a_commit_touching_an_exclusively_leased_file_is_refused_until_it_is_released(bridge, repo):
    path, (holder, a), (committer, b) = repo
    ok(sb(bridge, holder, "lease", "src/auth.py", "--exclusive", "--reason", "refactoring auth"))
    before = head(path)
    r = commit(bridge, committer, path, "src/auth.py", "README.md")
    assert r.returncode != 0 and head(path) == before
    blocked = [line for line in r.stderr.splitlines() if line.startswith("session-bridge guard:")]
    assert len(blocked) == 1, r.stderr
    assert str(path / "src" / "auth.py") in blocked[0] and a in blocked[0] and "alpha" in blocked[0]
    assert "web@shop" in blocked[0] and "refactoring auth" in blocked[0]
    assert "Commit refused" in r.stderr and "README.md" not in blocked[0]
    ok(sb(bridge, holder, "release"))
    r = git(path, "commit", "-m", "now", env=bridge.env("repo", BRIDGE_HOST_PID=committer.pid), check=False)
    assert r.returncode == 0, r.stderr
    assert head(path) != before


def test_the_holders_stop_or_exit_ends_the_block(bridge, repo, hosts):
    path, (holder, a), (committer, b) = repo
    ok(sb(bridge, holder, "lease", "src", "--exclusive", "--reason", "moving files"))
    assert commit(bridge, committer, path, "src/auth.py").returncode != 0  # a directory lease covers its files
    ok(sb(bridge, holder, "stop"))
    assert commit(bridge, committer, path, "src/auth.py", message="after stop").returncode == 0
    other = hosts()
    ok(sb(bridge, other, "start", "--label", "gamma"))
    ok(sb(bridge, other, "lease", "README.md", "--exclusive"))
    assert commit(bridge, committer, path, "README.md", message="blocked").returncode != 0
    other.exit()  # its agent ended without stop: the lease dies with the session
    assert git(path, "commit", "-m", "after exit", env=bridge.env("repo", BRIDGE_HOST_PID=committer.pid),
               check=False).returncode == 0


def test_shared_expired_and_own_leases_never_block(bridge, repo):
    path, (holder, a), (committer, b) = repo
    ok(sb(bridge, holder, "lease", "src/auth.py", "--reason", "just reading"))  # shared
    assert commit(bridge, committer, path, "src/auth.py", message="shared").returncode == 0
    ok(sb(bridge, holder, "lease", "src/auth.py", "--exclusive", "--ttl", "1s"))
    wait_until(lambda: ok(sb(bridge, committer, "leases", "--json"))["leases"] == [], what="the lease to expire")
    assert commit(bridge, committer, path, "src/auth.py", message="expired").returncode == 0
    ok(sb(bridge, holder, "lease", "src/auth.py", "--exclusive", "--reason", "mine"))
    r = commit(bridge, holder, path, "src/auth.py", message="the holder commits")
    assert r.returncode == 0, r.stderr


def test_a_rename_out_of_a_leased_path_is_refused_and_check_speaks_json(bridge, repo):
    path, (holder, a), (committer, b) = repo
    ok(sb(bridge, holder, "lease", "src/auth.py", "--exclusive", "--reason", "refactoring auth"))
    git(path, "mv", "src/auth.py", "src/login.py")
    r = sb(bridge, committer, "guard", "check", "--json")
    assert r.returncode == 1
    out = orjson.loads(r.out)
    assert out["allowed"] is False and [x["path"] for x in out["blocked"]] == [str(path / "src" / "auth.py")]
    assert (out["blocked"][0]["lease"]["session_id"], out["blocked"][0]["lease"]["reason"]) == (a, "refactoring auth")
    assert orjson.loads(sb(bridge, holder, "guard", "check", "--json").out) == {"version": 1, "allowed": True,
                                                                                "blocked": []}


def test_install_and_uninstall_round_trip(bridge, repo):
    path, (holder, a), (committer, b) = repo
    hook = path / ".git" / "hooks" / "pre-commit"
    assert MARK in hook.read_text() and os.access(hook, os.X_OK)
    again = ok(sb(bridge, committer, "guard", "install", "--json"))  # idempotent
    assert again["hook"] == str(hook) and again["chained"] is None and os.path.isabs(again["command"][0])
    listing = sorted(p.name for p in hook.parent.iterdir())
    assert "removed the lease guard" in ok_text(sb(bridge, committer, "guard", "uninstall")).lower()
    assert not hook.exists() and sorted(p.name for p in hook.parent.iterdir()) == sorted(
        n for n in listing if n != "pre-commit")
    assert "No guard installed" in ok_text(sb(bridge, committer, "guard", "uninstall"))
    ok(sb(bridge, holder, "lease", "README.md", "--exclusive"))
    assert commit(bridge, committer, path, "README.md").returncode == 0  # no hook, no guard


def ok_text(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, r.err
    return r.out


def test_a_foreign_hook_is_refused_or_chained_and_put_back(bridge, repo, tmp_path):
    path, (holder, a), (committer, b) = repo
    hooks = path / ".git" / "hooks"
    ok(sb(bridge, committer, "guard", "uninstall"))
    foreign = f"#!/bin/sh\necho ran >> {tmp_path}/foreign.log\n[ ! -e {tmp_path}/fail ]\n"
    (hooks / "pre-commit").write_text(foreign)
    (hooks / "pre-commit").chmod(0o755)
    r = sb(bridge, committer, "guard", "install")
    assert r.returncode == 1 and "--chain" in r.err and r.err.count("\n") == 1
    assert (hooks / "pre-commit").read_text() == foreign
    r = sb(bridge, committer, "guard", "uninstall")  # not ours: left alone
    assert r.returncode == 1 and "not written by session-bridge" in r.err
    assert ok(sb(bridge, committer, "guard", "install", "--chain", "--json"))["chained"] == str(hooks / CHAINED)
    assert (hooks / CHAINED).read_text() == foreign
    ok(sb(bridge, committer, "guard", "install"))  # reinstalling keeps the chain
    assert commit(bridge, committer, path, "README.md", message="chained").returncode == 0
    assert (tmp_path / "foreign.log").read_text() == "ran\n"
    (tmp_path / "fail").touch()  # the chained hook refuses: so does the commit
    assert commit(bridge, committer, path, "README.md", message="refused by it").returncode != 0
    (tmp_path / "fail").unlink()
    ok(sb(bridge, holder, "lease", "README.md", "--exclusive", "--reason", "r"))
    r = git(path, "commit", "-m", "leased", env=bridge.env("repo", BRIDGE_HOST_PID=committer.pid), check=False)
    assert r.returncode != 0 and a in r.stderr  # the chained hook passed, the guard refused
    ok(sb(bridge, committer, "guard", "uninstall"))
    assert (hooks / "pre-commit").read_text() == foreign and not (hooks / CHAINED).exists()


def test_core_hooks_path_is_honoured_and_a_vanished_cli_warns_and_allows(bridge, repo, tmp_path):
    path, (holder, a), (committer, b) = repo
    ok(sb(bridge, committer, "guard", "uninstall"))
    git(path, "config", "core.hooksPath", ".githooks")
    own_bin = tmp_path / "own-bin"
    own_bin.mkdir()
    shutil.copy2(BIN / "session-bridge", own_bin / "session-bridge")
    done = ok(sb(bridge, committer, "guard", "install", "--json", exe=[str(own_bin / "session-bridge")]))
    assert done["hook"] == str(path / ".githooks" / "pre-commit") and done["command"] == [
        str(own_bin / "session-bridge")]
    ok(sb(bridge, holder, "lease", "README.md", "--exclusive", "--reason", "r"))
    assert commit(bridge, committer, path, "README.md").returncode != 0
    (own_bin / "session-bridge").unlink()
    r = git(path, "commit", "-m", "cli gone", env=bridge.env("repo", BRIDGE_HOST_PID=committer.pid), check=False)
    assert r.returncode == 0 and "is gone, commit allowed" in r.stderr


def test_guard_outside_a_git_repository_says_so_in_one_line(bridge, hosts, tmp_path):
    require_tool("git")
    h = hosts()
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    for action in ("install", "uninstall", "check"):
        r = sb(bridge, h, "guard", action, cwd=outside, GIT_CEILING_DIRECTORIES=str(tmp_path))
        assert r.returncode == 1 and "git repository" in r.err and r.err.count("\n") == 1, r.err
