"""The `session-bridge` command: a thin click layer over bridge.protocol and bridge.sessions.

Each command parses, calls one core function, and formats: short human text by default, stable JSON with --json.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Callable

import click
import orjson

from bridge import __version__, layout, message, protocol, sessions
from bridge.errors import BridgeError
from bridge.sessions import Session
from bridge.terminal import safe, safe_line

EXIT_CODES = """\b
Exit codes: 0 ok, 1 error, 2 usage, 3 timeout, 4 no session (run `start`), 5 peer unknown or gone."""


class Seconds(click.ParamType):
    """A --timeout: a finite number of seconds >= 0, where 0 waits forever."""

    name = "seconds"

    def convert(self, value, param, ctx) -> float:
        """The value as a float, by the core's rule (protocol.seconds); a refused one is a usage error."""
        try:
            return protocol.seconds(float(value))
        except (TypeError, ValueError, BridgeError):
            self.fail(f"must be a finite number of seconds >= 0 (0 waits forever), not {value!r}", param, ctx)


SECONDS = Seconds()


def emit(data: object) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def command(group: click.Group, name: str | None = None, **kw) -> Callable:
    """A subcommand with --json and one-line errors mapped to the documented exit codes."""

    def wrap(fn: Callable) -> click.Command:
        @functools.wraps(fn)
        def run(*args, as_json: bool, **kwargs):
            try:
                return fn(*args, as_json=as_json, **kwargs)
            except BridgeError as e:
                if as_json:
                    emit({"error": str(e), "exitCode": e.exit_code})
                else:
                    click.echo(safe(f"Error: {e}"), err=True)  # errors may quote peers' names
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
                data = f.read(protocol.max_body() + 1)
        except OSError as e:
            raise BridgeError(f"cannot read {file}: {e.strerror}") from None
    elif text == "-" or text is None:
        if text is None and sys.stdin.isatty():
            raise BridgeError("no message text; pass it as an argument, '-' for stdin, or --file PATH")
        data = sys.stdin.buffer.read(protocol.max_body() + 1)
    else:
        return protocol.check_body(text)
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BridgeError("message body is not valid UTF-8 text; send text, or a path to a file with the data") from None
    if not decoded.strip():
        raise BridgeError("message body is empty; pass the text as an argument, '-' for stdin, or --file PATH")
    return protocol.check_body(decoded)


def me() -> Session:
    return sessions.require_current(layout.bridge_dir())


def warn_reports(session: Session) -> None:
    for note in session.mailbox.reports:
        click.echo(safe(f"warning: {note}"), err=True)  # names the peer-written file


def describe_message(msg: dict) -> str:
    meta = msg.get("metadata", {})
    who = f"{safe_line(meta.get('fromLabel') or meta.get('fromProject', 'unknown'))} ({safe_line(msg['from'])})"
    kind = msg["type"]
    head = f"[{safe_line(kind)}] from {who} · {safe_line(msg['id'])}"
    if msg.get("inReplyTo"):
        head += f" · in reply to {safe_line(msg['inReplyTo'])}"
    attempt = meta.get("attempt", 1)
    if isinstance(attempt, int) and attempt > 1:
        head += f" · redelivered (attempt {attempt})"
    lines = [head, safe(msg["content"])]
    if kind == "query":
        lines += ["", f'Answer with: session-bridge reply {safe_line(msg["id"])} "<your answer>"']
    return "\n".join(lines)


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
    session, created = sessions.register(layout.bridge_dir(), label)
    if as_json:
        return emit({"created": created, **session.manifest})
    verb = "Started" if created else "Resumed"
    m = session.manifest
    click.echo(f"{verb} bridge session {safe_line(session.id)} for {safe_line(m['projectName'])}"
               + (f" (label {safe_line(m['label'])})" if m.get("label") else "") + ".")
    click.echo(f"Peers connect with: session-bridge connect {safe_line(m.get('label') or session.id)}")


