"""Fault injection for the store: kill a real process at every file-system step of an operation, and at every pair.

A worker process is forked from the caller; it counts each mutating file-system call it makes under the bridge dir
(open with O_CREAT, write-fsync, rename, link, symlink, unlink, mkdir, rmdir) and SIGKILLs itself just before call
k. Running an operation once without a crash lists its steps; each k in 1..n+1 is then a crash point (n+1: after the
last step, before the operation returns). A pair is a crash at k1 of one operation followed by a crash at k2 of the
recovery from it (recover, gc). After the crash(es) the checker, this live process, recovers, takes everything and
checks the invariant: every message pending or delivered (none lost, none unreadable, no claim left behind), none
delivered twice without being marked as a redelivery, and every reader still works.

Used by tests/test_crash_points.py (the full enumeration) and bench/bench.py (the table).
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import orjson

from bridge import identity, layout, message, protocol, sessions, watch
from bridge.mailbox import Mailbox

MUTATING = ("rename", "replace", "link", "symlink", "unlink", "remove", "rmdir", "mkdir", "fsync", "open")


class Boom(Exception):
    """A reader that fails while handing a message over (it must be put back)."""


# --- the worker: a forked process that counts its steps and dies at one -------------------------------------------


def _instrument(root: str, crash_at: int, log: Callable[[dict], None]) -> None:
    """Patch os so each mutating call under root is counted (and logged), and the crash_at-th one never happens."""
    count = [0]

    def relevant(name: str, args: tuple, kwargs: dict) -> bool:
        if name == "open" and not (args[1] if len(args) > 1 else kwargs.get("flags", 0)) & os.O_CREAT:
            return False
        if name == "fsync":
            return True
        if kwargs.get("dir_fd") is not None:
            return True  # shutil.rmtree's steps inside a session dir
        return any(isinstance(a, (str, Path)) and str(a).startswith(root) for a in args[:2])

    def wrap(name: str, real: Callable) -> Callable:
        def step(*args, **kwargs):
            if relevant(name, args, kwargs):
                count[0] += 1
                if count[0] == crash_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                log({"step": count[0], "op": name, "path": _shape(root, args)})
            return real(*args, **kwargs)

        return step

    for name in MUTATING:
        setattr(os, name, wrap(name, getattr(os, name)))


def _shape(root: str, args: tuple) -> str:
    """A step's paths with ids and owners replaced by placeholders, for the table."""
    import re

    parts = []
    for a in args[:2]:
        if isinstance(a, (str, Path)):
            p = str(a).replace(root, "$BRIDGE_DIR")
            p = re.sub(r"msg-\d{19}-[0-9a-f]{6}", "<id>", p)
            p = re.sub(r"@\d+\.\d+", "@<owner>", p)
            p = re.sub(r"/\.(tmp|lnk)-[^/]+", r"/.\1-…", p)
            p = re.sub(r"sessions/\.ended-[^/]+", "sessions/.ended-…", p)
            p = re.sub(r"sessions/[a-z0-9]{6}(?=/|$)", "sessions/<sid>", p)
            parts.append(p.replace("$BRIDGE_DIR/", ""))
        elif isinstance(a, int):
            parts.append("fd")
    return " -> ".join(parts)


def run_worker(root: Path, op: Callable[[Callable[[dict], None]], None], crash_at: int = 0) -> tuple[list[dict], bool]:
    """Fork a process that runs op(report) with its steps counted, dying before step crash_at (0: never).
    Returns what it reported (steps and events) and whether it was killed."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            os.close(r)
            _fresh_process_state()

            def report(event: dict) -> None:
                os.write(w, orjson.dumps(event) + b"\n")

            _instrument(str(root), crash_at, report)
            op(report)
            report({"done": True})
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    events = [orjson.loads(line) for line in b"".join(chunks).splitlines()]
    return events, os.WIFSIGNALED(status)


def _fresh_process_state() -> None:
    """What a new process would have: its own identity, no inherited inotify watches or locks."""
    identity.this_process.cache_clear()
    watch._shared = None
    watch._watches = {}
    watch._lock = threading.RLock()


# --- the scenario: a bridge with a reader session (lib) and a sender (app) ----------------------------------------


@dataclass
class Bridge:
    root: Path
    lib: str
    app: str
    sent: list[str] = field(default_factory=list)  # messages app sent to lib before the crash

    def session(self, sid: str) -> sessions.Session:
        s = sessions.load(self.root, sid)
        assert s is not None, f"session {sid} is unreadable"
        return s


TEMPS: list[Path] = []


def cleanup() -> None:
    """Remove the bridge dirs made so far."""
    import shutil

    while TEMPS:
        shutil.rmtree(TEMPS.pop(), ignore_errors=True)


def make_bridge(pending: int = 3) -> Bridge:
    """A fresh bridge dir with sessions lib and app, and `pending` queries from app waiting in lib's inbox."""
    tmp = Path(tempfile.mkdtemp(prefix="bridge-crash-"))
    TEMPS.append(tmp)
    os.environ["BRIDGE_DIR"] = str(tmp / "bridge")
    root = layout.bridge_dir()
    ids = {}
    for name in ("lib", "app"):
        (tmp / name).mkdir()
        os.environ["PROJECT_DIR"] = str(tmp / name)
        ids[name] = sessions.register(root)[0].id
    b = Bridge(root, ids["lib"], ids["app"])
    for n in range(pending):
        b.sent.append(protocol.send(b.session(b.app), b.session(b.lib), "query", f"question {n}")["id"])
    return b


