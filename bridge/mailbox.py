"""One session's mailbox on disk, with Maildir's delivery rules.

States of a message <id> in inbox/ (the file name is the message's identity):

    pending     inbox/<id>.json, a regular file
    claimed     inbox/.claimed/<id>@<pid>.<start>: a reader took it in one rename; only one reader can win
    delivered   inbox/.read/<id>.json ("status": "read") and inbox/<id>.json a symlink to it (the reference plugin
                reads it through the link; we never follow a link)
    noticed     a pending message with inbox/.noticed/<id>: a driver told the agent it exists; not read yet

Moves between them, each step one rename or one atomic write, so a crash at any point leaves the message pending,
claimed, or delivered:

    claim       rename inbox/<id>.json -> .claimed/<id>@me
    finalize    write .read/<id>.json; link inbox/<id>.json -> it; unlink the claim
    put back    (rewrite the claim with attempt + 1;) rename the claim -> inbox/<id>.json
    recover     for a claim whose owner died, under the inbox's recovery lock: finish a finalize that wrote
                .read/<id>.json, drop a stale duplicate name, else put it back with attempt + 1. Never follows a link;
                every step is safe to repeat after a crash of the recoverer itself.

Every file is read through layout.read_bytes (regular files only, capped): anything else, a file whose content id
differs from its name, or one that does not parse is moved to quarantine/ and reported once, by the reader that
moved it.

Pending names are kept in order (sortedcontainers.SortedList) from a listing of directory entries; a reader that
looks many times (a wait, a drain) follows inotify's arrival names after one listing, so claiming the next message
costs O(log n) in the backlog and nothing in the number of delivered messages.
"""

from __future__ import annotations

import os
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from bridge import identity, layout, message, validate
from bridge.message import BadMessage

if TYPE_CHECKING:
    from sortedcontainers import SortedList

    from bridge.watch import Subscription

FOREIGN_GRACE_S = 60  # a non-.json file younger than this may be another writer's temp file in flight
FULL_LISTING_S = 60  # a reader that keeps its listing from arrivals still lists the whole inbox this often
MAX_ATTEMPTS = 10  # a message handed out this often without being delivered is quarantined, not retried forever
NOTICE_BACKOFF_S = (60, 180, 600)  # a noticed, unread message is noticed again after 1, 3, then every 10 minutes
# held, released: a remote peer's inbound policy kept the message for its user's review, then let it into the inbox
RECEIPTS = ("noticed", "read", "answered", "undeliverable", "expired", "held", "released")


def owner_tag(proc: identity.Proc) -> str:
    """The owner part of a claim's name: pid and start time, so a reused pid never looks alive."""
    return f"{proc.pid}.{int(proc.started * 100)}"


def owner_alive(tag: str) -> bool:
    """True while the process that wrote this owner tag lives."""
    try:
        pid, started = tag.split(".")
        return identity.process_alive(int(pid), int(started) / 100)
    except ValueError:
        return False