@command(main, epilog=EXIT_CODES)
def whoami(as_json: bool) -> None:
    """Show this caller's bridge session.

    \b
    Example:
        session-bridge whoami --json
    """
    session = me()
    if as_json:
        return emit(session.manifest)
    m = session.manifest
    click.echo(f"{safe_line(session.id)}  {safe_line(m.get('projectName'))}  {safe_line(m.get('projectPath'))}"
               + (f"  label={safe_line(m['label'])}" if m.get("label") else "")
               + f"  host={safe_line(m.get('host', 'unknown'))}")


@command(main, epilog=EXIT_CODES)
@click.argument("peer")
def connect(peer: str, as_json: bool) -> None:
    """Connect to a peer (id, id prefix, label or project name) with a ping.

    \b
    Example:
        session-bridge connect library
    """
    session = me()
    target = sessions.find_peer(session.root, peer, session)
    if target.liveness != "active":
        click.echo(f"warning: {safe_line(target.describe())} looks {target.liveness}; connecting anyway", err=True)
    msg = protocol.connect(session, target)
    if as_json:
        return emit({"peer": target.manifest, "status": target.liveness, "ping": msg["id"]})
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
    session = me()
    try:
        with protocol.listen(session, timeout) as msg:
            if as_json:
                emit(msg)
            else:
                click.echo(describe_message(msg))
                sys.stdout.flush()
    finally:
        warn_reports(session)


def _print_answer(answer: dict, started: float, as_json: bool, question: dict | None = None) -> None:
    if as_json:
        return emit({"question": question, "answer": answer} if question else answer)
    who = answer.get("metadata", {}).get("fromLabel") or answer.get("metadata", {}).get("fromProject", "peer")
    click.echo(f"Answer from {safe_line(who)} ({safe_line(answer['from'])}) after {time.monotonic() - started:.2f}s:",
               err=True)
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
    session = me()
    question = body(text, file)
    target = sessions.find_peer(session.root, peer, session)
    started = time.monotonic()
    with protocol.ask(session, target, question, timeout) as (q, answer):
        _print_answer(answer, started, as_json, q)


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
    session = me()
    msg = protocol.reply(session, message_id, body(text, file))
    if as_json:
        return emit(msg)
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
    session = me()
    target = sessions.find_peer(session.root, peer, session)
    msg = protocol.send(session, target, type, body(text, file), in_reply_to, ttl=ttl)
    if as_json:
        return emit(msg)
    click.echo(msg["id"])


@command(main, epilog=EXIT_CODES)
@click.argument("message_id")
@click.option("--timeout", type=SECONDS, default=90, show_default=True, help="Seconds to wait; 0 waits forever.")
def receive(message_id: str, timeout: float, as_json: bool) -> None:
    """Wait for the reply to a message you sent (e.g. after `ask` timed out).

    \b
    Example:
        session-bridge receive msg-1732170000000000000-a1b2c3 --timeout 300
    """
    session = me()
    started = time.monotonic()
    with protocol.receive(session, message_id, timeout) as answer:
        _print_answer(answer, started, as_json)


