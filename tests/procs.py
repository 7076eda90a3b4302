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
    """Resolve the session, say so, then wait for one message; report a bridge error as {"error", "code"}."""
    me = sessions.require_current(layout.bridge_dir())
    out({"ready": me.id})
    try:
        with protocol.listen(me) as m:
            out({"id": m["id"]})
    except BridgeError as e:
        out({"error": str(e), "code": e.exit_code})


def sender(peer: str, count: int, tag: str) -> None:
    """Send `count` queries "<tag>-<n>" to peer."""
    root = layout.bridge_dir()
    me, _ = sessions.register(root)
    target = sessions.find_peer(root, peer, me)
    for n in range(count):
        protocol.send(me, target, "query", f"{tag}-{n}")
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


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "reader":
        reader(float(args[0]) if args else 0)
    elif mode == "sender":
        sender(args[0], int(args[1]), args[2])
    elif mode == "listen-once":
        listen_once()
    elif mode == "answerer":
        answerer(*args)
