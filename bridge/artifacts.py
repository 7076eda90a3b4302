"""Artifacts: bytes too big for a message body, stored once by content hash and referenced from messages; and
session summaries (one line a session says it works on, shown to its peers).

    $BRIDGE_DIR/artifacts/<sha[:2]>/<sha256>        the bytes (0600; dirs 0700), named by their SHA-256
    $BRIDGE_DIR/artifacts/<sha[:2]>/<sha256>.meta   {name, type, size, sharedAt} of the last share (for `list`)

A message references artifacts in metadata.artifacts: [{sha256, name, size, type}] (message.parse keeps only valid
refs). share() reads the source once, hashing it while writing a temp file, and stores it with one rename; a file that
changed while it was read (size or mtime differ before and after) is refused, never stored torn. get() checks the
hash is one (64 hex digits: never a path) and that the stored bytes still hash to it. gc() removes artifacts older than
the retention (BRIDGE_ARTIFACT_DAYS, 30) that no message file still present (inbox, delivered, outbox) names.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import BinaryIO

from bridge import layout, message
from bridge.errors import BridgeError

META = ".meta"  # artifacts/<xx>/<sha>.meta: name and type of the last share
DEFAULT_MAX = 10 * 1024 * 1024
DEFAULT_DAYS = 30
CHUNK = 1 << 20
NAME_CHARS = 255
TEMP_MAX_AGE_S = 60 * 60


# --- limits ------------------------------------------------------------------------------------------------------


def max_size() -> int:
    """The largest artifact share() stores, in bytes (BRIDGE_MAX_ARTIFACT, default 10 MiB)."""
    raw = os.environ.get("BRIDGE_MAX_ARTIFACT")
    if not raw:
        return DEFAULT_MAX
    try:
        value = int(raw)
    except ValueError:
        raise BridgeError("BRIDGE_MAX_ARTIFACT must be a number of bytes, e.g. 10485760") from None
    if value <= 0:
        raise BridgeError("BRIDGE_MAX_ARTIFACT must be a positive number of bytes, e.g. 10485760")
    return value


def retention_s() -> float:
    """How long an unreferenced artifact is kept, in seconds (BRIDGE_ARTIFACT_DAYS, default 30 days)."""
    raw = os.environ.get("BRIDGE_ARTIFACT_DAYS")
    if not raw:
        return DEFAULT_DAYS * 86400.0
    try:
        days = float(raw)
    except ValueError:
        days = -1
    if not days >= 0 or days == float("inf"):
        raise BridgeError("BRIDGE_ARTIFACT_DAYS must be a finite number of days >= 0, e.g. 30")
    return days * 86400.0


# --- names -------------------------------------------------------------------------------------------------------


def check_hash(value: object) -> str:
    """value as a lowercase SHA-256 (64 hex digits; upper case is accepted), else a BridgeError: a hash is never a
    path, so nothing outside the store can be named."""
    if isinstance(value, str) and len(value) == 64 and message.ARTIFACT_HASH.fullmatch(value.lower()):
        return value.lower()
    shown = value[:80] if isinstance(value, str) else value
    raise BridgeError(f"invalid artifact hash {shown!r}: use the 64 hex digits printed by share")


def store_dir(root: Path) -> Path:
    """$BRIDGE_DIR/artifacts."""
    return root / layout.ARTIFACTS


def path_of(root: Path, sha: str) -> Path:
    """Where the artifact `sha` is stored (the hash checked first)."""
    sha = check_hash(sha)
    return store_dir(root) / sha[:2] / sha


def _display_name(name: str | None, default: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/").rstrip("/")) or default
    base = "".join(c for c in base if c.isprintable())
    return base[:NAME_CHARS] or default


def guess_type(name: str, is_text: bool) -> str:
    """The media type of an artifact: by its name's extension, else text/plain for UTF-8, else
    application/octet-stream."""
    import mimetypes  # share only: views (and so the hooks) import this module for summaries

    guessed = mimetypes.guess_type(name, strict=False)[0]
    if guessed:
        return guessed
    return "text/plain" if is_text else "application/octet-stream"


def ref(sha256: str, name: str, size: int, type: str) -> dict:
    """An artifact reference as a message's metadata.artifacts holds it."""
    return {"sha256": sha256, "name": name, "size": size, "type": type}


# --- sharing -----------------------------------------------------------------------------------------------------


def _test_pause() -> None:
    """Test hook: with BRIDGE_TEST_SHARE_PAUSE=<dir>, stop between reading a file and checking it did not change:
    write a line into the FIFO <dir>/ready, then wait until the FIFO <dir>/go is opened and closed."""
    where = os.environ.get("BRIDGE_TEST_SHARE_PAUSE")
    if not where:
        return
    with open(os.path.join(where, "ready"), "w") as f:
        f.write("read\n")
    with open(os.path.join(where, "go")) as f:
        f.read()