def listen(b: Bridge, fail: bool = False) -> Callable:
    """A reader that takes the next message, reports it handed over, and (fail) raises before delivering."""

    def op(report):
        try:
            with protocol.listen(b.session(b.lib), timeout=5) as m:
                report({"handed": m["id"], "attempt": message.attempt(m)})
                if fail:
                    raise Boom
        except Boom:
            pass

    return op


def read_by_id(b: Bridge) -> Callable:
    def op(report):
        with protocol.read(b.session(b.lib), b.sent[1]) as (m, _):
            report({"handed": m["id"], "attempt": message.attempt(m)})

    return op


def drain(b: Bridge) -> Callable:
    """The prompt hook's path: claim within a budget, hand over, deliver together."""

    def op(report):
        with protocol.drain_within(b.session(b.lib), lambda m: len(m["content"]), 25) as (msgs, _):
            for m in msgs:
                report({"handed": m["id"], "attempt": message.attempt(m)})

    return op


def send(b: Bridge) -> Callable:
    def op(report):
        m = protocol.send(b.session(b.app), b.session(b.lib), "query", "sent during the test")
        report({"sent": m["id"]})

    return op


def reply(b: Bridge) -> Callable:
    def op(report):
        m = protocol.reply(b.session(b.lib), b.sent[0], "the answer")
        report({"replied": m["id"]})

    return op


def notice(b: Bridge) -> Callable:
    def op(report):
        with protocol.notice(b.session(b.lib)) as due:
            for m in due:
                report({"noticed": m["id"]})

    return op


def recover(b: Bridge) -> Callable:
    def op(report):
        Mailbox(layout.session_dir(b.root, b.lib)).recover()

    return op


def stop(b: Bridge) -> Callable:
    def op(report):
        protocol.stop(b.session(b.lib))
        report({"stopped": b.lib})

    return op


def gc(b: Bridge) -> Callable:
    def op(report):
        sessions.gc(b.root)

    return op


READER_OPS = {"send": send, "listen": listen, "listen, fails": lambda b: listen(b, fail=True),
              "read by id": read_by_id, "prompt hook drain": drain, "reply": reply, "notice": notice,
              "recover": recover}
ENDING_OPS = {"stop": stop, "gc": gc}
PAIRS = [("listen", "recover"), ("listen, fails", "recover"), ("prompt hook drain", "recover"),
         ("read by id", "recover"), ("reply", "recover"), ("recover", "recover"), ("stop", "gc"), ("gc", "gc")]


def prepare(name: str) -> Bridge:
    """The bridge an operation runs on; recover and gc start from a reader killed mid-delivery."""
    b = make_bridge()
    if name in ("recover", "gc"):
        run_worker(b.root, listen(b), crash_at=_finalize_step(b))  # a claim of a dead reader to recover
        if name == "gc":
            ended = layout.sessions_dir(b.root) / ".ended-zzzzzz-0"  # a stop killed after its rename
            layout.make_session_dirs(ended)
    return b


def _finalize_step(b: Bridge) -> int:
    """The step of a listen just after its claim: the reader dies holding the message, having handed it over."""
    if not _CLAIM_STEP:
        probe = make_bridge()
        steps, _ = run_worker(probe.root, listen(probe))
        _CLAIM_STEP.append(next(s["step"] for s in steps
                                if "step" in s and s["op"] == "rename" and ".claimed/" in s["path"].split(" -> ")[-1]))
    return _CLAIM_STEP[0] + 1


_CLAIM_STEP: list[int] = []


def op_for(name: str, b: Bridge) -> Callable:
    return {**READER_OPS, **ENDING_OPS}[name](b)


# --- the checker --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    lost: int = 0  # a sent message neither pending nor delivered (or unreadable)
    unmarked: int = 0  # handed out again without attempt > 1, or delivered twice
    stuck: int = 0  # a reader that fails, hangs, or a claim nobody settles
    notes: list[str] = field(default_factory=list)

    def add(self, other: "Outcome") -> None:
        self.lost += other.lost
        self.unmarked += other.unmarked
        self.stuck += other.stuck
        self.notes += other.notes


