"""The tmux driver (bridge/drivers/tmux.py) against a real tmux server started on its own socket per test: a fake
agent that records every byte it reads, real bash, and the real Claude Code TUI driven offline by the scripted
Messages API (tests/messages_api.py)."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import REPO, require_tool, wait_until
from tmux_support import (CLAUDE_ASK_TEXT, CLAUDE_BUSY, CLAUDE_BUSY_DRAFT, CLAUDE_IDLE, CLAUDE_MENU, Tmux,
                          clean_env, fake_agent, read)

from bridge.drivers import tmux as driver
from bridge.drivers.tmux import NoPane, PaneRef, detect_question, pane_for, push, read_peer, respond, sanitize

# Everything a hostile or broken peer could put in a pointer: quotes, $, backticks, backslashes, ';' (tmux's
# command separator), tabs, newlines, CR, ESC sequences (colour, the end of a bracketed paste), ^C, ^D, NUL, DEL,
# a C1 CSI, bidi overrides, wide characters.
HOSTILE = ("session-bridge: query msg-1 from 'lib' \"quoted\" waits; take it with: session-bridge read msg-1\n"
           "$HOME $(touch /tmp/pwned) `id` \\back\\slash \\n not-a-newline; trailing semicolon;\n"
           "\tindented by a tab\n"
           "keys: esc\x1b[31mred\x1b[0m bell\x07 ctrl-c\x03 ctrl-d\x04 nul\x00 bs\x08 del\x7f c1\x9b crlf\r\n"
           "end-paste\x1b[201~ after; unicode é ❯ 漢字 rtl\u202eevil\u202c;")


def pasted(text: str, enter: bool = True) -> bytes:
    """The bytes a program with bracketed paste on reads for push(text): the escaped text with tmux's newline
    separator (CR, as a terminal pastes), inside the paste brackets, then Enter."""
    return b"\x1b[200~" + sanitize(text).replace("\n", "\r").encode() + b"\x1b[201~" + (b"\r" if enter else b"")


@pytest.fixture(scope="module")
def tmux_bin() -> str:
    return require_tool("tmux")


@pytest.fixture
def tmux(tmux_bin, tmp_path):
    t = Tmux(tmp_path, clean_env(tmp_path))
    yield t
    t.kill()


@pytest.fixture
def state(tmp_path) -> Path:
    return tmp_path / "push-state"


_marks = iter(range(1, 10**6))


def marked(tmux: Tmux, pane: PaneRef, log: Path) -> bytes:
    """Everything the program read before a unique marker typed now, markers removed: what the driver sent it so
    far (tmux delivers a pane's input in order)."""
    mark = f"<MARK{next(_marks)}>".encode()
    tmux.keys(pane, "-l", mark.decode())
    data = wait_until(lambda: read(log) if read(log).endswith(mark) else None, 30, "the marker")
    return re.sub(rb"<MARK\d+>", b"", data)


# --- push ----------------------------------------------------------------------------------------------------------


def test_sanitize_leaves_no_control_character_but_newline_and_tab():
    out = sanitize(HOSTILE)
    assert {c for c in out if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0} == {"\n", "\t"}
    assert "\u202e" not in out and "\\u202e" in out
    assert "\\x1b[201~" in out and "\\x03" in out and "\\x00" in out and "\\x9b" in out
    assert "crlf\nend-paste" in out  # CRLF is a line end, not a stray CR
    assert "$HOME $(touch /tmp/pwned) `id` \\back\\slash" in out


def test_push_of_hostile_text_arrives_byte_exact_as_one_bracketed_paste_then_enter(tmux, tmp_path, state):
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_IDLE)
    assert detect_question(pane).state == "idle"

    r = push(pane, HOSTILE, state_dir=state)

    assert r.status == "pushed", r
    assert r.text == sanitize(HOSTILE) and "not yet read" in r.detail
    expected = pasted(HOSTILE)
    got = wait_until(lambda: read(log) if len(read(log)) >= len(expected) else None, 30, "the pasted bytes")
    assert got == expected
    buffers = tmux.server.cmd("list-buffers", "-F", "#{buffer_name}").stdout
    assert buffers == []  # the uniquely named buffer was deleted
    assert not [p for p in state.iterdir() if p.name.startswith(".session-bridge-")]  # and its scratch file


