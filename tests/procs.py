"""Worker processes the multi-process tests and benchmarks start: `python tests/procs.py reader|sender|answerer ...`.

Each acts as the bridge session of PROJECT_DIR under BRIDGE_DIR, through the core library, and reports on stdout one
JSON line per event so the test can follow it without sleeping.
"""

from __future__ import annotations

import sys

import orjson

from bridge import layout, message, protocol, sessions
from bridge.errors import BridgeError, Timeout


def out(obj: object) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


def error(e: BridgeError) -> dict:
    """A bridge error as the CLI says it (its next step worded as a CLI command): {"error", "code"}."""
    from bridge.cli import WORDS  # only the error paths need the CLI's wording

    return {"error": e.worded(WORDS), "code": e.exit_code}


def reader(timeout: float = 0) -> None:
    """Print every message delivered to this session: {"id", "attempt", "content"}."""
    me = sessions.require_current(layout.bridge_dir())
    out({"ready": me.id})
    while True:
        try:
            with protocol.listen(me, timeout) as m:
                out({"id": m["id"], "attempt": message.attempt(m), "content": m["content"], "from": m["from"]})
        except Timeout:
            return


def listen_once() -> None:
    """Resolve the session, say so, then wait for one message; report a bridge error as {"error", "code"}, its next
    step worded as the CLI words it."""
    me = sessions.require_current(layout.bridge_dir())
    out({"ready": me.id})
    try:
        with protocol.listen(me) as m:
            out({"id": m["id"]})
    except BridgeError as e:
        out(error(e))


def sender(peer: str, count: int, tag: str) -> None:
    """Send `count` queries "<tag>-<n>" to peer."""
    root = layout.bridge_dir()
    me, _ = sessions.register(root)
    target = sessions.find_peer(root, peer, me)
    for n in range(count):
        protocol.send(me, target, "query", f"{tag}-{n}")
    out({"sent": count})


def broadcaster(count: int, tag: str) -> None:
    """Send `count` broadcasts "<tag>-<n>" to '*' (every other session of this session's room)."""
    root = layout.bridge_dir()
    me = sessions.require_current(root)
    for n in range(count):
        sent, failed = protocol.send_all(me, sessions.recipients(root, "*", me), "query", f"{tag}-{n}")
        assert not failed, failed
    out({"sent": count})


def answerer(prefix: str = "answer: ") -> None:
    """A scripted agent: answer each query with prefix + the question, forever."""
    me = sessions.require_current(layout.bridge_dir())
    out({"ready": me.id})
    while True:
        with protocol.listen(me) as m:
            if m["type"] == "query":
                protocol.reply(me, m["id"], prefix + m["content"])
                out({"answered": m["id"]})


def _barrier() -> None:
    """Say ready, then wait until the test closes our stdin: every worker starts its step at the same moment."""
    out({"ready": True})
    sys.stdin.read()


def register(label: str = "") -> None:
    """At the barrier, start (or resume) this project's session; report {"session_id", "created"} or the error."""
    root = layout.bridge_dir()
    _barrier()
    try:
        s, created = sessions.register(root, label or None)
        out({"session_id": s.id, "created": created})
    except BridgeError as e:
        out(error(e))


def remember(peer_id: str) -> None:
    """Load this session (its manifest as of now), then at the barrier record peer_id as a connection."""
    me = sessions.require_current(layout.bridge_dir())
    _barrier()
    try:
        sessions.remember_peer(me, peer_id)
        out({"remembered": peer_id})
    except BridgeError as e:
        out(error(e))


def flood(peer: str, most: int = 20000) -> None:
    """At the barrier, send queries to peer until a send fails (the peer stopped), at most `most`; report how many
    went and the error that ended it (None if none did)."""
    root = layout.bridge_dir()
    me, _ = sessions.register(root)
    target = sessions.find_peer(root, peer, me)
    _barrier()
    sent, error = 0, None
    try:
        while sent < most:
            protocol.send(me, target, "query", f"flood-{sent}")
            sent += 1
    except BridgeError as e:
        error = type(e).__name__
    out({"sent": sent, "error": error})


def asker(peer: str, count: int) -> None:
    """Ask peer `count` questions one after the other; report each answer, or the error that ended the run."""
    me = sessions.require_current(layout.bridge_dir())
    target = sessions.find_peer(me.root, peer, me)
    for n in range(count):
        try:
            with protocol.ask(me, target, f"q{n}", timeout=30) as (_, answer):
                out({"answer": answer["content"]})
        except BridgeError as e:
            out({"error": error(e)["error"]})
            return


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "reader":
        reader(float(args[0]) if args else 0)
    elif mode == "sender":
        sender(args[0], int(args[1]), args[2])
    elif mode == "broadcaster":
        broadcaster(int(args[0]), args[1])
    elif mode == "listen-once":
        listen_once()
    elif mode == "answerer":
        answerer(*args)
    elif mode == "asker":
        asker(args[0], int(args[1]))
    elif mode == "register":
        register(*args)
    elif mode == "remember":
        remember(args[0])
    elif mode == "flood":
        flood(args[0], *map(int, args[1:]))
