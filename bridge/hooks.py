"""The agents' hooks: a thin front-end over the core API (bridge/__init__.py), for every host that has hooks.

    session-bridge hook session-start       bind this Claude session to the project's bridge session; state summary
    session-bridge hook user-prompt-submit  messages waiting for this session, claimed once, as additionalContext
                                            (Claude Code's UserPromptSubmit, Codex's too, Gemini CLI's BeforeAgent)
    session-bridge hook session-end         stop the bridge session on a real exit; keep it on clear and resume
    session-bridge hook background-listen   (Stop, asyncRewake) wait for a message; exit 2 with it to wake the agent
    session-bridge background on|off        opt in to background listening for this session
    session-bridge cursor-hook              Cursor's stop hook: waiting messages as its next turn (followup_message)
    session-bridge hook pre-tool-use        the no-auto-commit guard (Claude Code's PreToolUse, Codex's, Qwen Code's):
                                            deny git commit/push/reset and settings changes where auto-mode drives;
                                            the same for Gemini CLI (before-tool), Cursor (before-shell-execution)
                                            and Copilot CLI (copilot-pre-tool-use), each in its host's format

Each hook reads the event's JSON payload on stdin, prints one JSON object and exits 0 within its deadline, whatever
state the bridge is in: a broken bridge must never block the user's prompt. The background listener alone exits 2,
by design: that is how an asyncRewake hook wakes an idle session. The pending-message text is the core's digest.
The guard alone may deny (a tool call, never a prompt), and only in a session auto-mode drives; a broken bridge
allows, except in a run auto-mode started (BRIDGE_AUTO=1), where it still denies what the default rules deny.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time

import orjson
import psutil

import bridge
from bridge import render
from bridge.errors import BridgeError
from bridge.render import TRUST
from bridge.terminal import safe_line

MAX_CONTEXT = 8000  # characters of additionalContext per prompt; Claude Code previews much longer text only in part
DEADLINE_S = 8.0  # every hook answers within this (BRIDGE_HOOK_DEADLINE); hooks.json allows 10 s
MAX_PAYLOAD = 1 << 20  # an event's JSON is a few KB; never read an endless stdin
BACKGROUND_TIMEOUT_S = 23 * 3600  # a background listener gives up before hooks.json's 24 h timeout ends it
# How a hook words a core error's next step: the user sees it in Claude Code, where /bridge is the way in.
WORDS = {"start": "/bridge start", "peers": "/bridge peers", "status": "/bridge status", "inbox": "/bridge inbox",
         "outbox": "session-bridge outbox", "listen": "/bridge listen", "receive": "session-bridge receive {}",
         "gc": "session-bridge gc"}
# `background` is a command the agent runs in a shell: its errors name CLI commands.
SHELL_WORDS = {"start": "session-bridge start", "peers": "session-bridge peers", "status": "session-bridge status",
               "inbox": "session-bridge inbox --all", "outbox": "session-bridge outbox",
               "listen": "session-bridge listen", "receive": "session-bridge receive {}", "gc": "session-bridge gc"}


# --- output ------------------------------------------------------------------------------------------------------


def say(text: str) -> None:
    """A line on stderr: the agent's hook log (or, for the background listener, the model)."""
    print(text, file=sys.stderr, flush=True)


def emit(out: dict) -> None:
    """Print the hook's one line of JSON and flush."""
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    sys.stdout.flush()