def write_receipt(root: Path, sender: object, msg_id: str, state: str) -> None:
    """Tell the sender's session what became of its message: an empty file receipts/<id>.<state> in its dir.
    Advisory (the sender also derives the state), so it is neither fsynced nor an error when the sender is gone."""
    if not validate.is_session_id(sender) or not validate.MESSAGE_ID.fullmatch(msg_id):
        return
    receipts = layout.sessions_dir(root) / sender / layout.RECEIPTS
    try:
        fd = os.open(receipts / f"{msg_id}.{state}", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
    except FileNotFoundError:
        if receipts.parent.is_dir() and not receipts.exists():  # a session made before receipts existed
            try:
                os.mkdir(receipts, layout.DIR_MODE)
            except OSError:
                return
            write_receipt(root, sender, msg_id, state)
    except OSError:
        pass  # already recorded, or the sender's dir is not ours to write


@dataclass
class Claim:
    """A message a reader has claimed (inbox/.claimed/<id>@<owner>) and not yet finished delivering."""
    path: Path  # the claimed file, inbox/.claimed/<id>@<owner>
    message: dict

    @property
    def id(self) -> str:
        """The message id, from the claim's name (the identity)."""
        return self.path.name.rpartition("@")[0]


@dataclass
class Mailbox:
    """One session's inbox: deliver, claim, finalize, put back and recover, by the rules above."""
    session_dir: Path
    reports: list[str] = field(default_factory=list)  # quarantine notices this reader produced
    _arrivals: Subscription | None = field(default=None, repr=False)
    _following: bool = field(default=False, repr=False)  # asked for _arrivals (it stays None where none can start)
    # (send time, name) of pending messages, in order: a SortedList for a follower, else a sorted list
    _pending: SortedList | list | None = field(default=None, repr=False)
    _keys: dict[str, int] = field(default_factory=dict, repr=False)  # name -> its send time in _pending
    _heads: dict[str, tuple[dict, int]] = field(default_factory=dict, repr=False)  # left by a filter: (msg, inode)
    _listed_at: float = field(default=0.0, repr=False)
    _own_links: set[str] = field(default_factory=set, repr=False)  # delivered links we made, until inotify echoes

    def __post_init__(self) -> None:
        self.inbox = self.session_dir / layout.INBOX
        self.read_dir = self.inbox / layout.READ
        self.claimed_dir = self.inbox / layout.CLAIMED
        self.noticed_dir = self.inbox / layout.NOTICED
        self.quarantine_dir = self.session_dir / layout.QUARANTINE
        self.waiting_dir = self.session_dir / layout.WAITING
        self.root = self.session_dir.parent.parent

    @property
    def owner(self) -> str:
        """This reader's tag in claim names (pid and start time); a send never needs it."""
        return owner_tag(identity.this_process())

    # --- writing -------------------------------------------------------------------------------------------------

    def deliver(self, msg: dict) -> None:
        """Put a pending message in this inbox (one rename)."""
        layout.atomic_write(self.inbox / message.filename(msg["id"]), layout.dumps(msg))

    # --- the ordered set of pending names ------------------------------------------------------------------------

    def follow(self) -> None:
        """Keep the pending names current from inotify's arrival names instead of listing the inbox on every look:
        for readers that look many times (waits, drains). A one-shot look (the hook on every prompt, a CLI call)
        skips it, and inotify's start-up with it."""
        if not self._following:
            from bridge.watch import watching  # followers only (see above)

            self._following = True
            self._arrivals = watching(self.inbox).subscribe()  # None where no observer can start: list every time
            self._pending = None  # list once more: from now on nothing slips between listing and arrivals

    def _refresh(self) -> SortedList:
        """The pending names in FIFO order: from a full listing, or (for a follower) the last one plus inotify's
        arrival names."""
        if self._arrivals is not None and self._pending is not None:
            arrived, overflow = self._arrivals.take()
            if not overflow and time.monotonic() - self._listed_at < FULL_LISTING_S:
                for name in arrived:
                    if name in self._own_links:
                        self._own_links.discard(name)  # the echo of our own finalize: a link, not a message
                    elif name.endswith(".json") and not name.startswith(".") and name not in self._keys:
                        self._add(name, None)
                return self._pending
        listing = self._list_inbox()
        self._keys = dict((name, t) for t, name in listing)
        if self._following:
            from sortedcontainers import SortedList  # followers only: they insert arrivals one by one

            self._pending = SortedList(listing)  # one sort of flat (int, str) pairs, not n inserts
        else:
            self._pending = sorted(listing)  # a one-shot look only takes from it: a sorted list will do
        self._heads = {}
        self._listed_at = time.monotonic()
        return self._pending

    def _add(self, name: str, mtime_ns: int | None) -> None:
        stem = name[:-5]
        if not validate.MESSAGE_ID.fullmatch(stem):
            return  # the next full listing quarantines it
        if message.id_time_ns(stem) is None and mtime_ns is None:
            try:
                mtime_ns = os.lstat(self.inbox / name).st_mtime_ns
            except FileNotFoundError:
                return
        t = message.id_time_ns(stem)
        t = t if t is not None else mtime_ns or 0
        self._keys[name] = t
        self._pending.add((t, name))

    def _drop(self, name: str) -> None:
        t = self._keys.pop(name, None)
        if t is not None:
            try:
                self._pending.remove((t, name))
            except ValueError:
                pass  # gone already
        self._heads.pop(name, None)

    def _list_inbox(self) -> list[tuple[int, str]]:
        """(send time, name) of each pending file, from directory entries alone; strays are quarantined. Our ids
        carry their send time; the reference's random ids use the file's mtime."""
        names = []
        now = time.time()
        with os.scandir(self.inbox) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue  # .read/, .claimed/, .noticed/, temp files in flight
                try:
                    if e.name.endswith(".json") and e.is_file(follow_symlinks=False):
                        stem = e.name[:-5]
                        if validate.MESSAGE_ID.fullmatch(stem):
                            t = message.id_time_ns(stem)  # no stat needed for our ids
                            names.append((t if t is not None else e.stat(follow_symlinks=False).st_mtime_ns,
                                          e.name))
                        else:
                            self._quarantine(Path(e.path), "file name is not a message id")
                    elif e.is_symlink():
                        if os.readlink(e.path) != f".read/{e.name}":  # the only link we keep: our delivered ones
                            self._quarantine(Path(e.path), "a link that is not a delivered message")
                    elif e.name.endswith(".json"):
                        self._quarantine(Path(e.path), "not a regular file")
                    elif now - e.stat(follow_symlinks=False).st_mtime > FOREIGN_GRACE_S:
                        self._quarantine(Path(e.path), "foreign file in inbox")
                except FileNotFoundError:
                    continue  # claimed or moved since the listing
        return names

    def _load(self, path: Path, name: str) -> tuple[dict, int] | None:
        """(message, inode) of the file at path, checked; None if it is gone, delivered, or was quarantined."""
        try:
            data, st = layout.read_checked(path, message.file_cap())
        except FileNotFoundError:
            return None
        except layout.NotAFile as e:
            if os.path.islink(path) and path.parent == self.inbox:
                return None  # delivered since the listing: now our link into .read/
            self._quarantine(path, e.strerror or "not a regular file")
            return None
        try:
            msg = message.parse(data)
        except BadMessage as e:
            self._quarantine(path, str(e))
            return None
        stem = name.rpartition("@")[0] if "@" in name else name[:-5]
        if msg["id"] != stem:  # names are identities: a mismatch would make us write to another message's path
            self._quarantine(path, f"its id {msg['id']!r} is not its file name")
            return None
        return msg, st.st_ino

    # --- looking -------------------------------------------------------------------------------------------------

    def waiting(self) -> int:
        """How many messages are pending, from this reader's ordered listing (fresh in a new process)."""
        return len(self._refresh())

    def count(self) -> int:
        """How many messages are pending, from directory entries alone (no file is opened or parsed)."""
        n = 0
        with os.scandir(self.inbox) as entries:
            for e in entries:
                if e.name.endswith(".json") and not e.name.startswith(".") and e.is_file(follow_symlinks=False):
                    n += 1
        return n

    def peek(self, limit: int | None = None, accept: Callable[[dict], bool] | None = None) -> list[dict]:
        """The oldest pending messages (at most `limit`) without taking them; bad files are quarantined."""
        out = []
        pending = self._refresh()
        i = 0
        while i < len(pending) and (limit is None or len(out) < limit):
            _, name = pending[i]
            head = self._head(name)
            if head is None:
                self._drop(name)
                continue
            if accept is None or accept(head[0]):
                out.append(head[0])
            i += 1
        return out

    def pending(self) -> list[dict]:
        """Every pending message, oldest first (parses each: use count() for a number)."""
        return self.peek()

    def delivered(self) -> list[dict]:
        """Every delivered message, oldest first."""
        out = []
        with os.scandir(self.read_dir) as entries:
            for e in entries:
                if e.name.endswith(".json") and not e.name.startswith("."):
                    try:
                        out.append(message.parse(layout.read_bytes(e.path, message.file_cap())))
                    except (OSError, BadMessage):
                        continue
        return sorted(out, key=lambda m: message.fifo_key(m["id"], 0))

    def find(self, msg_id: str) -> dict | None:
        """A message of this inbox by id, pending, being delivered or delivered (never through a link)."""
        name = message.filename(msg_id)
        candidates = [self.inbox / name, self.read_dir / name]
        candidates += [self.claimed_dir / n for n in os.listdir(self.claimed_dir) if n.startswith(msg_id + "@")]
        for path in candidates:
            try:
                msg = message.parse(layout.read_bytes(path, message.file_cap()))
            except (OSError, BadMessage):
                continue
            if msg["id"] == msg_id:
                return msg
        return None

    # --- claiming ------------------------------------------------------------------------------------------------

    def claim(self, accept: Callable[[dict], bool]) -> Claim | None:
        """Claim the oldest pending message that accept() takes; None if there is none right now."""
        pending = self._refresh()
        i = 0
        while i < len(pending):
            _, name = pending[i]
            head = self._head(name)
            if head is None:
                self._drop(name)
                continue
            if not accept(head[0]):
                self._heads[name] = head  # left for another reader; the next pass only lstats it
                i += 1
                continue
            claim = self._take(name, accept)
            self._drop(name)
            if claim is not None:
                return claim
        return None

    def claim_id(self, msg_id: str) -> Claim | None:
        """Claim one pending message by id; None if it is not pending (taken, delivered or unknown)."""
        name = message.filename(msg_id)
        if self._pending is not None:
            self._drop(name)
        return self._take(name, lambda m: True)

    def _head(self, name: str) -> tuple[dict, int] | None:
        """(message, inode) pending at inbox/name, parsed once per inode; None when it is no longer pending."""
        path = self.inbox / name
        cached = self._heads.get(name)
        if cached is not None:
            try:
                if os.lstat(path).st_ino == cached[1]:
                    return cached
            except FileNotFoundError:
                return None
        loaded = self._load(path, name)
        if loaded is not None and loaded[0]["status"] != "pending":
            self._adopt_read(name)  # marked read in place (reference plugin): file it so scans skip it
            return None
        return loaded

    def _take(self, name: str, accept: Callable[[dict], bool]) -> Claim | None:
        """Rename inbox/name into .claimed/ and check what we got."""
        stem = name[:-5]
        dest = self.claimed_dir / f"{stem}@{self.owner}"
        try:
            os.rename(self.inbox / name, dest)
        except FileNotFoundError:
            return None  # another reader won
        if os.path.islink(dest):  # it was delivered (a link) between our look and our rename: give it back
            self._restore_link(dest, stem)
            return None
        loaded = self._load(dest, dest.name)
        if loaded is None:
            return None  # quarantined
        msg = loaded[0]
        if msg["status"] != "pending":
            self._finish(dest, stem, msg, receipt=None)
            return None
        if message.expired(msg):
            self._finish(dest, stem, dict(msg, status="expired"), receipt="expired")
            return None
        if not accept(msg):
            os.rename(dest, self.inbox / name)  # not for us after all: back, unchanged
            return None
        return Claim(dest, msg)

    def finalize(self, claim: Claim) -> dict:
        """Finish delivering a claimed message: read copy, inbox link, claim gone; the sender gets a receipt."""
        msg = dict(claim.message, status="read")
        msg["metadata"] = dict(msg.get("metadata", {}), readAt=message.now_iso())
        self._finish(claim.path, claim.id, msg, receipt="read")
        if msg["type"] == "response" and msg.get("inReplyTo"):  # our own question is answered now
            write_receipt(self.root, self.session_dir.name, msg["inReplyTo"], "answered")
        return msg

    def release(self, claim: Claim, *, redelivery: bool = True) -> None:
        """Put a claimed message back as pending (one rename); a redelivery counts one more attempt."""
        self._put_back(claim.path, claim.id, claim.message, redelivery)

    @contextmanager
    def delivering(self, claim: Claim) -> Iterator[dict]:
        """Hand a claimed message to the block; finalize if it returns, put it back if it raises. A block that
        raises BadMessage says the message cannot be presented: it is quarantined instead of bouncing forever."""
        try:
            yield claim.message
        except BadMessage as e:
            self._quarantine(claim.path, f"cannot be presented: {e}")
            raise
        except BaseException:
            self.release(claim)
            raise
        self.finalize(claim)

    # --- crash recovery ------------------------------------------------------------------------------------------

    def recover(self) -> int:
        """Settle claims of readers that died; returns how many messages were put back for redelivery.

        One recoverer per inbox at a time (an flock on .claimed/ the kernel drops if it dies); another caller
        skips, since the holder is doing the same work."""
        try:
            names = [n for n in os.listdir(self.claimed_dir) if not n.startswith(".")]
        except FileNotFoundError:
            return 0
        dead = [n for n in names if (o := n.rpartition("@")[2]) != self.owner and not owner_alive(o)]
        if not dead:
            return 0
        try:
            with layout.dir_lock(self.claimed_dir, timeout=0):
                return sum(self._recover_one(name) for name in dead)
        except layout.Busy:
            return 0

    def _recover_one(self, name: str) -> int:
        path = self.claimed_dir / name
        msg_id = name.rpartition("@")[0]
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return 0
        if not validate.MESSAGE_ID.fullmatch(msg_id):
            self._quarantine(path, "claim name is not a message id")
            return 0
        if stat.S_ISLNK(st.st_mode):  # a reader died holding a delivered link it renamed by mistake
            self._restore_link(path, msg_id)
            return 0
        if self._is_file(self.read_dir / f"{msg_id}.json"):  # it died inside finalize: finish it, no redelivery
            layout.atomic_symlink(f".read/{msg_id}.json", self.inbox / f"{msg_id}.json")
            layout.unlink_quietly(path)
            return 0
        pending = self.inbox / f"{msg_id}.json"
        try:
            other = os.lstat(pending)
        except FileNotFoundError:
            other = None
        if other is not None:  # moves are renames, so this is another file of that name: keep both, hand out one
            self._quarantine(path, "another file took its name while it was claimed")
            return 0
        for n in os.listdir(self.claimed_dir):  # a live reader holds a message of that name: never hand out two
            if n != name and n.rpartition("@")[0] == msg_id and owner_alive(n.rpartition("@")[2]):
                self._quarantine(path, "a live reader holds another file of the same name")
                return 0
        loaded = self._load(path, name)
        if loaded is None:
            return 0
        self._put_back(path, msg_id, loaded[0], redelivery=True)
        return 1

    def _put_back(self, path: Path, msg_id: str, msg: dict, redelivery: bool) -> None:
        """Pending again, in one rename of the claim; the rewrite before it is atomic too, so a crash between the
        two leaves a claim a later recovery puts back (the attempt then counts once more: still marked)."""
        if redelivery:
            tries = message.attempt(msg) + 1
            if tries > MAX_ATTEMPTS:
                self._quarantine(path, f"not delivered after {MAX_ATTEMPTS} attempts")
                return
            msg = dict(msg, metadata=dict(msg.get("metadata", {}), attempt=tries))
            layout.atomic_write(path, layout.dumps(msg))
        os.rename(path, self.inbox / f"{msg_id}.json")

    def _restore_link(self, path: Path, msg_id: str) -> None:
        """A link that ended up in .claimed/: our delivered link goes back to the inbox (or is dropped if the inbox
        has it again); any other link is moved aside, never followed and never silently deleted."""
        if os.readlink(path) != f".read/{msg_id}.json":
            self._quarantine(path, "a link that is not a delivered message")
        elif not os.path.lexists(self.inbox / f"{msg_id}.json"):
            os.rename(path, self.inbox / f"{msg_id}.json")
        else:
            layout.unlink_quietly(path)

    # --- abandoning (the session ended) --------------------------------------------------------------------------

    def abandon(self) -> int:
        """For a session being removed: tell each sender that its unread messages are undeliverable. Returns how
        many. Reads only names and the sender field; bad files are skipped (the dir is about to go)."""
        told = 0
        folders = [(self.inbox, lambda n: n.endswith(".json") and not n.startswith(".")),
                   (self.claimed_dir, lambda n: "@" in n)]
        for folder, wanted in folders:
            try:
                names = [n for n in os.listdir(folder) if wanted(n)]
            except FileNotFoundError:
                continue
            for name in names:
                try:
                    msg = message.parse(layout.read_bytes(folder / name, message.file_cap()))
                except (OSError, BadMessage):
                    continue
                write_receipt(self.root, msg["from"], msg["id"], "undeliverable")
                told += 1
        return told

    def knows(self, msg_id: str) -> bool:
        """True if message msg_id is in this inbox in any state: pending, claimed, delivered or held. For a writer
        that must not deliver one message twice (the gateway's redeliveries). A reader moves a message pending ->
        claimed -> delivered, each step leaving the next name in place before the last goes, so looking in that
        order, then at pending once more (a claim put back), never misses it."""
        name = message.filename(msg_id)
        if os.path.lexists(self.inbox / name):
            return True
        try:
            if any(n.rpartition("@")[0] == msg_id for n in os.listdir(self.claimed_dir)):
                return True
        except FileNotFoundError:
            pass
        return any(os.path.lexists(p) for p in (self.read_dir / name, self.inbox / layout.HELD / name,
                                                self.inbox / name))

    # --- noticing (drivers that only say a message exists) -------------------------------------------------------

    def due_notices(self, accept: Callable[[dict], bool], now: float | None = None,
                    limit: int = 20) -> list[dict]:
        """Pending messages a notifier should mention now: never noticed, or noticed and still unread after the
        backoff (1, 3, then every 10 minutes). Oldest first, at most `limit`."""
        now = now or time.time()

        def due(msg: dict) -> bool:
            count, at = self._noticed(msg["id"])
            return count == 0 or now - at >= NOTICE_BACKOFF_S[min(count, len(NOTICE_BACKOFF_S)) - 1]

        return self.peek(limit, lambda m: accept(m) and due(m))

    def mark_noticed(self, msg: dict, now: float | None = None) -> None:
        """Record that the agent was told about msg (not that it read it); the sender gets a receipt."""
        count, _ = self._noticed(msg["id"])
        marker = self.noticed_dir / validate.message_id(msg["id"])
        layout.make_dirs(self.noticed_dir)
        layout.atomic_write(marker, f"{count + 1} {now or time.time()}".encode(), durable=False)
        write_receipt(self.root, msg["from"], msg["id"], "noticed")

    def is_noticed(self, msg_id: str) -> bool:
        """True once a driver has told the agent about this message."""
        return self._noticed(msg_id)[0] > 0

    def _noticed(self, msg_id: str) -> tuple[int, float]:
        try:
            count, at = layout.read_text(self.noticed_dir / msg_id).split()
            return int(count), float(at)
        except (OSError, ValueError):
            return 0, 0.0

    # --- waiting for replies -------------------------------------------------------------------------------------

    @contextmanager
    def awaiting(self, msg_id: str) -> Iterator[None]:
        """Mark that this process waits for the reply to msg_id, so other readers leave that reply to it."""
        path = self.waiting_dir / validate.message_id(msg_id)
        layout.atomic_write(path, self.owner.encode(), durable=False)
        try:
            yield
        finally:
            layout.unlink_quietly(path)

    def is_awaited(self, msg_id: object) -> bool:
        """True while a live ask/receive waits for the reply to msg_id."""
        if not isinstance(msg_id, str) or not validate.MESSAGE_ID.fullmatch(msg_id):
            return False
        try:
            return owner_alive(layout.read_text(self.waiting_dir / msg_id))
        except (OSError, UnicodeDecodeError):
            return False

    # --- internals -----------------------------------------------------------------------------------------------

    @staticmethod
    def _is_file(path: Path) -> bool:
        try:
            return stat.S_ISREG(os.lstat(path).st_mode)
        except FileNotFoundError:
            return False

    def _finish(self, claimed: Path, msg_id: str, msg: dict, receipt: str | None) -> None:
        name = f"{msg_id}.json"
        layout.atomic_write(self.read_dir / name, layout.dumps(msg), durable=False)
        if self._arrivals is not None and len(self._own_links) < 10_000:
            self._own_links.add(name)
        layout.atomic_symlink(f".read/{name}", self.inbox / name)
        layout.unlink_quietly(claimed)
        layout.unlink_quietly(self.noticed_dir / msg_id)
        if receipt:
            write_receipt(self.root, msg["from"], msg_id, receipt)

    def _adopt_read(self, name: str) -> None:
        tmp = self.read_dir / f"{layout.TEMP_PREFIXES[2]}{name[:-5]}"
        layout.unlink_quietly(tmp)
        try:
            os.link(self.inbox / name, tmp)  # same file, second name: never absent from the inbox
        except FileNotFoundError:
            return
        os.rename(tmp, self.read_dir / name)
        layout.atomic_symlink(f".read/{name}", self.inbox / name)

    def _quarantine(self, path: Path, reason: str) -> None:
        layout.make_dirs(self.quarantine_dir)
        dest = self.quarantine_dir / f"{time.time_ns()}-{path.name}"
        try:
            os.rename(path, dest)
        except FileNotFoundError:
            return  # another reader moved it and reports it
        layout.atomic_write(dest.with_name(dest.name + layout.WHY), reason.encode() + b"\n", durable=False)
        self.reports.append(f"moved unreadable inbox file {path.name} to {dest} ({reason})")
