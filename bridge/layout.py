"""The on-disk layout of a bridge directory, its safety checks, and the one way files are written.

    $BRIDGE_DIR/                       default ~/.claude/session-bridge, mode 0700, owned by the user
      sessions/<sid>/manifest.json     who the session is (see sessions.py)
      sessions/<sid>/inbox/<id>.json   a message for <sid>; a regular file while pending
      sessions/<sid>/inbox/.read/      delivered copies ("status": "read"); inbox/<id>.json becomes a symlink here
      sessions/<sid>/inbox/.claimed/   messages a reader has claimed and not yet finished delivering
      sessions/<sid>/outbox/<id>.json  the sender's copy, "status": "sent"
      sessions/<sid>/waiting/<id>      a live ask/receive waiting for the reply to message <id>
      sessions/<sid>/inbox/.noticed/   <id>: a driver told the agent that message <id> waits (not read yet)
      sessions/<sid>/receipts/         <id>.<state>: what became of a message this session sent (see protocol.py)
      sessions/<sid>/quarantine/       unreadable or foreign inbox files, moved aside
      sessions/<sid>/.background-listen  present while background listening is on (scripts/hook reads it)
      sessions/<sid>/inbox/.held/      messages held by the session's inbound policy until released (not pending)
      sessions/<sid>/.woken            the auto-mode wake its agent acts on: {msg, hops, at} (policy.py)
      sessions/<sid>/.project          its projectPath, one line (scripts/hook reads it)
      sessions/.ended-<sid>-<n>/       a stopped session being removed (stop renames it away first)
      .locks/                          start's registry lock, auto-mode's runner lock
      rooms/settings.json              auto-mode settings: wake policy, driver, limits per room and role (rooms.py)
      rooms/<room>/briefings/<role>.md a role's briefing, re-injected when its session starts (rooms.py)
      rooms/<room>/.rails/<role>.json  when the role was last woken, for the rate limit every waker shares (policy.py)
      logs/auto.jsonl                  what auto-mode woke, when, and why not (one JSON object per line)
      artifacts/<sha[:2]>/<sha256>     a shared payload, by content (artifacts.py)
      leases/<sha256>.<sid>.json       a file lease of <sid> on the path whose sha256 names it (leases.py)
      index.sqlite                     the history index (bridge/index.py): derived from the message files, rebuildable
    <project>/.claude/bridge-session   the project's session id (no newline)

Every write is temp file in the same directory + fsync + rename, so no reader ever sees half a file. Every read goes
through read_bytes(): a regular file opened without following links and capped in size, so a named pipe, a device, a
link out of the bridge dir or a 2 GB file is refused before a byte is read. Every directory and file the bridge
creates gets 0700 / 0600 whatever the umask.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import orjson

from bridge import validate
from bridge.errors import BridgeError

if TYPE_CHECKING:
    from filelock import FileLock

DIR_MODE = 0o700
POINTER = Path(".claude") / "bridge-session"

# Every on-disk name (the tree above); the other modules use these, never their own literals.
SESSIONS = "sessions"
MANIFEST = "manifest.json"
INBOX = "inbox"
READ = ".read"  # in inbox/
CLAIMED = ".claimed"  # in inbox/
NOTICED = ".noticed"  # in inbox/
OUTBOX = "outbox"
RECEIPTS = "receipts"
WAITING = "waiting"
QUARANTINE = "quarantine"
WHY = ".why"  # quarantine/<file>.why says why it was moved aside
LOCKS = ".locks"
REGISTRY_LOCK = "registry.lock"  # in .locks/
BACKGROUND_LOCK = ".background.lock"  # in a session dir: at most one background listener per session
BACKGROUND_FLAG = ".background-listen"  # in a session dir while background listening is on (scripts/hook reads it)
DELIVERY = ".delivery"  # in a session dir: <path>.json, each delivery path's last result (bridge/delivery.py)
TMUX_STATE = ".tmux"  # in the bridge dir: per-pane push cooldowns and locks (bridge/drivers/tmux.py)
LOGS = "logs"  # in the bridge dir: what long-running notifiers did and why (their stdout is the agent's)
ROOMS = "rooms"
SETTINGS = "settings.json"  # in rooms/
BRIEFINGS = "briefings"  # in rooms/<room>/
RAILS = ".rails"  # in rooms/<room>/
AUTO_LOG = "auto.jsonl"  # in logs/
AUTO_LOCK = "auto.lock"  # in .locks/: one auto-mode runner per bridge dir
ARTIFACTS = "artifacts"  # in the bridge dir: shared payloads by content, <sha[:2]>/<sha256> (bridge/artifacts.py)
LEASES = "leases"  # in the bridge dir: advisory file leases, one file per path and holder (bridge/leases.py)
WOKEN = ".woken"  # in a session dir: the auto-mode wake its agent is acting on (policy.py: the hop count)
HELD = ".held"  # in inbox/: messages the session's inbound policy holds until the user releases them
PROJECT_INDEX = ".project"  # in a session dir: its projectPath as one line, for scripts/hook (which reads no JSON)
REMOTE = "remote"  # in the bridge dir: the gateway's state for `remote status` (bridge/remote.py)
GATEWAY_STATUS = "gateway.json"  # in remote/: the running gateway's connection, counters and last error
GATEWAY_LOG = "gateway.jsonl"  # in logs/: what the gateway forwarded, delivered and refused, and why
GATEWAY_LOCK = "gateway.lock"  # in .locks/: one gateway per bridge dir
HISTORY_INDEX = "index.sqlite"  # in the bridge dir: history and search (bridge/index.py), derived from the messages
ENDED_PREFIX = ".ended-"  # sessions/.ended-<sid>-<hex>: a stopped session being deleted (never a valid session id)
TEMP_PREFIXES = (".tmp-", ".lnk-", ".adopt-")  # files in flight (never ending in .json); gc removes old ones
MANIFEST_CAP = 256 * 1024  # a manifest is a few hundred bytes; anything near this is not one
SMALL_CAP = 4096  # pointer files, waiting markers, notice markers


class NotAFile(OSError):
    """A path that must be a small regular file is something else (a pipe, device, link, directory, or too big)."""


def bridge_dir() -> Path:
    """The bridge root from BRIDGE_DIR (default ~/.claude/session-bridge), created 0700 and checked safe."""
    raw = os.environ.get("BRIDGE_DIR") or str(Path.home() / ".claude" / "session-bridge")
    root = Path(raw).expanduser().absolute()
    try:
        make_dirs(root)
        make_dirs(root / SESSIONS)
    except OSError as e:
        raise BridgeError(f"cannot create BRIDGE_DIR {root}: {e.strerror}; set BRIDGE_DIR to a writable directory") from e
    check_private(root)
    check_private(root / SESSIONS)
    if not os.access(root / SESSIONS, os.W_OK):
        raise BridgeError(f"BRIDGE_DIR {root} is read-only; make it writable or set BRIDGE_DIR elsewhere")
    return root


def check_private(path: Path) -> None:
    """Refuse a directory another user owns or others may write: they could read or forge messages."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise BridgeError(f"{path} is not a directory; remove it or set BRIDGE_DIR elsewhere")
    if st.st_uid != os.geteuid():
        raise BridgeError(f"{path} belongs to uid {st.st_uid}, not you; set BRIDGE_DIR to a directory you own")
    if st.st_mode & 0o022:
        raise BridgeError(f"{path} is writable by others (mode {st.st_mode & 0o777:o}); fix with: chmod 700 {path}")


