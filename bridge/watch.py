"""Block until a directory changes, through the kernel's file notifications.

Linux: inotify through inotify_simple, watching only arrivals (IN_MOVED_TO, IN_CLOSE_WRITE). Elsewhere: watchdog's
native observer (kqueue, FSEvents). Not watchdog on Linux: its inotify observer holds every IN_MOVED_FROM for up to
0.5 s to pair renames, and our claims are renames out of the inbox, so a waiter would wake late. Where no observer
can start (no inotify instances left, exotic filesystems) we fall back to short polling, the only place the bridge
polls. One watch per directory per process keeps running, so a loop of waits pays its start-up once.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
import weakref
from pathlib import Path

FALLBACK_POLL_S = 0.05


class Subscription:
    """The names that appeared in a watched directory since the last take(), for a reader that keeps its own
    listing up to date instead of listing the directory again. `overflow` means names were lost: list it again."""

    def __init__(self, watch: "DirWatch") -> None:
        self.watch = watch
        self.names: set[str] = set()
        self.overflow = False

    def take(self) -> tuple[set[str], bool]:
        """Everything the kernel had queued when this was called, and whether the queue overflowed."""
        self.watch.sync()
        with self.watch.cond:
            names, overflow = self.names, self.overflow
            self.names, self.overflow = set(), False
        return names, overflow


class DirWatch:
    """Counts changes to one directory. Read `generation`, scan, then wait(generation): a change during the scan
    is never missed, and any number of threads can wait at once."""

    def __init__(self, path: Path) -> None:
        self.generation = 0
        self.cond = threading.Condition()
        self.polling = False
        self._inotify = None
        self._read_lock = threading.Lock()
        self._subscribers: weakref.WeakSet[Subscription] = weakref.WeakSet()
        backend = os.environ.get("BRIDGE_WATCH") or ("inotify" if sys.platform.startswith("linux") else "watchdog")
        try:
            if backend == "inotify":
                self._start_inotify(path)
            elif backend == "watchdog":
                self._start_watchdog(path)
            else:
                self.polling = True
        except OSError:
            self.polling = True

    def changed(self) -> None:
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

    def subscribe(self) -> Subscription | None:
        """Names of arrivals, where the backend reports them exactly (inotify); None elsewhere."""
        if self._inotify is None:
            return None
        sub = Subscription(self)
        with self.cond:
            self._subscribers.add(sub)
        return sub

    def sync(self) -> bool:
        """Take whatever the kernel has queued now (never blocks); False once the directory is gone."""
        if self._inotify is None:
            return True
        from inotify_simple import flags

        with self._read_lock:  # the pump thread and callers of sync() read the same descriptor
            events = self._inotify.read(timeout=0)
        if events:
            with self.cond:
                for sub in self._subscribers:
                    for e in events:
                        if e.mask & flags.Q_OVERFLOW:
                            sub.overflow = True
                        elif e.name:
                            sub.names.add(e.name)
                self.generation += 1
                self.cond.notify_all()
        return not any(e.mask & flags.IGNORED for e in events)

    def _start_inotify(self, path: Path) -> None:
        from inotify_simple import INotify, flags

        self._inotify = INotify(nonblocking=True)
        self._inotify.add_watch(path, flags.MOVED_TO | flags.CLOSE_WRITE | flags.DELETE_SELF | flags.ONLYDIR)
        poller = select.poll()
        poller.register(self._inotify.fileno(), select.POLLIN)

        def pump() -> None:
            while True:
                poller.poll()  # blocks in the kernel until something arrives
                if not self.sync():
                    return  # the directory is gone

        threading.Thread(target=pump, name=f"bridge-watch {path}", daemon=True).start()

    def _start_watchdog(self, path: Path) -> None:
        from watchdog.events import FileClosedEvent, FileCreatedEvent, FileMovedEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        # watchdog logs an error when a read races its own stop(); a normal end of a wait, not news for the user.
        logging.getLogger("watchdog").addHandler(logging.NullHandler())
        logging.getLogger("watchdog").propagate = False
        watch = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: object) -> None:
                watch.changed()

        observer = Observer()
        observer.schedule(Handler(), str(path), recursive=False,
                          event_filter=[FileCreatedEvent, FileMovedEvent, FileClosedEvent])
        observer.daemon = True
        observer.start()


_watches: dict[Path, DirWatch] = {}
_lock = threading.Lock()


def watching(path: Path) -> DirWatch:
    """The running watch of a directory, started on first use."""
    with _lock:
        w = _watches.get(path)
        if w is None:
            w = _watches[path] = DirWatch(path)
        return w
