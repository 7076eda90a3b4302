"""Auto-mode's runner (`session-bridge auto run`): wake the role a message is for, behind the rails.

It waits in the kernel (inotify on sessions/, rooms/ and every role's inbox; a child's exit or a rate-limit slot
sets the same bell) and, on each change, looks at every role's pending messages with the settings as they are on
disk now. A message that passes the gate (policy.gate: wake policy, sensitive roles, the loop guard) and gets a slot
(policy.take_slot: rate limit, push cooldown) wakes its role through one driver:

    live session, monitor   nothing here: the session's own notifier passes the same gate (policy.admit)
    live session, tmux      a pointer pasted into its pane when idle (busy: again later)
    live session, queue     a pointer into its Codex thread
    no live session         spawn: the role's command, one run at a time per role, the message as its prompt;
                            the message is claimed for the run and delivered when it exits 0, put back otherwise
                            (given up after MAX_ATTEMPTS: it waits for a human)
    none of these           the message waits (logged once)

One runner per bridge dir (a flock). What it did and why goes to logs/auto.jsonl (`auto log`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bridge import delivery, layout, message, policy, rooms, sessions
from bridge.errors import BridgeError
from bridge.mailbox import Claim
from bridge.sessions import Session
from bridge.watch import watching

MAX_ATTEMPTS = 3  # failed runs for one message before it is left for a human
SKIP_TYPES = ("ping", "session-ended")
PUSH_RETRY_S = 5.0


@dataclass
class Run:
    """A spawned run: its process, the claimed message, and when it must end."""

    proc: subprocess.Popen
    session: Session
    claim: Claim
    deadline: float


class Runner:
    """The auto-mode loop for one bridge dir (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bell = threading.Event()
        self.runs: dict[str, Run] = {}  # session id -> its one run in flight
        self.later: dict[str, float] = {}  # msg id -> when a driver or the rate limit lets us try again
        self.stopping = False

    def run(self) -> int:
        """Wake roles until stopped (SIGINT/SIGTERM); returns the exit code."""
        layout.make_dirs(self.root / layout.LOCKS)
        lock = layout.lock(self.root / layout.LOCKS / layout.AUTO_LOCK, timeout=1)  # auto status peeks at it
        try:
            lock.acquire()
        except TimeoutError:
            raise BridgeError(f"another auto run already runs for {self.root}; one is enough (see: auto status)") \
                from None
        try:
            policy.log_event(self.root, "started", None, None, why=f"runner pid {os.getpid()}")
            while not self.stopping:
                self.bell.clear()
                next_at = self.step()
                self.bell.wait(None if next_at is None else max(0.0, next_at - time.time()))
        finally:
            for run in list(self.runs.values()):
                self._stop_run(run, "the runner stopped")
            policy.log_event(self.root, "stopped", None, None, why=f"runner pid {os.getpid()}")
            lock.release()
        return 0

    def stop(self, *_: object) -> None:
        """End the loop (a signal handler)."""
        self.stopping = True
        self.bell.set()

    # --- one pass ----------------------------------------------------------------------------------------------

    def step(self) -> float | None:
        """Finish ended runs, then consider every role's pending messages; returns when to look again unprompted
        (a rate-limit slot, a run's deadline), None to wait for the next change."""
        for path, creates in ((layout.sessions_dir(self.root), True), (self.root / layout.ROOMS, False)):
            layout.make_dirs(path)
            watching(path, creates).ring(self.bell)
        now = time.time()
        times = [self._reap(run, now) for run in list(self.runs.values())]
        settings = rooms.load(self.root)
        for session in sessions.all_sessions(self.root):
            if not session.role or session.machine:
                continue  # a role held on another machine is that machine's runner's to wake
            watching(session.mailbox.inbox).ring(self.bell)
            times.append(self._consider_role(session, settings, now))
        return min((t for t in times if t is not None), default=None)

    def _consider_role(self, session: Session, settings: dict, now: float) -> float | None:
        cfg = rooms.role_config(settings, session.room, session.role)
        lim = rooms.limits(settings, session.room)
        box = session.mailbox
        try:
            box.recover()  # a run of an earlier runner that died: its claim comes back here
            pending = [m for m in box.peek(50) if self._wakeable(session, m)]
        except OSError:
            return None  # stopped meanwhile
        for msg in pending:
            if self.later.get(msg["id"], 0) > now:
                return self.later[msg["id"]]
            verdict = policy.gate(cfg, lim, msg)
            if not verdict.wake:
                policy.log_event(self.root, "held", session, msg, why=verdict.why, once=True)
                continue
            if message.attempt(msg) > MAX_ATTEMPTS:
                policy.log_event(self.root, "gave-up", session, msg, once=True,
                                 why=f"{MAX_ATTEMPTS} runs failed on it; it waits for a human")
                continue
            return self._wake(session, cfg, lim, msg, now)  # oldest first: one wake per role per pass
        return None

    def _wakeable(self, session: Session, msg: dict) -> bool:
        if msg["type"] in SKIP_TYPES or msg["from"] == session.id:
            return False
        if msg["type"] == "response" and session.mailbox.is_awaited(msg.get("inReplyTo")):
            return False  # an ask of the live session waits for it
        return True

    def _driver(self, session: Session, cfg: rooms.RoleConfig) -> tuple[str | None, str]:
        """The driver that wakes this role now, and why (None: nothing can; the message waits)."""
        if session.id in self.runs:
            return "busy", "its spawned run is still going (one at a time)"
        if session.liveness == "active":
            if cfg.driver in delivery.NOTIFIERS:
                return cfg.driver, f"driver {cfg.driver}"
            mode = delivery.resolve(session)
            if mode in delivery.NOTIFIERS:
                return mode, f"its live session's delivery is {mode}"
            if session.manifest.get("tmux"):
                return "tmux", "its live session runs in tmux"
            return None, f"its live session has no way to be woken (delivery {mode}); it reads at its next prompt"
        if cfg.command:
            return "spawn", f"no live session: spawn {cfg.command!r}"
        return None, "no live session and no spawn command (auto set ... --command); it waits"

    def _wake(self, session: Session, cfg: rooms.RoleConfig, lim: dict, msg: dict, now: float) -> float | None:
        driver, why = self._driver(session, cfg)
        if driver == "busy":
            policy.log_event(self.root, "later", session, msg, why=why, once=True)
            return None  # the run's exit rings the bell
        if driver is None or driver == "monitor":
            policy.log_event(self.root, "waits" if driver is None else "left", session, msg, why=why, once=True)
            return None
        slot = policy.take_slot(self.root, session.room, session.role, lim, push=driver != "spawn", now=now)
        if slot is not None:
            self.later[msg["id"]] = slot
            policy.log_event(self.root, "later", session, msg, once=True,
                             why=f"rate limit {lim['rate_per_min']}/min (or push cooldown): next slot in "
                                 f"{slot - now:.0f} s")
            return slot
        self.later.pop(msg["id"], None)
        if driver == "spawn":
            return self._spawn(session, cfg, lim, msg, why)
        return self._push(session, driver, msg, why, now)

    def _push(self, session: Session, driver: str, msg: dict, why: str, now: float) -> float | None:
        from bridge.drivers import announcers, notifier

        try:
            detail = announcers.pick(driver)(session, [msg])
        except notifier.Later as e:
            self.later[msg["id"]] = now + e.after
            policy.log_event(self.root, "later", session, msg, why=str(e), once=True)
            return now + e.after
        except Exception as e:  # noqa: BLE001 - a failing driver is logged; the message waits
            self.later[msg["id"]] = now + PUSH_RETRY_S * 6
            policy.log_event(self.root, "failed", session, msg, why=f"{driver}: {e}", driver=driver)
            return now + PUSH_RETRY_S * 6
        session.mailbox.mark_noticed(msg)
        policy.record_wake(session, msg)
        policy.log_event(self.root, "woke", session, msg, why=f"{why}: {detail}", driver=driver)
        self.later[msg["id"]] = now + 600  # pushed once; the session's own notices take it from here
        return None

    def _spawn(self, session: Session, cfg: rooms.RoleConfig, lim: dict, msg: dict, why: str) -> float | None:
        from bridge.drivers import spawn

        claim = session.mailbox.claim_id(msg["id"])
        if claim is None:
            return None  # another reader took it meanwhile: nothing to wake for
        policy.record_wake(session, claim.message, running=True)
        try:
            proc = spawn.start(cfg, session, claim.message)
        except (OSError, BridgeError) as e:
            session.mailbox.release(claim)
            policy.end_run(session)
            policy.log_event(self.root, "failed", session, msg, why=f"cannot start {cfg.command!r}: {e}",
                             driver="spawn")
            return None
        deadline = time.time() + lim["run_timeout_s"]
        self.runs[session.id] = Run(proc, session, claim, deadline)
        threading.Thread(target=self._await_exit, args=(proc,), daemon=True, name="auto-run").start()
        policy.log_event(self.root, "woke", session, msg, why=why, driver="spawn", pid=proc.pid)
        return deadline

    def _await_exit(self, proc: subprocess.Popen) -> None:
        proc.wait()
        self.bell.set()

    def _reap(self, run: Run, now: float) -> float | None:
        """Finish a run that ended (deliver or put back its message); stop one past its deadline."""
        code = run.proc.poll()
        if code is None and now < run.deadline:
            return run.deadline
        if code is None:
            self._stop_run(run, "it ran past run_timeout_s")
            return None
        del self.runs[run.session.id]
        policy.end_run(run.session)
        box = run.session.mailbox
        try:
            if code == 0:
                box.finalize(run.claim)
                policy.log_event(self.root, "done", run.session, run.claim.message, why="the run exited 0")
            else:
                box.release(run.claim)
                policy.log_event(self.root, "failed", run.session, run.claim.message,
                                 why=f"the run exited {code}; the message is offered again (see logs/spawn-*.log)")
        except OSError:
            pass  # the role's session was stopped meanwhile
        return None

    def _stop_run(self, run: Run, why: str) -> None:
        try:
            os.killpg(run.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            run.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait()
        policy.log_event(self.root, "stopped-run", run.session, run.claim.message, why=why)
        self._reap(run, time.time())