@command(main, epilog=EXIT_CODES)
def peers(as_json: bool) -> None:
    """List the other bridge sessions on this machine.

    \b
    Example:
        session-bridge peers
    """
    root = layout.bridge_dir()
    mine = sessions.current(root)
    others = [s for s in sessions.all_sessions(root) if mine is None or s.id != mine.id]
    if as_json:
        return emit([{**s.manifest, "liveness": s.liveness} for s in others])
    if not others:
        click.echo("No other bridge sessions. Start one in another project with: session-bridge start")
        return
    rows = [("SESSION", "LABEL", "PROJECT", "HOST", "STATUS", "PATH")]
    rows += [tuple(map(safe_line, (s.id, s.manifest.get("label") or "-", s.manifest.get("projectName", "?"),
                                   s.manifest.get("host", "reference"), s.liveness,
                                   s.manifest.get("projectPath", "?")))) for s in others]
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
    info = protocol.status(me())
    if as_json:
        return emit(info)
    m = info["session"]
    click.echo(f"Session {safe_line(m['sessionId'])} ({safe_line(m.get('label') or m.get('projectName'))}) · "
               f"{info['pending']} pending")
    for c in info["connections"]:
        click.echo(f"  connected: {safe_line(c['sessionId'])} {safe_line(c['name'] or '?')} [{c['status']}]")
    if not info["connections"]:
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
    session = me()
    msgs = protocol.inbox(session, include_read, limit or None)
    waiting = session.mailbox.waiting()
    warn_reports(session)
    if as_json:
        return emit(msgs)
    if not msgs:
        click.echo("Inbox empty." if include_read else "No pending messages.")
    for m in msgs:
        first = safe_line((m["content"].splitlines() or [""])[0][:80])
        click.echo(f"{safe_line(m['id'])}  {safe_line(m.get('status', 'pending')):7}  {safe_line(m['type']):13}  "
                   f"from {safe_line(m['from'])}: {first}")
    shown = sum(1 for m in msgs if m.get("status") == "pending")
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
    session = me()
    with protocol.read(session, message_id) as (msg, taken_now):
        if not taken_now:
            click.echo(f"(already read at {safe_line(msg['metadata'].get('readAt', '?'))})", err=True)
        if as_json:
            emit(msg)
        else:
            click.echo(describe_message(msg))
        sys.stdout.flush()


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
    msgs = protocol.outbox(me(), limit or None)
    if as_json:
        return emit(msgs)
    if not msgs:
        click.echo("Nothing sent yet.")
    for m in msgs:
        first = safe_line((m["content"].splitlines() or [""])[0][:60])
        click.echo(f"{safe_line(m['id'])}  {m['state']:13}  {safe_line(m['type']):13}  to {safe_line(m['to'])}: "
                   f"{first}")


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
    session = me()
    with protocol.notice(session, limit) as due:
        if as_json:
            emit([{"id": m["id"], "from": m["from"], "fromName": message.sender_name(m), "type": m["type"],
                   "timestamp": m["timestamp"]} for m in due])
        else:
            for m in due:
                click.echo(f"session-bridge: {safe_line(m['type'])} {safe_line(m['id'])} from "
                           f"{safe_line(message.sender_name(m))} waits; take it with: session-bridge read "
                           f"{safe_line(m['id'])}")
        sys.stdout.flush()


@command(main, epilog=EXIT_CODES)
def stop(as_json: bool) -> None:
    """End this session: tell its peers and remove its files.

    \b
    Example:
        session-bridge stop
    """
    session = me()
    notified = protocol.stop(session)
    if as_json:
        return emit({"stopped": session.id, "notified": notified})
    click.echo(f"Stopped session {session.id}; told {len(notified)} peer(s)"
               + (f": {safe_line(', '.join(notified))}." if notified else "."))


@command(main, epilog=EXIT_CODES)
def gc(as_json: bool) -> None:
    """Remove sessions gone for 30 minutes and put back messages of crashed readers.

    \b
    Example:
        session-bridge gc
    """
    report = sessions.gc(layout.bridge_dir())
    if as_json:
        return emit(report)
    click.echo(f"Removed {len(report['removed'])} session(s), redelivered {report['redelivered']} message(s), "
               f"deleted {report['tempFilesRemoved']} temp file(s).")


@main.command()
@click.option("--keep", is_flag=True, help="Keep the temporary bridge directory for inspection.")
def demo(keep: bool) -> None:
    """Run a live two-session exchange in a temporary bridge dir (no agent needed).

    \b
    Example:
        session-bridge demo
    """
    from bridge import demo as demo_module

    sys.exit(demo_module.run(keep=keep))


def _register_front_ends() -> None:
    """Other front-ends add their own command groups (each module exposes `commands`)."""
    import importlib

    for name in ("bridge.compat", "bridge.hooks", "bridge.mcp_server", "bridge.hosts"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        for cmd in module.commands:
            main.add_command(cmd)


_register_front_ends()