@pytest.mark.parametrize("screen", [CLAUDE_BUSY, CLAUDE_BUSY_DRAFT], ids=["working", "working-with-a-draft"])
def test_push_is_refused_while_the_agent_is_busy_and_nothing_reaches_it(tmux, tmp_path, state, screen):
    pane, log = fake_agent(tmux, tmp_path, screen)

    r = push(pane, "session-bridge: a message waits", state_dir=state)

    assert r.status == "busy", r
    assert r.detection.state == "busy" and r.detection.agent == "claude-code"
    assert any("esc to interrupt" in e or "Perusing…" in e for e in r.detection.evidence)
    assert marked(tmux, pane, log) == b""
    assert not list(state.glob("*.json"))  # a refused push starts no cooldown


@pytest.mark.parametrize("screen,state_", [(CLAUDE_MENU, "menu"), (CLAUDE_ASK_TEXT, "text")])
def test_push_is_refused_while_the_agent_asks_something(tmux, tmp_path, state, screen, state_):
    pane, log = fake_agent(tmux, tmp_path, screen)

    r = push(pane, "session-bridge: a message waits", state_dir=state)

    assert (r.status, r.detection.state) == ("busy", state_)
    assert marked(tmux, pane, log) == b""


def push_in_another_process(pane: PaneRef, text: str, state: Path, cooldown: float) -> subprocess.Popen:
    code = ("import json, sys\n"
            "from bridge.drivers.tmux import PaneRef, push\n"
            "r = push(PaneRef.from_dict(json.loads(sys.argv[1])), sys.argv[2], state_dir=sys.argv[3],"
            " cooldown=float(sys.argv[4]))\n"
            "print(json.dumps(r.to_dict()))\n")
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(pane.to_dict()), text, str(state), str(cooldown)],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_a_second_push_within_the_cooldown_is_refused_in_this_and_in_other_processes(tmux, tmp_path, state):
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_IDLE)

    first = push(pane, "first", state_dir=state, cooldown=600)
    again = push(pane, "second", state_dir=state, cooldown=600)
    other = json.loads(push_in_another_process(pane, "third", state, 600).communicate(timeout=60)[0])

    assert first.status == "pushed"
    assert again.status == "cooldown" and 0 < again.retry_after <= 600
    assert other["status"] == "cooldown"
    assert marked(tmux, pane, log) == pasted("first")
    # The cooldown is the caller's: with none, the same pane takes the next push at once.
    assert push(pane, "fourth", state_dir=state, cooldown=0).status == "pushed"
    assert marked(tmux, pane, log) == pasted("first") + pasted("fourth")


def test_concurrent_pushes_from_several_processes_push_once(tmux, tmp_path, state):
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_IDLE)

    procs = [push_in_another_process(pane, f"push {i}", state, 600) for i in range(4)]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]

    assert sorted(r["status"] for r in results) == ["cooldown", "cooldown", "cooldown", "pushed"]
    winner = next(r for r in results if r["status"] == "pushed")
    assert marked(tmux, pane, log) == pasted(winner["text"])


def test_push_without_enter_leaves_the_text_unsent(tmux, tmp_path, state):
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_IDLE)
    assert push(pane, "look at msg-1", state_dir=state, enter=False).status == "pushed"
    assert marked(tmux, pane, log) == pasted("look at msg-1", enter=False)


def test_push_refuses_empty_and_oversized_text(tmux, tmp_path, state):
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_IDLE)
    assert push(pane, " \n ", state_dir=state).status == "refused"
    big = push(pane, "x" * (driver.PUSH_CAP + 1), state_dir=state)
    assert big.status == "refused" and str(driver.PUSH_CAP) in big.detail
    assert marked(tmux, pane, log) == b""


# --- reading and detecting -----------------------------------------------------------------------------------------


def test_read_peer_is_plain_text_and_takes_the_last_lines(tmux, tmp_path):
    screen = "first row\n\x1b[31mred text\x1b[0m and \x1b[1mbold\x1b[0m\nthird row ‸"
    pane, _ = fake_agent(tmux, tmp_path, screen)

    text = read_peer(pane)

    assert "red text and bold" in text and "\x1b" not in text
    assert text.endswith("third row")  # trailing blank rows dropped
    assert read_peer(pane, lines=2) == "red text and bold\nthird row"