def context(event: str, text: str) -> dict:
    """Claude-shaped hook output that adds `text` to the model's context."""
    return {"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}}


def cli() -> str:
    """The command the model runs: the plugin's launcher when called from the plugin, else the CLI on PATH."""
    return render.cli_command()


# --- plumbing ----------------------------------------------------------------------------------------------------


class _Late(Exception):
    pass


def _too_late(signum: int, frame: object) -> None:
    raise _Late


def _started() -> float:
    """When this process started (its imports count against the hook's budget too)."""
    try:
        return psutil.Process().create_time()
    except psutil.Error:
        return time.time()


class Answer:
    """The hook's one line of JSON. Everything before send() runs under the deadline; send() disarms it first, so
    once the model's text is written the hook finishes delivering it (marks it read) instead of being cut off."""

    def __init__(self) -> None:
        self.sent = False

    def send(self, out: dict) -> None:
        """Disarm the deadline, then print and flush the JSON (at most once)."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        if not self.sent:
            self.sent = True
            emit(out)


def deadline_s() -> float:
    """The hook's budget in seconds (BRIDGE_HOOK_DEADLINE, default 8), finite and positive."""
    try:
        limit = float(os.environ.get("BRIDGE_HOOK_DEADLINE") or DEADLINE_S)
    except ValueError:
        return DEADLINE_S
    return limit if math.isfinite(limit) and limit > 0 else DEADLINE_S


def payload() -> dict:
    """The hook's stdin JSON; {} when there is none or it is not a JSON object (read under the deadline)."""
    if sys.stdin is None or sys.stdin.isatty():
        return {}
    try:
        data = orjson.loads(sys.stdin.buffer.read(MAX_PAYLOAD + 1)[:MAX_PAYLOAD] or b"{}")
    except (orjson.JSONDecodeError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def agent_id(data: dict) -> str | None:
    sid = data.get("session_id")
    return sid if isinstance(sid, str) and sid else None


def answered(event: str):
    """Run a hook body fn(data, answer) under a deadline counted from process start, stdin included. The body may
    send its JSON itself (answer.send) or return it; on any failure or timeout a safe answer is printed instead.
    Exactly one line of valid JSON, exit code 0."""

    def wrap(fn):
        def run() -> None:
            limit = deadline_s()
            answer = Answer()
            previous = signal.signal(signal.SIGALRM, _too_late)
            try:
                signal.setitimer(signal.ITIMER_REAL, max(limit - (time.time() - _started()), 0.001))
                out = fn(payload(), answer)
            except _Late:
                say(f"session-bridge {event} hook gave up after {limit:g}s")
                out = {}
            except Exception as e:  # noqa: BLE001 - a hook must answer even when the bridge is broken
                say(f"session-bridge {event} hook: {e}")
                out = fallback(event, e)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            try:
                answer.send(out or {})
            except OSError:
                pass  # nobody reads our answer any more; nothing was marked read

        run.__name__, run.__doc__ = fn.__name__, fn.__doc__
        return run

    return wrap


def fallback(event: str, error: Exception) -> dict:
    """What a hook says when the bridge itself is broken: once, at session start, where the user sees it."""
    if event == "SessionStart" and isinstance(error, BridgeError):
        return {"systemMessage": f"session-bridge: {error.worded(WORDS)}"}
    return {}


def report(me: bridge.Session) -> None:
    """Say once, on stderr (the agent's hook log), which inbox files this hook moved to quarantine."""
    for note in me.mailbox.reports:
        say(f"warning: {safe_line(note)}")


def handed_over(me: bridge.Session, head: str, read_more: str, send) -> None:
    """Hand the agent the core's digest of waiting messages through send(text); they are read once it is written."""
    from bridge import delivery

    with bridge.digest(me, MAX_CONTEXT, head, cli(), read_more) as text:
        if text is not None:
            send(text)
    if text is not None:
        delivery.record(me, "hook", True, "handed messages over with a prompt")
    report(me)


# --- the hooks ---------------------------------------------------------------------------------------------------


@answered("SessionStart")
def session_start(data: dict, answer: Answer) -> dict:
    """Bind this Claude session to the project's bridge session, if it has one, and summarise its state."""
    from bridge import rooms, sessions

    me = bridge.bind(bridge.bridge_dir(), agent_id(data))
    if me is None and all(sessions.team_env()):
        me, _ = bridge.start()  # launched as BRIDGE_ROOM=... BRIDGE_ROLE=... claude: it joins its room at once
    if me is None:
        return {}
    info = bridge.status(me)
    waiting, more = bridge.must_read(me)
    peers = ", ".join(f"{c['name'] or '?'} ({c['sessionId']}, {c['status']}"  # with what each says it works on
                      + (f"; working on: {c['summary'] if len(c['summary']) <= 100 else c['summary'][:99] + '…'}"
                         if c.get("summary") else "") + ")" for c in info["connections"])
    lines = [
        f"session-bridge: this Claude Code session is bridge session {me.id} ({me.name}); peers ask it with: "
        f"/bridge ask {me.name} \"...\"",
        f"Connected peers: {peers}." if peers else f"No peers connected yet (see who is running: {cli()} peers).",
    ]
    if waiting or more:
        lines.append(f"{waiting}{'+' if more else ''} message(s) wait for this session; they come with the user's "
                     f"next prompt, or read them now with: {cli()} listen --timeout 5")
    lines.append("A line starting `session-bridge:` that arrives on its own (the plugin's monitor) points at a "
                 "message that waits: take it with the read command it names, answer a query with reply, then go on "
                 "with your work.")
    if me.manifest.get("backgroundListen"):
        lines.append("Background listening is on: a peer's message wakes this session when it is idle.")
    if me.role:
        lines.append(f"This session holds role {me.role} in room {me.room}: peers address it as {me.role} (in the "
                     f"room) or {me.address}; send to a role by its name, to everyone in the room with '*'.")
        brief = rooms.briefing(me.root, me.room, me.role)
        if brief:
            lines.append(f"=== your briefing as {me.address} (saved with role-prompt; re-read after every start, "
                         f"resume, clear and compact) ===\n{brief}\n=== end of briefing ===")
    lines += [f"Use the /bridge command (ask, listen, reply, peers, status, inbox, stop); answer a query with: "
              f"{cli()} reply <message-id> \"<your answer>\"", TRUST]
    return context("SessionStart", "\n".join(lines))


@answered("UserPromptSubmit")
def user_prompt_submit(data: dict, answer: Answer) -> dict | None:
    """The messages waiting for this session, oldest first within the budget, framed as peer input. They are
    marked read only after their text is on stdout; if the deadline comes first they stay pending."""
    from bridge import delivery

    me = bridge.for_agent(bridge.bridge_dir(), agent_id(data))
    if me is None or not delivery.prompt_hook_hands_over(me):
        return {}
    handed_over(me, f"=== session-bridge: messages from peer sessions to {me.id} ===\n{TRUST}",
                f"read them one at a time with: {cli()} listen --timeout 5",
                lambda text: answer.send(context("UserPromptSubmit", text)))
    return None


KEEP_ON = ("clear", "resume")  # the same agent goes on (new conversation, or another one resumed in this process)


@answered("SessionEnd")
def session_end(data: dict, answer: Answer) -> dict:
    """Stop this Claude session's bridge session on a real exit (peers are told); keep it on clear and resume."""
    if data.get("reason") in KEEP_ON:
        return {}
    me = bridge.for_agent(bridge.bridge_dir(), agent_id(data))
    if me is not None and not me.manifest.get("seat"):  # a seat stays for its role: auto-mode wakes it again
        bridge.stop(me)
    return {}


def background_listen() -> None:
    """(Stop hook, asyncRewake) Wait for a message while the session is idle; exit 2 with it to wake the agent."""
    from bridge import delivery, views

    data = payload()
    try:
        me = bridge.for_agent(bridge.bridge_dir(), agent_id(data))
        if me is None or not me.manifest.get("backgroundListen") or not delivery.background_waits(me):
            return emit({})
        delivery.record(me, "background", True, "waiting while the session is idle")
        with bridge.listen_in_background(me, BACKGROUND_TIMEOUT_S) as msg:
            if msg is None:
                return emit({})
            say(f"session-bridge: a peer sent this session a message while it was idle.\n{TRUST}\n\n"
                f"{render.message(views.message_view(msg), cli())}\n\n"
                "Answer it now from your full context (real code, not a summary), then stop: background listening "
                "stays on and wakes you for the next one.")
            emit({})
    except Exception as e:  # noqa: BLE001 - a broken bridge must not wake the agent with a traceback
        say(f"session-bridge background listener stopped: {e}")
        return emit({})
    sys.exit(2)


@answered("stop")
def cursor_hook(data: dict, answer: Answer) -> dict | None:
    """Cursor's stop hook (init --provider cursor writes it): hand the agent the messages waiting for its session.

    Reads Cursor's hook payload on stdin and prints {"followup_message": ...} with the pending messages, claimed
    exactly once and framed as peer input, so Cursor goes on with them as its next turn; {} when nothing waits.
    Always prints valid JSON and exits 0.

    \b
    Example (in ~/.cursor/hooks.json):
        {"version": 1, "hooks": {"stop": [{"command": "/path/to/session-bridge cursor-hook"}]}}
    """
    roots = data.get("workspace_roots")
    if not os.environ.get("PROJECT_DIR") and isinstance(roots, list) and roots and isinstance(roots[0], str):
        os.environ["PROJECT_DIR"] = roots[0]
    agent = data.get("conversation_id") if isinstance(data.get("conversation_id"), str) else None
    me = bridge.for_agent(bridge.bridge_dir(), agent)
    if me is None:
        return {}
    handed_over(me, f"=== session-bridge: messages from peer sessions to {me.id} (not from the user) ===\n{TRUST}",
                "read them one at a time with the bridge_listen tool",
                lambda text: answer.send({"followup_message": text}))
    return None


# --- the no-auto-commit guard: each host's pre-tool hook ---------------------------------------------------------
#
# Every shell command the agent is about to run passes here (the plugin matches Claude Code's Bash and Monitor
# tools, init each host's shell tool): in a session auto-mode drives, policy.guard denies git's commit, push and
# reset (the `deny` limit) and changes to auto-mode's settings; everything else, and every session auto-mode does not
# drive, is left alone: {} is "no decision", the host's own permission rules then apply as if the hook were not
# there. The hooks differ only in their payload and answer. Claude-shaped (Claude Code, Codex, Qwen Code):
# {"tool_input": {"command"}} in, a hookSpecificOutput with permissionDecision "deny" out; Gemini CLI's BeforeTool:
# the same input, {"decision": "deny", "reason"} out; Cursor's beforeShellExecution: {"command", "cwd",
# "workspace_roots"} in, {"permission": "deny", "user_message", "agent_message"} out; Copilot CLI's preToolUse:
# {"toolName", "toolArgs": "<JSON>"} in, {"permissionDecision": "deny", "permissionDecisionReason"} out.

# When the bridge cannot be read in a run auto-mode started, the default pattern still holds (fail closed).
FAIL_CLOSED = ("session-bridge: denied in a run auto-mode started (no auto-commit; the bridge could not be read, so "
               "the default rules hold): a human reviews and runs git commit, push and reset, and changes auto-mode's "
               "settings; leave the change uncommitted and say so in your reply")


def shell_command(data: dict) -> str | None:
    """The shell command a pre-tool payload is about, or None: tool_input.command (Claude Code, Codex, Gemini CLI,
    Qwen Code), toolArgs' command (Copilot CLI; a JSON string), or a top-level command (Cursor)."""
    if isinstance(data.get("tool_input"), dict):
        command = data["tool_input"].get("command")
    elif "toolArgs" in data:
        args = data["toolArgs"]
        if isinstance(args, str):
            try:
                args = orjson.loads(args)
            except orjson.JSONDecodeError:
                args = None
        command = args.get("command") if isinstance(args, dict) else None
    else:
        command = data.get("command")
    return command if isinstance(command, str) and command.strip() else None


def denial(fmt: str, why: str) -> dict:
    """The host's answer that denies the tool call with `why` (shown to the model)."""
    if fmt == "gemini":
        return {"decision": "deny", "reason": why}
    if fmt == "cursor":
        return {"permission": "deny", "user_message": why, "agent_message": why}
    if fmt == "copilot":
        return {"permissionDecision": "deny", "permissionDecisionReason": why}
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                   "permissionDecisionReason": why}}