def sessions_dir(root: Path) -> Path:
    """$BRIDGE_DIR/sessions."""
    return root / SESSIONS


def session_dir(root: Path, sid: str) -> Path:
    """$BRIDGE_DIR/sessions/<sid>, after checking sid is safe as a path component."""
    return root / SESSIONS / validate.session_id(sid)


SESSION_SUBDIRS = (INBOX, f"{INBOX}/{READ}", f"{INBOX}/{CLAIMED}", f"{INBOX}/{NOTICED}", OUTBOX, RECEIPTS, WAITING,
                   QUARANTINE, f"{INBOX}/{HELD}")


def make_session_dirs(sdir: Path) -> None:
    """Create a session's directories (0700); existing ones are kept."""
    for sub in SESSION_SUBDIRS:
        make_dirs(sdir / sub)


def make_dirs(path: Path) -> None:
    """mkdir -p where every directory it creates is 0700 whatever the umask (a world-writable ~/.claude would let
    another user plant hooks there). Directories that already exist are left as they are."""
    missing = []
    p = Path(path)
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)


def lock(path: Path, timeout: float = 10) -> FileLock:
    """A process lock (flock: the kernel drops it when its holder dies) whose file is 0600. Its directory must
    exist: filelock would create it with the umask's mode."""
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such directory", str(path.parent))
    from filelock import FileLock  # only start and the background listener lock: keep one-shot commands light

    return FileLock(path, timeout=timeout, mode=0o600)


class Busy(Exception):
    """A directory lock another process holds (see dir_lock)."""


