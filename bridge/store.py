"""One session's mailbox on disk, with Maildir's delivery rules.

- A message appears in one rename (layout.atomic_write) at inbox/<id>.json, a regular file while pending.
- A reader claims it in one rename into inbox/.claimed/<id>@<pid>.<start>: only one of several readers can win.
- After the reader has handed the message on, it finishes delivery: the copy with "status": "read" goes to
  inbox/.read/<id>.json and inbox/<id>.json becomes a symlink to it (the reference plugin reads it through the link).
  A scan tells pending from delivered by the directory entry's type alone, so thousands of read messages cost no
  file opens.
- A reader that dies after claiming leaves its claim behind; the next reader sees the owner is gone and puts the
  message back with metadata.attempt + 1, so the redelivery is marked. A crash at any point leaves a message
  pending, claimed by a live reader, or delivered; never half.
- A file that is not a message is moved to quarantine/ and reported once, by the reader that moved it.
"""

from __future__ import annotations

import os
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from bridge import identity, layout, message
from bridge.message import BadMessage
from bridge.watch import Subscription, watching

FOREIGN_GRACE_S = 60  # a non-.json file younger than this may be another writer's temp file in flight
FULL_LISTING_S = 60  # a reader that keeps its listing from arrivals still lists the whole inbox this often


def _owner_tag(proc: identity.Proc) -> str:
    return f"{proc.pid}.{int(proc.started * 100)}"


def _owner_alive(tag: str) -> bool:
    try:
        pid, started = tag.split(".")
        return identity.process_alive(int(pid), int(started) / 100)
    except ValueError:
        return False


@dataclass
class Claim:
    path: Path  # the claimed file, inbox/.claimed/<id>@<owner>
    message: dict


