"""The `session-bridge` command: a thin click layer over the core API (bridge/__init__.py).

Each command parses, calls one core function, and renders: short human text by default (bridge.render), the shared
JSON shape with --json (bridge.views, documented in docs/json.md). A core error's next step is worded here as the
CLI command that takes it. The other front-ends' command groups (compat, hooks, mcp, hosts) are registered at the end.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Callable

import click
import orjson

import bridge
from bridge import __version__, delivery, layout, render, views
from bridge.errors import BridgeError
from bridge.terminal import safe, safe_line

EXIT_CODES = """\b
Exit codes: 0 ok, 1 error, 2 usage, 3 timeout, 4 no session (run `start`), 5 peer unknown or gone."""

# How the CLI words a core error's next step (bridge.errors.ACTIONS).
WORDS = {
    "start": "session-bridge start", "peers": "session-bridge peers", "status": "session-bridge status",
    "inbox": "session-bridge inbox --all", "outbox": "session-bridge outbox", "listen": "session-bridge listen",
    "receive": "session-bridge receive {}", "gc": "session-bridge gc",
}


class Seconds(click.ParamType):
    """A --timeout: a finite number of seconds >= 0, where 0 waits forever."""

    name = "seconds"

    def convert(self, value, param, ctx) -> float:
        """The value as a float, by the core's rule (bridge.seconds); a refused one is a usage error."""
        try:
            return bridge.seconds(float(value))
        except (TypeError, ValueError, BridgeError):
            self.fail(f"must be a finite number of seconds >= 0 (0 waits forever), not {value!r}", param, ctx)


SECONDS = Seconds()


