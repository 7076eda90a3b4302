"""The history index: every exchange on this machine, searchable, kept after its sessions end.

    $BRIDGE_DIR/index.sqlite     SQLite (WAL, FTS5), 0600: a `messages` table keyed by message id, an FTS5 table over
                                 the bodies and the two names, and the mtime of every message directory last scanned

The message files stay the source of truth; the index is derived from them and nothing is added to send or deliver.
A reader (history, search, thread, tail) catches up first: it stats each session's outbox/, inbox/ and inbox/.read/
and lists only those whose mtime changed since the last catch-up, so a search with nothing new costs a few stats. A
directory changed within the last second is listed again next time (the kernel's mtime clock is coarse: a file added
in the same tick would not change it). Before a stopped or collected session's directory is deleted, sessions.py calls
absorb() on it, so its messages outlive it; gc prunes rows older than the retention (BRIDGE_HISTORY_DAYS, default
90; 0 keeps everything).

A corrupt or missing index is rebuilt from the files with a one-line note. The index is never on the delivery path,
and a reader waits at most BUSY_S for another process's write: then it reads what is committed and says so.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import orjson

from bridge import layout, message, validate
from bridge.errors import BridgeError

SCHEMA = "1"  # a new schema makes older versions rebuild the index (losing ended sessions' history): add columns
BUSY_NOTE = "the history index is busy (another process is writing it); showing what it holds"
BUSY_S = 0.5  # the longest a reader waits for another process's write to the index
SETTLE_NS = 1_000_000_000  # a directory changed this recently is listed again next time (coarse mtime clock)
DEFAULT_DAYS = 90
CHUNK = 500  # ids per IN (...) lookup
SUBDIRS = (layout.OUTBOX, layout.INBOX, f"{layout.INBOX}/{layout.READ}")
STATUS_RANK = {"sent": 0, "pending": 1, "read": 2}
COLUMNS = ("id", "sender", "recipient", "type", "sent_at", "ts", "in_reply_to", "content", "status", "attempt",
           "from_name", "to_name", "from_project", "to_project", "room", "attachments", "machine")
# columns added since schema 1 came out: an index that lacks one gets it (ALTER TABLE ADD COLUMN, no rewrite), and
# older versions still running go on with it, since their queries name their columns
ADDED = {"machine": "TEXT"}

_DDL = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS dirs (path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, sender TEXT, recipient TEXT, type TEXT, sent_at TEXT,
  ts REAL NOT NULL, in_reply_to TEXT, content TEXT NOT NULL, status TEXT, attempt INTEGER, from_name TEXT,
  to_name TEXT, from_project TEXT, to_project TEXT, room TEXT, attachments TEXT, machine TEXT);
CREATE INDEX IF NOT EXISTS messages_ts ON messages (ts);
CREATE INDEX IF NOT EXISTS messages_reply ON messages (in_reply_to);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5 (content, from_name, to_name, content='messages',
  content_rowid='rowid');
INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA}');
"""


def path(root: Path) -> Path:
    """$BRIDGE_DIR/index.sqlite."""
    return root / layout.HISTORY_INDEX


def retention_days() -> float:
    """Days of history gc keeps (BRIDGE_HISTORY_DAYS, default 90; 0 keeps everything)."""
    raw = os.environ.get("BRIDGE_HISTORY_DAYS")
    if not raw:
        return DEFAULT_DAYS
    try:
        days = float(raw)
    except ValueError:
        days = -1.0
    if not days >= 0 or days == float("inf"):
        raise BridgeError(f"BRIDGE_HISTORY_DAYS must be a number of days >= 0 (0 keeps everything), not {raw!r}")
    return days


def _cutoff() -> float:
    days = retention_days()
    return time.time() - days * 86400 if days else float("-inf")


class Corrupt(Exception):
    """The index file is not a usable database: rebuild it."""


