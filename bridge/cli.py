"""The `session-bridge` command: a thin click layer over the core API (bridge/__init__.py).

Each command parses, calls one core function, and renders: short human text by default (bridge.render), the shared
JSON shape with --json (bridge.views, documented in docs/json.md). A core error's next step is worded here as the
CLI command that takes it. The other front-ends' command groups (compat, hooks, mcp, hosts) are registered at the end.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Callable

import click
import orjson

import bridge
from bridge import __version__, delivery, inbound, layout, policy, render, rooms, sessions, validate, views
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
    return bridge.check_body(read_text(text, file, bridge.max_body(), "message body"))


def read_text(text: str | None, file: str | None, limit: int, noun: str) -> str:
    """TEXT itself; else stdin (TEXT '-', or none given and stdin is not a terminal) or --file, read up to one byte
    over `limit` (so the core's own size check can name the limit) and decoded as UTF-8. `noun` names the text in
    errors ("message body", "briefing")."""
    if file is not None and text is not None:
        raise BridgeError(f"give the {noun} as TEXT, '-' or --file, not several")
    if file is not None:
        try:
            with open(file, "rb") as f:
                data = f.read(limit + 1)
        except OSError as e:
            raise BridgeError(f"cannot read {file}: {e.strerror}") from None
    elif text == "-" or text is None:
        if text is None and sys.stdin.isatty():
            raise BridgeError(f"no {noun} given; pass it as an argument, '-' for stdin, or --file PATH")
        data = sys.stdin.buffer.read(limit + 1)
    else:
        return text
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BridgeError(f"{noun} is not valid UTF-8 text; send text, or a path to a file with the data") from None
    if not decoded.strip():
        raise BridgeError(f"{noun} is empty; pass the text as an argument, '-' for stdin, or --file PATH")
    return decoded


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
@click.option("--room", help="Join this room (default: $BRIDGE_ROOM, or $BRIDGE_PROJECT), e.g. shop.")
@click.option("--role", help="Hold this role in the room (default: $BRIDGE_ROLE), e.g. web; needs a room.")
def start(label: str | None, room: str | None, role: str | None, as_json: bool) -> None:
    """Start this project's bridge session, or resume it.

    With --room and --role it joins a room holding a role. A role is held by one session per room: starting with a
    role whose session (a seat, or one its agent left) no other live agent holds takes it over, with the messages
    waiting for it.

    \b
    Examples:
        session-bridge start --label library
        session-bridge start --room shop --role web
    """
    session, created = bridge.start(label, room, role)
    if as_json:
        return emit(created=created, session=views.session_view(session), team=views.team_view(session))
    m = session.manifest
    click.echo(f"{'Started' if created else 'Resumed'} bridge session {safe_line(session.id)} for "
               f"{safe_line(m['projectName'])}" + (f" (label {safe_line(m['label'])})" if m.get("label") else "") + ".")
    if session.address:
        click.echo(f"Room {safe_line(session.room)}, role {safe_line(session.role)}: others reach it as "
                   f"{safe_line(session.role)} (in the room) or {safe_line(session.address)}.")
    elif session.room:
        click.echo(f"Room {safe_line(session.room)}, no role: it gets the room's broadcasts (send '*').")
    name = m.get("label") or session.address or session.id
    click.echo(f"Peers connect with: session-bridge connect {safe_line(name)}")


@command(main, epilog=EXIT_CODES)
def whoami(as_json: bool) -> None:
    """Show this caller's bridge session.

    \b
    Example:
        session-bridge whoami --json
    """
    session = bridge.me()
    v, team = views.session_view(session), views.team_view(session)
    if as_json:
        return emit(session=v, team=team)
    click.echo(f"{safe_line(v['session_id'])}  {safe_line(v['project_name'])}  {safe_line(v['project_path'])}"
               + (f"  label={safe_line(v['label'])}" if v["label"] else "") + f"  host={safe_line(v['host'])}"
               + (f"  room={safe_line(team['room'])}" if team["room"] else "")
               + (f"  role={safe_line(team['role'])}" if team["role"] else ""))


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
@click.option("--attach", "attach", multiple=True, metavar="FILE",
              help="Attach this file as an artifact (repeatable); the peer fetches it with `artifact get`.")
def ask(peer: str, text: str | None, file: str | None, timeout: float, attach: tuple[str, ...], as_json: bool) -> None:
    """Ask a peer a question and print its answer. A peer is a session id, label, project name, a role of your
    room (web) or role@room (web@shop).

    \b
    Examples:
        session-bridge ask library "What replaced getUser() in v2?"
        session-bridge ask web@shop "Which endpoint serves the cart?"
        git diff | session-bridge ask library - --timeout 300
        session-bridge ask library "Why does this trace fail?" --attach trace.log
    """
    if sessions.is_broadcast(peer):
        raise BridgeError(f"ask waits for one answer from one peer, and {peer!r} names a whole room; to put the "
                          f"question to everyone use: session-bridge send '{peer}' query \"...\"")
    session = bridge.me()
    question = body(text, file)
    target = bridge.find_peer(session.root, peer, session)
    started = time.monotonic()
    with bridge.ask(session, target, question, timeout, attachments=attached(session, attach)) as (q, answer):
        _print_answer(q["id"], answer, started, as_json)


@command(main, epilog=EXIT_CODES)
@click.argument("message_id")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Read the answer from this file.")
@click.option("--attach", "attach", multiple=True, metavar="FILE",
              help="Attach this file as an artifact (repeatable); the peer fetches it with `artifact get`.")
def reply(message_id: str, text: str | None, file: str | None, attach: tuple[str, ...], as_json: bool) -> None:
    """Answer a message you received.

    \b
    Example:
        session-bridge reply msg-1732170000000000000-a1b2c3 "getUser() is now fetchUser(id)"
    """
    session = bridge.me()
    msg = bridge.reply(session, message_id, body(text, file), attachments=attached(session, attach))
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
@click.option("--attach", "attach", multiple=True, metavar="FILE",
              help="Attach this file as an artifact (repeatable); the peer fetches it with `artifact get`.")
def send(peer: str, type: str, text: str | None, file: str | None, in_reply_to: str | None, ttl: float | None,
         attach: tuple[str, ...], as_json: bool) -> None:
    """Send one message of any type without waiting (query, response, ping, ...).

    PEER is a session id, label or project name, a role of your room (web), role@room (web@shop), or '*' for
    every other session of your room ('*@shop': of room shop), one copy each, printed one id per line; a
    recipient that refuses or has ended is named on stderr (exit 0 while at least one copy was sent).
    `session-bridge outbox` shows what became of each.

    \b
    Examples:
        session-bridge send library query "Is 2.1 released?"
        session-bridge send library query "Still at your desk?" --ttl 600
        session-bridge send '*' note "main is green again"
    """
    session = bridge.me()
    targets = bridge.recipients(session.root, peer, session)
    if not sessions.is_broadcast(peer):
        msg = views.message_view(bridge.send(session, targets[0], type, body(text, file), in_reply_to, ttl=ttl,
                                             attachments=attached(session, attach)))
        if as_json:  # one shape for both: a single send is a broadcast of one that names its message
            return emit(message=msg, messages=[msg], failed=[])
        return click.echo(msg["id"])
    if in_reply_to is not None:
        raise BridgeError(f"a reply goes to the one session that asked, not to {peer!r}; send it to that session")
    sent, failed = bridge.send_all(session, targets, type, body(text, file), ttl=ttl,
                                   attachments=attached(session, attach))
    failures = [views.failed_send_view(t, e.worded(WORDS), e.exit_code) for t, e in failed]
    for f in failures:
        click.echo(safe_line(f"warning: not sent to {f['name']} ({f['session_id']}): {f['error']}"), err=True)
    if as_json:
        return emit(message=None, messages=[views.message_view(m) for m in sent], failed=failures)
    for m in sent:
        click.echo(m["id"])


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
    """List the other bridge sessions: this machine's, and other machines' a gateway mirrors (MACHINE column).

    \b
    Example:
        session-bridge peers
    """
    found = bridge.peers()
    others = [views.session_view(s) for s in found]
    teams = {s.id: views.team_view(s) for s in found}
    if as_json:
        return emit(peers=others, teams=teams)
    if not others:
        click.echo("No other bridge sessions. Start one in another project with: session-bridge start")
        return
    # The ROLE@ROOM column only once some session is in a room: without rooms the table reads as it always did.
    in_rooms = any(t["room"] for t in teams.values())
    remote = any(v["machine"] for v in others)  # likewise MACHINE, once a gateway mirrors other machines' sessions
    rows = [("SESSION", "LABEL", *(("ROLE@ROOM",) if in_rooms else ()), *(("MACHINE",) if remote else ()),
             "PROJECT", "HOST", "STATUS", "PATH")]
    rows += [(*map(safe_line, (v["session_id"], v["label"] or "-")),
              *((render.team(teams[v["session_id"]]),) if in_rooms else ()),
              *((safe_line(v["machine"] or "here"),) if remote else ()),
              *map(safe_line, (v["project_name"] or "?", v["host"], v["status"], v["project_path"] or "?")))
             for v in others]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r, said in zip(rows, [None, *(v["summary"] for v in others)]):
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
        if said:  # what the session says it works on (`summary`), on a line of its own under its row
            click.echo(f"    working on: {safe_line(said)}")


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
                    delivery=views.delivery_view(session), team=views.team_view(session))
    click.echo(f"Session {safe_line(session.id)} ({safe_line(session.name)}) · {info['pending']} pending")
    click.echo(f"  delivery: {delivery.describe(session)}")
    if session.room:
        click.echo(f"  room: {safe_line(session.room)}"
                   + (f", role {safe_line(session.role)} (reached as {safe_line(session.address)})" if session.role
                      else ", no role"))
    rule = inbound.policy(session)
    if rule["mode"] != "accept" or rule["allow"]:  # the default says nothing; anything else the user must see
        held = len(inbound.held(session))
        click.echo(f"  inbound: {rule['mode']}"
                   + (f", only from {safe_line(', '.join(rule['allow']))}" if rule["allow"] else "")
                   + (f"; {held} held (release with: session-bridge inbound release --all)" if held else ""))
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


# --- rooms and roles, inbound policy (bridge/sessions.py, bridge/inbound.py) ---------------------------------------


@command(main, "rooms", epilog=EXIT_CODES)
@click.argument("room", required=False)
def list_rooms(room: str | None, as_json: bool) -> None:
    """List the rooms and who holds each role.

    Each member's role, session, name, status and path; with ROOM, only that room. A member's status is active,
    stale, or idle: a seat auto-mode keeps for a role while no agent holds it.

    \b
    Examples:
        session-bridge rooms
        session-bridge rooms shop --json
    """
    root = bridge.bridge_dir()
    found = {validate.room(room): sessions.members(root, room)} if room is not None else sessions.rooms(root)
    listing = {name: [views.member_view(s) for s in members] for name, members in found.items()}
    if as_json:
        return emit(rooms=listing)
    if not any(listing.values()):
        where = f"room {safe_line(room)}" if room is not None else "any room"
        click.echo(f"Nobody is in {where} yet; join with: session-bridge start --room {safe_line(room or '<room>')} "
                   "--role <role>")
        return
    for name, members in listing.items():
        click.echo(f"Room {safe_line(name)}: {len(members)} session(s)")
        rows = [("ROLE", "SESSION", "NAME", "STATUS", "PATH")]
        rows += [tuple(map(safe_line, (v["role"] or "-", v["session_id"], v["name"], v["status"],
                                       v["project_path"] or "?"))) for v in members]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            click.echo("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4])


INBOUND_MEANS = {
    "accept": "messages land in the inbox",
    "hold": "messages are kept aside until you release them (session-bridge inbound release --all)",
    "refuse": "senders get an error and nothing is kept",
}


@command(main, "inbound", epilog=EXIT_CODES)
@click.argument("action", required=False, type=click.Choice((*inbound.MODES, "release", "trust", "untrust")))
@click.argument("ids", nargs=-1)
@click.option("--allow", "allow", multiple=True, metavar="ENTRY",
              help="Accept only these senders (repeatable; replaces the list): a session id, label, role@room, "
                   "@room, label@machine or @machine.")
@click.option("--clear-allow", is_flag=True, help="Empty the allowlist: anyone may send again.")
@click.option("--all", "release_all", is_flag=True, help="With release: release every held message.")
def inbound_policy(action: str | None, ids: tuple[str, ...], allow: tuple[str, ...], clear_allow: bool,
                   release_all: bool, as_json: bool) -> None:
    """Show or set who may send to this session.

    Shows the policy and the messages it holds.

    \b
    accept   (the default) messages land in the inbox
    hold     messages are kept aside, unseen by every reader, until you release them
    refuse   nothing is kept; the sender gets an error (exit 5)
    release  move held messages (by id, or --all) into the inbox, pending from then on
    trust    let a sender on another machine in (label@machine, or @machine for all of it) and release its held
             messages; until then a remote sender's messages are held (untrust takes it back)

    \b
    Examples:
        session-bridge inbound hold --allow web@shop --allow @ops
        session-bridge inbound release --all
        session-bridge inbound accept --clear-allow
        session-bridge inbound trust library@laptop
    """
    session = bridge.me()
    if action in ("trust", "untrust"):
        if len(ids) != 1 or allow or clear_allow or release_all:
            raise click.UsageError(f"give one contact: session-bridge inbound {action} label@machine")
        if action == "trust":
            rule, released = inbound.trust(session, ids[0])
        else:
            rule, released = inbound.untrust(session, ids[0]), []
        if as_json:
            return emit(session_id=session.id, inbound=views.inbound_view(rule), released=released)
        click.echo(f"Trusted contacts of {safe_line(session.name)}: {safe_line(', '.join(rule['trust']) or 'none')}"
                   + (f"; released {len(released)} held message(s)" if released else ""))
        return
    if action == "release":
        if allow or clear_allow:
            raise click.UsageError("--allow and --clear-allow set the policy; give them without release")
        if bool(ids) == release_all:
            raise BridgeError("name the held messages to release, or give --all (not both); see them with: "
                              "session-bridge inbound")
        released = inbound.release(session, None if release_all else list(ids))
        if as_json:
            return emit(released=released)
        if not released:
            return click.echo("No held messages to release.")
        click.echo(f"Released {len(released)} message(s) into the inbox: {' '.join(released)}")
        return
    if ids or release_all:
        raise click.UsageError("message ids and --all go with release: session-bridge inbound release ID ...")
    if allow and clear_allow:
        raise click.UsageError("give --allow or --clear-allow, not both")
    rule = inbound.policy(session)
    if action or allow or clear_allow:
        rule = inbound.set_policy(session, action, [] if clear_allow else list(allow) if allow else None)
    held = [views.message_view(dict(m, status="held")) for m in inbound.held(session)]
    if as_json:
        return emit(session_id=session.id, inbound=views.inbound_view(rule), held=held)
    senders = f"from {safe_line(', '.join(rule['allow']))} only" if rule["allow"] else "from anyone"
    click.echo(f"Inbound for {safe_line(session.name)}: {rule['mode']} ({senders}): {INBOUND_MEANS[rule['mode']]}.")
    if rule["allow"]:
        click.echo("  anyone else is refused; allow everyone again with: session-bridge inbound --clear-allow")
    if rule["trust"]:
        click.echo(f"  trusted on other machines: {safe_line(', '.join(rule['trust']))}")
    for v in held:
        click.echo("  " + render.summary(v, width=60))
    if held:
        click.echo(f"  {len(held)} held; release them with: session-bridge inbound release --all (or by id)")


# --- role briefings (bridge/rooms.py) ------------------------------------------------------------------------------

ROOM = click.option("--room", help="The room (default: the room of your session).")


def room_or_mine(room: str | None) -> str:
    """The room given, else the caller's session's room; an error naming --room when it has none."""
    if room is not None:
        return validate.room(room)
    mine = bridge.current(bridge.bridge_dir())
    if mine is not None and mine.room:
        return mine.room
    raise BridgeError("which room? give it with --room R (this caller has no session in a room)")


@main.group("role-prompt", epilog=EXIT_CODES)
def role_prompt() -> None:
    """Save, show and list role briefings.

    A briefing is what the session holding a role is told when it starts, resumes, clears or compacts. One per
    room and role, up to 32 KiB of text. Only a human terminal, or an agent session launched with
    BRIDGE_ADMIN=1, may set or delete them; every session may read them.

    \b
    Examples:
        session-bridge role-prompt set web "You own the storefront (web/). Ask backend about the API."
        session-bridge role-prompt set infra - --room shop < infra.md
        session-bridge role-prompt list --room shop
    """


@command(role_prompt, "set", epilog=EXIT_CODES)
@click.argument("role")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Read the briefing from this file.")
@ROOM
def role_prompt_set(role: str, text: str | None, file: str | None, room: str | None, as_json: bool) -> None:
    """Save a role's briefing (TEXT, '-' or --file).

    TEXT is the briefing, '-' reads it from stdin; it replaces any earlier one of ROLE.

    \b
    Examples:
        session-bridge role-prompt set web "You own the storefront (web/). Ask backend about the API."
        session-bridge role-prompt set infra --file briefings/infra.md --room shop
    """
    room = room_or_mine(room)
    validate.role(role)
    saved = read_text(text, file, rooms.BRIEFING_CAP, "briefing")
    rooms.set_briefing(bridge.bridge_dir(), room, role, saved)
    if as_json:
        return emit(briefing={"room": room, "role": role, "text": saved})
    click.echo(f"Saved the briefing of {safe_line(role)}@{safe_line(room)} ({len(saved)} characters); the session "
               "holding the role gets it when it starts, resumes, clears or compacts.")


@command(role_prompt, "get", epilog=EXIT_CODES)
@click.argument("role")
@ROOM
def role_prompt_get(role: str, room: str | None, as_json: bool) -> None:
    """Print a role's briefing.

    \b
    Example:
        session-bridge role-prompt get web --room shop
    """
    room = room_or_mine(room)
    text = rooms.briefing(bridge.bridge_dir(), room, role)
    if text is None:
        raise BridgeError(f"{role}@{room} has no briefing; set one with: session-bridge role-prompt set {role} "
                          f"\"...\" --room {room}")
    if as_json:
        return emit(briefing={"room": room, "role": role, "text": text})
    click.echo(safe(text).rstrip("\n"))


@command(role_prompt, "list", epilog=EXIT_CODES)
@ROOM
def role_prompt_list(room: str | None, as_json: bool) -> None:
    """List the room's briefings.

    Each role with its length and first line.

    \b
    Example:
        session-bridge role-prompt list --room shop
    """
    room = room_or_mine(room)
    found = [{"room": room, "role": r, "text": t} for r, t in rooms.briefings(bridge.bridge_dir(), room).items()]
    if as_json:
        return emit(room=room, briefings=found)
    if not found:
        return click.echo(f"No briefings in room {safe_line(room)}; add one with: session-bridge role-prompt set "
                          f"<role> \"...\" --room {safe_line(room)}")
    width = max(len(b["role"]) for b in found)
    for b in found:
        first = next((line.strip() for line in b["text"].splitlines() if line.strip()), "")
        click.echo(f"{safe_line(b['role']).ljust(width)}  {len(b['text']):6} chars  {safe_line(first[:70])}")


@command(role_prompt, "delete", epilog=EXIT_CODES)
@click.argument("role")
@ROOM
def role_prompt_delete(role: str, room: str | None, as_json: bool) -> None:
    """Delete a role's briefing.

    Nothing to delete is not an error.

    \b
    Example:
        session-bridge role-prompt delete web --room shop
    """
    room = room_or_mine(room)
    deleted = rooms.delete_briefing(bridge.bridge_dir(), room, role)
    if as_json:
        return emit(room=room, role=role, deleted=deleted)
    click.echo(f"Deleted the briefing of {safe_line(role)}@{safe_line(room)}." if deleted else
               f"{safe_line(role)}@{safe_line(room)} had no briefing.")


# --- auto-mode (bridge/rooms.py settings, bridge/policy.py rails, bridge/drivers/auto.py runner) -------------------


class Number(click.ParamType):
    """A limit: a finite number (an int when it is whole, so settings read `600`, not `600.0`); the core checks its
    range and names the rule."""

    name = "number"

    def convert(self, value, param, ctx) -> int | float:
        """The value as an int or float; nan, inf and words are usage errors."""
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"must be a number, not {value!r}", param, ctx)
        if not math.isfinite(number):
            self.fail(f"must be a finite number, not {value!r}", param, ctx)
        return int(number) if number.is_integer() else number


NUMBER = Number()


@main.group(epilog=EXIT_CODES)
def auto() -> None:
    """Wake the role a message is for (auto-mode).

    Behind rails: a hop limit, a rate limit, sensitive roles only by name, no auto-commit. Every role is manual
    until turned on. A live session is woken through its notifier (monitor, tmux, Codex queue); a role with no
    live session is run once per message by its spawn command (auto set --command), by `auto run`. Sensitive
    roles (infra, qa) are woken only when turned on by name. Settings change only from a human terminal or a
    session launched with BRIDGE_ADMIN=1, and take effect at once.

    \b
    Examples:
        session-bridge auto set shop web --driver spawn --cwd ~/shop/web
        session-bridge auto on shop             # every role of shop that is not sensitive
        session-bridge auto on shop infra       # a sensitive role: only by name
        session-bridge auto run &               # wakes roles with no live session
        session-bridge auto status
        session-bridge auto off                 # nothing is woken anywhere
    """


@command(auto, "set", epilog=EXIT_CODES)
@click.argument("room")
@click.argument("role")
@click.option("--driver", help=f"How to wake the role: {', '.join(rooms.DRIVERS)} (auto: its live session's own "
                               "notifier, else spawn when it has a command).")
@click.option("--cwd", "cwd", help="The role's project directory (where a spawned run starts).")
@click.option("--command", "command_line", metavar="CMD",
              help=f"What a spawned run executes, the message as its last argument (default {rooms.DEFAULT_COMMAND!r}"
                   " with --driver spawn), e.g. 'codex exec'.")
def auto_set(room: str, role: str, driver: str | None, cwd: str | None, command_line: str | None,
             as_json: bool) -> None:
    """Configure a role's driver, directory and command.

    It also gives ROLE a seat in ROOM: a session that keeps its messages while no agent holds it. It never turns the
    role on (auto on ROOM ROLE does).

    \b
    Examples:
        session-bridge auto set shop web --driver spawn --cwd ~/shop/web
        session-bridge auto set shop backend --driver spawn --command 'codex exec'
    """
    root = bridge.bridge_dir()
    cfg = rooms.configure(root, room, role, driver=driver, cwd=cwd, command=command_line)
    seat = sessions.role_session(root, room, role, local=True)
    if as_json:
        return emit(role=views.role_config_view(cfg), session_id=seat.id if seat else None)
    click.echo(f"{safe_line(role)}@{safe_line(room)}: driver {cfg.driver}"
               + (f", command {safe_line(cfg.command)}" if cfg.command else "")
               + (f", in {safe_line(cfg.cwd)}" if cfg.cwd else "")
               + (f"; session {seat.id} ({seat.liveness})" if seat else "") + ".")
    click.echo(f"  wake {cfg.wake}: {safe_line(cfg.why)}")


def _switch(on: bool, room: str | None, role: str | None, as_json: bool) -> None:
    """auto on|off [ROOM [ROLE]]: change the switch, then say what is woken now and what stayed manual."""
    root = bridge.bridge_dir()
    rooms.switch(root, on, room, role)
    state = views.auto_status_view(rooms.overview(root))
    shown = views.switch_view(state, room, role)
    entries, sensitive_manual = shown["roles"], shown["sensitive_manual"]
    if as_json:
        return emit(**shown)
    if room is None:
        click.echo("Auto-mode is on: roles turned on (by room or by name) are woken." if on else
                   "Auto-mode is off everywhere: nothing is woken (turn it on again with: session-bridge auto on).")
    elif role is not None:
        e = entries[role]
        click.echo(f"{safe_line(role)}@{safe_line(room)} is {e['wake']}: {safe_line(e['why'])}.")
    else:
        woken = sorted(r for r, e in entries.items() if e["wake"] == "auto")
        click.echo(f"Room {safe_line(room)} is {'on' if on else 'off'}"
                   + (f"; woken: {safe_line(', '.join(woken))}" if woken else "; no role of it is woken") + ".")
        if on:
            # Name the sensitive roles that stayed off; with none of them in the room yet, the ones that would.
            sensitive = state["rooms"].get(room, {}).get("limits", state["limits"])["sensitive"]
            named = sensitive_manual or ([] if any(r in entries for r in sensitive) else sensitive)
            if named:
                roles = f"role {named[0]} stays" if len(named) == 1 else f"roles {', '.join(named)} stay"
                click.echo(safe_line(f"Sensitive {roles} manual{'' if sensitive_manual else ' (none in the room yet)'}"
                                     f"; turn one on by name: session-bridge auto on {room} {named[0]}"))
    if on and not state["runner"]:
        click.echo("No auto run is running: roles with no live session are woken only once one runs "
                   "(session-bridge auto run).")


@command(auto, "on", epilog=EXIT_CODES)
@click.argument("room", required=False)
@click.argument("role", required=False)
def auto_on(room: str | None, role: str | None, as_json: bool) -> None:
    """Turn auto-mode on everywhere, for a room or a role.

    Without arguments, the master switch; with ROOM, every role of it that is not sensitive; with ROLE, that role
    by name (the only way a sensitive role is woken).

    \b
    Examples:
        session-bridge auto on shop
        session-bridge auto on shop infra
    """
    _switch(True, room, role, as_json)


@command(auto, "off", epilog=EXIT_CODES)
@click.argument("room", required=False)
@click.argument("role", required=False)
def auto_off(room: str | None, role: str | None, as_json: bool) -> None:
    """Turn auto-mode off everywhere, for a room or a role.

    Without arguments nothing is woken anywhere; with ROOM, none of its roles; with ROLE, that one.

    \b
    Examples:
        session-bridge auto off
        session-bridge auto off shop web
    """
    _switch(False, room, role, as_json)


@command(auto, "limits", epilog=EXIT_CODES)
@click.argument("room", required=False)
@click.option("--max-hops", type=int, help="An auto-woken chain stops after this many hops (default 6).")
@click.option("--rate", type=int, help="Wakes per role per minute; more wait for a slot (default 12).")
@click.option("--quiet", type=NUMBER, help="Seconds of quiet after which a chain starts again at hop 0 (600).")
@click.option("--cooldown", type=NUMBER, help="Seconds between two pushes into one live session (10).")
@click.option("--run-timeout", type=NUMBER, help="Seconds after which a spawned run is stopped (1800).")
@click.option("--sensitive", metavar="ROLE,ROLE",
              help="Roles woken only when turned on by name (default infra,qa; '' for none).")
@click.option("--deny", metavar="REGEX", help="Shell commands an auto-driven session may not run (a regex; by "
                                              "default git commit, push and reset).")
def auto_limits(room: str | None, max_hops: int | None, rate: int | None, quiet: float | None,
                cooldown: float | None, run_timeout: float | None, sensitive: str | None, deny: str | None,
                as_json: bool) -> None:
    """Show or change auto-mode's limits.

    Without ROOM, the defaults of every room; with ROOM, that room's own.

    \b
    Examples:
        session-bridge auto limits
        session-bridge auto limits shop --max-hops 4 --rate 6
        session-bridge auto limits --sensitive infra,qa,billing
    """
    root = bridge.bridge_dir()
    if room is not None:
        validate.room(room)
    values = {"max_hops": max_hops, "rate_per_min": rate, "quiet_s": quiet, "cooldown_s": cooldown,
              "run_timeout_s": run_timeout, "deny": deny,
              "sensitive": None if sensitive is None else [r.strip() for r in sensitive.split(",") if r.strip()]}
    if any(v is not None for v in values.values()):
        settings = rooms.set_limits(root, room, **values)
    else:
        settings = rooms.load(root)
    current = views.limits_view(rooms.limits(settings, room) if room else settings["limits"])
    if as_json:
        return emit(room=room, limits=current)
    click.echo(f"{'Limits in room ' + safe_line(room) if room else 'Default limits (every room)'}: "
               f"{render.limits(current)}")


@command(auto, "status", epilog=EXIT_CODES)
def auto_status(as_json: bool) -> None:
    """Show what auto-mode wakes, and why.

    The switch, the limits, whether a runner runs, and per room and role whether it is woken and why, its driver
    and command, its session and how many messages wait.

    \b
    Example:
        session-bridge auto status --json
    """
    state = views.auto_status_view(rooms.overview(bridge.bridge_dir()))
    if as_json:
        return emit(**state)
    click.echo(f"Auto-mode: {'on' if state['automation'] else 'off everywhere'} · runner: "
               + ("running" if state["runner"] else "not running (start one with: session-bridge auto run)"))
    click.echo(f"Limits: {render.limits(state['limits'])}")
    if not state["rooms"]:
        click.echo("No rooms yet; join one with: session-bridge start --room <room> --role <role>")
    for name, r in state["rooms"].items():
        click.echo(f"Room {safe_line(name)}" + (" (on)" if r["all"] else ""))
        if r["limits"] != state["limits"]:
            click.echo(f"  limits: {render.limits(r['limits'])}")
        for role, e in r["roles"].items():
            where = f"session {e['session_id']} {e['status']}, {e['pending']} pending" if e["session_id"] else \
                "no session"
            click.echo(f"  {safe_line(role)}: {e['wake']} · driver {e['driver']}"
                       + (f" · command {safe_line(e['command'])}" if e["command"] else "") + f" · {where}"
                       + (" · sensitive" if e["sensitive"] else "") + (" · briefing" if e["briefing"] else ""))
            click.echo(f"      {safe_line(e['why'])}")


@command(auto, "run", epilog=EXIT_CODES)
def auto_run(as_json: bool) -> None:
    """Run auto-mode in the foreground until stopped.

    Until Ctrl-C or SIGTERM it wakes roles with no live session (spawn) and pushes to live ones that need it (tmux,
    Codex queue), behind the rails. One per bridge dir; it prints one line when it starts and logs the rest
    (session-bridge auto log).

    \b
    Example:
        session-bridge auto run
    """
    import signal

    from bridge.drivers.auto import Runner  # only this long-running command needs it

    root = bridge.bridge_dir()
    if rooms.runner_running(root):
        raise BridgeError(f"another auto run already runs for {root}; one is enough (see: session-bridge auto status)")
    runner = Runner(root)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, runner.stop)  # ends the loop cleanly: running spawns are stopped, their messages kept
    log = policy.log_path(root)
    if as_json:
        emit(status="running", pid=os.getpid(), bridge_dir=str(root), log=str(log))
    else:
        click.echo(f"Auto-mode runner started for {root} (pid {os.getpid()}); it logs to {log}; Ctrl-C stops it.")
    sys.stdout.flush()
    sys.exit(runner.run())


@command(auto, "log", epilog=EXIT_CODES)
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="The newest this many events (0: all).")
def auto_log(limit: int, as_json: bool) -> None:
    """Show what auto-mode did, and why not.

    Who it woke and when, and why a message was not (held, later, waits, failed, gave-up).

    \b
    Example:
        session-bridge auto log --limit 20
    """
    events = [views.auto_event_view(e) for e in policy.read_log(bridge.bridge_dir(), limit)]
    if as_json:
        return emit(events=events)
    if not events:
        click.echo("Nothing logged yet: auto-mode logs here once a role is woken or held (session-bridge auto run).")
    for v in events:
        click.echo(render.auto_event(v))


# --- history, threads, search, tail (bridge/index.py) --------------------------------------------------------------
def _history_line(v: dict, width: int = 70) -> str:
    """One terminal line of history: when, who to whom, type, id, the body's first line cut to width."""
    when = (v["sent_at"] or "?")[:16].replace("T", " ")
    first = (v["content"].strip().splitlines() or [""])[0]
    first = first if len(first) <= width else first[:width - 1] + "…"
    return safe_line(f"{when}  {v['from_name']} → {v['to_name'] or v['to']}  {v['type']}  {v['id']}  {first}")


def _notes(notes: list[str]) -> None:
    """The index's one-line notices (rebuilt, busy) on stderr."""
    for note in notes:
        click.echo(f"note: {note}", err=True)


@command(main, epilog=EXIT_CODES)
@click.option("--peer", help="Only messages to or from this session (id, label or project name).")
@click.option("--room", help="Only messages sent in this room.")
@click.option("--since", help="Only messages sent since: a duration back (30m, 2h, 7d, 1w) or a date (2025-01-31).")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="The newest this many, shown oldest first (0: all).")
def history(peer: str | None, room: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Show past messages between the sessions on this machine, kept after they stop.

    Every exchange is indexed from the message files (catching up first, which costs a few stats when nothing is
    new); `session-bridge thread ID` shows one question with its answers, `session-bridge search` finds one.

    \b
    Examples:
        session-bridge history --peer library --since 7d
        session-bridge history --room shop --limit 20 --json
    """
    from bridge import index

    after = index.since(since) if since else None
    with index.reading(bridge.bridge_dir()) as ix:
        msgs = [views.history_view(r) for r in ix.history(peer, room, after, limit or None)]
        notes = ix.notes
    if as_json:
        return emit(messages=msgs, notes=notes)
    _notes(notes)
    if not msgs:
        click.echo("No messages in the history" + (" for those filters." if peer or room or since else " yet."))
    for v in msgs:
        click.echo(_history_line(v))


@command(main, epilog=EXIT_CODES)
@click.argument("message_id")
def thread(message_id: str, as_json: bool) -> None:
    """Show the exchange a message belongs to: the question it started from, its answers and follow-ups, in order.

    \b
    Example:
        session-bridge thread msg-1732170000000000000-a1b2c3
    """
    from bridge import index

    validate.message_id(message_id)
    with index.reading(bridge.bridge_dir()) as ix:
        root_id, rows = ix.thread(message_id)
        notes = ix.notes
    msgs = [views.history_view(r) for r in rows]
    if as_json:
        return emit(root_id=root_id, messages=msgs, notes=notes)
    _notes(notes)
    for i, v in enumerate(msgs):
        if i:
            click.echo()
        click.echo(safe_line(f"{(v['sent_at'] or '?')[:19].replace('T', ' ')}  to {v['to_name'] or v['to']}"))
        click.echo(render.message(v, terminal=True))


@command(main, epilog=EXIT_CODES)
@click.argument("query")
@click.option("--peer", help="Only messages to or from this session (id, label or project name).")
@click.option("--room", help="Only messages sent in this room.")
@click.option("--since", help="Only messages sent since: a duration back (30m, 2h, 7d, 1w) or a date (2025-01-31).")
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=20, show_default=True,
              help="At most this many matches, best first.")
def search(query: str, peer: str | None, room: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Search every past message's text, best matches first, with a snippet around each match.

    QUERY is SQLite FTS5 syntax: words (all must match), "a phrase", prefix*, OR, NOT, NEAR(a b, 5), and
    from_name:library or to_name:app for a side. Text that is not valid syntax is searched as plain words.

    \b
    Examples:
        session-bridge search getUser
        session-bridge search '"breaking change" OR deprecat*' --peer library --json
    """
    from bridge import index

    after = index.since(since) if since else None
    with index.reading(bridge.bridge_dir()) as ix:
        ran, rows = ix.search(query, peer, room, after, limit)
        notes = ix.notes
    hits = [views.search_hit_view(r) for r in rows]
    if as_json:
        return emit(query=ran, hits=hits, notes=notes)
    _notes(notes)
    if ran != query:
        click.echo(f"note: searched for the words {safe_line(ran)} (the query was not valid search syntax)", err=True)
    if not hits:
        click.echo(f"No message matches {safe_line(query)}.")
    for v in hits:
        click.echo(_history_line(v))
        click.echo(f"    {safe_line(' '.join(v['snippet'].split()))}")


@command(main, epilog=EXIT_CODES)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new messages as they are sent, until Ctrl-C.")
@click.option("-n", "--lines", type=click.IntRange(min=0), default=10, show_default=True,
              help="Start with the newest this many messages.")
def tail(follow: bool, lines: int, as_json: bool) -> None:
    """Show the newest messages between the sessions on this machine; with -f, follow new ones as they are sent.

    Following waits on kernel file notifications (no polling). With --json and -f, one compact JSON object per
    line: {"version": 1, "message": ...}.

    \b
    Examples:
        session-bridge tail
        session-bridge tail -f
    """
    from bridge import index

    root = bridge.bridge_dir()
    with index.reading(root) as ix:
        msgs = [views.history_view(r) for r in ix.history(limit=lines)] if lines else []
        last, notes = ix.last_rowid(), ix.notes
    if as_json and not follow:
        return emit(messages=msgs, notes=notes)
    _notes(notes)

    def show(v: dict) -> None:
        if as_json:
            click.echo(orjson.dumps(views.result(message=v)).decode())
        else:
            click.echo(_history_line(v))

    for v in msgs:
        show(v)
    sys.stdout.flush()
    if not follow:
        return
    try:
        for rows, notes in index.follow(root, last):
            _notes(notes)
            for r in rows:
                show(views.history_view(r))
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (tail -f | head): stop quietly


@command(main, epilog=EXIT_CODES)
def reindex(as_json: bool) -> None:
    """Rebuild the history index from the message files (history, search and thread read it).

    The files are the source of truth: rebuilding loses nothing they hold (messages of sessions whose files are
    gone are kept only in the index, so this drops those).

    \b
    Example:
        session-bridge reindex
    """
    from bridge import index

    count, seconds = index.reindex(bridge.bridge_dir())
    if as_json:
        return emit(indexed=count, seconds=round(seconds, 3))
    click.echo(f"Indexed {count:,} message(s) from the files in {seconds:.2f}s.")


# (history-cli: end)

# --- artifacts and summaries (bridge/artifacts.py) -----------------------------------------------------------------
def attached(session: bridge.Session, files: tuple[str, ...]) -> list[dict] | None:
    """Share each --attach FILE (bridge.artifacts) and return the references a message carries; None for none."""
    from bridge import artifacts

    return [artifacts.share(session.root, f) for f in files] or None


@command(main, epilog=EXIT_CODES)
@click.argument("source", metavar="FILE|-")
@click.option("--name", help="The name receivers see (default: the file's name; 'stdin' for -).")
def share(source: str, name: str | None, as_json: bool) -> None:
    """Store a file (or stdin with -) in the bridge's artifact store and print its SHA-256.

    Artifacts carry what is too big for a message (up to 10 MiB, BRIDGE_MAX_ARTIFACT): the same bytes are stored
    once, private to you (0600). Attach one with `send|ask|reply --attach FILE`; a peer fetches it with
    `artifact get SHA`.

    \b
    Examples:
        session-bridge share build.log
        pg_dump mydb | session-bridge share - --name dump.sql
    """
    from bridge import artifacts

    root = bridge.bridge_dir()
    if source == "-":
        ref = artifacts.share(root, sys.stdin.buffer, name or "stdin")
    else:
        ref = artifacts.share(root, source, name)
    if as_json:
        return emit(artifact=views.artifact_view(ref))
    click.echo(ref["sha256"])
    click.echo(f"Shared {safe_line(ref['name'])} ({render.size(ref['size'])}, {safe_line(ref['type'])}); attach it "
               f"with --attach, fetch it with: session-bridge artifact get {ref['sha256']}", err=True)


@main.group(epilog=EXIT_CODES)
def artifact() -> None:
    """Fetch and list artifacts: files shared with `share` or attached to messages with --attach.

    \b
    Examples:
        session-bridge artifact get 3f2a...c9 -o trace.log
        session-bridge artifact list
    """


@command(artifact, "get", epilog=EXIT_CODES)
@click.argument("sha")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write it to this file (default: stdout).")
def artifact_get(sha: str, output: str | None, as_json: bool) -> None:
    """Print an artifact's bytes (or write them to a file with -o), after checking they still hash to SHA."""
    from bridge import artifacts

    ref, data = artifacts.get(bridge.bridge_dir(), sha)
    if output is not None and output != "-":
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except OSError as e:
            raise BridgeError(f"cannot write {output}: {e.strerror}; choose another path with -o") from None
        if as_json:
            return emit(artifact=views.artifact_view(ref), encoding=None, content=None, path=os.path.abspath(output))
        click.echo(f"Wrote {safe_line(ref['name'])} ({render.size(ref['size'])}, {safe_line(ref['type'])}) to "
                   f"{safe_line(output)}.", err=True)
        return
    if as_json:
        try:
            return emit(artifact=views.artifact_view(ref), encoding="text", content=data.decode("utf-8"), path=None)
        except UnicodeDecodeError:
            import base64

            return emit(artifact=views.artifact_view(ref), encoding="base64", content=base64.b64encode(data).decode(),
                        path=None)
    if sys.stdout.isatty() and b"\0" in data[:8192]:
        raise BridgeError(f"artifact {ref['sha256']} is binary ({ref['type']}); write it to a file with -o FILE")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@command(artifact, "list", epilog=EXIT_CODES)
def artifact_list(as_json: bool) -> None:
    """List the artifacts stored in this bridge, newest first."""
    from bridge import artifacts

    entries = [views.stored_artifact_view(e) for e in artifacts.list_all(bridge.bridge_dir())]
    if as_json:
        return emit(artifacts=entries)
    if not entries:
        click.echo("No artifacts. Share one with: session-bridge share FILE")
    for v in entries:
        click.echo(f"{v['shared_at']}  {render.artifact(v)}")


@command(main, epilog=EXIT_CODES)
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove this session's summary.")
def summary(text: str | None, clear: bool, as_json: bool) -> None:
    """Say in one line what this session is working on (peers see it in `peers` and when they start); without
    TEXT, show it.

    \b
    Examples:
        session-bridge summary "porting the billing API to v2"
        session-bridge summary --clear
    """
    session = bridge.me()
    if clear and text is not None:
        raise BridgeError("give a summary or --clear, not both")
    if clear or text is not None:
        value = sessions.set_summary(session, None if clear else read_text(text, None, 4096, "summary"))
    else:
        value = sessions.summary_of(session.manifest)
    if as_json:
        return emit(session_id=session.id, summary=value)
    if value is None:
        click.echo("No summary" + (" any more." if clear else "; set one with: session-bridge summary \"<what this "
                                                             "session is working on>\""))
    else:
        click.echo(safe_line(value))


# (artifacts-cli: end)

# --- file leases and the git pre-commit guard (bridge/leases.py) ---------------------------------------------------
def _lease_line(v: dict) -> str:
    """One live lease for a terminal (peer-written names and reasons made safe)."""
    who = "you" if v["mine"] else v["name"] + (f" ({v['address']})" if v["address"] else "") + f" [{v['session_id']}]"
    return safe_line(f"{v['path']}  {'exclusive' if v['exclusive'] else 'shared'}  {who}"
                     + (f"  {v['reason']!r}" if v["reason"] else "")
                     + (f"  until {v['expires']}" if v["expires"] else ""))


@command(main, "lease", epilog=EXIT_CODES)
@click.argument("paths", nargs=-1, required=True)
@click.option("--exclusive", is_flag=True, help="No other session may lease these paths (the git guard refuses "
                                                "their commits); default: shared.")
@click.option("--ttl", metavar="DURATION", help="Let the lease expire after this long, e.g. 90s, 30m, 2h, 1h30m "
                                                "(default: while this session lives).")
@click.option("--reason", metavar="TEXT", help="Why, shown to the sessions it blocks, e.g. 'refactoring auth'.")
def lease(paths: tuple[str, ...], exclusive: bool, ttl: str | None, reason: str | None, as_json: bool) -> None:
    """Lease files or directories (advisory) so other sessions know you work on them.

    A lease on a directory covers everything under it. Shared leases coexist; an exclusive one conflicts with any
    other session's lease on the path, and `guard install` makes git refuse other sessions' commits touching it.
    A lease ends with `release`, its --ttl, or this session. Paths are relative to the working directory.

    \b
    Examples:
        session-bridge lease src/auth/ --exclusive --ttl 2h --reason "refactoring auth"
        session-bridge lease docs/api.md
    """
    from bridge import leases

    session = bridge.me()
    taken = leases.take(session, list(paths), exclusive=exclusive, ttl=ttl, reason=reason)
    out = [views.lease_view(x, session.id) for x in taken]
    if as_json:
        return emit(leases=out)
    for v in out:
        click.echo(f"Leased {'exclusively' if v['exclusive'] else '(shared)'}: {safe_line(v['path'])}"
                   + (f" until {v['expires']}" if v["expires"] else ""))


@command(main, "leases", epilog=EXIT_CODES)
def leases_list(as_json: bool) -> None:
    """List the live file leases of every session.

    Each with its path, holder (name, role@room, session id), shared or exclusive, reason and expiry. Leases of
    sessions that ended or expired are not shown (gc removes them).

    \b
    Example:
        session-bridge leases --json
    """
    from bridge import leases

    root = bridge.bridge_dir()
    mine = sessions.current(root)
    out = [views.lease_view(x, mine.id if mine else None) for x in leases.live(root)]
    if as_json:
        return emit(leases=out)
    if not out:
        return click.echo("No live leases; take one with: session-bridge lease PATH [--exclusive]")
    for v in out:
        click.echo(_lease_line(v))


@command(main, "release", epilog=EXIT_CODES)
@click.argument("paths", nargs=-1)
def release_leases(paths: tuple[str, ...], as_json: bool) -> None:
    """Release this session's file leases (all of them without PATH).

    Naming a path this session holds no lease on is an error, and nothing is released then. (Held inbound messages
    are released with `session-bridge inbound release`.)

    \b
    Examples:
        session-bridge release src/auth/
        session-bridge release
    """
    from bridge import leases

    released = leases.release(bridge.me(), list(paths) if paths else None)
    if as_json:
        return emit(released=released)
    if not released:
        return click.echo("This session holds no leases.")
    click.echo(f"Released {len(released)} lease(s): " + safe_line(" ".join(released)))


@main.group(epilog=EXIT_CODES)
def guard() -> None:
    """A git pre-commit hook that honours exclusive file leases.

    `guard install` writes .git/hooks/pre-commit in the current repository (where git says hooks live: worktrees
    and core.hooksPath work); the hook runs `guard check`, which refuses a commit touching a path another live
    session leased exclusively, naming that session and its reason. Your own leases never block you. An existing
    pre-commit hook is kept only with --chain: it then runs first. `git commit --no-verify` skips the guard.

    \b
    Examples:
        session-bridge guard install
        session-bridge guard install --chain      # keep an existing pre-commit hook, run it first
        session-bridge guard uninstall
    """


def _self_command() -> list[str]:
    """How the hook runs this CLI: the running console script's absolute path, else the one on PATH, else this
    Python with -m bridge."""
    import shutil

    argv0 = sys.argv[0]
    if os.path.basename(argv0) == "session-bridge" and os.access(argv0, os.X_OK):
        return [os.path.abspath(argv0)]
    found = shutil.which("session-bridge")
    return [os.path.abspath(found)] if found else [sys.executable, "-m", "bridge"]


@command(guard, "install", epilog=EXIT_CODES)
@click.option("--chain", is_flag=True, help="Keep an existing pre-commit hook (as pre-commit.before-session-bridge) "
                                            "and run it before the guard.")
def guard_install(chain: bool, as_json: bool) -> None:
    """Install the pre-commit guard in the current git repository.

    Running it again updates the hook (e.g. after moving the CLI). A pre-commit hook session-bridge did not write
    is refused unless --chain.

    \b
    Example:
        session-bridge guard install
    """
    from bridge import leases

    done = leases.guard_install(_self_command(), chain=chain)
    if as_json:
        return emit(**done)
    click.echo(f"Installed the lease guard: {safe_line(done['hook'])}"
               + (f" (runs {safe_line(done['chained'])} first)" if done["chained"] else ""))


@command(guard, "uninstall", epilog=EXIT_CODES)
def guard_uninstall(as_json: bool) -> None:
    """Remove the pre-commit guard from the current git repository.

    Removes only the hook `guard install` wrote, and puts back a hook it chained.

    \b
    Example:
        session-bridge guard uninstall
    """
    from bridge import leases

    done = leases.guard_uninstall()
    if as_json:
        return emit(**done)
    if not done["removed"]:
        return click.echo(f"No guard installed at {safe_line(done['hook'])}.")
    click.echo(f"Removed the lease guard: {safe_line(done['hook'])}"
               + ("; the chained hook is back in its place" if done["restored"] else ""))


@command(guard, "check", epilog=EXIT_CODES)
def guard_check(as_json: bool) -> None:
    """Refuse (exit 1) if a staged path is leased exclusively by another live session.

    What the pre-commit hook runs. One line per refused path names the holder session, its role@room and reason.

    \b
    Example:
        git add src/auth.py && session-bridge guard check
    """
    from bridge import leases

    root = bridge.bridge_dir()
    mine = sessions.current(root)
    blocked = leases.guard_check(root, mine)
    if as_json:
        emit(allowed=not blocked, blocked=[views.blocked_path_view(p, x, mine.id if mine else None)
                                           for p, x in blocked])
    else:
        for path, x in blocked:
            click.echo(safe_line(f"session-bridge guard: {x.conflict_text(path)}"), err=True)
        if blocked:
            click.echo("Commit refused: ask the holder, wait for its release, or leave these paths out "
                       "(git commit --no-verify skips the guard).", err=True)
    sys.exit(1 if blocked else 0)


# (leases-cli: end)

# --- other machines: the gateway (bridge/gateway/, bridge/remote.py) -----------------------------------------------


@command(main, "gateway", epilog=EXIT_CODES)
@click.option("--nats", "url", required=True, metavar="URL",
              help="The team's NATS server: nats://127.0.0.1:4222 here, tls://HOST:4222 anywhere else.")
@click.option("--machine", required=True, help="This machine's name, as peers address it (label@machine).")
@click.option("--creds", type=click.Path(dir_okay=False), help="This machine's credentials: a user nkey seed "
              "(from remote setup) or a NATS .creds file.")
@click.option("--tls-ca", type=click.Path(dir_okay=False), help="The PEM file of the CA that signed the server's "
              "certificate (implies TLS).")
def gateway(url: str, machine: str, creds: str | None, tls_ca: str | None, as_json: bool) -> None:
    """Connect this machine's sessions to the team's NATS server, in the foreground until stopped.

    It announces this machine's sessions, mirrors other machines' sessions here (they appear in peers as
    label@machine), sends what local sessions write to them, and writes what arrives into local inboxes,
    acknowledging only after the write. What cannot go now waits on disk or on the server. One per bridge dir;
    it logs to logs/gateway.jsonl (session-bridge remote log).

    \b
    Examples:
        session-bridge gateway --nats nats://127.0.0.1:4222 --machine laptop --creds ~/.config/bridge/laptop.nk
        session-bridge gateway --nats tls://nats.example.org:4222 --machine buildbox \\
            --creds buildbox.nk --tls-ca ca.pem
    """
    from bridge import remote
    from bridge.gateway import jetstream
    from bridge.gateway.run import Gateway  # only this long-running command needs nats-py

    root = bridge.bridge_dir()
    validate.machine(machine)
    if remote.status(root)["running"]:
        raise BridgeError(f"a gateway already runs for {root}; one per machine is enough (see: session-bridge "
                          f"remote status)")
    gw = Gateway(root, machine, jetstream.connect_options(url, machine, creds, tls_ca))
    log = remote.log_path(root)
    if as_json:
        emit(status="running", pid=os.getpid(), machine=machine, server=url, bridge_dir=str(root), log=str(log))
    else:
        click.echo(f"Gateway for {machine} started (pid {os.getpid()}) on {url}; it logs to {log}; Ctrl-C stops it.")
    sys.stdout.flush()
    sys.exit(gw.run())


@main.group(epilog=EXIT_CODES)
def remote() -> None:
    """Peers on other machines, through the gateway (session-bridge gateway).

    \b
    Examples:
        session-bridge remote setup ./team --machine laptop --machine buildbox
        session-bridge remote status
        session-bridge remote peers
    """


@command(remote, "status", epilog=EXIT_CODES)
def remote_status(as_json: bool) -> None:
    """Say whether this machine's gateway runs and is connected, and what it did.

    \b
    Example:
        session-bridge remote status
    """
    from bridge import remote as core

    st = core.status(bridge.bridge_dir())
    if as_json:
        return emit(remote=st)
    if not st["running"]:
        click.echo("No gateway runs for this bridge dir; start one with: session-bridge gateway --nats URL "
                   "--machine NAME")
    else:
        link = "connected to" if st["connected"] else "waiting for"
        click.echo(f"Gateway for {safe_line(st['machine'])}: {link} {safe_line(st['server'])}")
    done = [f"{k.replace('_', ' ')} {v}" for k, v in st["counts"].items() if v]
    if done:
        click.echo("  " + ", ".join(done))
    if st["last_error"]:
        click.echo(f"  last error: {safe_line(st['last_error'])}")
    machines = ", ".join(f"{safe_line(m)} ({n})" for m, n in sorted(st["machines"].items())) or "none"
    click.echo(f"  other machines with sessions: {machines}; messages waiting to be sent: {st['waiting_to_send']}")


@command(remote, "peers", epilog=EXIT_CODES)
def remote_peers(as_json: bool) -> None:
    """List the sessions of other machines the gateway mirrors here (address one as label@machine).

    \b
    Example:
        session-bridge remote peers
    """
    from bridge import remote as core

    found = [views.session_view(s) for s in core.proxies(bridge.bridge_dir())]
    if as_json:
        return emit(peers=found)
    if not found:
        return click.echo("No remote sessions. Is the gateway running? See: session-bridge remote status")
    for v in found:
        name = v["label"] or v["project_name"] or v["session_id"]
        click.echo(f"{safe_line(name)}@{safe_line(v['machine'])}  {v['session_id']}  {v['status']}"
                   + (f"  working on: {safe_line(v['summary'])}" if v["summary"] else ""))


@command(remote, "log", epilog=EXIT_CODES)
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="The newest this many events (0: all).")
def remote_log(limit: int, as_json: bool) -> None:
    """Show what the gateway did: connected, forwarded, delivered, duplicate, held, undeliverable, errors.

    \b
    Example:
        session-bridge remote log --limit 20
    """
    from bridge import remote as core

    events = core.read_log(bridge.bridge_dir(), limit)
    if as_json:
        return emit(events=events)
    for e in events:
        rest = " ".join(f"{k}={v}" for k, v in e.items() if k not in ("at", "event") and v is not None)
        click.echo(safe_line(f"{e.get('at')}  {e.get('event')}  {rest}"))


