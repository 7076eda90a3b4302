"""`session-bridge compat <script>`: the reference plugin's script contract (DESIGN.md), over the same core.

scripts/<name>.sh exec these, so the reference's users and docs keep working: same arguments, environment
(BRIDGE_DIR, PROJECT_DIR, BRIDGE_SESSION_ID, CLAUDE_ENV_FILE), output and exit codes (1 for every failure).
"""

from __future__ import annotations

import sys
import time

import orjson

from bridge import layout, message, protocol, sessions
from bridge.errors import BridgeError, PeerNotFound, Timeout
from bridge.sessions import Session
from bridge.terminal import safe, safe_line

# How the scripts word a core error's next step: the reference plugin's own commands and scripts.
WORDS = {"start": "/bridge start", "peers": "list-peers.sh", "status": "/bridge status", "inbox": "check-inbox.sh",
         "outbox": "session-bridge outbox", "listen": "bridge-listen.sh", "receive": "bridge-receive.sh <session-id> {}",
         "gc": "cleanup.sh"}


def echo(text: str, nl: bool = True, err: bool = False) -> None:
    """Print like the reference's scripts (stdout, or stderr)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + ("\n" if nl else ""))
    stream.flush()


def fail(text: str) -> None:
    """Print the reference's error line on stderr and exit 1."""
    echo(safe(text), err=True)  # errors may quote peers' names
    sys.exit(1)


def caller() -> Session:
    """The caller's session, or the reference's error."""
    s = sessions.current(layout.bridge_dir())
    if s is None:
        fail("Error: No bridge session found. Run /bridge start first.")
    return s


def guarded(fn):
    """Map any BridgeError to the reference's `Error: ...` on stderr and exit 1."""

    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BridgeError as e:
            fail(f"Error: {e.worded(WORDS)}")

    run.__name__, run.__doc__, run.__wrapped__ = fn.__name__, fn.__doc__, fn
    return run


@guarded
def register() -> None:
    """register.sh: print this project's session id (created or reused)."""
    session, _ = sessions.register(layout.bridge_dir())
    echo(session.id, nl=False)


@guarded
def get_session_id() -> None:
    """get-session-id.sh: print the caller's session id, or NO_BRIDGE_SESSION."""
    s = sessions.current(layout.bridge_dir())
    if s is None:
        fail("NO_BRIDGE_SESSION")
    echo(s.id, nl=False)


def _target(root, name: str, me: Session | None, not_found: str) -> Session:
    try:
        return sessions.find_peer(root, name, me)
    except PeerNotFound as e:
        fail(f"{not_found} ({e})")


@guarded
def connect_peer(target: str) -> None:
    """connect-peer.sh <target-id>: ping a peer and print where it is."""
    me = caller()
    peer = _target(me.root, target, me, f"Error: Session {target} not found.")
    if peer.liveness != "active":
        hb = message.parse_iso(peer.manifest.get("lastHeartbeat"))
        age = int(time.time() - hb) if hb else 0
        echo(f"Warning: Session {safe_line(peer.id)} appears stale (last active {age}s ago). Connecting anyway.",
                   err=True)
    protocol.connect(me, peer)
    m = peer.manifest
    label = f" [{safe_line(m['label'])}]" if m.get("label") else ""
    echo(f"Connected to '{safe_line(m.get('projectName'))}' ({safe_line(peer.id)}){label} "
               f"at {safe_line(m.get('projectPath'))}")


@guarded
def send_message(target: str, type: str, content: str, in_reply_to: str | None = None) -> None:
    """send-message.sh <target-id> <type> <content> [in-reply-to]: print the new message id."""
    me = caller()
    peer = _target(me.root, target, me, f"Error: Target session {target} not found")
    if in_reply_to in ("", "null"):
        in_reply_to = None
    msg = protocol.send(me, peer, type, content, in_reply_to)
    echo(msg["id"], nl=False)


def _is_seconds(text: str) -> bool:
    """True for a whole number of seconds in ASCII digits: never nan, inf, a sign, or a digit int() cannot read."""
    return text.isascii() and text.isdigit()


