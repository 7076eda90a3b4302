"""The Claude Code hooks, run as Claude runs them: a real process, the event's JSON on stdin, JSON on stdout.

Payloads are the ones Claude Code 2.1.197 sent (tests/fixtures/claude_hooks/, recorded with `claude -p`; Stop has
the documented fields, since it needs a model turn), with session_id, cwd and reason set per case. A stand-in
process plays each Claude session's host process (BRIDGE_HOST_PID), the way the real claude process is found above
a hook. Each hook is checked in the not-bridged, bridged and broken cases, and must always print one JSON object.
"""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import time

import orjson
import pytest

from bridge import layout, message

from support import Host, payload
from support import CLI, REPO

LAUNCHER = shlex.quote(str(REPO / "scripts" / "session-bridge"))


def hook(bridge, project: str, name: str, event: str, host: Host, stdin: bytes | None = None, **env):
    """Run `session-bridge hook <name>` as Claude would; returns (exit code, the one JSON object printed, stderr)."""
    proj = bridge.project(project)
    env.setdefault("CLAUDE_CODE_SESSION_ID", f"claude-{project}")
    data = stdin if stdin is not None else payload(event, proj, session_id=env["CLAUDE_CODE_SESSION_ID"])
    r = subprocess.run([*CLI, "hook", name], input=data, capture_output=True, timeout=30, cwd=proj,
                       env=bridge.env(project, BRIDGE_HOST_PID=host.pid, CLAUDE_PLUGIN_ROOT=str(REPO),
                                      CLAUDE_PROJECT_DIR=str(proj), **env))
    out = r.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1, f"not one line of JSON: {out!r}"
    parsed = orjson.loads(out)
    assert isinstance(parsed, dict)
    return r.returncode, parsed, r.stderr.decode()


def ctx(out: dict, event: str) -> str:
    assert set(out) == {"hookSpecificOutput"}
    assert out["hookSpecificOutput"]["hookEventName"] == event
    return out["hookSpecificOutput"]["additionalContext"]


def start_as(bridge, project: str, host: Host, label: str | None = None, **env) -> str:
    args = ["start", "--json"] + (["--label", label] if label else [])
    r = bridge.cli(project, *args, check=True, BRIDGE_HOST_PID=host.pid, **env)
    return orjson.loads(r.stdout)["session"]["session_id"]


def manifest(bridge, sid: str) -> dict:
    return orjson.loads((bridge.root / "sessions" / sid / "manifest.json").read_bytes())


@pytest.fixture
def pair(bridge, hosts):
    """lib's Claude session (bridged, host alive) and app's session, connected, with lib bound by SessionStart."""
    claude = hosts()
    lib = start_as(bridge, "lib", claude, "library", CLAUDE_CODE_SESSION_ID="claude-lib")
    app = bridge.start("app", "app")
    bridge.cli("app", "connect", "library", check=True)
    return claude, lib, app


# --- not bridged -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,event", [("session-start", "SessionStart"), ("user-prompt-submit", "UserPromptSubmit"),
                                        ("session-end", "SessionEnd"), ("background-listen", "Stop")])
def test_hooks_of_a_session_that_is_not_bridged_answer_empty(bridge, hosts, name, event):
    other = bridge.start("elsewhere")  # a bridge session of another project exists; this one has none
    code, out, err = hook(bridge, "plain", name, event, hosts(), CLAUDE_ENV_FILE=str(bridge.tmp / "env"))
    assert (code, out, err) == (0, {}, "")
    assert not (bridge.tmp / "env").exists()
    assert (bridge.root / "sessions" / other).is_dir()


@pytest.mark.parametrize("stdin", [b"", b"not json", b"[1, 2]", b'{"session_id": 5}'])
def test_hooks_answer_empty_on_missing_or_malformed_payloads(bridge, hosts, stdin):
    for name, event in (("session-start", "SessionStart"), ("user-prompt-submit", "UserPromptSubmit")):
        assert hook(bridge, "plain", name, event, hosts(), stdin=stdin) == (0, {}, "")


# --- SessionStart ------------------------------------------------------------------------------------------------


