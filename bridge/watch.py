"""Block until a directory changes, through the kernel's file notifications (inotify, kqueue, FSEvents).

watchdog runs the platform's native observer; where none can start (no inotify instances left, exotic
filesystems) we fall back to short polling, the only place the bridge polls. One observer per directory per process
stays running, so a loop of waits (a listen loop, an MCP server) pays its start-up once.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from watchdog.events import (
    DirDeletedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

# watchdog logs an error when a read races its own stop(); that is a normal end of a wait, not news for the user.
logging.getLogger("watchdog").addHandler(logging.NullHandler())
logging.getLogger("watchdog").propagate = False

FALLBACK_POLL_S = 0.05
# Arrivals only: a rename into the directory, a creation, a finished write; not the opens our own reads cause.
ARRIVALS = [FileCreatedEvent, FileMovedEvent, FileClosedEvent, DirDeletedEvent]


class DirWatch(FileSystemEventHandler):
    """Counts changes to one directory. Read `generation`, scan, then wait(generation): a change during the scan
    is never missed, and any number of threads can wait at once."""

    def __init__(self, path: Path) -> None:
        self.generation = 0
        self.cond = threading.Condition()
        self.polling = False
        try:
            self.observer = Observer()
            self.observer.schedule(self, str(path), recursive=False, event_filter=ARRIVALS)
            self.observer.daemon = True
            self.observer.start()
        except OSError:
            self.polling = True

    def on_any_event(self, event: FileSystemEvent) -> None:
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def wait(self, since: int, timeout: float | None) -> bool:
        """True once something changed after `since` was read, False on timeout."""
        if self.polling:
            timeout = FALLBACK_POLL_S if timeout is None else min(timeout, FALLBACK_POLL_S)
        with self.cond:
            changed = self.cond.wait_for(lambda: self.generation != since, timeout)
        return changed or self.polling


_watches: dict[Path, DirWatch] = {}
_lock = threading.Lock()


def watching(path: Path) -> DirWatch:
    """The running watch of a directory, started on first use."""
    with _lock:
        w = _watches.get(path)
        if w is None:
            w = _watches[path] = DirWatch(path)
        return w