def test_detect_claude_menu_reads_question_and_options_and_respond_picks_one(tmux, tmp_path):
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_MENU)

    d = detect_question(pane)

    assert (d.state, d.agent) == ("menu", "claude-code")
    assert d.question == "Do you want to proceed?"
    assert [(o.number, o.label, o.selected) for o in d.options] == [
        (1, "Yes", True),
        (2, "Yes, and always allow access to /tmp/project from this project", False),
        (3, "Yes, and switch to auto mode · auto mode handles these prompts for you", False),
        (4, "No", False)]
    assert "Esc to cancel · Tab to amend" in d.evidence
    assert json.loads(json.dumps(d.to_dict()))["options"][3] == {"number": 4, "label": "No", "selected": False}

    assert respond(pane, choice=9).status == "refused"
    assert respond(pane, text="Yes").status == "refused"  # a menu takes a choice, not text
    assert respond(pane, keys=["rm -rf /"]).status == "refused"  # only key names are keys
    assert marked(tmux, pane, log) == b""
    r = respond(pane, choice=2, confirm=0)  # (the fake never redraws: nothing to confirm)
    assert (r.status, r.sent, r.changed) == ("sent", ["-l", "--", "2"], None)
    assert marked(tmux, pane, log) == b"2"  # Claude Code picks on the digit, no Enter


def test_detect_claude_text_field_and_respond_types_literal_text(tmux, tmp_path):
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_ASK_TEXT)
    d = detect_question(pane)
    assert d.state == "text" and d.question == "Which color do you want?"
    assert [o.label for o in d.options] == ["Red", "Blue", "Type something.", "Chat about this"]

    answer = "green; not Enter nor C-c: $HOME `id` 'q' \"qq\" \\; esc\x1b[2J ^C\x03;"
    assert respond(pane, text=answer, confirm=0).status == "sent"

    assert marked(tmux, pane, log) == sanitize(answer).encode() + b"\r"


@pytest.mark.parametrize("screen,state_,why", [
    (CLAUDE_IDLE, "idle", "input box is empty"),
    (CLAUDE_BUSY, "busy", "esc to interrupt"),
    (CLAUDE_BUSY_DRAFT, "busy", "spinner"),
    (CLAUDE_MENU, "menu", "menu"),
    (CLAUDE_ASK_TEXT, "text", "text field"),
    (CLAUDE_IDLE.replace("❯ ‸", "❯ half a prompt‸"), "text", "typing"),
    ("╭" + "─" * 60 + "╮\n│ > ‸" + " " * 55 + "│\n╰" + "─" * 60 + "╯\n  ? for shortcuts", "idle", "input box"),
    ("Just some program output\nnothing to see ‸", "unknown", ""),
], ids=["idle", "working", "working-with-a-draft", "menu", "text-field", "draft", "older-box", "other"])
def test_detect_question_reads_claude_code_screens(tmux, tmp_path, screen, state_, why):
    pane, _ = fake_agent(tmux, tmp_path, screen)
    d = detect_question(pane)
    assert d.state == state_, d
    assert why in d.why
    assert d.evidence


def test_a_pane_in_copy_mode_is_busy(tmux, tmp_path, state):
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_IDLE)
    tmux.server.cmd("copy-mode", "-t", pane.pane)  # someone scrolls the pane: keys would go to tmux
    r = push(pane, "a pointer", state_dir=state)
    assert (r.status, r.detection.state) == ("busy", "busy") and "copy mode" in r.detection.evidence[0]
    tmux.server.cmd("send-keys", "-t", pane.pane, "-X", "cancel")
    assert marked(tmux, pane, log) == b""


def test_a_table_is_data_a_new_agent_is_one_more_table(tmux, tmp_path, state, monkeypatch):
    monkeypatch.setitem(driver.TABLES, "toy", driver.Screens(
        agent="toy", commands=frozenset({"toy-agent"}),
        rules=(driver.Rule("busy", (r"^\[thinking\]",)), driver.Rule("idle", cursor=r"^toy> $", why="toy prompt")),
        option=r"^(?P<number>\d+)\) (?P<label>.+)$"))
    pane, log = fake_agent(tmux, tmp_path, "toy agent v1\ntoy> ‸")

    assert detect_question(pane).agent == "toy"  # tried after the tables named by the foreground process
    d = detect_question(pane, agent="toy")
    assert (d.state, d.agent, d.why) == ("idle", "toy", "toy prompt")
    assert push(pane, "two\nlines", state_dir=state, agent="toy").status == "pushed"
    assert marked(tmux, pane, log) == pasted("two\nlines")
    with pytest.raises(ValueError, match="no screen table"):
        detect_question(pane, agent="nope")