def _session(sid: str) -> Session:
    s = sessions.load(layout.bridge_dir(), sid) if sid else None
    if s is None:
        fail(f"Error: Session {sid} inbox not found.")
    return s




@guarded
def bridge_listen(*args: str) -> None:
    """bridge-listen.sh [<session-id>] [timeout-s]: block for the next message (0 = forever)."""
    if args and not _is_seconds(args[0]):
        me, timeout = _session(args[0]), args[1] if len(args) > 1 else "0"
    else:
        me, timeout = caller(), args[0] if args else "0"
    if not _is_seconds(timeout):
        fail(f"Error: timeout must be a whole number of seconds, not {timeout!r}")
    try:
        with protocol.listen(me, int(timeout), absorb_pings=False) as m:
            # One KEY=value per line: safe_line keeps a peer's newline from forging a header or the --- line.
            lines = [
                f"MESSAGE_ID={safe_line(m['id'])}", f"FROM_ID={safe_line(m['from'])}", f"TO_ID={safe_line(m['to'])}",
                f"FROM_PROJECT={safe_line(m['metadata'].get('fromProject', 'unknown'))}",
                f"TYPE={safe_line(m['type'])}", f"IN_REPLY_TO={safe_line(m.get('inReplyTo') or '')}",
            ]
            if message.attempt(m) > 1:
                lines.append(f"ATTEMPT={message.attempt(m)}")
            echo("\n".join([*lines, "---", safe(m["content"])]))
            sys.stdout.flush()
    except Timeout:
        sys.exit(1)
    finally:
        for note in me.mailbox.reports:  # files this reader moved aside: said once, on stderr
            echo(f"warning: {safe_line(note)}", err=True)


@guarded
def bridge_receive(session_id: str, message_id: str, timeout: str = "60") -> None:
    """bridge-receive.sh <session-id> <message-id> [timeout-s=60]: block for the reply."""
    me = _session(session_id)
    if not _is_seconds(timeout):
        fail(f"Error: timeout must be a whole number of seconds, not {timeout!r}")
    try:
        with protocol.receive(me, message_id, int(timeout), again=False) as m:
            echo(f"Response from {safe_line(m['metadata'].get('fromProject', 'unknown'))}:")
            echo(safe(m["content"]))
            sys.stdout.flush()
    except Timeout:
        echo(f"No response received after {timeout}s. The peer may be inactive.")
        sys.exit(1)


@guarded
def list_peers() -> None:
    """list-peers.sh: every session with active/stale status."""
    found = sessions.all_sessions(layout.bridge_dir())
    if not found:
        echo("No active bridge sessions.")
        return
    echo(f"{'SESSION':<10} {'PROJECT':<20} {'STATUS':<8} PATH")
    echo(f"{'-------':<10} {'-------':<20} {'------':<8} ----")
    for s in found:
        state = "active" if s.liveness == "active" else "stale"
        name, path = safe_line(s.manifest.get("projectName", "?")), safe_line(s.manifest.get("projectPath", "?"))
        echo(f"{safe_line(s.id):<10} {name:<20} {state:<8} {path}")


CHECK_INBOX_BUDGET = 16_000  # characters of messages per check-inbox.sh run


def _hook_json(system_message: str | None = None) -> None:
    out = {"continue": True}
    if system_message:
        out.update(suppressOutput=False, systemMessage=system_message)
    echo(orjson.dumps(out).decode())