def _auto_anywhere(root) -> bool:
    """Whether any session here may be one auto-mode drives, from the disk alone: the settings exist (a role may be
    auto-woken) or a session keeps an auto-mode wake (.woken). policy.auto_driven is False for every session when
    neither holds and the caller has no BRIDGE_AUTO: the guard then answers without loading any session."""
    from bridge import layout

    if (root / layout.ROOMS / layout.SETTINGS).exists():
        return True
    folder = layout.sessions_dir(root)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return False
    return any(os.path.lexists(os.path.join(folder, name, layout.WOKEN)) for name in names)


def _project_from(data: dict) -> None:
    """Hosts that export no project directory to their hooks (Codex, Cursor, Copilot CLI) name it in the payload."""
    if os.environ.get("PROJECT_DIR") or os.environ.get("CLAUDE_PROJECT_DIR"):
        return
    roots = data.get("workspace_roots")
    where = roots[0] if isinstance(roots, list) and roots and isinstance(roots[0], str) else data.get("cwd")
    if isinstance(where, str) and os.path.isabs(where):
        os.environ["PROJECT_DIR"] = where


def why_denied(data: dict, command: str) -> str | None:
    """policy.guard's verdict on `command` for the caller's session: the one its agent holds, else (a run auto-mode
    spawned, which carries BRIDGE_SESSION_ID) the one it was started as; None allows it."""
    from bridge import identity

    root = bridge.bridge_dir()
    if not _auto_anywhere(root) and identity.env_above("BRIDGE_AUTO") != "1":
        return None
    from bridge import policy

    _project_from(data)
    agent = data.get("session_id") or data.get("conversation_id")
    me = bridge.for_agent(root, agent if isinstance(agent, str) and agent else None)
    if me is None and os.environ.get("BRIDGE_SESSION_ID"):
        me = bridge.current(root)
    return policy.guard(me, command, root)