def _copy(src: BinaryIO | int, out: int, limit: int, what: str) -> tuple[str, int, bool]:
    """Copy src to the fd `out` while hashing: (sha256, size, is UTF-8 text). Refuses more than `limit` bytes."""
    import codecs
    import hashlib

    digest, size = hashlib.sha256(), 0
    decoder, is_text = codecs.getincrementaldecoder("utf-8")(), True
    while True:
        chunk = os.read(src, CHUNK) if isinstance(src, int) else src.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise BridgeError(f"{what} is over the {limit}-byte artifact limit; share a smaller file, or raise "
                              f"BRIDGE_MAX_ARTIFACT")
        digest.update(chunk)
        if is_text:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                is_text = False
        view = memoryview(chunk)
        while view:
            view = view[os.write(out, view):]
    if is_text:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            is_text = False
    return digest.hexdigest(), size, is_text


def share(root: Path, source: str | Path | BinaryIO | bytes, name: str | None = None) -> dict:
    """Store bytes in the artifact store and return their reference {sha256, name, size, type}.

    `source` is a file path, a binary stream (stdin) or bytes; `name` defaults to the file's base name. Stored once
    per content (a second share of the same bytes renames over the first: same bytes, fresh time). A file that
    changes while it is read is refused; nothing is stored then."""
    limit = max_size()
    folder = store_dir(root)
    try:
        layout.make_dirs(folder)
    except OSError as e:
        raise BridgeError(f"cannot create {folder}: {e.strerror}; check the permissions of BRIDGE_DIR") from None
    layout.check_private(folder)
    fd, tmp = layout.temp_file(folder)
    try:
        os.fchmod(fd, 0o600)
        if isinstance(source, bytes):
            what = name or "the content"
            if len(source) > limit:
                raise BridgeError(f"{what} is {len(source)} bytes, over the {limit}-byte artifact limit; share a "
                                  f"smaller file, or raise BRIDGE_MAX_ARTIFACT")
            sha, size, is_text = _copy_bytes(source, fd)
            default = "content"
        elif isinstance(source, (str, Path)):
            sha, size, is_text = _copy_file(Path(source), fd, limit)
            default = os.path.basename(str(source)) or "file"
        else:
            sha, size, is_text = _copy(source, fd, limit, name or "stdin")
            default = "stdin"
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        layout.unlink_quietly(tmp)
        raise
    os.close(fd)
    shown = _display_name(name, default)
    artifact = ref(sha, shown, size, guess_type(shown, is_text))
    dest = folder / sha[:2] / sha
    try:
        layout.make_dirs(dest.parent)
        os.rename(tmp, dest)
        layout.atomic_write(dest.with_name(sha + META), layout.dumps({**artifact, "sharedAt": message.now_iso()}),
                            durable=False)
    except OSError as e:
        layout.unlink_quietly(tmp)
        raise BridgeError(f"cannot store the artifact in {folder}: {e.strerror}; check the free space of "
                          f"BRIDGE_DIR") from None
    return artifact


def _copy_bytes(data: bytes, out: int) -> tuple[str, int, bool]:
    import hashlib

    try:
        data.decode("utf-8")
        is_text = True
    except UnicodeDecodeError:
        is_text = False
    view = memoryview(data)
    while view:
        view = view[os.write(out, view):]
    return hashlib.sha256(data).hexdigest(), len(data), is_text


def _copy_file(path: Path, out: int, limit: int) -> tuple[str, int, bool]:
    """Copy a regular file (a link to one is followed: the user named it), refusing one that changes meanwhile."""
    try:
        src = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise BridgeError(f"cannot read {path}: {e.strerror}") from None
    try:
        before = os.fstat(src)
        if not stat.S_ISREG(before.st_mode):
            raise BridgeError(f"{path} is not a regular file; share a file, or pipe the data to: share -")
        if before.st_size > limit:
            raise BridgeError(f"{path} is {before.st_size} bytes, over the {limit}-byte artifact limit; share a "
                              f"smaller file, or raise BRIDGE_MAX_ARTIFACT")
        try:
            sha, size, is_text = _copy(src, out, limit, str(path))
        except OSError as e:
            raise BridgeError(f"cannot read {path}: {e.strerror}") from None
        _test_pause()
        after = os.fstat(src)
    finally:
        os.close(src)
    if (size, after.st_size, after.st_mtime_ns) != (before.st_size, before.st_size, before.st_mtime_ns):
        raise BridgeError(f"{path} changed while it was being read; nothing was stored: share it again once it is "
                          f"no longer being written")
    return sha, size, is_text


# --- reading -----------------------------------------------------------------------------------------------------