@command(remote, "setup", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--machine", "machines", multiple=True, required=True, help="A machine of the team (repeatable).")
@click.option("--listen", help="Where the server listens (default: 127.0.0.1:4222); anything but loopback needs "
              "--tls-cert and --tls-key.")
@click.option("--store", help="JetStream's folder (default: FOLDER/jetstream).")
@click.option("--tls-cert", help="The server's certificate (PEM).")
@click.option("--tls-key", help="The server's private key (PEM).")
def remote_setup(folder: str, machines: tuple[str, ...], listen: str | None, store: str | None, tls_cert: str | None,
                 tls_key: str | None, as_json: bool) -> None:
    """Write a NATS server config for a team and one credentials file per machine.

    FOLDER/nats.conf lets each machine publish to every machine and read only its own messages; FOLDER/MACHINE.nk
    is that machine's credential (copy it there, keep it private). Run it again with more --machine to add one:
    existing credentials are kept, and so are --listen, --store and TLS from the last run (FOLDER/setup.json)
    unless given again.

    \b
    Example:
        session-bridge remote setup ./team --machine laptop --machine buildbox
        nats-server -c ./team/nats.conf
    """
    from pathlib import Path

    from bridge.gateway import jetstream

    made = jetstream.setup(Path(folder).resolve(), list(machines), listen, store, tls_cert, tls_key)
    if as_json:
        return emit(**made)
    click.echo(f"Wrote {made['config']} for {', '.join(made['machines'])}: listening on {made['listen']}"
               + (", with TLS." if made["tls"] else ", loopback only, without TLS."))
    for m, path in made["credentials"].items():
        click.echo(f"  {m}: {path}" + (" (new)" if m in made["new_credentials"] else ""))
    click.echo(f"Start the server with: nats-server -c {made['config']}")

# (remote-cli: end)

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
    from bridge import compat, hooks, hosts, mcp, ui

    for module in (compat, hooks, mcp, hosts, ui):
        for cmd in module.commands:
            main.add_command(cmd)


_register_front_ends()