def emit(**fields: object) -> None:
    """Print one versioned JSON result (bridge.views.result) and flush."""
    sys.stdout.write(orjson.dumps(views.result(**fields), option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def command(group: click.Group, name: str | None = None, **kw) -> Callable:
    """A subcommand with --json and one-line errors (their next step as a CLI command) mapped to the exit codes."""

    def wrap(fn: Callable) -> click.Command:
        @functools.wraps(fn)
        def run(*args, as_json: bool, **kwargs):
            try:
                return fn(*args, as_json=as_json, **kwargs)
            except BridgeError as e:
                if as_json:
                    emit(error=e.worded(WORDS), exit_code=e.exit_code)
                else:
                    click.echo(safe(f"Error: {e.worded(WORDS)}"), err=True)  # errors may quote peers' names
                sys.exit(e.exit_code)

        run = click.option("--json", "as_json", is_flag=True, help="Print stable JSON instead of text.")(run)
        return group.command(name, **kw)(run)

    return wrap


def body(text: str | None, file: str | None) -> str:
    """A message body from TEXT, from stdin when TEXT is '-', or from --file."""
    if file is not None and text is not None:
        raise BridgeError("give the body as TEXT, '-' or --file, not several")
    if file is not None:
        try:
            with open(file, "rb") as f:
                data = f.read(bridge.max_body() + 1)
        except OSError as e:
            raise BridgeError(f"cannot read {file}: {e.strerror}") from None
    elif text == "-" or text is None:
        if text is None and sys.stdin.isatty():
            raise BridgeError("no message text; pass it as an argument, '-' for stdin, or --file PATH")
        data = sys.stdin.buffer.read(bridge.max_body() + 1)
    else:
        return bridge.check_body(text)
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BridgeError("message body is not valid UTF-8 text; send text, or a path to a file with the data") from None
    if not decoded.strip():
        raise BridgeError("message body is empty; pass the text as an argument, '-' for stdin, or --file PATH")
    return bridge.check_body(decoded)


def warn_reports(session: bridge.Session) -> None:
    """Say on stderr, once, which inbox files this command moved to quarantine."""
    for note in session.mailbox.reports:
        click.echo(safe(f"warning: {note}"), err=True)  # names the peer-written file


def show_message(msg: dict) -> None:
    """A message for a person at a terminal, with the command that answers a query."""
    click.echo(render.message(views.message_view(msg), "session-bridge", terminal=True))
    sys.stdout.flush()


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="session-bridge")
def main() -> None:
    """Let coding-agent sessions ask each other questions through files on this machine.

    \b
    In the library's session:   session-bridge start --label library
                                session-bridge listen        (answer, reply, listen again)
    In the app's session:       session-bridge start --label app
                                session-bridge ask library "What changed in v2?"

    The bridge lives in $BRIDGE_DIR (default ~/.claude/session-bridge).
    """


@command(main, epilog=EXIT_CODES)
@click.option("--label", help="A name peers can use instead of the session id, e.g. library.")
def start(label: str | None, as_json: bool) -> None:
    """Start this project's bridge session, or resume it.

    \b
    Example:
        session-bridge start --label library
    """
    session, created = bridge.start(label)
    if as_json:
        return emit(created=created, session=views.session_view(session))
    m = session.manifest
    click.echo(f"{'Started' if created else 'Resumed'} bridge session {safe_line(session.id)} for "
               f"{safe_line(m['projectName'])}" + (f" (label {safe_line(m['label'])})" if m.get("label") else "") + ".")
    click.echo(f"Peers connect with: session-bridge connect {safe_line(m.get('label') or session.id)}")


@command(main, epilog=EXIT_CODES)
def whoami(as_json: bool) -> None:
    """Show this caller's bridge session.

    \b
    Example:
        session-bridge whoami --json
    """
    v = views.session_view(bridge.me())
    if as_json:
        return emit(session=v)
    click.echo(f"{safe_line(v['session_id'])}  {safe_line(v['project_name'])}  {safe_line(v['project_path'])}"
               + (f"  label={safe_line(v['label'])}" if v["label"] else "") + f"  host={safe_line(v['host'])}")


@command(main, epilog=EXIT_CODES)
@click.argument("peer")
def connect(peer: str, as_json: bool) -> None:
    """Connect to a peer (id, id prefix, label or project name) with a ping.

    \b
    Example:
        session-bridge connect library
    """
    session = bridge.me()
    target = bridge.find_peer(session.root, peer, session)
    if target.liveness != "active":
        click.echo(f"warning: {safe_line(target.describe())} looks {target.liveness}; connecting anyway", err=True)
    ping = bridge.connect(session, target)
    if as_json:
        return emit(peer=views.session_view(target), ping_id=ping["id"])
    m = target.manifest
    click.echo(f"Connected to '{safe_line(m.get('projectName'))}' ({safe_line(target.id)}) "
               f"at {safe_line(m.get('projectPath'))}")


@command(main, epilog=EXIT_CODES)
@click.option("--timeout", type=SECONDS, default=0, show_default=True, help="Seconds to wait; 0 waits forever.")
def listen(timeout: float, as_json: bool) -> None:
    """Wait for the next message to this session and print it.

    Queries show the `reply` command that answers them. Run it again after answering to keep listening.

    \b
    Example:
        session-bridge listen --timeout 540
    """
    session = bridge.me()
    try:
        with bridge.listen(session, timeout) as msg:
            if as_json:
                emit(status="message", message=views.message_view(msg))
            else:
                show_message(msg)
    finally:
        warn_reports(session)


def _print_answer(question_id: str, answer: dict, started: float, as_json: bool) -> None:
    if as_json:
        return emit(status="answered", question_id=question_id, answer=views.message_view(answer))
    again = " (delivered before; shown again)" if answer.get("status") == "read" else ""
    click.echo(f"Answer from {render.sender(views.message_view(answer), terminal=True)} after "
               f"{time.monotonic() - started:.2f}s{again}:", err=True)
    click.echo(safe(answer["content"]))
    sys.stdout.flush()


@command(main, epilog=EXIT_CODES)
@click.argument("peer")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Read the question from this file.")
@click.option("--timeout", type=SECONDS, default=90, show_default=True,
              help="Seconds to wait for the answer; 0 waits forever.")
def ask(peer: str, text: str | None, file: str | None, timeout: float, as_json: bool) -> None:
    """Ask a peer a question and print its answer.

    \b
    Examples:
        session-bridge ask library "What replaced getUser() in v2?"
        git diff | session-bridge ask library - --timeout 300
    """
    session = bridge.me()
    question = body(text, file)
    target = bridge.find_peer(session.root, peer, session)
    started = time.monotonic()
    with bridge.ask(session, target, question, timeout) as (q, answer):
        _print_answer(q["id"], answer, started, as_json)


@command(main, epilog=EXIT_CODES)
@click.argument("message_id")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Read the answer from this file.")
def reply(message_id: str, text: str | None, file: str | None, as_json: bool) -> None:
    """Answer a message you received.

    \b
    Example:
        session-bridge reply msg-1732170000000000000-a1b2c3 "getUser() is now fetchUser(id)"
    """
    msg = bridge.reply(bridge.me(), message_id, body(text, file))
    if as_json:
        return emit(message=views.message_view(msg))
    click.echo(f"Replied to {safe_line(msg['to'])} with {msg['id']}.")


@command(main, epilog=EXIT_CODES)
@click.argument("peer")
@click.argument("type")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Read the body from this file.")
@click.option("--in-reply-to", help="The message id this one answers.")
@click.option("--ttl", type=SECONDS, help="Seconds after which an unread message expires (is never handed out).")
def send(peer: str, type: str, text: str | None, file: str | None, in_reply_to: str | None, ttl: float | None,
         as_json: bool) -> None:
    """Send one message of any type without waiting (query, response, ping, ...).

    `session-bridge outbox` shows what became of it.

    \b
    Examples:
        session-bridge send library query "Is 2.1 released?"
        session-bridge send library query "Still at your desk?" --ttl 600
    """
    session = bridge.me()
    target = bridge.find_peer(session.root, peer, session)
    msg = bridge.send(session, target, type, body(text, file), in_reply_to, ttl=ttl)
    if as_json:
        return emit(message=views.message_view(msg))
    click.echo(msg["id"])


@command(main, epilog=EXIT_CODES)
@click.argument("message_id")
@click.option("--timeout", type=SECONDS, default=90, show_default=True, help="Seconds to wait; 0 waits forever.")
def receive(message_id: str, timeout: float, as_json: bool) -> None:
    """Wait for the reply to a message you sent (e.g. after `ask` timed out).

    A reply that already reached this session another way (listen, a hook) is printed again at once.

    \b
    Example:
        session-bridge receive msg-1732170000000000000-a1b2c3 --timeout 300
    """
    started = time.monotonic()
    with bridge.receive(bridge.me(), message_id, timeout) as answer:
        _print_answer(message_id, answer, started, as_json)


@command(main, epilog=EXIT_CODES)
def peers(as_json: bool) -> None:
    """List the other bridge sessions on this machine.

    \b
    Example:
        session-bridge peers
    """
    others = [views.session_view(s) for s in bridge.peers()]
    if as_json:
        return emit(peers=others)
    if not others:
        click.echo("No other bridge sessions. Start one in another project with: session-bridge start")
        return
    rows = [("SESSION", "LABEL", "PROJECT", "HOST", "STATUS", "PATH")]
    rows += [tuple(map(safe_line, (v["session_id"], v["label"] or "-", v["project_name"] or "?", v["host"],
                                   v["status"], v["project_path"] or "?"))) for v in others]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5])