def _meta(path: Path) -> dict:
    try:
        data = layout.read_json(path.with_name(path.name + META), layout.SMALL_CAP)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def info(root: Path, sha: str) -> dict:
    """The reference of a stored artifact (name and type of its last share), without reading its bytes; a
    BridgeError if it is not stored."""
    path = path_of(root, sha)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise _missing(sha) from None
    if not stat.S_ISREG(st.st_mode):
        raise BridgeError(f"artifact {sha} is not a regular file in the store; share the file again")
    meta = _meta(path)
    name = meta.get("name") if isinstance(meta.get("name"), str) else None
    kind = meta.get("type") if isinstance(meta.get("type"), str) else None
    return ref(sha.lower(), _display_name(name, sha.lower()[:12]), st.st_size, kind or "application/octet-stream")


def _missing(sha: str) -> BridgeError:
    return BridgeError(f"no artifact {sha} in this bridge (never shared here, or collected after its retention); "
                       f"ask its sender to share it again")


def get(root: Path, sha: str) -> tuple[dict, bytes]:
    """(reference, bytes) of a stored artifact, after checking the bytes still hash to `sha`."""
    import hashlib

    sha = check_hash(sha)
    path = path_of(root, sha)
    try:
        data, _ = layout.read_checked(path, max(max_size(), DEFAULT_MAX))
    except FileNotFoundError:
        raise _missing(sha) from None
    except layout.NotAFile as e:
        raise BridgeError(f"artifact {sha} cannot be read ({e.strerror}); share the file again") from None
    if hashlib.sha256(data).hexdigest() != sha:
        raise BridgeError(f"artifact {sha} is corrupt: its stored bytes no longer hash to it; ask its sender to share "
                          f"it again")
    return info(root, sha), data


def list_all(root: Path) -> list[dict]:
    """Every stored artifact, newest first: its reference plus `shared_at` (ISO-8601 UTC of its last share)."""
    out = []
    for path in _stored(root):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        meta = _meta(path)
        entry = info(root, path.name)
        shared = meta.get("sharedAt") if isinstance(meta.get("sharedAt"), str) else None
        out.append((st.st_mtime, {**entry, "shared_at": shared or time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                 time.gmtime(st.st_mtime))}))
    return [e for _, e in sorted(out, key=lambda x: -x[0])]


def _stored(root: Path) -> list[Path]:
    found = []
    try:
        subs = list(os.scandir(store_dir(root)))
    except FileNotFoundError:
        return []
    for sub in subs:
        if len(sub.name) != 2 or not sub.is_dir(follow_symlinks=False):
            continue
        for e in os.scandir(sub.path):
            if len(e.name) == 64 and e.name.startswith(sub.name) and message.ARTIFACT_HASH.fullmatch(e.name) \
                    and e.is_file(follow_symlinks=False):
                found.append(Path(e.path))
    return found


# --- collecting --------------------------------------------------------------------------------------------------


def referenced(root: Path) -> set[str]:
    """The hashes named in metadata.artifacts of any message file still present: every session's inbox (pending,
    claimed, held, delivered) and outbox."""
    shas: set[str] = set()
    sessions_root = layout.sessions_dir(root)
    try:
        sids = os.listdir(sessions_root)
    except FileNotFoundError:
        return shas
    subdirs = (layout.INBOX, f"{layout.INBOX}/{layout.READ}", f"{layout.INBOX}/{layout.CLAIMED}",
               f"{layout.INBOX}/{layout.HELD}", layout.OUTBOX)
    for sid in sids:
        for sub in subdirs:
            folder = sessions_root / sid / sub
            try:
                names = [n for n in os.listdir(folder) if n.endswith(".json")]
            except OSError:
                continue
            for n in names:
                try:
                    data = layout.read_bytes(folder / n, message.file_cap())
                except OSError:
                    continue  # a link to its delivered copy, or gone meanwhile
                if b'"artifacts"' not in data:
                    continue
                try:
                    refs = message.parse(data)["metadata"].get("artifacts") or []
                except message.BadMessage:
                    continue
                shas.update(r["sha256"] for r in refs)
    return shas


def gc(root: Path, now: float | None = None) -> int:
    """Remove artifacts older than the retention that no message still names (and temp files a killed share left);
    returns how many artifacts were removed."""
    now = time.time() if now is None else now
    keep_s = retention_s()
    stored = _stored(root)
    _remove_old_temps(root, now)
    if not stored:
        return 0
    names = referenced(root)
    removed = 0
    for path in stored:
        try:
            if path.name in names or now - os.lstat(path).st_mtime < keep_s:
                continue
            os.unlink(path)
        except FileNotFoundError:
            continue
        layout.unlink_quietly(path.with_name(path.name + META))
        removed += 1
    return removed


def _remove_old_temps(root: Path, now: float) -> None:
    try:
        entries = list(os.scandir(store_dir(root)))
    except FileNotFoundError:
        return
    for e in entries:
        if e.name.startswith(layout.TEMP_PREFIXES):
            try:
                if now - e.stat(follow_symlinks=False).st_mtime > TEMP_MAX_AGE_S:
                    os.unlink(e.path)
            except FileNotFoundError:
                pass