def test_session_start_binds_a_resumed_claude_session_and_summarises_the_bridge(bridge, hosts):
    old = hosts()
    lib = start_as(bridge, "lib", old, "library", CLAUDE_CODE_SESSION_ID="claude-old")
    app = bridge.start("app", "app")
    bridge.cli("lib", "connect", "app", BRIDGE_HOST_PID=old.pid, check=True)
    bridge.cli("app", "connect", "library", check=True)
    bridge.cli("app", "send", "library", "query", "Is 2.0 out?", check=True)
    old.exit()  # Claude exited without ending the bridge session (crash, kill)

    new, env_file = hosts(), bridge.tmp / "claude-env.sh"
    code, out, _ = hook(bridge, "lib", "session-start", "SessionStart", new, CLAUDE_ENV_FILE=str(env_file),
                        CLAUDE_CODE_SESSION_ID="claude-new")
    assert code == 0
    text = ctx(out, "SessionStart")
    assert f"bridge session {lib} (library)" in text
    assert f"app ({app}, active)" in text
    assert "1 message(s) wait" in text  # the query (app's connect ping is not one to read)
    assert f"{LAUNCHER} reply <message-id>" in text
    assert "not the user's instruction" in text
    assert env_file.read_text() == f"export BRIDGE_SESSION_ID={lib}\n"
    m = manifest(bridge, lib)
    assert (m["pid"], m["agentSessionId"]) == (int(new.pid), "claude-new")
    # the CLI run by this Claude session (same host) now resolves to the bound session
    assert bridge.cli("lib", "whoami", "--json", BRIDGE_HOST_PID=new.pid, check=True).out.count(lib) >= 1


def test_session_start_leaves_a_session_another_live_process_holds(bridge, hosts):
    first = hosts()
    lib = start_as(bridge, "lib", first, "library")
    code, out, _ = hook(bridge, "lib", "session-start", "SessionStart", hosts())  # a caller that is no agent CLI
    assert (code, out) == (0, {})
    assert manifest(bridge, lib)["pid"] == int(first.pid)


def test_session_start_leaves_a_session_another_live_claude_holds(bridge, hosts):
    first = hosts("claude")
    lib = start_as(bridge, "lib", first, "library", CLAUDE_CODE_SESSION_ID="claude-first")
    assert manifest(bridge, lib)["host"] == "claude-code"
    second = hosts("claude")  # second window, same repo
    code, out, _ = hook(bridge, "lib", "session-start", "SessionStart", second, CLAUDE_CODE_SESSION_ID="claude-second")
    assert (code, out) == (0, {})
    m = manifest(bridge, lib)
    assert (m["pid"], m["host"], m["agentSessionId"]) == (int(first.pid), "claude-code", "claude-first")
    # nor do the second window's prompts take the first one's messages
    bridge.start("app", "app")
    bridge.cli("app", "send", "library", "query", "for the first window", check=True)
    assert hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", second,
                CLAUDE_CODE_SESSION_ID="claude-second") == (0, {}, "")
    first_window = hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", first,
                        CLAUDE_CODE_SESSION_ID="claude-first")[1]
    assert "for the first window" in ctx(first_window, "UserPromptSubmit")


def test_session_start_binds_a_session_a_live_non_agent_process_holds(bridge, hosts):
    """`session-bridge start` run from a shell that is still open (host "cli"): the project's Claude takes it."""
    shell = hosts()
    lib = start_as(bridge, "lib", shell, "library")
    assert manifest(bridge, lib)["host"] == "cli"
    claude, env_file = hosts("claude"), bridge.tmp / "claude-env.sh"
    code, out, _ = hook(bridge, "lib", "session-start", "SessionStart", claude, CLAUDE_ENV_FILE=str(env_file))
    assert code == 0 and f"bridge session {lib} (library)" in ctx(out, "SessionStart")
    m = manifest(bridge, lib)
    assert (m["pid"], m["host"], m["agentSessionId"]) == (int(claude.pid), "claude-code", "claude-lib")
    assert env_file.read_text() == f"export BRIDGE_SESSION_ID={lib}\n"
    # the bound session is this Claude's: its prompts get the session's messages
    bridge.start("app", "app")
    bridge.cli("app", "send", "library", "query", "bound?", check=True)
    code, out, _ = hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", claude)
    assert code == 0 and "bound?" in ctx(out, "UserPromptSubmit")


