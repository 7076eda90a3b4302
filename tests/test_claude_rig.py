"""The real Claude Code CLI driven end to end through the plugin, offline: a scripted model (messages_api.py) plays
the part of the LLM and issues the tool calls the plugin's instructions ask for; everything else is real: `claude`
(headless `-p` and interactive in tmux), the installed plugin's command, hooks, monitor and MCP server, and the
`session-bridge` CLI they run.

What each test proves is what a user would see:
- two `claude -p` sessions exchange a question and its answer through the plugin's slash command, and through its
  MCP tools (the asker's output carries the answer, which carries the question the other side saw);
- `claude -p` ends while background listening is on (the Stop hook must not hold a headless run open);
- an idle interactive `claude` (tmux) is woken by a peer's `session-bridge ask`, by the Stop hook (background
  listening) or by the plugin's monitor, and answers it, twice in a row; the latencies are printed (pytest -rP) and
  bench/ measures them with claude_support.woken_turn_latency();
- the slash command the README tells users to type is one Claude Code runs.
Deadlines are generous (a loaded 2-core machine); nothing waits by sleeping.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

import pytest

from claude_support import (COMMAND, MCP_PREFIX, POINTER_RE, REPO, Asked, ClaudeUser, IdleSession, mcp_asker,
                            mcp_listener, slash_asker, slash_listener, slash_setup, subcommand)
from messages_api import MessagesApi, Turn, bash
from support import require_tool

QUESTION = "what changed in v2?"


def answer(question: str) -> str:
    """lib's answer: fixed facts plus the question it saw, so the asker's output proves the round trip."""
    return f"getUser() became fetchUser(id) in v2.0. (You asked: {question})"


@pytest.fixture(scope="module")
def claude() -> str:
    return require_tool("claude")


@pytest.fixture
def user(claude, tmp_path) -> ClaudeUser:
    """A fresh HOME with the plugin installed from a marketplace clone of the working tree."""
    return ClaudeUser.create(tmp_path, claude)


def project(user: ClaudeUser, name: str):
    d = user.home.parent / name
    d.mkdir()
    return d


def ran(sub: str, exit_code: int = 0):
    """A request predicate: the conversation so far has a launcher call `sub` that exited `exit_code`."""
    return lambda r: r.is_main and any(subcommand(e.command) == sub and e.exit_code == exit_code
                                       for e in r.exchanges())


def called(tool: str):
    """A request predicate: the conversation has a successful call of the MCP tool."""
    return lambda r: r.is_main and any(e.name == MCP_PREFIX + tool and not e.is_error for e in r.exchanges())


# --- the rig itself ------------------------------------------------------------------------------------------------


def test_the_rig_answers_like_the_messages_api(capfd):
    """What Claude Code parses: a streamed turn (SSE) rebuilds to the scripted blocks, a plain one is the message,
    side requests (no tools) do not reach the policy, count_tokens answers, unknown paths are answered and shown."""
    seen = []

    def policy(req):
        seen.append(req)
        return Turn("hello", bash("echo hi"))

    def post(url, body):
        r = urllib.request.urlopen(urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                                          headers={"content-type": "application/json"}), timeout=30)
        return r.headers.get("content-type", ""), r.read().decode()

    with MessagesApi(policy, side_reply="a title") as api:
        ask = {"model": "m", "max_tokens": 10, "tools": [{"name": "Bash"}],
               "messages": [{"role": "user", "content": "hi"}]}
        kind, body = post(f"{api.url}/v1/messages?beta=true", dict(ask, stream=True))
        assert kind == "text/event-stream"
        events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
        assert [e["type"] for e in events] == ["message_start", *["content_block_start", "content_block_delta",
                                                                   "content_block_stop"] * 2,
                                               "message_delta", "message_stop"]
        assert events[2]["delta"] == {"type": "text_delta", "text": "hello"}
        call = events[4]["content_block"]
        assert (call["type"], call["name"]) == ("tool_use", "Bash")
        assert json.loads(events[5]["delta"]["partial_json"])["command"] == "echo hi"
        assert events[-2]["delta"]["stop_reason"] == "tool_use" and events[-2]["usage"]["output_tokens"] > 0
        _, body = post(f"{api.url}/v1/messages", ask)
        assert [b["type"] for b in json.loads(body)["content"]] == ["text", "tool_use"]
        _, body = post(f"{api.url}/v1/messages", {"model": "small", "max_tokens": 5,
                                                  "messages": [{"role": "user", "content": "title?"}]})
        assert json.loads(body)["content"] == [{"type": "text", "text": "a title"}]
        assert len(seen) == 2 and len(api.main_requests()) == 2 and len(api.side_requests()) == 1
        assert json.loads(post(f"{api.url}/v1/messages/count_tokens", ask)[1])["input_tokens"] > 0
        assert post(f"{api.url}/v1/whatever", {})[1] == "{}"
        assert [r.path for r in api.unknown] == ["/v1/whatever"]
    assert "no handler for POST /v1/whatever" in capfd.readouterr().err


# --- two headless sessions --------------------------------------------------------------------------------------


def test_two_headless_sessions_ask_and_answer_through_the_bridge_command(user):
    lib, app = project(user, "lib"), project(user, "app")
    with MessagesApi(slash_listener("lib", answer)) as lib_api, MessagesApi(slash_asker("app")) as app_api:
        with user.running_p(f"{COMMAND} listen", lib_api, cwd=lib) as listener:
            # lib started its bridge session (exit 4, then start) and is about to listen
            lib_api.wait_for(ran("background"), 120, "lib's model turning background listening off (session up)")
            asker = user.run_p(f"{COMMAND} ask lib {QUESTION}", app_api, cwd=app, timeout=180)
            code = listener.finish(120)
        lib_api.check()
        app_api.check()
    assert code is not None, f"lib's claude -p still ran 120 s after app's ended; last requests: {lib_api.summary()}"
    assert code == 0, f"lib's claude -p: exit {code}\n{listener.stderr}"
    # lib's model received the query in the listen round's tool result, framed as a query from app
    [heard] = [e for r in lib_api.main_requests() for e in r.exchanges() if subcommand(e.command) == "listen"][-1:]
    assert "[query] from app" in heard.output and QUESTION in heard.output, heard.output
    assert asker.returncode == 0, asker.stderr
    # app's user sees lib's answer, which carries the question lib saw
    assert "lib answered:\nAnswer from lib" in asker.stdout and answer(QUESTION) in asker.stdout, asker.stdout
    # the app session asked once: exit 4 (no session), start, ask
    app_cmds = [subcommand(e.command) for e in app_api.main_requests()[-1].exchanges()]
    assert app_cmds == ["ask", "start", "ask"], app_cmds
    assert listener.stdout.startswith("Sent: Replied to "), listener.stdout


def test_two_headless_sessions_ask_and_answer_through_the_mcp_tools(user):
    user.allow(MCP_PREFIX.removesuffix("__"))  # the user allowed the plugin's server's tools once
    lib, app = project(user, "lib"), project(user, "app")
    with MessagesApi(mcp_listener("lib", answer)) as lib_api, \
            MessagesApi(mcp_asker("app", "lib", QUESTION)) as app_api:
        with user.running_p("Answer your peers' questions over the bridge.", lib_api, cwd=lib) as listener:
            lib_api.wait_for(called("bridge_start"), 120, "lib's bridge_start")
            asker = user.run_p(f"Ask lib: {QUESTION}", app_api, cwd=app, timeout=180)
            code = listener.finish(120)
        lib_api.check()
        app_api.check()
    assert code is not None, f"lib's claude -p still ran 120 s after app's ended; last requests: {lib_api.summary()}"
    assert code == 0, f"lib's claude -p: exit {code}\n{listener.stderr}"
    heard = [e for r in lib_api.main_requests() for e in r.exchanges()
             if e.name == MCP_PREFIX + "bridge_listen" and e.json().get("status") == "message"][-1]
    msg = heard.json()["message"]
    assert (msg["type"], msg["content"]) == ("query", QUESTION), msg
    assert asker.returncode == 0, asker.stderr
    assert f"lib answered:\n{answer(QUESTION)}" in asker.stdout, asker.stdout
    assert listener.stdout.startswith("Answered: "), listener.stdout


# --- background listening must not hold a headless run open -----------------------------------------------------

EXIT_DEADLINE_S = 60  # claude -p takes ~2 s here; this only separates "exits" from "waits for a message"


def test_claude_p_exits_while_background_listening_is_on(user):
    lib = project(user, "lib")
    policy = slash_setup("lib", "background on")
    with MessagesApi(policy) as api:
        with user.running_p(f"{COMMAND} listen --background", api, cwd=lib) as run:
            api.wait_for(ran("background"), 120, "lib's model turning background listening on")
            code = run.finish(EXIT_DEADLINE_S)
        api.check()
    assert code is not None, (
        f"claude -p did not exit within {EXIT_DEADLINE_S}s of its last turn while background listening was on: the "
        "Stop hook (plugin/hooks/hooks.json, `session-bridge hook background-listen`, asyncRewake) kept waiting for "
        "a message. Under a headless `claude -p` nobody is left to wake, so it must return at once.\n"
        f"last requests: {api.summary()}")
    assert code == 0, run.stderr
    turn_on = [e for e in api.main_requests()[-1].exchanges() if e.command.endswith(" background on")][-1]
    assert turn_on.exit_code == 0 and "Background listening is on" in turn_on.output, turn_on.output
    assert run.stdout.startswith("Done: Background listening is on"), run.stdout


# --- an idle interactive session, woken by a peer ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tmux() -> str:
    return require_tool("tmux")


def report(mode: str, asked: list[Asked]) -> None:
    """The measured latencies (shown with pytest -s or -rP; bench/ gets them from woken_turn_latency())."""
    for i, a in enumerate(asked):
        print(f"{mode} round {i}: send -> woken turn {a.woken_s:.2f} s, send -> answer {a.answered_s:.2f} s")


def check_answered(got: Asked, question: str) -> str:
    """The peer got lib's answer to its question, from a turn something woke; returns what woke it."""
    assert got.returncode == 0, f"ask exited {got.returncode}: {got.stderr}{got.stdout}"
    assert got.stdout.strip() == answer(question), got.stdout
    assert got.woken is not None, "lib answered without a woken turn?"
    return got.woken.prompt_text()