@command(main, epilog=EXIT_CODES)
def status(as_json: bool) -> None:
    """Show this session, its connections and how many messages wait.

    \b
    Example:
        session-bridge status
    """
    session = bridge.me()
    info = bridge.status(session)
    connections = [views.connection_view(c) for c in info["connections"]]
    if as_json:
        return emit(session=views.session_view(session), pending=info["pending"], connections=connections,
                    delivery=views.delivery_view(session))
    click.echo(f"Session {safe_line(session.id)} ({safe_line(session.name)}) · {info['pending']} pending")
    click.echo(f"  delivery: {delivery.describe(session)}")
    for c in connections:
        click.echo(f"  connected: {safe_line(c['session_id'])} {safe_line(c['name'] or '?')} [{c['status']}]")
    if not connections:
        click.echo("  no connections yet; connect with: session-bridge connect <peer>")


@command(main, epilog=EXIT_CODES)
@click.option("--all", "include_read", is_flag=True, help="Include messages already delivered.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Show at most this many pending messages, oldest first (0: all).")
def inbox(include_read: bool, limit: int, as_json: bool) -> None:
    """List messages waiting for this session, without taking them.

    \b
    Examples:
        session-bridge inbox
        session-bridge inbox --all --limit 0 --json
    """
    session = bridge.me()
    msgs = [views.message_view(m) for m in bridge.inbox(session, include_read, limit or None)]
    waiting = session.mailbox.waiting()
    warn_reports(session)
    if as_json:
        return emit(messages=msgs, pending=waiting)
    if not msgs:
        click.echo("Inbox empty." if include_read else "No pending messages.")
    for v in msgs:
        click.echo(render.summary(v))
    shown = sum(1 for v in msgs if v["status"] == "pending")
    if waiting > shown:
        click.echo(f"... {waiting - shown} more pending; show them with --limit 0, take one with: "
                   "session-bridge read <message-id>")


