"""The no-auto-commit guard: each host's pre-tool hook, run as the host runs it (a real process, the payload on stdin).

In a session auto-mode drives (a run it started, BRIDGE_AUTO=1; a role turned on; a session acting on a recent wake)
the guard denies git's commit, push and reset (the `deny` limit) and changes to auto-mode's settings, with the reason
the model sees; everything else, and every session auto-mode does not drive, is left alone ({}: no decision). A
broken bridge allows, except in a run auto-mode started, where the default rules still deny (fail closed).

Claude Code's payload is the one Claude Code 2.1.329 sent (tests/fixtures/claude_hooks/PreToolUse.json, recorded
with `claude -p` against the scripted Messages API), the command replaced per case. The other hosts' payloads are
the shapes their code or documentation gives: Codex 0.169.0's pre-tool-use.command.input schema, Gemini CLI 0.61's
BeforeTool input, Qwen Code 0.24's PreToolUse input, Cursor's beforeShellExecution and Copilot CLI's preToolUse.

Decided here: the guard reads the command's text, not a parsed shell: `git` counts after a separator, a space, a
quote or a path, so `bash -c "git commit"` is denied, and so is `echo "git commit"` (the guard cannot tell a quoted
word from a command an inner shell runs; the model is told why and can say it otherwise); `git log --grep=commit`,
`git stash push` and `git checkout -b commit` are not commits and are allowed.
"""

from __future__ import annotations

import os
import subprocess
import time

import orjson
import pytest

from bridge import layout, policy, rooms
from bridge.sessions import load as load_session

from support import CLI, REPO, Host, payload

HOOK = REPO / "scripts" / "hook"

DENIED = ['git commit -m "auto"', "git -C repo commit -m x", "cd x && git push", "git reset --hard",
          "git reset --hard HEAD~1 && echo done", 'bash -c "git commit -m x"', "sh -c 'git push origin main'",
          "/usr/bin/git commit -m x", "git -c user.name=bot commit -m x", "git --no-pager push",
          'git -C "my repo" push', "GIT_DIR=.git git commit -m x", "make && git add . && git commit -am wip",
          "(git push)", "echo $(git push)", "git\tcommit -m x", 'echo "git commit"', "sudo git push"]
ALLOWED = ["git status", "git diff HEAD~1", "git log --grep=commit", "git stash push", "git checkout -b commit",
           "git add -A", "legit commit", "ls -la", 'echo "please review"', "session-bridge auto status",
           "session-bridge reply msg-1 done"]
SETTINGS = ["session-bridge auto on shop infra", "session-bridge auto off", "session-bridge auto set shop web "
            "--driver spawn", "/p/scripts/session-bridge auto limits --deny x", "session-bridge role-prompt set "
            "web 'be brief'", "session-bridge role-prompt delete web"]
NO_COMMIT = "denied in a session auto-mode drives (no auto-commit)"
NO_SETTINGS = "may read auto-mode's settings (auto status) but never change them"


def run_hook(bridge, project: str, command: str | None, host: Host | None = None, event: str = "pre-tool-use",
             data: dict | bytes | None = None, **env: str):
    """`session-bridge hook <event>` with Claude Code's recorded PreToolUse payload for `command` (or `data`);
    returns (exit code, the one JSON object printed, stderr)."""
    proj = bridge.project(project)
    env.setdefault("CLAUDE_CODE_SESSION_ID", f"claude-{project}")
    if data is None:
        data = payload("PreToolUse", proj, session_id=env["CLAUDE_CODE_SESSION_ID"],
                       tool_input={"command": command, "description": "run it"})
    stdin = data if isinstance(data, bytes) else orjson.dumps(data)
    base = bridge.env(project, CLAUDE_PROJECT_DIR=str(proj), CLAUDE_PLUGIN_ROOT=str(REPO))
    for k in ("BRIDGE_AUTO", "BRIDGE_SESSION_ID", "BRIDGE_ROOM", "BRIDGE_ROLE"):
        base.pop(k, None)
    if host is not None:
        base["BRIDGE_HOST_PID"] = host.pid
    base.update(env)
    r = subprocess.run([*CLI, "hook", event], input=stdin, capture_output=True, timeout=60, cwd=proj, env=base)
    out = r.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1, f"not one line of JSON: {out!r} {r.stderr!r}"
    return r.returncode, orjson.loads(out), r.stderr.decode()