def test_an_idle_interactive_session_is_woken_by_the_stop_hook_and_answers(claude, tmux, tmp_path):
    with IdleSession(tmp_path, claude, "hook", answer) as lib:
        # twice: after a woken turn the Stop hook waits again ("background listening stays on")
        asked = []
        for question in (QUESTION, "and in v3?"):
            got = lib.ask(question)
            asked.append(got)
            wake = check_answered(got, question)
            # the Stop hook's message (whole, with the reply command), not the monitor's pointer
            assert "Stop hook" in wake and "[query] from app" in wake and question in wake, wake
            assert not POINTER_RE.search(wake), wake
            # the model answered with the reply command the message named, at once
            assert [subcommand(e.command) for e in got.last.exchanges(since_prompt=True)] == ["reply"]
        lib.pane.wait_text("Answered: Replied to", 30, "the woken turn's last words in lib's pane")
    report("Stop hook", asked)


MONITORS = REPO / "monitors" / "monitors.json"


@pytest.mark.skipif(not MONITORS.exists(), reason="the plugin has no monitor yet (monitors/monitors.json)")
def test_an_idle_interactive_session_is_woken_by_the_plugin_monitor_and_answers(claude, tmux, tmp_path):
    with IdleSession(tmp_path, claude, "monitor", answer) as lib:
        asked = []
        for question in (QUESTION, "and in v3?"):
            got = lib.ask(question)
            asked.append(got)
            wake = check_answered(got, question)
            # the monitor's one-line pointer woke it (a task notification), not the Stop hook's message
            assert "Monitor event" in wake and "Stop hook" not in wake, wake
            assert POINTER_RE.search(wake) and f"from app waits: \"{question}\"" in wake, wake
            # (Claude Code also runs the prompt hook for that turn, which hands the whole message over; the model
            # answers from it, or takes it with the read command the line names)
            assert [subcommand(e.command) for e in got.last.exchanges(since_prompt=True)][-1:] == ["reply"]
        lib.pane.wait_text("Answered: Replied to", 30, "the woken turn's last words in lib's pane")
    report("monitor", asked)