def fail_closed(command: str) -> str | None:
    """The verdict when the bridge could not be read (a broken bridge dir, the deadline): allow, except in a run
    auto-mode started (BRIDGE_AUTO=1 here or above), where the default pattern and the settings rule still deny."""
    import re

    try:
        from bridge import identity, policy, rooms

        auto = identity.env_above("BRIDGE_AUTO") == "1"
        rules = (rooms.LIMITS["deny"], policy.SETTINGS_CHANGE)
    except Exception:  # noqa: BLE001 - the guard never stops an agent because the bridge is broken
        return None
    return FAIL_CLOSED if auto and any(re.search(r, command) for r in rules) else None


def guarded(data: dict, fmt: str) -> dict:
    """The guard's answer to a pre-tool payload in the host's format: a denial, or {} (no decision)."""
    command = shell_command(data)
    if command is None:
        return {}
    try:
        why = why_denied(data, command)
    except Exception:  # noqa: BLE001 - the deadline (_Late) too: allow, but fail closed for auto-mode's runs
        why = fail_closed(command)
    return denial(fmt, why) if why else {}


@answered("PreToolUse")
def pre_tool_use(data: dict, answer: Answer) -> dict:
    """(Claude Code's PreToolUse; Codex's and Qwen Code's) In a session auto-mode drives, deny git commit, push and
    reset (the `deny` limit) and changes to auto-mode's settings; {} (no decision) for anything else."""
    return guarded(data, "claude")