# --- a real shell --------------------------------------------------------------------------------------------------


@pytest.fixture
def bash(tmux, tmp_path):
    pane = tmux.spawn(["bash", "--norc", "--noprofile", "-i"], cwd=tmp_path,
                      env={"PS1": "$ ", "HISTFILE": "/dev/null"})
    wait_until(lambda: detect_question(pane).state == "idle", 30, "the shell's prompt")
    return pane


def test_shell_prompt_is_idle_and_a_push_runs_one_line_with_controls_escaped(bash, tmp_path, state):
    d = detect_question(bash)
    assert (d.state, d.agent, d.command) == ("idle", "shell", "bash")
    assert "'$'" in d.evidence[-1]

    r = push(bash, "printf '%s' 'a\x1b[31m $HOME `id`;' > out.txt", state_dir=state, cooldown=0)

    assert r.status == "pushed", r
    out = tmp_path / "out.txt"
    wait_until(lambda: read(out), 30, "the pushed command's output")
    assert read(out) == b"a\\x1b[31m $HOME `id`;"
    many = push(bash, "echo one\necho two", state_dir=state, cooldown=0)
    assert many.status == "refused" and "bracketed paste" in many.detail


def test_shell_running_a_command_is_busy_until_interrupted(bash, state):
    assert push(bash, "sleep 600", state_dir=state, cooldown=0).status == "pushed"
    d = wait_until(lambda: (lambda d: d if d.state == "busy" else None)(detect_question(bash)), 30, "busy")
    assert d.command == "sleep" and "sleep" in d.evidence[0]
    assert push(bash, "echo hi", state_dir=state, cooldown=0).status == "busy"
    assert respond(bash, keys=["C-c"]).status == "refused"  # a busy pane asks nothing: only force sends keys
    assert respond(bash, keys=["C-c"], force=True).status == "sent"
    wait_until(lambda: detect_question(bash).state == "idle", 30, "the prompt after ^C")


def test_shell_select_menu_and_read_question(bash, tmp_path, state):
    push(bash, 'select c in red green blue; do echo "$c" > choice.txt; break; done', state_dir=state, cooldown=0)
    d = wait_until(lambda: (lambda d: d if d.state == "menu" else None)(detect_question(bash)), 30, "the menu")
    assert [(o.number, o.label) for o in d.options] == [(1, "red"), (2, "green"), (3, "blue")]
    assert respond(bash, choice=2).sent == ["-l", "--", "2", "Enter"]
    wait_until(lambda: read(tmp_path / "choice.txt") == b"green\n", 30, "the choice")

    wait_until(lambda: detect_question(bash).state == "idle", 30, "the prompt")
    push(bash, 'read -p "Your name: " n; echo "hello $n" > name.txt', state_dir=state, cooldown=0)
    d = wait_until(lambda: (lambda d: d if d.state == "text" else None)(detect_question(bash)), 30, "the question")
    assert "Your name:" in d.evidence[-1]
    assert respond(bash, text="Ada; $HOME `id`").status == "sent"
    wait_until(lambda: read(tmp_path / "name.txt") == b"hello Ada; $HOME `id`\n", 30, "the answer")


# --- naming a pane -------------------------------------------------------------------------------------------------


def test_pane_for_from_the_environment_the_process_or_a_target(tmux, tmp_path):
    pane, _ = fake_agent(tmux, tmp_path, CLAUDE_IDLE)
    pid = int(tmux.server.cmd("display-message", "-p", "-t", pane.pane, "#{pane_pid}").stdout[0])

    from_pid = pane_for(pid=pid)  # the agent's own $TMUX / $TMUX_PANE
    env = {"TMUX": f"{tmux.socket},1,0", "TMUX_PANE": pane.pane}
    assert from_pid == pane_for(env=env) == pane
    assert pane.socket == tmux.socket and re.fullmatch(r"%\d+", pane.pane) and pane.server_pid > 0
    window = tmux.server.cmd("display-message", "-p", "-t", pane.pane, "#{session_name}:#{window_index}.0").stdout[0]
    assert pane_for(window, socket=tmux.socket) == pane
    assert pane_for(pane.pane, env=env) == pane  # the socket from $TMUX
    record = json.loads(json.dumps(pane.to_dict()))
    assert PaneRef.from_dict(record) == pane
    assert detect_question(record).state == "idle"  # a manifest's record is a pane


