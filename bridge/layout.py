"""The on-disk layout of a bridge directory, its safety checks, and the one way files are written.

    $BRIDGE_DIR/                       default ~/.claude/session-bridge, mode 0700, owned by the user
      sessions/<sid>/manifest.json     who the session is (see sessions.py)
      sessions/<sid>/inbox/<id>.json   a message for <sid>; a regular file while pending
      sessions/<sid>/inbox/.read/      delivered copies ("status": "read"); inbox/<id>.json becomes a symlink here
      sessions/<sid>/inbox/.claimed/   messages a reader has claimed and not yet finished delivering
      sessions/<sid>/outbox/<id>.json  the sender's copy, "status": "sent"
      sessions/<sid>/waiting/<id>      a live ask/receive waiting for the reply to message <id>
      sessions/<sid>/quarantine/       unreadable or foreign inbox files, moved aside
    <project>/.claude/bridge-session   the project's session id (no newline)

Every write is temp file in the same directory + fsync + rename, so no reader ever sees half a file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import orjson

from bridge import validate
from bridge.errors import BridgeError

DIR_MODE = 0o700
FILE_MODE = 0o600
POINTER = Path(".claude") / "bridge-session"


def bridge_dir() -> Path:
    """The bridge root from BRIDGE_DIR (default ~/.claude/session-bridge), created 0700 and checked safe."""
    raw = os.environ.get("BRIDGE_DIR") or str(Path.home() / ".claude" / "session-bridge")
    root = Path(raw).expanduser().absolute()
    try:
        root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        (root / "sessions").mkdir(mode=DIR_MODE, exist_ok=True)
    except OSError as e:
        raise BridgeError(f"cannot create BRIDGE_DIR {root}: {e.strerror}; set BRIDGE_DIR to a writable directory") from e
    check_private(root)
    check_private(root / "sessions")
    if not os.access(root / "sessions", os.W_OK):
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
    return root / "sessions"


def session_dir(root: Path, sid: str) -> Path:
    return root / "sessions" / validate.session_id(sid)


def make_session_dirs(sdir: Path) -> None:
    for sub in ("inbox", "inbox/.read", "inbox/.claimed", "outbox", "waiting", "quarantine"):
        (sdir / sub).mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def pointer_path(project: Path) -> Path:
    return project / POINTER


# --- files -------------------------------------------------------------------------------------------------------


def dumps(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n"


def read_json(path: Path) -> object:
    with open(path, "rb") as f:
        return orjson.loads(f.read())


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write data at path in one rename. durable=False skips fsync for data a crash may lose (heartbeats)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mode 0600, name never ends in .json
    except OSError as e:
        raise _write_error(path, e) from e
    try:
        with os.fdopen(fd, "wb") as f:
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
    tmp = path.parent / f".lnk-{os.getpid()}-{path.name[:-5] if path.name.endswith('.json') else path.name}"
    unlink_quietly(tmp)
    os.symlink(target, tmp)
    try:
        os.rename(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise


def _write_error(path: Path, e: OSError) -> BridgeError:
    return BridgeError(f"cannot write {path}: {e.strerror}; check the permissions and free space of BRIDGE_DIR")


def unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