@answered("BeforeTool")
def before_tool(data: dict, answer: Answer) -> dict:
    """(Gemini CLI's BeforeTool) The guard of pre-tool-use, answered as {"decision": "deny", "reason": ...}."""
    return guarded(data, "gemini")


@answered("beforeShellExecution")
def before_shell_execution(data: dict, answer: Answer) -> dict:
    """(Cursor's beforeShellExecution) The guard of pre-tool-use, answered as {"permission": "deny", ...}."""
    return guarded(data, "cursor")


@answered("preToolUse")
def copilot_pre_tool_use(data: dict, answer: Answer) -> dict:
    """(Copilot CLI's preToolUse) The guard of pre-tool-use, answered as {"permissionDecision": "deny", ...}."""
    return guarded(data, "copilot")


# --- the commands ------------------------------------------------------------------------------------------------

EVENTS = {"session-start": session_start, "user-prompt-submit": user_prompt_submit, "session-end": session_end,
          "background-listen": background_listen, "pre-tool-use": pre_tool_use, "before-tool": before_tool,
          "before-shell-execution": before_shell_execution, "copilot-pre-tool-use": copilot_pre_tool_use}


def __getattr__(name: str) -> object:
    """`commands`, the click commands, built on first use (PEP 562): a hook run by bridge/__main__.py calls its
    function directly and never imports click, which is most of a hook's start-up cost."""
    if name != "commands":
        raise AttributeError(name)
    import click

    @click.group()
    def hook() -> None:
        """Agent hooks (the plugin's hooks.json, and `init` for Codex, Gemini CLI, Qwen Code, Cursor and Copilot CLI,
        run these; each reads the event's JSON on stdin)."""

    for event, fn in EVENTS.items():
        hook.command(event, help=fn.__doc__)(fn)
    cursor = click.command("cursor-hook", help=cursor_hook.__doc__)(cursor_hook)

    @click.command()
    @click.argument("state", type=click.Choice(["on", "off", "status"]), default="status")
    @click.option("--json", "as_json", is_flag=True, help="Print stable JSON instead of text.")
    def background(state: str, as_json: bool) -> None:
        """Claude Code: let a peer's message wake this session while it is idle.

        With `on`, the plugin's Stop hook waits in the background after each turn (asyncRewake) and wakes the agent
        when a message arrives, so the session is not occupied by a listen loop.

        \b
        Example:
            session-bridge background on
        """
        from bridge import delivery, views

        try:
            me = bridge.me()
            if state != "status":
                me = bridge.set_background(me, state == "on")
        except BridgeError as e:
            click.echo(f"Error: {e.worded(SHELL_WORDS)}", err=True)
            sys.exit(e.exit_code)
        on = bool(me.manifest.get("backgroundListen"))
        if as_json:
            click.echo(orjson.dumps(views.result(session_id=me.id, background_listen=on)).decode())
            return
        if on and delivery.resolve(me) in delivery.NOTIFIERS:
            click.echo(f"Background listening is on for {me.id}: the plugin's monitor wakes this session with a "
                       f"one-line pointer when a peer writes while it is idle (delivery: {delivery.resolve(me)}); "
                       "take the message with the read command it names and answer with reply.")
        elif on:
            click.echo(f"Background listening is on for {me.id}: when this Claude Code session is idle, a peer's "
                       "message wakes it through the Stop hook (starts after the current turn ends; not in "
                       "claude -p).")
        else:
            click.echo(f"Background listening is off for {me.id}.")

    globals()["commands"] = [hook, background, cursor]
    return globals()["commands"]