def test_session_start_counts_only_the_messages_the_agent_must_read(bridge, pair):
    """A peer's connect ping only records the connection: it is not a waiting message."""
    claude, lib, app = pair  # app connected: its ping waits in lib's inbox
    code, out, _ = hook(bridge, "lib", "session-start", "SessionStart", claude)
    text = ctx(out, "SessionStart")
    assert code == 0 and f"bridge session {lib} (library)" in text
    assert "message(s) wait" not in text
    bridge.cli("app", "send", "library", "query", "Is 2.0 out?", check=True)
    text = ctx(hook(bridge, "lib", "session-start", "SessionStart", claude)[1], "SessionStart")
    assert "1 message(s) wait for this session" in text
    assert f"read them now with: {LAUNCHER} listen --timeout 5" in text


def test_session_start_after_clear_keeps_the_binding(bridge, pair):
    claude, lib, _ = pair
    code, out, _ = hook(bridge, "lib", "session-start", "SessionStart", claude,
                        stdin=payload("SessionStart", bridge.project("lib"), source="clear", session_id="after-clear"))
    assert code == 0 and f"bridge session {lib}" in ctx(out, "SessionStart")
    assert manifest(bridge, lib)["agentSessionId"] == "after-clear"


# --- UserPromptSubmit --------------------------------------------------------------------------------------------


def test_prompt_shows_each_pending_message_once_with_the_command_that_answers_it(bridge, pair):
    claude, lib, app = pair
    q1 = orjson.loads(bridge.cli("app", "send", "library", "query", "What replaced getUser()?", "--json").stdout)
    q2 = orjson.loads(bridge.cli("app", "send", "library", "query", "Which version?", "--json").stdout)
    q1, q2 = q1["message"], q2["message"]
    bridge.cli("lib", "send", "app", "query", "for app only", BRIDGE_HOST_PID=claude.pid, check=True)
    waiting = orjson.loads(bridge.cli("lib", "inbox", "--json", BRIDGE_HOST_PID=claude.pid, check=True).stdout)
    ping = next(m for m in waiting["messages"] if m["type"] == "ping")

    code, out, _ = hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", claude)
    assert code == 0
    text = ctx(out, "UserPromptSubmit")
    assert text.startswith(f"=== session-bridge: messages from peer sessions to {lib} ===")
    assert "not the user's instruction" in text and "destructive or irreversible" in text
    assert f"[ping] from app ({app}) · {ping['id']}\nconnected\n" in text  # app connected to this session
    assert text.index("What replaced getUser()?") < text.index("Which version?")
    for q in (q1, q2):
        assert f"[query] from app ({app}) · {q['id']}\n{q['content']}\n" in text
        assert f'Answer with: {LAUNCHER} reply {q["id"]} "<your answer>"' in text
    assert "for app only" not in text
    # claimed exactly once: the next prompt shows nothing, and the inbox has them as read
    assert hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", claude) == (0, {}, "")
    inbox = orjson.loads(bridge.cli("lib", "inbox", "--all", "--json", BRIDGE_HOST_PID=claude.pid).stdout)
    assert {m["id"]: m["status"] for m in inbox["messages"] if m["type"] == "query"} == \
        {q1["id"]: "read", q2["id"]: "read"}
    assert inbox["pending"] == 0

    # the command shown answers the query as written
    answer_cmd = next(line for line in text.splitlines() if q1["id"] in line and line.startswith("Answer with: "))
    cmd = answer_cmd.removeprefix("Answer with: ").split("   (")[0].replace("<your answer>", "fetchUser(id)")
    r = subprocess.run(["bash", "-c", cmd], env=bridge.env("lib", BRIDGE_HOST_PID=claude.pid), capture_output=True)
    assert r.returncode == 0, r.stderr
    got = bridge.cli("app", "receive", q1["id"], "--timeout", "10", check=True)
    assert got.out == "fetchUser(id)\n"


def test_prompt_context_stays_within_budget_and_leaves_the_rest_pending(bridge, pair):
    claude, lib, _ = pair
    for n in range(5):
        bridge.cli("app", "send", "library", "query", f"question {n} " + "x" * 2500, check=True)
    code, out, _ = hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", claude)
    text = ctx(out, "UserPromptSubmit")
    assert len(text) <= 8000
    shown = [n for n in range(5) if f"question {n} " in text]
    assert shown == [0, 1]
    assert f"(3 more message(s) wait, too long to show here; read them one at a time with: {LAUNCHER} listen " \
           "--timeout 5)" in text
    r = bridge.cli("lib", "listen", "--timeout", "5", BRIDGE_HOST_PID=claude.pid, check=True)
    assert "question 2 " in r.out