def check_inbox(*flags: str) -> None:
    """check-inbox.sh [--summary-only]: hook JSON with the pending messages (marked read)."""
    summary_only = "--summary-only" in flags
    try:
        me = sessions.current(layout.bridge_dir())
        if me is None:
            return _hook_json()
        if summary_only:
            listing = "".join(f"\n- {s.manifest.get('projectName')} ({s.id})" for s in sessions.all_sessions(me.root))
            return _hook_json(
                f"=== CLAUDE BRIDGE STATE ===\nSession: {me.id}\nActive sessions:{listing}\n\n"
                "To send messages, use Bash: ${CLAUDE_PLUGIN_ROOT}/scripts/send-message.sh <peer-id> <type> "
                '"<content>" [in-reply-to]\n=== END BRIDGE ==='
            )
        name = me.manifest.get("projectName", "unknown")

        def block(m: dict) -> str:
            return "\n".join([
                f"--- Message for '{name}' ({m['to']}) from '{m['metadata'].get('fromProject', 'unknown')}' "
                f"({m['from']}) [{m['type']}] ---",
                f"Message ID: {m['id']}",
                *([f"In reply to: {m['inReplyTo']}"] if m.get("inReplyTo") else []),
                f"Content: {m['content']}",
                "",
                f'To respond: BRIDGE_SESSION_ID={me.id} bash "${{CLAUDE_PLUGIN_ROOT}}/scripts/send-message.sh" '
                f'{m["from"]} response "Your answer" {m["id"]}',
            ])

        # A flood must not become one giant system message: the oldest that fit, and how many more wait.
        with protocol.drain_within(me, lambda m: len(block(m)) + 1, CHECK_INBOX_BUDGET) as (msgs, left):
            if not msgs:
                return _hook_json()
            parts = [f"=== CLAUDE BRIDGE: {len(msgs)} pending message(s) ===",
                     "You MUST respond to queries and acknowledge pings before doing anything else.",
                     *(block(m) for m in msgs)]
            if left:
                parts.append(f"({left} more message(s) wait; they come with the next prompt)")
            _hook_json("\n".join([*parts, "=== END BRIDGE ==="]))  # printed inside the block: read only once shown
    except Exception as e:  # noqa: BLE001 - a hook must never break the prompt: report nothing, say why on stderr
        echo(f"check-inbox: {e}", err=True)
        _hook_json()


def heartbeat() -> None:
    """heartbeat.sh: refresh the caller's lastHeartbeat; silent if there is no session."""
    try:
        s = sessions.current(layout.bridge_dir())
        if s is not None:
            sessions.update(s, lastHeartbeat=message.now_iso())
    except BridgeError:
        pass


@guarded
def cleanup() -> None:
    """cleanup.sh: stop the project's session (telling its peers), then remove long-stale sessions."""
    root = layout.bridge_dir()
    s = sessions.current(root)
    if s is not None:
        protocol.stop(s)
    sessions.gc(root)


# script name -> its function; each takes the script's arguments as strings.
SCRIPTS = {"register": register, "get-session-id": get_session_id, "connect-peer": connect_peer,
           "send-message": send_message, "bridge-listen": bridge_listen, "bridge-receive": bridge_receive,
           "list-peers": list_peers, "check-inbox": check_inbox, "heartbeat": heartbeat, "cleanup": cleanup}


def run(name: str, args: list[str]) -> None:
    """Run one script with its arguments (what scripts/<name>.sh execs, without click: a script is called once per
    hook or message, so its start-up is the cost). A wrong argument count is the reference's usage line, exit 1."""
    fn = SCRIPTS[name]
    code = getattr(fn, "__wrapped__", fn).__code__
    positional = code.co_argcount
    required = positional - len(getattr(fn, "__wrapped__", fn).__defaults__ or ())
    varargs = bool(code.co_flags & 0x04)
    if len(args) < required or (len(args) > positional and not varargs):
        fail(f"Usage: {fn.__doc__.split(':', 1)[0]}")
    fn(*args)


def __getattr__(name: str) -> object:
    """`commands`: the `compat` click group, built on first use (PEP 562) for `session-bridge compat --help` and the
    full CLI; scripts run through run() and never import click."""
    if name != "commands":
        raise AttributeError(name)
    import click

    @click.group()
    def compat() -> None:
        """The reference plugin's script contract (used by scripts/*.sh)."""

    for script, fn in SCRIPTS.items():
        def call(args: tuple[str, ...], _script: str = script) -> None:
            run(_script, list(args))

        compat.command(script, help=fn.__doc__, context_settings={"ignore_unknown_options": True})(
            click.argument("args", nargs=-1)(call))
    globals()["commands"] = [compat]
    return globals()["commands"]