def test_no_pane(tmux, tmp_path, state):
    with pytest.raises(NoPane, match="does not run inside tmux"):
        pane_for(env={})
    with pytest.raises(NoPane, match="no tmux pane"):
        pane_for("%999", socket=tmux.socket)
    with pytest.raises(NoPane, match="not a tmux pane"):
        pane_for("-t", socket=tmux.socket)
    with pytest.raises(NoPane, match="not a tmux pane record"):
        PaneRef.from_dict({"socket": "relative", "pane": "%1"})

    gone = PaneRef(tmux.socket, "%999", None)
    assert push(gone, "hi", state_dir=state).status == "no-pane"
    assert respond(gone, choice=1).status == "no-pane"
    with pytest.raises(NoPane):
        read_peer(gone)

    pane, _ = fake_agent(tmux, tmp_path, CLAUDE_IDLE)
    tmux.kill()  # a new server on the same socket reuses pane ids: the old record must not name its pane
    again = Tmux(tmp_path, clean_env(tmp_path))
    try:
        again.spawn(["cat"])
        with pytest.raises(NoPane, match="restarted"):
            detect_question(pane)
        assert push(pane, "hi", state_dir=state).status == "no-pane"
    finally:
        again.kill()


# --- latency -------------------------------------------------------------------------------------------------------


def test_push_latency(tmux, tmp_path, state, capsys):
    """From the push() call to the program reading the Enter: reported, never asserted on."""
    pane, log = fake_agent(tmux, tmp_path, CLAUDE_IDLE)
    times = []
    for i in range(15):
        size = len(read(log))
        expected = size + len(pasted(f"pointer {i}"))
        start = time.perf_counter()
        assert push(pane, f"pointer {i}", state_dir=state, cooldown=0).status == "pushed"
        wait_until(lambda: len(read(log)) >= expected, 30, "the push", every=0.0005)
        times.append(time.perf_counter() - start)
    with capsys.disabled():
        print(f"\npush latency (push() call -> bytes read by the program), {len(times)} pushes: median "
              f"{statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.1f} ms")


# --- the real Claude Code TUI, offline -----------------------------------------------------------------------------


def claude_policy(req):
    """The scripted model: a prompt with `RUN-MENU <path>` gets a Bash call that writes <path> (a permission menu);
    `RUN-WAIT <path>` one that runs until <path> exists (busy); a tool's result or any other prompt a short answer.
    (A prompt sent after an interrupted call shares its user message with that call's tool_result.)"""
    from messages_api import Turn, bash as bash_call, text

    users = [i for i, m in enumerate(req.messages) if m.get("role") == "user"]  # (Claude may add a system one)
    last = req.messages[users[-1]] if users else {}
    blocks = last.get("content") if isinstance(last.get("content"), list) else [{"type": "text",
                                                                                  "text": last.get("content", "")}]
    said = "\n".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
    before = json.dumps(req.messages[:users[-1]]) if users else ""
    if (m := re.search(r"RUN-MENU (\S+)", said)) and m[1] not in before:
        return Turn(bash_call(f"echo approved > {m[1]}", "write a file"))
    if (m := re.search(r"RUN-WAIT (\S+)", said)) and m[1] not in before:
        wait = f"import os, time\nwhile not os.path.exists({m[1]!r}): time.sleep(0.1)"
        return Turn(bash_call(f"python3 -c \"{wait}\"", "wait for a file"))
    return Turn(text("done" if any(b.get("type") == "tool_result" for b in blocks if isinstance(b, dict))
                     else "noted"))