def _is_busy(e: sqlite3.Error) -> bool:
    return isinstance(e, sqlite3.OperationalError) and ("locked" in str(e) or "busy" in str(e))


def _is_corrupt(e: sqlite3.Error) -> bool:
    """An error that says the file itself is bad (not a busy lock, not a bad query)."""
    text = str(e)
    return type(e) in (sqlite3.DatabaseError, sqlite3.OperationalError) and not _is_busy(e) and (
        type(e) is sqlite3.DatabaseError or "malformed" in text or "no such table" in text
        or "not a database" in text or "disk image" in text)


def _connect(root: Path) -> sqlite3.Connection:
    """The index, opened (created 0600 if missing, its -wal and -shm then inherit the mode) with the schema in place.
    Corrupt if the file is not a database or has another schema."""
    p = path(root)
    try:
        os.close(os.open(p, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except OSError as e:
        raise BridgeError(f"cannot open the history index {p}: {e.strerror}; check BRIDGE_DIR, or delete the file "
                          "(session-bridge reindex rebuilds it)") from e
    db = sqlite3.connect(p, timeout=BUSY_S, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA synchronous=NORMAL")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table')")}
        if "messages" not in tables:
            try:
                db.executescript(f"BEGIN IMMEDIATE; {_DDL} COMMIT;")
            except sqlite3.Error:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        else:
            _migrate(db)
    except sqlite3.Error as e:
        db.close()
        if _is_busy(e):
            raise
        raise Corrupt(str(e)) from None
    except Corrupt:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """Add the ADDED columns an index made by an older version lacks, in one transaction. Corrupt if its schema is
    not SCHEMA."""
    row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if not row or row[0] != SCHEMA:
        raise Corrupt(f"schema {row[0] if row else 'missing'}, not {SCHEMA}")
    if not set(ADDED) - _columns(db):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for name in [c for c in ADDED if c not in _columns(db)]:  # again under the lock: another process may have
            db.execute(f"ALTER TABLE messages ADD COLUMN {name} {ADDED[name]}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _columns(db: sqlite3.Connection) -> set[str]:
    return {r[1] for r in db.execute("PRAGMA table_info(messages)")}


def _remove_files(root: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        layout.unlink_quietly(f"{path(root)}{suffix}")


class Index:
    """An open index and the one-line notes a reader should pass on (rebuilt, busy). Use reading() or opened()."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notes: list[str] = []
        self.read_only = False
        self.fresh = not (path(root).exists() and path(root).stat().st_size > 0)
        self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return _connect(self.root)
        except Corrupt as e:
            self.notes.append(f"the history index was unreadable ({str(e)[:80]}); rebuilt it from the message files")
        except sqlite3.OperationalError:
            self.notes.append(BUSY_NOTE)
            self.read_only = True
            return self._read_only()
        _remove_files(self.root)
        return _connect(self.root)

    def _read_only(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path(self.root)}?mode=ro", uri=True, timeout=BUSY_S, isolation_level=None,
                               check_same_thread=False)

    def rebuild_if_corrupt(self, e: sqlite3.Error) -> bool:
        """After an error from a query: True when the file was bad and has been rebuilt (run the query again)."""
        if not _is_corrupt(e):
            return False
        self.db.close()
        _remove_files(self.root)
        self.notes.append(f"the history index was unreadable ({str(e)[:80]}); rebuilt it from the message files")
        self.db = _connect(self.root)
        self.catch_up()
        return True

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # --- writing: catch-up from the files ------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Index what changed on disk since the last catch-up; the number of messages added. Another process
        writing the index longer than BUSY_S: nothing is added, and a note says so."""
        sessions = layout.sessions_dir(self.root)
        if self.read_only:
            return 0
        try:
            entries = [e.name for e in os.scandir(sessions) if validate.is_session_id(e.name)]
        except OSError:
            return 0
        added = 0
        try:
            stored = dict(self.db.execute("SELECT path, mtime_ns FROM dirs"))
            for sid in sorted(entries):
                added += self._session(sessions / sid, sid, stored)
        except sqlite3.Error as e:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if not _is_busy(e):
                raise
            if BUSY_NOTE not in self.notes:
                self.notes.append(BUSY_NOTE)
        return added

    def _session(self, sdir: Path, sid: str, stored: dict[str, int], everything: bool = False) -> int:
        """Index the changed message directories of one session dir (all of them with `everything`)."""
        changed = []
        now = time.time_ns()
        for sub in SUBDIRS:
            try:
                mtime = os.stat(sdir / sub).st_mtime_ns
            except OSError:
                continue
            key = f"{sid}/{sub}"
            if everything or stored.get(key) != mtime:
                changed.append((sub, key, mtime if now - mtime > SETTLE_NS else -1))
        if not changed:
            return 0
        own = _names(sdir, sid)
        peers: dict[str, tuple] | None = None
        cutoff = _cutoff()
        added = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for sub, key, mtime in changed:
                folder = sdir / sub
                try:
                    ids = [n[:-5] for n in os.listdir(folder) if n.endswith(".json")]
                except OSError:
                    continue
                known = self._known(ids)
                is_read = sub.endswith(layout.READ)
                if is_read:  # read since it was indexed as pending or sent
                    self.db.executemany("UPDATE messages SET status='read' WHERE id=?",
                                        [(i,) for i in ids if known.get(i, "read") != "read"])
                for msg_id in ids:
                    if msg_id in known:
                        continue
                    msg = _read(folder / f"{msg_id}.json")
                    if msg is None or msg["id"] != msg_id:
                        continue
                    if sub == layout.OUTBOX:
                        if peers is None:
                            peers = _all_names(self.root)
                        frm, to = own, peers.get(msg["to"])
                    else:
                        frm, to = None, own
                    if self._add(msg, frm, to, cutoff):
                        added += 1
                self.db.execute("INSERT OR REPLACE INTO dirs VALUES (?, ?)", (key, mtime))
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        return added

    def _known(self, ids: list[str]) -> dict[str, str]:
        """{id: status} of those ids already indexed."""
        known: dict[str, str] = {}
        for i in range(0, len(ids), CHUNK):
            part = ids[i:i + CHUNK]
            known.update(self.db.execute(f"SELECT id, status FROM messages WHERE id IN ({','.join('?' * len(part))})",
                                         part))
        return known

    def _add(self, msg: dict, frm: tuple | None, to: tuple | None, cutoff: float) -> bool:
        ns = message.id_time_ns(msg["id"])
        ts = ns / 1e9 if ns else (message.parse_iso(msg.get("timestamp")) or time.time())
        if ts < cutoff:
            return False
        meta = msg.get("metadata") or {}
        from_name = message.sender_name(msg) if frm is None else (meta.get("fromLabel") or frm[0])
        from_project = meta.get("fromProject") if frm is None else frm[1]
        room = meta.get("room") if isinstance(meta.get("room"), str) else ((frm or to or (None, None, None))[2])
        status = msg.get("status", "pending")
        refs = meta.get("artifacts")
        refs = [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []
        row = (msg["id"], msg["from"], msg["to"], msg["type"], msg.get("timestamp"), ts, msg.get("inReplyTo"),
               msg["content"], status if status in STATUS_RANK else "sent", message.attempt(msg), from_name,
               to[0] if to else None, from_project, to[1] if to else None, room,
               orjson.dumps(refs).decode() if refs else None, message.machine(msg))
        cur = self.db.execute(f"INSERT OR IGNORE INTO messages ({','.join(COLUMNS)}) VALUES "
                              f"({','.join('?' * len(COLUMNS))})", row)
        if cur.rowcount != 1:
            return False
        self.db.execute("INSERT INTO fts (rowid, content, from_name, to_name) VALUES (?, ?, ?, ?)",
                        (cur.lastrowid, msg["content"], from_name, row[11]))
        return True

    def absorb(self, sdir: Path, sid: str) -> int:
        """Index a session dir about to be deleted (its changed directories), then forget its mtimes."""
        stored = dict(self.db.execute("SELECT path, mtime_ns FROM dirs WHERE path LIKE ?", (f"{sid}/%",)))
        added = self._session(sdir, sid, stored)
        self.db.execute("DELETE FROM dirs WHERE path LIKE ?", (f"{sid}/%",))
        return added

    def prune(self, before: float) -> int:
        """Delete the rows of messages sent before `before` (seconds since the epoch); how many."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            old = self.db.execute("SELECT rowid, content, from_name, to_name FROM messages WHERE ts < ?",
                                  (before,)).fetchall()
            self.db.executemany("INSERT INTO fts (fts, rowid, content, from_name, to_name) "
                                "VALUES ('delete', ?, ?, ?, ?)", old)
            self.db.execute("DELETE FROM messages WHERE ts < ?", (before,))
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        return len(old)

    # --- reading ---------------------------------------------------------------------------------------------------

    def history(self, peer: str | None = None, room: str | None = None, since: float | None = None,
                limit: int | None = 50) -> list[dict]:
        """The newest `limit` messages (None: all) matching the filters, oldest first."""
        where, args = _filters(peer, room, since)
        rows = self._rows(f"SELECT {self._cols()} FROM messages m {where} ORDER BY m.ts DESC, m.id DESC"
                          + (" LIMIT ?" if limit else ""), [*args, *([limit] if limit else [])])
        return rows[::-1]

    def search(self, query: str, peer: str | None = None, room: str | None = None, since: float | None = None,
               limit: int = 20) -> tuple[str, list[dict]]:
        """(the FTS query run, the best `limit` matches with a snippet around the match). A query that is not valid
        FTS5 syntax is run again as quoted words; if that fails too, a one-line BridgeError."""
        if not query.strip():
            raise BridgeError("give something to search for, e.g. session-bridge search 'fetchUser'")
        where, args = _filters(peer, room, since)
        sql = (f"SELECT {self._cols()}, snippet(fts, 0, '**', '**', '…', 16), fts.rank FROM fts "
               f"JOIN messages m ON m.rowid = fts.rowid WHERE fts MATCH ? {where.replace('WHERE', 'AND')} "
               "ORDER BY fts.rank LIMIT ?")
        tried = []
        for q in dict.fromkeys((query, quoted(query))):
            try:
                return q, self._rows(sql, [q, *args, limit], extra=("snippet", "rank"))
            except sqlite3.OperationalError as e:
                if _is_busy(e) or _is_corrupt(e):
                    raise  # anything else from this fixed statement is the query's syntax
                tried.append(str(e))
        raise BridgeError(f"cannot search for {query!r}: {tried[-1]}; put the words in double quotes to search for "
                          "them as written")

    def thread(self, msg_id: str) -> tuple[str, list[dict]]:
        """(the root's id, the root question and every reply and follow-up under it, in time order)."""
        row = self.db.execute("SELECT id, in_reply_to FROM messages WHERE id=?", (msg_id,)).fetchone()
        if row is None:
            raise BridgeError(f"no message {msg_id} in the history; find one with: session-bridge history "
                              "(or session-bridge search WORDS)")
        seen = {row[0]}
        while row[1] and row[1] not in seen and len(seen) < 10_000:
            up = self.db.execute("SELECT id, in_reply_to FROM messages WHERE id=?", (row[1],)).fetchone()
            if up is None:
                break
            row = up
            seen.add(row[0])
        root, ids, frontier = row[0], [row[0]], [row[0]]
        seen = {root}
        while frontier and len(ids) < 10_000:
            part, frontier = frontier[:CHUNK], frontier[CHUNK:]
            found = [r[0] for r in self.db.execute(
                f"SELECT id FROM messages WHERE in_reply_to IN ({','.join('?' * len(part))})", part)]
            new = [i for i in found if i not in seen]
            seen.update(new)
            ids += new
            frontier += new
        found = []
        for i in range(0, len(ids), CHUNK):
            part = ids[i:i + CHUNK]
            found += self._rows(f"SELECT {self._cols()} FROM messages m WHERE m.id IN ({','.join('?' * len(part))})",
                                part)
        return root, sorted(found, key=lambda r: (r["ts"], r["id"]))

    def after(self, rowid: int, limit: int = 1000) -> list[dict]:
        """Messages indexed after row `rowid`, in the order they were indexed (for tail -f); each has `rowid`."""
        return self._rows(f"SELECT {self._cols()}, m.rowid FROM messages m WHERE m.rowid > ? ORDER BY m.rowid LIMIT ?",
                          [rowid, limit], extra=("rowid",))

    def last_rowid(self) -> int:
        """The newest row's id (0 when empty)."""
        return self.db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]

    def count(self) -> int:
        """How many messages the index holds."""
        return self.db.execute("SELECT count(*) FROM messages").fetchone()[0]

    def _cols(self) -> str:
        """COLUMNS of alias m, as a SELECT list; NULL for an ADDED one the index lacks (opened read-only while a
        process of an older version held it, so it could not be added)."""
        have = _columns(self.db)
        return ", ".join(f"m.{c}" if c in have else "NULL" for c in COLUMNS)

    def _rows(self, sql: str, args: list, extra: tuple[str, ...] = ()) -> list[dict]:
        keys = COLUMNS + extra
        try:
            return [dict(zip(keys, r)) for r in self.db.execute(sql, args)]
        except sqlite3.DatabaseError as e:
            if not self.rebuild_if_corrupt(e):
                raise
            return [dict(zip(keys, r)) for r in self.db.execute(sql, args)]


def _filters(peer: str | None, room: str | None, since: float | None) -> tuple[str, list]:
    """A WHERE clause (on alias m) and its arguments: a peer by session id, name or project on either side."""
    clauses, args = [], []
    if peer:
        clauses.append("(m.sender = ? OR m.recipient = ? OR m.from_name = ? OR m.to_name = ? OR m.from_project = ? "
                       "OR m.to_project = ?)")
        args += [peer] * 6
    if room:
        clauses.append("m.room = ?")
        args.append(room)
    if since is not None:
        clauses.append("m.ts >= ?")
        args.append(since)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


_WORD = re.compile(r'[^\s"]+')


def quoted(query: str) -> str:
    """The query as plain words: each one a quoted FTS5 string (so AND, NEAR(, *, col:x are searched as text)."""
    return " ".join(f'"{w}"' for w in _WORD.findall(query)) or '""'


def _read(file: Path) -> dict | None:
    try:
        return message.parse(layout.read_bytes(file, message.file_cap()))
    except (OSError, message.BadMessage, ValueError):
        return None  # a link (a delivered message's inbox entry), a hostile or broken file: not history


def _names(sdir: Path, sid: str) -> tuple[str, str | None, str | None]:
    """(name, project, room) of the session whose dir this is, from its manifest."""
    try:
        m = layout.read_json(sdir / layout.MANIFEST)
    except (OSError, ValueError):
        m = None
    if not isinstance(m, dict):
        return sid, None, None
    text = lambda k: m.get(k) if isinstance(m.get(k), str) else None  # noqa: E731
    return text("label") or text("projectName") or sid, text("projectName"), text("room")


def _all_names(root: Path) -> dict[str, tuple]:
    sessions = layout.sessions_dir(root)
    try:
        return {e.name: _names(Path(e.path), e.name) for e in os.scandir(sessions) if validate.is_session_id(e.name)}
    except OSError:
        return {}


# --- the API the front-ends call -------------------------------------------------------------------------------------


@contextmanager
def reading(root: Path, catch_up: bool = True) -> Iterator[Index]:
    """The index, caught up with the files (a corrupt one rebuilt); `.notes` holds one-line notices to pass on."""
    ix = Index(root)
    try:
        if catch_up:
            try:
                added = ix.catch_up()
            except sqlite3.DatabaseError as e:
                if not ix.rebuild_if_corrupt(e):
                    raise
                added = 0
            if ix.fresh and added:
                ix.notes.append(f"the history index was missing; built it from the message files ({added:,} "
                                f"message{'' if added == 1 else 's'})")
        yield ix
    finally:
        ix.close()


def catch_up(root: Path) -> list[str]:
    """Index what changed since the last catch-up; the notes (rebuilt, busy)."""
    with reading(root) as ix:
        return ix.notes


def reindex(root: Path) -> tuple[int, float]:
    """Rebuild the index from the message files: (messages indexed, seconds it took)."""
    started = time.monotonic()
    _remove_files(root)
    with reading(root) as ix:
        ix.notes.clear()  # "it was missing": this is the rebuild
        return ix.count(), time.monotonic() - started


def absorb(root: Path, ended: Path) -> int:
    """Best effort, for sessions.py before it deletes a session dir (renamed to sessions/.ended-<sid>-<hex>): index
    its messages so they outlive it. Never raises; waits at most BUSY_S for the index."""
    sid = ended.name[len(layout.ENDED_PREFIX):].rsplit("-", 1)[0] if ended.name.startswith(layout.ENDED_PREFIX) \
        else ended.name
    try:
        ix = Index(root)
        try:
            return ix.absorb(ended, sid)
        finally:
            ix.close()
    except Exception:
        return 0  # a busy or broken index never stops a removal; the messages are still in the peers' copies


def prune(root: Path) -> int:
    """For gc: delete index rows older than the retention; how many. No index yet: 0, none created."""
    if not path(root).exists():
        return 0
    cutoff = _cutoff()
    if cutoff == float("-inf"):
        return 0
    try:
        ix = Index(root)
        try:
            return ix.prune(cutoff)
        finally:
            ix.close()
    except sqlite3.Error:
        return 0  # busy: the next gc prunes


_SINCE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def since(text: str, now: float | None = None) -> float:
    """Seconds since the epoch for a --since value: a duration back from now (30m, 2h, 7d, 1w) or an ISO date or
    time (2025-01-31, 2025-01-31T14:00, UTC unless it says otherwise)."""
    m = _SINCE.fullmatch(text.strip())
    if m:
        return (now or time.time()) - float(m.group(1)) * _UNITS[m.group(2)]
    at = message.parse_iso(text.strip())
    if at is None:
        raise BridgeError(f"--since takes a duration (30m, 2h, 7d, 1w) or an ISO date (2025-01-31), not {text!r}")
    return at


def follow(root: Path, after: int) -> Iterator[tuple[list[dict], list[str]]]:
    """Yield (new messages, notes) each time a session's outbox changes, messages indexed after row `after`, for as
    long as the caller iterates. Waits on kernel notifications, no polling: sessions/ (new sessions) and every
    session's outbox (a session dir whose outbox is not there yet: the dir) ring one bell."""
    from bridge.watch import watching  # only tail -f waits

    bell = threading.Event()
    sessions = layout.sessions_dir(root)
    while True:
        bell.clear()
        watching(sessions, creates=True).ring(bell)
        for e in os.scandir(sessions):
            if validate.is_session_id(e.name):
                out = Path(e.path) / layout.OUTBOX
                target = out if out.is_dir() else Path(e.path)
                try:
                    watching(target, creates=target != out).ring(bell)
                except OSError:
                    continue  # stopped meanwhile
        with reading(root) as ix:
            rows = ix.after(after)
            notes = ix.notes
        if rows:
            after = rows[-1]["rowid"]
        if rows or notes:
            yield rows, notes
        bell.wait()


def utc(ts: float) -> str:
    """An index timestamp as ISO-8601 UTC to the second."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
