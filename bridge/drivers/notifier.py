"""The long-running notifier behind `session-bridge watch`: tells one agent that messages wait, never what they say.

It follows the session its agent holds (resolved as the hooks resolve it), and when messages arrive it announces
them through one driver: a line on stdout (a Claude Code plugin monitor turns each line into a turn), a tmux push,
or Codex's queue. Announced messages are marked noticed, not read (the agent reads them by taking them); unread
ones are announced again with the core's backoff. At most one announcement per COALESCE_S: a burst becomes one line.

It never exits on an error (bad files, a stopped session, a failing driver): it logs, waits and goes on. It ends
only when its agent process is gone, or when the reader of its stdout is. What it did and why goes to a log file
under $BRIDGE_DIR/logs/ (a monitor's stderr never reaches anyone).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Callable

from bridge import delivery, identity, layout, policy, protocol, render, sessions, views
from bridge.identity import Proc
from bridge.sessions import Session
from bridge.watch import watching

COALESCE_S = 2.0  # at most one announcement per this many seconds (Claude's monitor rate limit is 1 per 2 s)
LINE_CHARS = 500  # Claude Code cuts a monitor line here
BATCH = 20  # messages considered per announcement


def recheck_s() -> float:
    """How often, with nothing arriving, to look again: re-notice backoff, a mode change, the agent's exit.
    BRIDGE_NOTIFIER_RECHECK overrides (tests)."""
    try:
        return max(0.2, float(os.environ.get("BRIDGE_NOTIFIER_RECHECK") or 15))
    except ValueError:
        return 15.0


class Later(Exception):
    """A driver cannot announce now (the agent is busy, a cooldown runs): nothing is marked; try again in `after` s."""

    def __init__(self, reason: str, after: float = 5.0) -> None:
        super().__init__(reason)
        self.after = after


class Gone(Exception):
    """Nobody can be told any more (the reader of our stdout went away): the notifier ends."""


# An announcer tells the agent about `due` (a non-empty list of messages) and returns a one-line detail for the log
# and doctor. It raises Later to retry without marking, Gone to end, anything else for a failure (nothing marked).
Announcer = Callable[[Session, list], str]


def pointer(due: list[dict], command: str) -> str:
    """The one line that announces `due`: a single message's pointer, or a burst's count, senders and ids."""
    pointers = [views.notice_view(m) for m in due]
    text = render.notice(pointers[0], command) if len(pointers) == 1 else render.burst(pointers, command)
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS - 1] + "…"


def stdout_announcer(session: Session, due: list[dict]) -> str:
    """A Claude Code plugin monitor: one flushed line on stdout, which the host hands to the model."""
    try:
        sys.stdout.write(pointer(due, render.cli_command()) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError, OSError) as e:  # ValueError: stdout closed
        raise Gone(f"stdout is gone ({e.__class__.__name__})") from None
    return f"printed a pointer to {len(due)} message(s)"


class Notifier:
    """Announce one agent's messages through `announce` while the agent runs (see the module's docstring)."""

    def __init__(self, kind: str, announce: Announcer, root: Path | None = None, log: logging.Logger | None = None,
                 agent: Proc | None = None, agent_session_id: str | None = None) -> None:
        self.kind = kind  # the delivery mode this notifier serves: monitor, tmux or queue
        self.announce = announce
        self.root = root or layout.bridge_dir()
        self.agent = agent if agent is not None else identity.agent_process()
        self.agent_session_id = agent_session_id or identity.agent_session_id()
        self.log = log or open_log(self.root, kind, self.agent)
        self.next_line_at = 0.0
        self.failures = 0
        self._said = ""  # the last "why I am silent", logged once per change
        self.bound: str | None = None  # the session id this notifier last served
        self._waiting = ""  # why the driver last said "not now", logged once until an announcement gets through

    def agent_alive(self) -> bool:
        """True while the agent this notifier serves runs (always, when started outside any agent)."""
        return self.agent is None or self.agent.alive()

    def run(self) -> int:
        """Announce until the agent is gone; returns the exit code (0)."""
        self.log.info("started: %s notifier (pid %d) for agent %s", self.kind, os.getpid(),
                      f"{self.agent.kind or 'process'} pid {self.agent.pid}" if self.agent else "none (runs until stopped)")
        while self.agent_alive():
            try:
                self.step()
                self.failures = 0
            except Gone as e:
                self.log.info("ending: %s", e)
                return 0
            except Exception:  # noqa: BLE001 - a notifier never dies of a bad file or a failing driver
                self.failures += 1
                wait = min(60.0, 2.0 ** self.failures)
                self.log.exception("step failed (%d in a row); trying again in %.0f s", self.failures, wait)
                time.sleep(wait)
        self.log.info("ending: the agent exited")
        return 0

    def quiet(self, why: str) -> None:
        """Log why nothing is announced, once per reason."""
        if why != self._said:
            self._said = why
            self.log.info("%s", why)

    def step(self) -> None:
        """One round: find the session, announce what is due, then wait for an arrival or the next recheck."""
        sessions_watch = watching(layout.sessions_dir(self.root))
        seen_sessions = sessions_watch.generation
        session = sessions.for_agent(self.root, self.agent_session_id)
        if session is None:
            self.quiet("no bridge session for this agent yet: waiting for one")
            sessions_watch.wait(seen_sessions, recheck_s())
            return
        if session.id != self.bound:
            self.bound = session.id
            delivery.record(session, self.kind, True, "armed")  # auto picks an armed monitor (delivery.resolve)
        mode = delivery.resolve(session)
        if mode != self.kind:
            self.quiet(f"session {session.id}: delivery is {mode}, not {self.kind}: silent")
            sessions_watch.wait(seen_sessions, recheck_s())
            return
        self.quiet(f"announcing for session {session.id} (delivery {mode})")
        inbox_watch = watching(session.mailbox.inbox)
        seen = inbox_watch.generation
        delay = self.next_line_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the rate limit: what arrives meanwhile joins the next line
        retry = self.announce_due(session)
        inbox_watch.wait(seen, retry or recheck_s())

    def announce_due(self, session: Session) -> float | None:
        """Announce the messages due now; returns a sooner retry time when a driver said Later."""
        with protocol.notice(session, BATCH) as due:
            due[:], later = policy.admit(session, due)  # in a room, a line that wakes the agent passes the rails
            if not due:
                return None if later is None else max(0.5, later - time.time())
            try:
                detail = self.announce(session, due)
            except Later as e:
                if str(e) != self._waiting:  # a long busy turn is one log line, not one per retry
                    self._waiting = str(e)
                    self.log.info("not now: %s; trying again every %.0f s", e, e.after)
                due.clear()  # nothing was told: nothing is marked noticed
                return e.after
            except Gone:
                due.clear()
                raise
            except Exception as e:
                delivery.record(session, self.kind, False, str(e))
                due.clear()
                raise
            self.next_line_at = time.monotonic() + COALESCE_S
            self._waiting = ""
            ids = ", ".join(m["id"] for m in due)
            self.log.info("%s: %s", detail, ids)
            delivery.record(session, self.kind, True, f"noticed {len(due)} message(s)")
        for report in session.mailbox.reports:
            self.log.warning("%s", report)
        session.mailbox.reports.clear()
        return None


def open_log(root: Path, kind: str, agent: Proc | None) -> logging.Logger:
    """A logger writing to $BRIDGE_DIR/logs/<kind>-<agent pid>.log (rotated at 256 KiB), or nowhere if it cannot."""
    log = logging.getLogger(f"session-bridge.{kind}.{os.getpid()}")
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        layout.make_dirs(root / layout.LOGS)
        name = f"{kind}-{agent.pid if agent else os.getpid()}.log"
        handler: logging.Handler = RotatingFileHandler(root / layout.LOGS / name, maxBytes=256 * 1024, backupCount=1)
        os.chmod(root / layout.LOGS / name, 0o600)
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    return log