@command(main, epilog=EXIT_CODES)
@click.argument("message_id")
def read(message_id: str, as_json: bool) -> None:
    """Take one message of this session's inbox by id and print it (it is read from then on).

    A message already read is printed again (with a note on stderr).

    \b
    Example:
        session-bridge read msg-1732170000000000000-a1b2c3
    """
    with bridge.read(bridge.me(), message_id) as (msg, taken_now):
        if not taken_now:
            click.echo(f"(already read at {safe_line(msg['metadata'].get('readAt', '?'))})", err=True)
        if as_json:
            emit(message=views.message_view(msg), already_read=not taken_now)
        else:
            show_message(msg)


@command(main, epilog=EXIT_CODES)
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Show the newest this many sent messages (0: all).")
def outbox(limit: int, as_json: bool) -> None:
    """List the messages this session sent, each with its delivery state.

    \b
    States: queued (waiting in the peer's inbox), noticed (the peer's agent was told it exists), read (the agent
    took it), answered (its reply arrived), undeliverable (the peer ended before reading it), expired (its --ttl
    passed unread).

    \b
    Example:
        session-bridge outbox --json
    """
    sent = [views.sent_view(m) for m in bridge.outbox(bridge.me(), limit or None)]
    if as_json:
        return emit(messages=sent)
    if not sent:
        click.echo("Nothing sent yet.")
    for v in sent:
        click.echo(render.summary(v, width=60))


@command(main, epilog=EXIT_CODES)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many pointers.")
def notice(limit: int, as_json: bool) -> None:
    """Print a short pointer for each message the agent has not been told about (for drivers: a monitor, a tmux
    nudge). Marks them noticed, not read; unread ones come up again after 1, 3, then every 10 minutes.

    \b
    Example:
        session-bridge notice --json
    """
    with bridge.notice(bridge.me(), limit) as due:
        pointers = [views.notice_view(m) for m in due]
        if as_json:
            emit(notices=pointers)
        else:
            for v in pointers:
                click.echo(render.notice(v, "session-bridge"))
        sys.stdout.flush()


@command(main, epilog=EXIT_CODES)
def stop(as_json: bool) -> None:
    """End this session: tell its peers and remove its files.

    \b
    Example:
        session-bridge stop
    """
    session = bridge.me()
    notified = bridge.stop(session)
    if as_json:
        return emit(stopped=session.id, notified=notified)
    click.echo(f"Stopped session {session.id}; told {len(notified)} peer(s)"
               + (f": {safe_line(', '.join(notified))}." if notified else "."))