@dataclass
class Mailbox:
    session_dir: Path
    reports: list[str] = field(default_factory=list)  # quarantine notices this reader produced
    # Pending names as of the last scan, kept current from inotify's arrival names, so that finding the next message
    # costs the same with 10,000 delivered messages as with none (a directory listing grows with them).
    _arrivals: Subscription | None = field(default=None, repr=False)
    _known: set[str] | None = field(default=None, repr=False)
    _listed_at: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.inbox = self.session_dir / "inbox"
        self.read_dir = self.inbox / ".read"
        self.claimed_dir = self.inbox / ".claimed"
        self.quarantine_dir = self.session_dir / "quarantine"
        self.waiting_dir = self.session_dir / "waiting"
        self.owner = _owner_tag(identity.me())

    # --- writing -------------------------------------------------------------------------------------------------

    def deliver(self, msg: dict) -> None:
        """Put a pending message in this inbox (one rename)."""
        layout.atomic_write(self.inbox / message.filename(msg["id"]), layout.dumps(msg))

    # --- scanning ------------------------------------------------------------------------------------------------

    def _pending_names(self) -> list[tuple[tuple[int, str], str]]:
        """(FIFO key, name) of each pending message file, from the arrivals since the last scan where possible."""
        known = self._known_names()
        if known is None:
            names = self._list_inbox()
            self._known = {name for _, name in names}
            self._listed_at = time.monotonic()
            return names
        names = []
        for name in list(known):
            try:
                st = os.lstat(self.inbox / name)
            except FileNotFoundError:
                known.discard(name)  # claimed by a reader
                continue
            stem = name[:-5]
            if not stat.S_ISREG(st.st_mode) or not message.validate.MESSAGE_ID.fullmatch(stem):
                known.discard(name)  # delivered (now a link), or odd: the next full listing deals with it
                continue
            names.append((message.fifo_key(stem, st.st_mtime_ns), name))
        names.sort()
        return names

    def _known_names(self) -> set[str] | None:
        """The pending names plus arrivals, or None when the inbox must be listed in full."""
        if self._arrivals is None:
            self._arrivals = watching(self.inbox).subscribe()  # before the first listing, so nothing slips between
            if self._arrivals is None:
                return None  # no exact arrival names on this platform: always list
        arrived, overflow = self._arrivals.take()
        if overflow or self._known is None or time.monotonic() - self._listed_at > FULL_LISTING_S:
            return None
        self._known.update(n for n in arrived if n.endswith(".json") and not n.startswith("."))
        return self._known

    def _list_inbox(self) -> list[tuple[tuple[int, str], str]]:
        names = []
        now = time.time()
        with os.scandir(self.inbox) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue  # .read/, .claimed/, our temp files
                if e.name.endswith(".json") and e.is_file(follow_symlinks=False):
                    stem = e.name[:-5]
                    if message.validate.MESSAGE_ID.fullmatch(stem):
                        mtime = e.stat().st_mtime_ns if message.id_time_ns(stem) is None else 0
                        names.append((message.fifo_key(stem, mtime), e.name))
                        continue
                    self._quarantine(Path(e.path), "file name is not a message id")
                elif e.is_symlink():
                    continue  # delivered: a link into .read/
                elif e.name.endswith(".json"):
                    self._quarantine(Path(e.path), "not a regular file")
                else:
                    try:
                        if now - e.stat(follow_symlinks=False).st_mtime > FOREIGN_GRACE_S:
                            self._quarantine(Path(e.path), "foreign file in inbox")
                    except FileNotFoundError:
                        pass
        names.sort()
        return names

    def scan(self) -> Iterator[tuple[dict, str, int]]:
        """Pending messages in FIFO order, as (message, file name, inode); bad files are quarantined on the way."""
        for _, name in self._pending_names():
            path = self.inbox / name
            try:
                with open(path, "rb") as f:
                    data = f.read()
                    inode = os.fstat(f.fileno()).st_ino
            except (FileNotFoundError, IsADirectoryError):
                continue  # claimed by another reader since the listing
            try:
                msg = message.parse(data)
            except BadMessage as e:
                self._quarantine(path, str(e))
                continue
            if msg["status"] != "pending":
                self._adopt_read(name)  # marked read in place (reference plugin): file it so scans skip it
                continue
            yield msg, name, inode

    def pending(self) -> list[dict]:
        return [m for m, _, _ in self.scan()]

    def delivered(self) -> list[dict]:
        out = []
        with os.scandir(self.read_dir) as entries:
            for e in entries:
                if e.name.endswith(".json"):
                    try:
                        out.append(message.parse(Path(e.path).read_bytes()))
                    except (OSError, BadMessage):
                        continue
        return sorted(out, key=lambda m: message.fifo_key(m["id"], 0))

    def find(self, msg_id: str) -> dict | None:
        """A message of this inbox by id, pending, being delivered or delivered."""
        name = message.filename(msg_id)
        candidates = [self.inbox / name, self.read_dir / name]
        candidates += [self.claimed_dir / n for n in os.listdir(self.claimed_dir) if n.startswith(msg_id + "@")]
        for path in candidates:
            try:
                return message.parse(path.read_bytes())
            except (OSError, BadMessage):
                continue
        return None

    # --- claiming ------------------------------------------------------------------------------------------------

    def claim(self, accept: Callable[[dict], bool]) -> Claim | None:
        """Claim the oldest pending message that accept() takes; None if there is none right now."""
        for msg, name, inode in self.scan():
            if not accept(msg):
                continue
            dest = self.claimed_dir / f"{name[:-5]}@{self.owner}"
            try:
                os.rename(self.inbox / name, dest)
            except FileNotFoundError:
                continue  # another reader won
            st = os.lstat(dest)
            if stat.S_ISLNK(st.st_mode):  # another reader delivered it between our scan and our rename
                os.rename(dest, self.inbox / name)
                continue
            if st.st_ino != inode:  # replaced since we read it: what we own now is what counts
                try:
                    msg = message.parse(dest.read_bytes())
                except BadMessage as e:
                    self._quarantine(dest, str(e))
                    continue
            if msg["status"] != "pending":
                self._finish(dest, msg)
                continue
            if not accept(msg):
                self.release(Claim(dest, msg), redelivery=False)
                continue
            return Claim(dest, msg)
        return None

    def finalize(self, claim: Claim) -> dict:
        """Finish delivering a claimed message: read copy, inbox link, claim gone."""
        msg = dict(claim.message, status="read")
        msg["metadata"] = dict(msg.get("metadata", {}), readAt=message.now_iso())
        self._finish(claim.path, msg)
        return msg

    def release(self, claim: Claim, *, redelivery: bool = True) -> None:
        """Put a claimed message back as pending; a redelivery counts one more attempt."""
        msg = claim.message
        if redelivery:
            msg = dict(msg, metadata=dict(msg.get("metadata", {}), attempt=message.attempt(msg) + 1))
        layout.atomic_write(self.inbox / message.filename(msg["id"]), layout.dumps(msg))
        layout.unlink_quietly(claim.path)

    @contextmanager
    def delivering(self, claim: Claim) -> Iterator[dict]:
        """Hand a claimed message to the block; finalize if it returns, put it back if it raises."""
        try:
            yield claim.message
        except BaseException:
            self.release(claim)
            raise
        self.finalize(claim)

    def recover(self) -> int:
        """Put back messages claimed by readers that died; returns how many were redelivered."""
        restored = 0
        for name in os.listdir(self.claimed_dir):
            msg_id, _, owner = name.rpartition("@")
            if not msg_id or owner == self.owner or _owner_alive(owner):
                continue
            mine = self.claimed_dir / f"{msg_id}@{self.owner}"
            try:
                os.rename(self.claimed_dir / name, mine)  # take over: only one recoverer wins
            except FileNotFoundError:
                continue
            if os.path.lexists(self.inbox / f"{msg_id}.json"):
                layout.unlink_quietly(mine)  # it was delivered (or already put back) before the crash
                continue
            try:
                msg = message.parse(mine.read_bytes())
            except BadMessage as e:
                self._quarantine(mine, str(e))
                continue
            self.release(Claim(mine, msg))
            restored += 1
        return restored

    # --- waiting for replies -------------------------------------------------------------------------------------

    @contextmanager
    def awaiting(self, msg_id: str) -> Iterator[None]:
        """Mark that this process waits for the reply to msg_id, so other readers leave that reply to it."""
        path = self.waiting_dir / message.validate.message_id(msg_id)
        layout.atomic_write(path, self.owner.encode(), durable=False)
        try:
            yield
        finally:
            layout.unlink_quietly(path)

    def is_awaited(self, msg_id: object) -> bool:
        if not isinstance(msg_id, str) or not message.validate.MESSAGE_ID.fullmatch(msg_id):
            return False
        try:
            return _owner_alive((self.waiting_dir / msg_id).read_text())
        except OSError:
            return False

    # --- internals -----------------------------------------------------------------------------------------------

    def _finish(self, claimed: Path, msg: dict) -> None:
        name = message.filename(msg["id"])
        layout.atomic_write(self.read_dir / name, layout.dumps(msg), durable=False)
        layout.atomic_symlink(f".read/{name}", self.inbox / name)
        layout.unlink_quietly(claimed)

    def _adopt_read(self, name: str) -> None:
        tmp = self.read_dir / f".adopt-{name[:-5]}"
        try:
            os.link(self.inbox / name, tmp)  # same file, second name: never absent from the inbox
        except FileNotFoundError:
            return
        os.rename(tmp, self.read_dir / name)
        layout.atomic_symlink(f".read/{name}", self.inbox / name)

    def _quarantine(self, path: Path, reason: str) -> None:
        self.quarantine_dir.mkdir(mode=layout.DIR_MODE, exist_ok=True)
        dest = self.quarantine_dir / f"{int(time.time())}-{path.name}"
        try:
            os.rename(path, dest)
        except FileNotFoundError:
            return  # another reader moved it and reports it
        layout.atomic_write(dest.with_name(dest.name + ".why"), reason.encode() + b"\n", durable=False)
        self.reports.append(f"moved unreadable inbox file {path.name} to {dest} ({reason})")