def verdict(out: dict) -> str | None:
    """The deny reason of a Claude-shaped answer, None for {} (no decision); anything else fails."""
    if out == {}:
        return None
    assert set(out) == {"hookSpecificOutput"}, out
    spec = out["hookSpecificOutput"]
    assert set(spec) == {"hookEventName", "permissionDecision", "permissionDecisionReason"}, spec
    assert (spec["hookEventName"], spec["permissionDecision"]) == ("PreToolUse", "deny"), spec
    assert spec["permissionDecisionReason"].startswith("session-bridge: "), spec
    return spec["permissionDecisionReason"]


def guard_says(bridge, project: str, command: str, host: Host | None = None, **env: str) -> str | None:
    code, out, err = run_hook(bridge, project, command, host, **env)
    assert code == 0, err
    return verdict(out)


def start_in_room(bridge, project: str, host: Host, room: str = "shop", role: str = "web") -> str:
    r = bridge.cli(project, "start", "--room", room, "--role", role, "--json", check=True, BRIDGE_HOST_PID=host.pid)
    return orjson.loads(r.stdout)["session"]["session_id"]


def admin(bridge, *args: str) -> None:
    """A settings change from a human's terminal (no agent above, no BRIDGE_AUTO)."""
    env = {k: v for k, v in bridge.env("admin").items() if k not in ("BRIDGE_AUTO", "BRIDGE_SESSION_ID")}
    r = subprocess.run([*CLI, *args], env=env, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()


@pytest.fixture
def web(bridge, hosts):
    """role web in room shop, held by a live agent (a stand-in Claude), wake policy manual: (host, session id)."""
    claude = hosts()
    return claude, start_in_room(bridge, "web", claude)


# --- a session auto-mode drives ------------------------------------------------------------------------------------


def test_a_role_turned_on_cannot_commit_push_or_reset(bridge, web):
    claude, sid = web
    admin(bridge, "auto", "on", "shop", "web")
    for command in DENIED:
        why = guard_says(bridge, "web", command, claude)
        assert why and NO_COMMIT in why and "leave the change uncommitted" in why, command
    for command in ALLOWED:
        assert guard_says(bridge, "web", command, claude) is None, command
    # the hook is the session's own: a subdirectory of its project is the same session
    assert guard_says(bridge, "web/src/pkg", "git push", claude, CLAUDE_CODE_SESSION_ID="claude-web")


def test_a_session_auto_mode_drives_cannot_change_its_settings(bridge, web):
    claude, _ = web
    admin(bridge, "auto", "on", "shop")  # the whole room: web is woken too
    for command in SETTINGS:
        why = guard_says(bridge, "web", command, claude)
        assert why and NO_SETTINGS in why, command
    assert guard_says(bridge, "web", "session-bridge auto status --json", claude) is None
    assert guard_says(bridge, "web", "session-bridge role-prompt get web", claude) is None


def test_the_plugins_quoted_launcher_cannot_change_the_settings_either(bridge, web):
    """The hooks and /bridge tell the model to run `"<plugin>/scripts/session-bridge" ...` (quoted)."""
    claude, _ = web
    admin(bridge, "auto", "on", "shop", "web")
    assert guard_says(bridge, "web", '"/p/scripts/session-bridge" auto on shop infra', claude)


def test_a_run_auto_mode_started_is_driven_whatever_its_role_says(bridge, web):
    """The spawn driver starts the run with BRIDGE_AUTO=1 and the role's session id; the role itself is manual."""
    _, sid = web
    runner = Host()
    try:
        env = {"BRIDGE_AUTO": "1", "BRIDGE_SESSION_ID": sid, "BRIDGE_ROOM": "shop", "BRIDGE_ROLE": "web"}
        assert NO_COMMIT in guard_says(bridge, "web", 'git commit -m "auto"', runner, **env)
        assert NO_SETTINGS in guard_says(bridge, "web", "session-bridge auto on shop web", runner, **env)
        assert guard_says(bridge, "web", "git status", runner, **env) is None
        # even with no session at all (a project that is not bridged)
        assert NO_COMMIT in guard_says(bridge, "elsewhere", "git push", runner, BRIDGE_AUTO="1")
    finally:
        runner.exit()


def test_unsetting_bridge_auto_in_the_agents_shell_does_not_shed_it(bridge, web):
    """BRIDGE_AUTO is read from the process auto-mode started and its ancestors, not only from the hook's own
    environment: a model that runs a nested agent without it (env -u BRIDGE_AUTO) is still in an auto run."""
    proj = bridge.project("elsewhere")
    data = payload("PreToolUse", proj, session_id="nested", tool_input={"command": "git push"})
    env = {k: v for k, v in bridge.env("elsewhere").items() if k not in ("BRIDGE_SESSION_ID",)}
    inner = " ".join(CLI) + " hook pre-tool-use"
    r = subprocess.run(["sh", "-c", f"env -u BRIDGE_AUTO {inner}"], input=data, capture_output=True, timeout=60,
                       cwd=proj, env=dict(env, BRIDGE_AUTO="1"))
    assert NO_COMMIT in verdict(orjson.loads(r.stdout))


def test_a_session_acting_on_a_wake_is_driven_until_the_chain_goes_quiet(bridge, web):
    """A live session auto-mode woke (its notifier pushed a message in): driven while it acts on the wake."""
    claude, sid = web
    session = load_session(bridge.root, sid)
    assert guard_says(bridge, "web", "git commit -m x", claude) is None
    policy.record_wake(session, {"id": "msg-1", "metadata": {"hops": 2}})
    assert NO_COMMIT in guard_says(bridge, "web", "git commit -m x", claude)
    admin(bridge, "auto", "limits", "--quiet", "0")  # the chain is over at once
    assert guard_says(bridge, "web", "git commit -m x", claude) is None
    policy.record_wake(session, {"id": "msg-2", "metadata": {"hops": 3}}, running=True)  # a run in progress
    assert NO_COMMIT in guard_says(bridge, "web", "git commit -m x", claude)


def test_a_custom_deny_pattern_from_the_settings_holds(bridge, web, hosts):
    claude, _ = web
    infra = hosts()
    start_in_room(bridge, "infra", infra, role="infra")
    admin(bridge, "auto", "on", "shop", "web")
    admin(bridge, "auto", "on", "shop", "infra")
    admin(bridge, "auto", "limits", "shop", "--deny", r"\b(npm|pnpm)\s+publish\b|\bgit\s+push\b")
    assert NO_COMMIT in guard_says(bridge, "web", "npm publish --access public", claude)
    assert NO_COMMIT in guard_says(bridge, "web", "git push", claude)
    assert guard_says(bridge, "web", "git commit -m x", claude) is None  # the room's pattern replaces the default
    # the settings rule is not part of the pattern: it always holds
    assert NO_SETTINGS in guard_says(bridge, "web", "session-bridge auto off", claude)
    # another room keeps the default
    other = hosts()
    start_in_room(bridge, "api", other, room="backend", role="api")
    admin(bridge, "auto", "on", "backend", "api")
    assert NO_COMMIT in guard_says(bridge, "api", "git commit -m x", other)
    assert guard_says(bridge, "api", "npm publish", other) is None


# --- sessions auto-mode does not drive -----------------------------------------------------------------------------


def test_a_session_auto_mode_does_not_drive_may_run_anything(bridge, web, hosts):
    claude, _ = web
    plain = hosts()
    bridge.cli("lib", "start", check=True, BRIDGE_HOST_PID=plain.pid)  # bridged, in no room
    for command in DENIED + SETTINGS:
        assert guard_says(bridge, "web", command, claude) is None, command  # web's wake policy is manual
        assert guard_says(bridge, "lib", command, plain) is None, command
        assert guard_says(bridge, "nowhere", command, hosts()) is None, command  # not bridged at all
    # another role of the room turned on does not make web driven
    admin(bridge, "auto", "on", "shop", "api")
    assert guard_says(bridge, "web", "git commit -m x", claude) is None
    # a sensitive role is not woken by its room being on: its session is not driven either
    infra = hosts()
    start_in_room(bridge, "infra", infra, role="infra")
    admin(bridge, "auto", "on", "shop")
    assert guard_says(bridge, "infra", "git push", infra) is None
    assert NO_COMMIT in guard_says(bridge, "web", "git push", claude)
    admin(bridge, "auto", "off")  # the master switch: nothing is auto any more
    assert guard_says(bridge, "web", "git push", claude) is None


def test_payloads_without_a_shell_command_are_left_alone(bridge, web):
    claude, _ = web
    admin(bridge, "auto", "on", "shop", "web")
    proj = bridge.project("web")
    read = payload("PreToolUse", proj, session_id="claude-web", tool_name="Read",
                   tool_input={"file_path": str(proj / "README.md")})
    for data in (read, b"", b"not json", b"[1, 2]", orjson.dumps({"tool_input": {"command": ["git", "push"]}}),
                 orjson.dumps({"tool_input": {"command": "   "}})):
        code, out, err = run_hook(bridge, "web", None, claude, data=data, BRIDGE_AUTO="1")
        assert (code, out, err) == (0, {}, ""), data


# --- a broken bridge -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("breakage", ["a file", "writable by others", "garbage settings", "sessions a file"])
def test_a_broken_bridge_allows_except_in_a_run_auto_mode_started(bridge, web, breakage):
    claude, sid = web
    admin(bridge, "auto", "on", "shop", "web")
    env = {}
    if breakage == "a file":
        (bridge.tmp / "not-a-dir").write_text("x")
        env["BRIDGE_DIR"] = str(bridge.tmp / "not-a-dir")
    elif breakage == "writable by others":
        os.chmod(bridge.root, 0o777)
    elif breakage == "garbage settings":
        rooms.settings_path(bridge.root).write_text('{"rooms": {"shop": ')
    else:
        moved = bridge.tmp / "sessions-moved"
        layout.sessions_dir(bridge.root).rename(moved)
        layout.sessions_dir(bridge.root).write_text("x")
    try:
        for command in ("git commit -m x", "git status"):
            code, out, err = run_hook(bridge, "web", command, claude, **env)
            assert (code, out, err) == (0, {}, ""), (breakage, command)  # allowed, and nothing said
        auto = dict(env, BRIDGE_AUTO="1", BRIDGE_SESSION_ID=sid)
        why = guard_says(bridge, "web", "git commit -m x", claude, **auto)
        assert why and "no auto-commit" in why, breakage
        assert "session-bridge auto" in why or "auto-mode" in why
        assert guard_says(bridge, "web", "session-bridge auto on shop web", claude, **auto), breakage
        assert guard_says(bridge, "web", "git status", claude, **auto) is None, breakage
    finally:
        os.chmod(bridge.root, 0o700)


def test_a_broken_bridge_in_an_auto_run_falls_back_to_the_default_pattern(bridge, web):
    """The settings cannot be trusted then (a dir others may write): the default pattern holds, not the room's."""
    claude, sid = web
    admin(bridge, "auto", "limits", "--deny", r"^never$")
    os.chmod(bridge.root, 0o777)
    try:
        why = guard_says(bridge, "web", "git push", claude, BRIDGE_AUTO="1", BRIDGE_SESSION_ID=sid)
        assert why and "default rules hold" in why
    finally:
        os.chmod(bridge.root, 0o700)


# --- each host's format --------------------------------------------------------------------------------------------


def host_payloads(proj, command: str) -> dict[str, tuple[str, dict]]:
    """event -> (host, payload) for each host's pre-tool hook, with `command` as the shell command."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "codex": ("pre-tool-use", {  # Codex 0.169.0's pre-tool-use.command.input (required fields)
            "session_id": "019a-codex", "turn_id": "t-1", "transcript_path": None, "cwd": str(proj),
            "hook_event_name": "PreToolUse", "model": "gpt-5-codex", "permission_mode": "default",
            "tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "call_1"}),
        "qwen-code": ("pre-tool-use", {  # Qwen Code 0.24: the base input + permission_mode, tool_name, tool_input
            "session_id": "q-1", "transcript_path": str(proj / "t.jsonl"), "cwd": str(proj),
            "hook_event_name": "PreToolUse", "timestamp": now, "permission_mode": "default",
            "tool_name": "run_shell_command", "tool_input": {"command": command, "is_background": False},
            "tool_use_id": "q-call-1"}),
        "gemini-cli": ("before-tool", {  # Gemini CLI 0.61's BeforeTool input
            "session_id": "g-1", "transcript_path": "", "cwd": str(proj), "hook_event_name": "BeforeTool",
            "timestamp": now, "tool_name": "run_shell_command",
            "tool_input": {"command": command, "description": "run it"}}),
        "cursor": ("before-shell-execution", {  # Cursor's beforeShellExecution
            "conversation_id": "c-1", "generation_id": "gen-1", "hook_event_name": "beforeShellExecution",
            "workspace_roots": [str(proj)], "command": command, "cwd": str(proj)}),
        "copilot": ("copilot-pre-tool-use", {  # Copilot CLI's preToolUse: toolArgs is a JSON string
            "timestamp": 1704614600000, "cwd": str(proj), "toolName": "bash",
            "toolArgs": orjson.dumps({"command": command, "description": "run it"}).decode()}),
    }


def deny_reason(host: str, out: dict) -> str | None:
    """The deny reason in the host's own answer format; None for {}."""
    if out == {}:
        return None
    if host in ("codex", "qwen-code"):
        return verdict(out)
    if host == "gemini-cli":
        assert set(out) == {"decision", "reason"} and out["decision"] == "deny", out
        return out["reason"]
    if host == "cursor":
        assert set(out) == {"permission", "user_message", "agent_message"} and out["permission"] == "deny", out
        assert out["user_message"] == out["agent_message"]
        return out["agent_message"]
    assert set(out) == {"permissionDecision", "permissionDecisionReason"}, out
    assert out["permissionDecision"] == "deny", out
    return out["permissionDecisionReason"]


@pytest.mark.parametrize("host", ["codex", "qwen-code", "gemini-cli", "cursor", "copilot"])
def test_each_hosts_hook_reads_its_payload_and_answers_in_its_format(bridge, web, host):
    _, sid = web
    proj = bridge.project("web")
    runner = Host()
    try:
        for command, denied in (("git -C . commit -m x", True), ("session-bridge auto on shop web", True),
                                ("git status", False)):
            event, data = host_payloads(proj, command)[host]
            # a run auto-mode started, as these hosts are launched by the spawn driver (no project dir exported)
            code, out, err = run_hook(bridge, "web", None, runner, event=event, data=data, BRIDGE_AUTO="1",
                                      BRIDGE_SESSION_ID=sid, CLAUDE_PROJECT_DIR="", PROJECT_DIR="")
            assert code == 0, err
            why = deny_reason(host, out)
            assert bool(why) == denied, (host, command, out)
            if denied:
                assert why.startswith("session-bridge: ") and "auto-mode" in why
            # not driven: the same payload is left alone
            code, out, err = run_hook(bridge, "web", None, runner, event=event, data=data, CLAUDE_PROJECT_DIR="",
                                      PROJECT_DIR="")
            assert (code, out) == (0, {}), (host, command, out, err)
    finally:
        runner.exit()


def test_cursor_and_codex_hooks_find_the_session_from_the_payloads_directory(bridge, web):
    """Codex, Cursor and Copilot CLI export no project directory to hooks: the payload's cwd or workspace root
    names it, so a role turned on is guarded there too (its agent is the live host process)."""
    claude, _ = web
    admin(bridge, "auto", "on", "shop", "web")
    proj = bridge.project("web")
    for host in ("codex", "cursor", "copilot"):
        event, data = host_payloads(proj, "git push")[host]
        code, out, err = run_hook(bridge, "web", None, claude, event=event, data=data, CLAUDE_PROJECT_DIR="",
                                  PROJECT_DIR="", CLAUDE_CODE_SESSION_ID="")
        assert deny_reason(host, out), (host, out, err)


# --- the plugin's launcher, scripts/hook ---------------------------------------------------------------------------

FAKE_CLI = """#!/bin/sh
echo "$*" >>"$CLI_CALLS"
cat >/dev/null
echo '{"fromCli": true}'
"""


class Launcher:
    """scripts/hook as Claude Code runs it for the plugin, with a stand-in CLI first on PATH that records each call
    (the shell's own answer leaves no record)."""

    def __init__(self, tmp, bridge) -> None:
        self.bridge = bridge
        fake = tmp / "fake-bin"
        fake.mkdir()
        (fake / "session-bridge").write_text(FAKE_CLI)
        (fake / "session-bridge").chmod(0o755)
        self.calls = tmp / "cli-calls"
        self.path = f"{fake}:/usr/bin:/bin"
        self.home = tmp / "home"
        self.home.mkdir()

    def run(self, project: str, command: str, path: str | None = None, **env: str):
        proj = self.bridge.project(project)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "CLAUDE_")) and k != "PROJECT_DIR"}
        base.update(PATH=path or self.path, HOME=str(self.home), BRIDGE_DIR=str(self.bridge.root),
                    CLI_CALLS=str(self.calls), CLAUDE_PROJECT_DIR=str(proj))
        base.update(env)
        self.calls.unlink(missing_ok=True)
        data = payload("PreToolUse", proj, tool_input={"command": command, "description": "run it"})
        r = subprocess.run([str(HOOK), "pre-tool-use"], input=data, capture_output=True, env=base, cwd=proj,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        r.cli_ran = self.calls.exists()
        return r


@pytest.fixture
def launcher(tmp_path, bridge) -> Launcher:
    return Launcher(tmp_path, bridge)


def test_the_launcher_answers_in_shell_where_auto_mode_is_not_in_use(launcher, bridge):
    bridge.start("lib")  # a bridged project, no room, no settings, no wake
    for project in ("lib", "app"):
        r = launcher.run(project, "git commit -m x")
        assert (r.stdout, r.cli_ran) == (b"{}\n", False), project
    # a wake record in any session: the CLI decides (which session is the caller's is its job)
    sid = next(iter(os.listdir(layout.sessions_dir(bridge.root))))
    woken = layout.sessions_dir(bridge.root) / sid / layout.WOKEN
    woken.write_text("{}")
    assert launcher.run("lib", "git commit -m x").cli_ran
    assert not launcher.run("app", "git commit -m x").cli_ran  # still not a bridged project
    woken.unlink()
    # settings exist (a role may be turned on): the CLI decides for bridged projects
    admin(bridge, "auto", "limits", "--rate", "6")
    assert launcher.run("lib", "git status").cli_ran
    assert not launcher.run("app", "git status").cli_ran


def test_the_launcher_always_runs_the_guard_in_a_run_auto_mode_started(launcher, bridge):
    """BRIDGE_AUTO=1: the CLI runs even on a machine with no bridge session; and if it cannot run (not installed,
    broken), the launcher itself denies a payload naming git's commit, push or reset (fail closed)."""
    r = launcher.run("app", "git status", BRIDGE_AUTO="1")
    assert r.cli_ran and r.stdout == b'{"fromCli": true}\n'
    for command, denied in (("git commit -m x", True), ("git push", True), ("git reset --hard", True),
                            ("ls", False)):
        r = launcher.run("app", command, path="/usr/bin:/bin", BRIDGE_AUTO="1")  # no CLI at all
        out = orjson.loads(r.stdout)
        assert bool(out) == denied, (command, out)
        if denied:
            assert verdict(out).startswith("session-bridge: denied in a run auto-mode started")


def test_the_launcher_passes_the_real_guards_denial_through(tmp_path, bridge, web):
    claude, sid = web
    admin(bridge, "auto", "on", "shop", "web")
    proj = bridge.project("web")
    env = bridge.env("web", CLAUDE_PROJECT_DIR=str(proj), BRIDGE_HOST_PID=claude.pid,
                     CLAUDE_CODE_SESSION_ID="claude-web")
    for command, denied in (("git push", True), ("git status", False)):
        data = payload("PreToolUse", proj, session_id="claude-web", tool_input={"command": command})
        r = subprocess.run([str(HOOK), "pre-tool-use"], input=data, capture_output=True, env=env, cwd=proj,
                           timeout=60)
        assert r.returncode == 0 and bool(verdict(orjson.loads(r.stdout))) == denied, (command, r.stdout, r.stderr)