@command(main, epilog=EXIT_CODES)
def gc(as_json: bool) -> None:
    """Remove sessions gone for 30 minutes and put back messages of crashed readers.

    \b
    Example:
        session-bridge gc
    """
    report = bridge.gc(bridge.bridge_dir())
    if as_json:
        return emit(**report)
    click.echo(f"Removed {len(report['removed'])} session(s), redelivered {report['redelivered']} message(s), "
               f"deleted {report['temp_files_removed']} temp file(s).")


@command(main, "delivery", epilog=EXIT_CODES)
@click.argument("mode", required=False, type=click.Choice(delivery.MODES))
def delivery_mode(mode: str | None, as_json: bool) -> None:
    """Show or choose how messages reach this session's agent between its own reads.

    \b
    auto     the best this agent supports (the default): monitor, queue, tmux or hook
    monitor  Claude Code's plugin monitor prints a pointer line that wakes the idle session
    tmux     a pointer prompt is pasted into the agent's tmux pane when it is idle (session-bridge watch --driver tmux)
    queue    a pointer is queued into the Codex thread (session-bridge watch --driver queue)
    hook     no push: messages are handed over at the user's next prompt
    off      nothing automatic: messages wait for listen, read or ask

    \b
    Examples:
        session-bridge delivery            # what is in effect, and each path's last result
        session-bridge delivery hook
    """
    session = bridge.me()
    if mode:
        session = delivery.set_mode(session, mode)
    if as_json:
        return emit(session_id=session.id, delivery=views.delivery_view(session))
    click.echo(f"Delivery for {safe_line(session.name)}: {delivery.describe(session)}")


@main.command()
@click.option("--driver", type=click.Choice(delivery.NOTIFIERS), default="monitor", show_default=True,
              help="How to announce: a line on stdout, a tmux push into the agent's pane, Codex's queue.")
@click.option("--pane", help="The tmux pane to push into (default: the one the agent runs in, from $TMUX_PANE).")
def watch(driver: str, pane: str | None) -> None:
    """Announce this agent's new messages, one short pointer line at a time, until the agent exits.

    A notifier: it tells the agent a message waits (type, sender, id, subject, the command that takes it) and
    marks it noticed; the agent reads it by taking it. Unread ones are announced again after 1, 3, then every 10
    minutes. At most one line per 2 s (a burst becomes one line). It waits quietly while this agent has no bridge
    session or its delivery mode is another one, never exits on errors, and logs to $BRIDGE_DIR/logs/. The Claude
    Code plugin runs it as a monitor.

    \b
    Examples:
        session-bridge watch                       # lines on stdout (a Claude Code monitor)
        session-bridge watch --driver queue &      # beside a Codex session
        session-bridge watch --driver tmux --pane %3 &
    """
    from bridge.drivers import announcers, notifier  # only this long-running command needs them

    try:
        announce = announcers.pick(driver, pane)
    except BridgeError as e:
        click.echo(f"Error: {e.worded(WORDS)}", err=True)
        sys.exit(e.exit_code)
    sys.exit(notifier.Notifier(driver, announce).run())


# --- driving a peer's tmux pane (bridge/drivers/tmux.py) -----------------------------------------------------------

PANE = click.option("--pane", help="The tmux pane (%N or session:window.pane) instead of the one the peer runs in.")


@command(main, "read-peer", epilog=EXIT_CODES)
@click.argument("peer")
@click.option("--lines", type=click.IntRange(min=1, max=2000), help="Only the last N lines of the screen.")
@PANE
def read_peer(peer: str, lines: int | None, pane: str | None, as_json: bool) -> None:
    """Print a peer agent's visible tmux screen as text (its agent must run inside tmux).

    \b
    Example:
        session-bridge read-peer web --lines 40
    """
    from bridge.drivers import panes, tmux

    session, ref = panes.peer_pane(peer, pane)
    screen = tmux.read_peer(ref, lines)
    if as_json:
        return emit(session_id=session.id, screen=screen)
    click.echo(safe(screen))