@pytest.mark.skipif(not MONITORS.exists(), reason="the plugin has no monitor yet (monitors/monitors.json)")
def test_the_monitor_line_names_a_command_a_plugin_only_user_can_run(claude, tmux, tmp_path):
    """Most users have the CLI only in the plugin's private venv (not on PATH): the monitor's line must name a
    command that runs for them, as the hooks' texts do (the plugin's launcher)."""
    with IdleSession(tmp_path, claude, "monitor", answer, plugin_only=True) as lib:
        got = lib.ask(QUESTION)
        wake = check_answered(got, QUESTION)
        pointer = POINTER_RE.search(wake)
        assert pointer, wake
        r = subprocess.run(["sh", "-c", f"{pointer.group('cmd')} --version"], env=lib.user.env(), cwd=lib.lib,
                           capture_output=True, text=True, timeout=60)
    line = next(ln for ln in wake.splitlines() if "take it with:" in ln)
    assert r.returncode == 0, (
        f"the monitor's line tells the model to run `{pointer.group('cmd')} read {pointer.group('id')}`, which a "
        f"user with only the plugin cannot run ({r.stderr.strip()}); the hooks' texts name the plugin's launcher "
        "(${CLAUDE_PLUGIN_ROOT}/scripts/session-bridge). The monitor's process gets no CLAUDE_PLUGIN_ROOT in its "
        f"environment, so render.cli_command() falls back to `session-bridge`.\nThe line: {line}")


# --- the command name users are told to type --------------------------------------------------------------------


def test_the_slash_command_the_readme_names_is_one_claude_code_runs(user):
    """The README tells Claude Code users to type `/bridge ...`; Claude Code must run the plugin's command for it."""
    typed = re.search(r"^> (/[\w:.-]+) start ", (REPO / "README.md").read_text(), re.M)
    assert typed, "the README's Claude Code section shows no `> /<command> start` line"
    with MessagesApi(lambda req: Turn("ok")) as api:
        r = user.run_p(f"{typed.group(1)} status", api, cwd=project(user, "lib"))
    assert r.returncode == 0, r.stderr
    prompt = api.main_requests()[0].prompt_text()
    assert "<command-name>" in prompt and "Take the first word of the arguments as the action" in prompt, (
        f"Claude Code does not run `{typed.group(1)} status` (README.md) as the plugin's command: plugin commands "
        f"are namespaced, this one is {COMMAND}. What the model was told instead:\n"
        + "\n".join(line for line in prompt.splitlines() if "slash command" in line)[:600])
