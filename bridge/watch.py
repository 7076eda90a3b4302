"""Block until a directory changes, through the kernel's file notifications (inotify, kqueue, FSEvents).

watchdog runs the platform's native observer; where none can start (no inotify instances left, exotic
filesystems) we fall back to short polling, the only place the bridge polls.
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


class _Flag(FileSystemEventHandler):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.event.set()


class DirWatch:
    """Use as a context manager: start watching, scan, then wait(); a change during the scan is not missed."""

    def __init__(self, *paths: Path) -> None:
        self.paths = paths
        self.changed = threading.Event()
        self.observer = None
        self.polling = False

    def __enter__(self) -> "DirWatch":
        try:
            observer = Observer()
            for path in self.paths:
                observer.schedule(_Flag(self.changed), str(path), recursive=False, event_filter=ARRIVALS)
            observer.daemon = True
            observer.start()
            self.observer = observer
        except OSError:
            self.polling = True
        return self

    def wait(self, timeout: float | None) -> bool:
        """True if something changed (since the last wait), False on timeout."""
        if self.polling:
            timeout = FALLBACK_POLL_S if timeout is None else min(timeout, FALLBACK_POLL_S)
            self.changed.wait(timeout)
            self.changed.clear()
            return True
        changed = self.changed.wait(timeout)
        self.changed.clear()
        return changed

    def __exit__(self, *exc: object) -> None:
        if self.observer is not None:
            self.observer.stop()  # closes the inotify fd, which wakes its reader thread at once
            self.observer.join(timeout=1)