def test_a_late_answer_and_a_peer_ending_are_shown_as_such(bridge, pair):
    claude, lib, app = pair
    r = bridge.cli("lib", "ask", "app", "Still there?", "--timeout", "0.2", BRIDGE_HOST_PID=claude.pid)
    assert r.returncode == 3
    qid = orjson.loads(bridge.cli("app", "listen", "--json", "--timeout", "5").stdout)["message"]["id"]
    rid = orjson.loads(bridge.cli("app", "reply", qid, "yes, late", "--json", check=True).stdout)["message"]["id"]
    bridge.cli("app", "stop", check=True)
    text = ctx(hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", claude)[1], "UserPromptSubmit")
    assert f"[response] from app ({app}) · {rid} · in reply to {qid}\nyes, late" in text
    lines = text.splitlines()
    ended = next(i for i, line in enumerate(lines) if line.startswith(f"[session-ended] from app ({app}) · "))
    assert lines[ended + 1] == "Session ended"  # app ended its bridge session; it can no longer answer


# --- SessionEnd --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["clear", "resume"])
def test_session_end_keeps_the_session_on_clear_and_resume(bridge, pair, reason):
    claude, lib, _ = pair
    stdin = payload("SessionEnd", bridge.project("lib"), reason=reason, session_id="claude-lib")
    assert hook(bridge, "lib", "session-end", "SessionEnd", claude, stdin=stdin) == (0, {}, "")
    assert manifest(bridge, lib)["sessionId"] == lib


@pytest.mark.parametrize("reason", ["prompt_input_exit", "logout", "other"])
def test_session_end_stops_the_session_and_tells_peers_on_a_real_exit(bridge, pair, reason):
    claude, lib, app = pair
    stdin = payload("SessionEnd", bridge.project("lib"), reason=reason, session_id="claude-lib")
    assert hook(bridge, "lib", "session-end", "SessionEnd", claude, stdin=stdin) == (0, {}, "")
    assert not (bridge.root / "sessions" / lib).exists()
    got = orjson.loads(bridge.cli("app", "listen", "--json", "--timeout", "5", check=True).stdout)
    assert got["status"] == "message"
    assert (got["message"]["type"], got["message"]["from"]) == ("session-ended", lib)


def test_session_end_of_another_claude_session_in_the_project_leaves_it_alone(bridge, pair, hosts):
    _, lib, _ = pair
    other = hosts()
    assert hook(bridge, "lib", "session-end", "SessionEnd", other, CLAUDE_CODE_SESSION_ID="claude-other") == (0, {}, "")
    assert manifest(bridge, lib)["sessionId"] == lib


# --- a broken bridge ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("breakage", ["world-writable", "not-a-directory"])
def test_hooks_on_a_broken_bridge_dir_answer_valid_json_and_say_the_fix_once(bridge, pair, breakage):
    claude, _, _ = pair
    if breakage == "world-writable":
        bridge.root.chmod(0o777)
        fix = f"chmod 700 {bridge.root}"
    else:
        bridge.root.rename(bridge.tmp / "moved")
        bridge.root.write_text("oops")
        fix = "set BRIDGE_DIR"
    code, out, _ = hook(bridge, "lib", "session-start", "SessionStart", claude)
    assert code == 0 and set(out) == {"systemMessage"}
    assert out["systemMessage"].startswith("session-bridge: ") and fix in out["systemMessage"]
    for name, event in (("user-prompt-submit", "UserPromptSubmit"), ("session-end", "SessionEnd"),
                        ("background-listen", "Stop")):
        code, out, _ = hook(bridge, "lib", name, event, claude)
        assert (code, out) == (0, {})


def test_a_corrupt_inbox_file_does_not_break_the_prompt(bridge, pair):
    claude, lib, _ = pair
    (bridge.root / "sessions" / lib / "inbox" / "msg-1-bad.json").write_text("{not json")
    bridge.cli("app", "send", "library", "query", "still delivered", check=True)
    code, out, _ = hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", claude)
    assert code == 0 and "still delivered" in ctx(out, "UserPromptSubmit")
    assert any((bridge.root / "sessions" / lib / "quarantine").iterdir())


def test_a_hung_lock_cannot_hold_a_hook_past_its_deadline(bridge, pair):
    claude, lib, _ = pair
    with layout.dir_lock(bridge.root / "sessions" / lib):  # a stuck writer holds the manifest lock
        t = time.monotonic()
        code, out, err = hook(bridge, "lib", "session-start", "SessionStart", claude, BRIDGE_HOOK_DEADLINE="1")
        assert time.monotonic() - t < 5
    assert (code, out) == (0, {}) and "gave up after 1s" in err


def test_a_stdin_that_never_closes_cannot_hold_the_prompt_hook(bridge, pair):
    """The deadline is armed before stdin is read: a writer that keeps the pipe open gets {} in budget."""
    claude, lib, _ = pair
    bridge.cli("app", "send", "library", "query", "still pending after the hook gave up", check=True)
    p = subprocess.Popen([*CLI, "hook", "user-prompt-submit"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=bridge.project("lib"),
                         env=bridge.env("lib", BRIDGE_HOST_PID=claude.pid, BRIDGE_HOOK_DEADLINE="1",
                                        CLAUDE_CODE_SESSION_ID="claude-lib"))
    p.stdin.write(b'{"session_id": "claude-lib", ')  # and never the rest, never EOF
    p.stdin.flush()
    try:
        assert p.wait(timeout=20) == 0  # stdin stays open all along
        assert orjson.loads(p.stdout.read()) == {} and b"gave up after 1s" in p.stderr.read()
    finally:
        p.kill()
        p.stdin.close()
    left = orjson.loads(bridge.cli("lib", "inbox", "--json", BRIDGE_HOST_PID=claude.pid, check=True).stdout)
    assert [m["content"] for m in left["messages"] if m["type"] == "query"] == ["still pending after the hook gave up"]


def test_messages_are_marked_read_only_once_their_text_is_written(bridge, pair):
    """A hook whose output cannot be written (Claude went away) leaves the messages pending, marked as redelivered."""
    claude, lib, _ = pair
    for n in range(3):
        bridge.cli("app", "send", "library", "query", f"question {n}", check=True)
    r, w = os.pipe()
    os.close(r)  # nobody will ever read the hook's answer: its write fails
    p = subprocess.run([*CLI, "hook", "user-prompt-submit"], stdout=w, stderr=subprocess.PIPE, timeout=30,
                       input=payload("UserPromptSubmit", bridge.project("lib"), session_id="claude-lib"),
                       cwd=bridge.project("lib"), env=bridge.env("lib", BRIDGE_HOST_PID=claude.pid,
                                                                 CLAUDE_CODE_SESSION_ID="claude-lib"))
    os.close(w)
    assert p.returncode == 0
    left = orjson.loads(bridge.cli("lib", "inbox", "--json", BRIDGE_HOST_PID=claude.pid, check=True).stdout)
    assert [m["content"] for m in left["messages"] if m["type"] == "query"] == \
        [f"question {n}" for n in range(3)]  # none lost
    code, out, _ = hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", claude)
    text = ctx(out, "UserPromptSubmit")
    assert all(f"question {n}" in text for n in range(3)) and "redelivered (attempt 2)" in text


def test_a_flood_of_pending_messages_hands_over_the_oldest_and_counts_the_rest(bridge, pair):
    """20,000 messages waiting: the hook answers well within its deadline with the oldest that fit its budget and
    the exact number that still wait."""
    claude, lib, app = pair
    sender = {"sessionId": app, "projectName": "app", "label": "app"}
    inbox = bridge.root / "sessions" / lib / "inbox"
    flood = [message.build(sender=sender, to=lib, type="query", content=f"flood {n}") for n in range(20_000)]
    for m in flood:
        (inbox / f"{m['id']}.json").write_bytes(orjson.dumps(m))
    code, out, err = hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", claude, BRIDGE_HOOK_DEADLINE="6")
    text = ctx(out, "UserPromptSubmit")
    shown = [n for n in range(40) if f"flood {n}\n" in text]
    assert shown and shown == list(range(len(shown)))  # the oldest first, none skipped
    assert f"({20_000 - len(shown)} more message(s) wait" in text
    status = orjson.loads(bridge.cli("lib", "status", "--json", BRIDGE_HOST_PID=claude.pid, check=True).stdout)
    assert status["pending"] == 20_000 - len(shown)


def test_hook_script_answers_empty_when_the_cli_is_missing_or_too_old(bridge, pair, tmp_path):
    claude, _, _ = pair
    old = tmp_path / "old-bin"
    old.mkdir()
    (old / "session-bridge").write_text("#!/bin/sh\necho \"Error: No such command 'hook'.\" >&2\nexit 2\n")
    (old / "session-bridge").chmod(0o755)
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    cases = {"too old": f"{old}:/usr/bin:/bin", "missing": "/usr/bin:/bin"}
    for case, path in cases.items():
        for name, event in (("session-start", "SessionStart"), ("user-prompt-submit", "UserPromptSubmit")):
            r = subprocess.run([str(REPO / "scripts" / "hook"), name], input=payload(event, bridge.project("lib")),
                               capture_output=True, env=bridge.env("lib", PATH=path, HOME=str(empty_home),
                                                                   BRIDGE_HOST_PID=claude.pid))
            assert (r.returncode, r.stdout) == (0, b"{}\n"), case
    assert not (empty_home / ".local").exists()  # a hook never installs


# --- background listening (Stop, asyncRewake) --------------------------------------------------------------------


def background_listener(bridge, host: Host) -> subprocess.Popen:
    proj = bridge.project("lib")
    stop = bridge.tmp / "stop.json"
    stop.write_bytes(payload("Stop", proj, session_id="claude-lib"))
    with open(stop, "rb") as stdin:
        return subprocess.Popen([str(REPO / "scripts" / "hook"), "background-listen"], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=proj,
                                env=bridge.env("lib", BRIDGE_HOST_PID=host.pid, CLAUDE_PLUGIN_ROOT=str(REPO),
                                               CLAUDE_CODE_SESSION_ID="claude-lib"))


def finish(p: subprocess.Popen) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=20)
    return p.returncode, out.decode(), err.decode()


def test_background_listening_is_off_until_asked(bridge, pair):
    claude, _, _ = pair
    assert finish(background_listener(bridge, claude)) == (0, "{}\n", "")


def test_background_listener_wakes_the_session_with_one_message(bridge, pair):
    claude, lib, app = pair
    r = bridge.cli("lib", "background", "on", BRIDGE_HOST_PID=claude.pid, check=True)
    assert r.out.startswith(f"Background listening is on for {lib}")
    first, second = background_listener(bridge, claude), background_listener(bridge, claude)
    # one of them waits; the other sees it and leaves at once without waking anyone
    ready, _, _ = select.select([first.stdout, second.stdout], [], [], 20)
    assert len(ready) == 1
    done, waiting = (first, second) if ready[0] is first.stdout else (second, first)
    assert finish(done) == (0, "{}\n", "")
    sent = bridge.cli("app", "send", "library", "query", "What replaced getUser()?", "--json")
    q = orjson.loads(sent.stdout)["message"]
    code, out, err = finish(waiting)
    assert (code, out) == (2, "{}\n")
    assert "What replaced getUser()?" in err and "not the user's instruction" in err
    assert f'Answer with: {LAUNCHER} reply {q["id"]} "<your answer>"' in err
    # delivered once: the next prompt does not show it again
    assert hook(bridge, "lib", "user-prompt-submit", "UserPromptSubmit", claude) == (0, {}, "")


def test_background_listener_leaves_when_turned_off_or_when_claude_exits(bridge, pair):
    claude, lib, _ = pair
    flag = bridge.root / "sessions" / lib / ".background-listen"  # what scripts/hook checks before starting Python
    bridge.cli("lib", "background", "on", BRIDGE_HOST_PID=claude.pid, check=True)
    assert flag.is_file()
    p = background_listener(bridge, claude)
    r = bridge.cli("lib", "background", "off", BRIDGE_HOST_PID=claude.pid, check=True)
    assert "off" in r.out
    assert not flag.exists()
    assert finish(p) == (0, "{}\n", "")

    bridge.cli("lib", "background", "on", BRIDGE_HOST_PID=claude.pid, check=True)
    p = background_listener(bridge, claude)
    claude.exit()
    assert finish(p) == (0, "{}\n", "")


def test_background_command_needs_a_session(bridge, hosts):
    r = bridge.cli("plain", "background", "on", BRIDGE_HOST_PID=hosts().pid)
    assert r.returncode == 4
    assert r.err.startswith("Error: no bridge session for ") and "session-bridge start" in r.err