@command(main, "detect-question", epilog=EXIT_CODES)
@click.argument("peer")
@PANE
def detect_question(peer: str, pane: str | None, as_json: bool) -> None:
    """Tell what a peer agent in tmux is doing: busy, menu (with its options), text, idle or unknown.

    \b
    Examples:
        session-bridge detect-question web
        session-bridge detect-question web --json     # the menu's options, the screen rows it read
    """
    from bridge.drivers import panes, tmux

    session, ref = panes.peer_pane(peer, pane)
    found = tmux.detect_question(ref)
    if as_json:
        d = found.to_dict()
        return emit(session_id=session.id, **{k: d[k] for k in ("state", "question", "options", "evidence")})
    click.echo(f"{found.state}" + (f" ({safe_line(found.why)})" if found.why else ""))
    if found.question:
        click.echo(f"  {safe_line(found.question)}")
    for o in found.options:
        click.echo(f"  {'>' if o.selected else ' '} {o.number}. {safe_line(o.label)}")


@command(main, epilog=EXIT_CODES)
@click.argument("peer")
@click.option("--choice", type=click.IntRange(min=1), help="Pick option N of the menu on the peer's screen.")
@click.option("--text", help="Type one line literally (never read as key names), then Enter.")
@click.option("--key", "keys", multiple=True, help="A named key (Enter, Escape, Up, Down, Tab, C-c, ...); repeatable.")
@click.option("--force", is_flag=True, help="Send even when the screen does not show a menu or a question.")
@PANE
def respond(peer: str, choice: int | None, text: str | None, keys: tuple[str, ...], force: bool, pane: str | None,
            as_json: bool) -> None:
    """Answer a menu or prompt on a peer agent's tmux screen (e.g. a permission prompt); one of --choice, --text,
    --key. Refused, with the reason, when the screen shows no such menu or question.

    \b
    Examples:
        session-bridge respond web --choice 1
        session-bridge respond web --text "yes, use the staging database"
    """
    from bridge.drivers import panes, tmux

    if (choice is not None) + (text is not None) + bool(keys) != 1:
        raise click.UsageError("give exactly one of --choice, --text or --key")
    session, ref = panes.peer_pane(peer, pane)
    _outcome(session, tmux.respond(ref, choice=choice, text=text, keys=keys, force=force), "sent", as_json)


@command(main, epilog=EXIT_CODES)
@click.argument("peer")
@click.argument("text")
@PANE
def push(peer: str, text: str, pane: str | None, as_json: bool) -> None:
    """Paste one prompt into a peer agent's tmux pane and press Enter, only if it sits idle at its prompt (bracketed
    paste: quotes, newlines and control characters arrive as text, never as keys). Pushed is not read.

    \b
    Example:
        session-bridge push web "a question waits for you: run session-bridge inbox"
    """
    from bridge.drivers import panes, tmux

    session, ref = panes.peer_pane(peer, pane)
    _outcome(session, tmux.push(ref, text, state_dir=session.root / layout.TMUX_STATE), "pushed", as_json)


def _outcome(session: bridge.Session, result, done: str, as_json: bool) -> None:
    """A tmux action's status and detail; exit 1 unless it did what was asked (`done`)."""
    if as_json:
        emit(session_id=session.id, status=result.status, detail=result.detail)
    else:
        click.echo(f"{result.status}: {safe_line(result.detail)}")
    if result.status != done:
        sys.exit(1)


@main.command()
@click.option("--keep", is_flag=True, help="Keep the temporary bridge directory for inspection.")
def demo(keep: bool) -> None:
    """Run a live two-session exchange in a temporary bridge dir (no agent needed).

    \b
    Example:
        session-bridge demo
    """
    from bridge import demo as demo_module  # only this command needs it

    sys.exit(demo_module.run(keep=keep))


def _register_front_ends() -> None:
    """The other front-ends' command groups: the CLI root is the one place that imports them (each module keeps
    its heavy imports inside its commands, so registering costs little)."""
    from bridge import compat, hooks, hosts, mcp

    for module in (compat, hooks, mcp, hosts):
        for cmd in module.commands:
            main.add_command(cmd)


_register_front_ends()