@pytest.fixture(scope="module")
def claude(tmux_bin, tmp_path_factory):
    """Interactive `claude` (fresh HOME: onboarding done, folder trusted, API key approved; default permission
    mode) in a pane of its own tmux server, talking to the scripted Messages API. Yields (pane, api, tmp)."""
    claude_bin = require_tool("claude")
    try:
        from messages_api import MessagesApi
    except ImportError:
        pytest.fail("tests/messages_api.py (the scripted Messages API) is missing")
    tmp = tmp_path_factory.mktemp("claude")
    home, project = tmp / "home", tmp / "project"
    home.mkdir()
    project.mkdir()
    (tmp / "tmp").mkdir()
    with MessagesApi(claude_policy) as api:
        key = api.env()["ANTHROPIC_API_KEY"]
        (home / ".claude.json").write_text(json.dumps({
            "hasCompletedOnboarding": True, "theme": "dark",
            "customApiKeyResponses": {"approved": [key[-20:]], "rejected": []},
            "projects": {str(project): {"hasTrustDialogAccepted": True, "allowedTools": []}}}))
        env = clean_env(home, TMPDIR=str(tmp / "tmp"), **api.env())
        env["PATH"] = f"{os.path.dirname(claude_bin)}:{env['PATH']}"
        server = Tmux(tmp, env)
        try:
            pane = server.spawn([claude_bin, "--permission-mode", "default"], cwd=project)
            wait_until(lambda: detect_question(pane).state == "idle", 120, "claude's prompt")
            yield pane, api, tmp
        finally:
            server.kill()
        api.check()


def settle(pane: PaneRef) -> None:
    """Back to claude's empty prompt (a failed test may have left a menu open)."""
    def idle():
        d = detect_question(pane)
        if d.state in ("menu", "text"):
            respond(pane, keys=["Escape"])
        return d.state == "idle"

    wait_until(idle, 120, "claude's prompt", every=0.2)


def state_of(pane: PaneRef, want: str, timeout: float = 120) -> driver.Detection:
    return wait_until(lambda: (lambda d: d if d.state == want else None)(detect_question(pane)), timeout,
                      f"claude {want}", every=0.1)


def test_claude_idle_at_its_prompt(claude):
    pane, _, _ = claude
    settle(pane)
    d = detect_question(pane)
    assert (d.state, d.agent, d.command) == ("idle", "claude-code", "claude")
    assert d.why == "the input box is empty and has the cursor"


def test_push_to_idle_claude_reaches_the_model_as_the_pushed_text(claude, tmp_path, capsys):
    pane, api, _ = claude
    settle(pane)
    seen = len(api.requests)
    text = ("session-bridge: query msg-20261121-abc from 'lib' waits; take it with: session-bridge read "
            "msg-20261121-abc\nhostile: $HOME `id` \\ \x1b[2J \x03 \u202e end;")

    start = time.monotonic()
    r = push(pane, text, state_dir=tmp_path / "state")

    assert r.status == "pushed", r
    req = api.wait_for(lambda q: q.is_main and "msg-20261121-abc" in q.last_user_text(), after=seen,
                       what="the pushed prompt")
    typed = [b["text"] for m in req.messages if m.get("role") == "user" and isinstance(m.get("content"), list)
             for b in m["content"] if b.get("type") == "text" and "msg-20261121-abc" in b.get("text", "")]
    assert typed == [sanitize(text)]  # one text block, exactly the escaped text (Claude adds its own blocks beside)
    with capsys.disabled():
        print(f"\nclaude: push() call -> the model request carrying the text: {(req.at - start) * 1000:.0f} ms")
    state_of(pane, "idle")


def test_claude_permission_menu_detected_push_refused_and_respond_chooses(claude, tmp_path):
    pane, api, _ = claude
    settle(pane)
    target = tmp_path / "approved.txt"

    assert push(pane, f"RUN-MENU {target}", state_dir=tmp_path / "state").status == "pushed"
    d = state_of(pane, "menu")

    assert d.question == "Do you want to proceed?"
    labels = [o.label for o in d.options]
    assert labels[0] == "Yes" and labels[-1] == "No" and d.options[0].selected
    refused = push(pane, "a pointer", state_dir=tmp_path / "other-state")
    assert (refused.status, refused.detection.state) == ("busy", "menu")  # a push never lands in a menu
    r = respond(pane, choice=1)
    assert (r.status, r.changed) == ("sent", True), r
    wait_until(lambda: read(target) == b"approved\n", 120, "the approved command")
    state_of(pane, "idle")


def test_claude_busy_running_a_command_refuses_pushes(claude, tmp_path):
    pane, api, _ = claude
    settle(pane)
    go = tmp_path / "go"
    push(pane, f"RUN-WAIT {go}", state_dir=tmp_path / "state")
    state_of(pane, "menu")
    assert respond(pane, choice=1).changed
    d = state_of(pane, "busy")
    try:
        r = push(pane, "a pointer", state_dir=tmp_path / "other-state")
        assert (r.status, r.detection.state) == ("busy", "busy"), r
        assert d.evidence
    finally:
        go.touch()
    state_of(pane, "idle")