def check(b: Bridge, events: list[dict], ending: bool = False) -> Outcome:
    """Recover as a live reader, then check the invariant (see the module docstring)."""
    out = Outcome()
    sessions.gc(b.root)
    leftovers = [n for n in os.listdir(layout.sessions_dir(b.root)) if n.startswith(".ended-")]
    if leftovers:
        out.stuck += 1
        out.notes.append(f"gc left {leftovers}")
    lib = sessions.load(b.root, b.lib)
    if lib is None:
        if not ending:
            out.stuck += 1
            out.notes.append("the reader's session vanished")
            return out
        app = b.session(b.app)
        for mid in b.sent:  # the senders are told their unread messages will never be read
            if protocol.sent_state(app, mid) != "undeliverable":
                out.lost += 1
                out.notes.append(f"{mid} is {protocol.sent_state(app, mid)}, not undeliverable")
        out.add(_still_works(b, b.app, b.lib, peer_gone=True))
        return out
    box = Mailbox(lib.dir)
    box.recover()
    if [n for n in os.listdir(box.claimed_dir) if not n.startswith(".")]:
        out.stuck += 1
        out.notes.append(f"claims left: {os.listdir(box.claimed_dir)}")
    if [n for n in os.listdir(box.quarantine_dir)]:
        out.lost += 1
        out.notes.append(f"quarantined: {os.listdir(box.quarantine_dir)}")
    sent = set(b.sent) | {e["sent"] for e in events if "sent" in e}
    stray = {n[:-5] for n in os.listdir(box.inbox) if n.endswith(".json")} - sent
    sent |= stray  # a send killed after its rename: it must be whole, like the rest
    delivered_before = {mid for mid in sent if _delivered(box, mid)}
    for mid in sent - delivered_before:
        if not _pending(box, mid):
            out.lost += 1
            out.notes.append(f"{mid} is neither pending nor delivered")
    handed = {e["handed"] for e in events if "handed" in e}
    seen: dict[str, int] = {}
    while (c := box.claim(lambda m: True)) is not None:
        m = box.finalize(c)
        seen[m["id"]] = seen.get(m["id"], 0) + 1
        if m["id"] in delivered_before or seen[m["id"]] > 1:
            out.unmarked += 1
            out.notes.append(f"{m['id']} delivered twice")
        elif m["id"] in handed and message.attempt(m) < 2:
            out.unmarked += 1
            out.notes.append(f"{m['id']} handed out again unmarked")
    out.add(_still_works(b, b.app, b.lib))
    return out


def _pending(box: Mailbox, mid: str) -> bool:
    try:
        return message.parse(layout.read_bytes(box.inbox / f"{mid}.json", message.file_cap()))["id"] == mid
    except (OSError, message.BadMessage):
        return False


def _delivered(box: Mailbox, mid: str) -> bool:
    try:
        ok = message.parse(layout.read_bytes(box.read_dir / f"{mid}.json", message.file_cap()))["id"] == mid
    except (OSError, message.BadMessage):
        return False
    return ok and os.path.islink(box.inbox / f"{mid}.json")


def _still_works(b: Bridge, sender: str, reader: str, peer_gone: bool = False) -> Outcome:
    """A fresh message still goes through, and inbox/status still answer, after the crash."""
    out = Outcome()
    try:
        s = b.session(sender)
        r = sessions.load(b.root, reader)
        if peer_gone:
            protocol.inbox(s), protocol.status(s)
            return out
        m = protocol.send(s, r, "query", "after the crash")
        protocol.inbox(r), protocol.status(r)
        with protocol.listen(b.session(reader), timeout=10) as got:
            if got["id"] != m["id"]:
                raise AssertionError(f"expected {m['id']}, got {got['id']}")
    except Exception as e:  # noqa: BLE001 - any failure of a reader after the crash is what we count
        out.stuck += 1
        out.notes.append(f"reader broken after the crash: {e!r}")
    return out


# --- running every point ------------------------------------------------------------------------------------------


def steps_of(name: str) -> list[dict]:
    """The mutating steps of an operation, from a run without a crash."""
    b = prepare(name)
    events, killed = run_worker(b.root, op_for(name, b))
    assert not killed
    return [e for e in events if "step" in e]


def single(name: str, k: int) -> Outcome:
    """Crash `name` before step k, then check."""
    b = prepare(name)
    events, _ = run_worker(b.root, op_for(name, b), crash_at=k)
    return check(b, events, ending=name in ENDING_OPS)


def pair(first: str, k1: int, second: str, k2: int | None) -> tuple[Outcome, int]:
    """Crash `first` before step k1, then the recovery `second` before step k2 (None: count its steps).
    Returns the outcome and how many steps `second` had after that first crash."""
    b = prepare(first)
    events, _ = run_worker(b.root, op_for(first, b), crash_at=k1)
    steps, _ = run_worker(b.root, op_for(second, b), crash_at=k2 or 0)
    n = len([e for e in steps if "step" in e])
    return check(b, events + steps, ending=first in ENDING_OPS), n


def pair_points(first: str, k1: int, second: str) -> list[tuple[int, Outcome]]:
    """Every crash point of `second` after a crash of `first` at k1."""
    _, n = pair(first, k1, second, None)
    return [(k2, pair(first, k1, second, k2)[0]) for k2 in range(1, n + 2)]
