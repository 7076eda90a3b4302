"""The live feed: one thread follows the history index the way `session-bridge tail -f` does (bridge.index.follow:
kernel notifications on every outbox, no polling) and hands each new message, in the shared shape, to every open
page's queue."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from bridge import index, views


class Feed:
    """New messages on this machine, fanned out to subscribers (one asyncio queue per open page)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.subscribers: set[asyncio.Queue] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start following (once), delivering into queues on `loop`."""
        with self._lock:
            if self._thread is not None:
                return
            self.loop = loop
            with index.reading(self.root) as ix:
                last = ix.last_rowid()
            self._thread = threading.Thread(target=self._follow, args=(last,), name="bridge-ui-feed", daemon=True)
            self._thread.start()

    def _follow(self, last: int) -> None:
        for rows, notes in index.follow(self.root, last):
            events = [{"kind": "message", "message": views.history_view(r)} for r in rows]
            events += [{"kind": "note", "note": n} for n in notes]
            if events and self.loop is not None:
                self.loop.call_soon_threadsafe(self._publish, events)

    def _publish(self, events: list[dict]) -> None:
        for q in list(self.subscribers):
            for e in events:
                q.put_nowait(e)

    def subscribe(self) -> asyncio.Queue:
        """A queue that receives every event from now on; pass it to unsubscribe when the page goes away."""
        q: asyncio.Queue = asyncio.Queue()
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        """Stop delivering to `q`."""
        self.subscribers.discard(q)
