"""Block until a directory changes, through the kernel's file notifications.

Linux: inotify through inotify_simple, watching only arrivals (IN_MOVED_TO, IN_CLOSE_WRITE). Elsewhere: watchdog's
native observer (kqueue, FSEvents). Not watchdog on Linux: its inotify observer holds every IN_MOVED_FROM for up to
0.5 s to pair renames, and our claims are renames out of the inbox, so a waiter would wake late. Where no observer
can start (no inotify instances left, exotic filesystems) we fall back to short polling, the only place the bridge
polls. One watch per directory per process keeps running, so a loop of waits pays its start-up once.
"""

from __future__ import annotations

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

    def __init__(self, path: Path, creates: bool = False) -> None:
        self.path = path
        self.generation = 0
        self.cond = threading.Condition()
        self.creates = creates
        self._bells: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        self.polling = False
        self.exact = False  # the backend reports the name of every arrival (inotify)
        self._subscribers: weakref.WeakSet[Subscription] = weakref.WeakSet()
        backend = os.environ.get("BRIDGE_WATCH") or ("inotify" if sys.platform.startswith("linux") else "watchdog")
        try:
            if backend == "inotify":
                _inotify().add(path, self, creates)
                self.exact = True
            elif backend == "watchdog":
                self._start_watchdog(path)
            else:
                self.polling = True
        except OSError:
            self.polling = True

    def changed(self) -> None:
        """Count one change of the directory and wake the waiters."""
        with self.cond:
            self.generation += 1
            self.cond.notify_all()
        self._ring()

    def ring(self, bell: threading.Event) -> None:
        """Also set `bell` on every change: one waiter can then wait on many directories at once."""
        with self.cond:
            self._bells.add(bell)

    def _ring(self) -> None:
        for bell in list(self._bells):
            bell.set()

    def also_creates(self) -> None:
        """Count entries created in the directory too (a new session's dir), not only arrivals."""
        if not self.creates and self.exact:
            _inotify().add(self.path, self, True)
        self.creates = True

    def wait(self, since: int, timeout: float | None) -> bool:
        """True once something changed after `since` was read, False on timeout."""
        if self.polling:
            timeout = FALLBACK_POLL_S if timeout is None else min(timeout, FALLBACK_POLL_S)
        with self.cond:
            changed = self.cond.wait_for(lambda: self.generation != since, timeout)
        return changed or self.polling

    def subscribe(self) -> Subscription | None:
        """Names of arrivals, where the backend reports them exactly (inotify); None elsewhere."""
        if not self.exact:
            return None
        sub = Subscription(self)
        with self.cond:
            self._subscribers.add(sub)
        return sub

    def sync(self) -> None:
        """Take in whatever the kernel has queued for this process now (never blocks)."""
        if self.exact:
            _inotify().sync()

    def arrived(self, names: list[str], overflow: bool) -> None:
        """Record names that arrived (for subscribers), or an overflow that means: list again."""
        with self.cond:
            for sub in self._subscribers:
                sub.names.update(names)
                sub.overflow = sub.overflow or overflow
            self.generation += 1
            self.cond.notify_all()
        self._ring()

    def _start_watchdog(self, path: Path) -> None:
        from watchdog.events import FileClosedEvent, FileCreatedEvent, FileMovedEvent, FileSystemEventHandler
        from watchdog.observers import Observer
        import logging

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


class _Inotify:
    """One inotify descriptor and one reader thread for the whole process, however many directories it watches
    (the kernel allows a user only 128 descriptors). sync() lets any thread read the queue now, so a scan sees
    every arrival whose rename completed before it."""

    def __init__(self) -> None:
        from inotify_simple import INotify

        self.fd = INotify(nonblocking=True)
        self.lock = threading.Lock()
        self.by_wd: dict[int, list[DirWatch]] = {}
        threading.Thread(target=self._pump, name="bridge-inotify", daemon=True).start()

    def add(self, path: Path, watch: DirWatch, creates: bool = False) -> None:
        from inotify_simple import flags

        mask = flags.MOVED_TO | flags.CLOSE_WRITE | flags.DELETE_SELF | flags.ONLYDIR
        if creates:
            mask |= flags.CREATE | flags.MASK_ADD
        with self.lock:
            wd = self.fd.add_watch(path, mask)
            watches = self.by_wd.setdefault(wd, [])
            if watch not in watches:
                watches.append(watch)

    def sync(self) -> None:
        from inotify_simple import flags

        with self.lock:  # the reader thread and callers of sync() share the descriptor
            events = self.fd.read(timeout=0)
            if not events:
                return
            overflow = any(e.mask & flags.Q_OVERFLOW for e in events)
            touched = {wd: [e.name for e in events if e.wd == wd and e.name] for wd in {e.wd for e in events}}
            targets = self.by_wd.items() if overflow else [(wd, self.by_wd.get(wd, [])) for wd in touched]
            targets = [(wd, list(ws)) for wd, ws in targets]
            gone = [w for e in events if e.mask & flags.IGNORED for w in self.by_wd.pop(e.wd, [])]
        for wd, watches in targets:
            for w in watches:
                w.arrived(touched.get(wd, []), overflow)
        with _lock:  # a directory made again at the same path gets a new watch
            for w in gone:
                if _watches.get(w.path) is w:
                    del _watches[w.path]

    def _pump(self) -> None:
        poller = select.poll()
        poller.register(self.fd.fileno(), select.POLLIN)
        while True:
            poller.poll()  # blocks in the kernel until something arrives
            self.sync()


_shared: _Inotify | None = None
_watches: dict[Path, DirWatch] = {}
_lock = threading.RLock()


def _inotify() -> _Inotify:
    global _shared
    with _lock:
        if _shared is None:
            _shared = _Inotify()
        return _shared


def watching(path: Path, creates: bool = False) -> DirWatch:
    """The running watch of a directory, started on first use; `creates` counts created entries too."""
    with _lock:
        w = _watches.get(path)
        if w is None:
            w = _watches[path] = DirWatch(path, creates)
        elif creates:
            w.also_creates()
        return w