@contextmanager
def dir_lock(path: Path, timeout: float = 10) -> Iterator[None]:
    """flock on a directory itself. Unlike a lock file (filelock mkdirs its parent), it can never bring back a
    directory that stop removed: a removed one raises FileNotFoundError. The kernel drops it if the holder dies.
    timeout 0 raises Busy at once when another process holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(str(path)) from None
                time.sleep(0.005)  # as filelock does: holders keep it for a few file operations
        yield
    finally:
        os.close(fd)  # closing drops the flock


def pointer_path(project: Path) -> Path:
    """<project>/.claude/bridge-session."""
    return project / POINTER


# --- files -------------------------------------------------------------------------------------------------------


def dumps(obj: object) -> bytes:
    """JSON as the bridge writes it (indented, newline-terminated)."""
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n"


def read_bytes(path: str | Path, cap: int) -> bytes:
    """The bytes of a regular file of at most `cap` bytes. Opened without following a link and without blocking
    (a FIFO would otherwise hang the reader), checked with fstat before reading. NotAFile says why not;
    FileNotFoundError passes through."""
    return read_checked(path, cap)[0]


def read_checked(path: str | Path, cap: int) -> tuple[bytes, os.stat_result]:
    """read_bytes, with the fstat of the very file that was read (its inode names it across renames)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotAFile(errno.ELOOP, "a symbolic link", str(path)) from None
        if e.errno in (errno.ENXIO, errno.EISDIR, errno.ENODEV, errno.EWOULDBLOCK):
            raise NotAFile(e.errno, "not a regular file", str(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotAFile(errno.EINVAL, "not a regular file", str(path))
        if st.st_size > cap:
            raise NotAFile(errno.EFBIG, f"{st.st_size} bytes, over the {cap}-byte cap", str(path))
        chunks, left = [], cap + 1
        while left > 0:  # the file may grow after fstat: never read past the cap
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > cap:
            raise NotAFile(errno.EFBIG, f"over the {cap}-byte cap", str(path))
        return data, st
    finally:
        os.close(fd)


def read_json(path: Path, cap: int = MANIFEST_CAP) -> object:
    """Parsed JSON of a small regular file (see read_bytes)."""
    return orjson.loads(read_bytes(path, cap))


def read_text(path: Path, cap: int = SMALL_CAP) -> str:
    """A small regular text file (pointer, marker); OSError (incl. NotAFile) or UnicodeDecodeError if not one."""
    return read_bytes(path, cap).decode("utf-8")


def temp_file(folder: Path) -> tuple[int, str]:
    """A new private file in folder whose name never ends in .json (what tempfile.mkstemp does, without the cost
    of importing tempfile on every one-shot send)."""
    while True:
        tmp = os.path.join(folder, f"{TEMP_PREFIXES[0]}{os.getpid()}-{os.urandom(6).hex()}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), tmp
        except FileExistsError:
            continue


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write data at path in one rename. durable=False skips fsync for data a crash may lose (heartbeats)."""
    try:
        fd, tmp = temp_file(path.parent)
    except OSError as e:
        raise _write_error(path, e) from e
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # open's 0600 is still masked by the umask
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except OSError as e:
        unlink_quietly(tmp)
        raise _write_error(path, e) from e
    except BaseException:
        unlink_quietly(tmp)
        raise


def atomic_symlink(target: str, path: Path) -> None:
    """Point path at target (relative) in one rename, replacing whatever was there."""
    tmp = path.parent / f"{TEMP_PREFIXES[1]}{os.getpid()}-{path.name[:-5] if path.name.endswith('.json') else path.name}"
    unlink_quietly(tmp)
    os.symlink(target, tmp)
    try:
        os.rename(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise


def append_log(path: Path, line: dict, cap: int) -> None:
    """Append one JSON line to a log (rotated to <name>.1 beyond `cap` bytes). One write per line, so appends from
    several processes never interleave; a log that cannot be written never stops the work it records."""
    import orjson

    try:
        make_dirs(path.parent)
        if path.exists() and path.stat().st_size > cap:
            path.replace(path.with_name(path.name + ".1"))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, orjson.dumps(line) + b"\n")
        finally:
            os.close(fd)
    except OSError:
        pass


def read_log(path: Path, cap: int, limit: int = 50) -> list[dict]:
    """The last `limit` lines (0: all) of a JSON-lines log, oldest first; unreadable lines are skipped."""
    import orjson

    try:
        lines = read_bytes(path, cap * 2).splitlines()
    except OSError:
        return []
    out = []
    for raw in lines[-limit:] if limit else lines:
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


_passes: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Fault injection for tests: SIGKILL this process here when BRIDGE_CRASH_AT names this point (`name`, or
    `name:N` for its N-th pass, to die midway through a stream of work)."""
    want = os.environ.get("BRIDGE_CRASH_AT")
    if not want or not want.startswith(name):
        return
    _passes[name] = _passes.get(name, 0) + 1
    if want == name or want == f"{name}:{_passes[name]}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _write_error(path: Path, e: OSError) -> BridgeError:
    return BridgeError(f"cannot write {path}: {e.strerror}; check the permissions and free space of BRIDGE_DIR")


def unlink_quietly(path: str | Path) -> None:
    """Remove a file if it is there; never an error."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
