"""File leases (advisory) and the git pre-commit guard.

A lease says "this session is working on PATH". Shared leases on one path coexist; an exclusive lease conflicts with
any other session's lease on that path. A lease on a directory covers every path under it. A lease is live while its
session is live (sessions.liveness "active" or "idle") and its TTL has not passed: a lease dies with its session.
Dead leases are ignored by every check and removed by gc and by the next session that takes a lease.

Store: $BRIDGE_DIR/leases/<sha256 of the absolute resolved path>.<session id>.json =
{path, session, exclusive, reason, created, expires (ISO-8601 UTC or null)}: one file per path and holder, so shared
leases of several sessions on one path never overwrite each other. Taking a lease is check-then-write under the
flock of the leases directory, so two sessions can never both get an exclusive lease on one path.

The guard: `guard_install` writes a pre-commit hook into the current git repository (its hooks dir as git reports it,
so worktrees and core.hooksPath work) that runs `session-bridge guard check`. `guard_check` lists the staged paths and
returns those exclusively leased by another live session; the caller's own leases never block it. An existing
pre-commit hook the bridge did not write is refused unless chained: then it is renamed to
`pre-commit.before-session-bridge`, runs first (its failure fails the commit), and `guard_uninstall` puts it back.
Leases are advisory: nothing stops a write, and `git commit --no-verify` skips the guard.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bridge import layout, message, sessions, validate
from bridge.errors import BridgeError
from bridge.sessions import Session

LEASE_CAP = 64 * 1024  # a lease file is a few hundred bytes
PATH_MAX = 4096
REASON_MAX = 500
MAX_TTL_S = 366 * 24 * 3600
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION = re.compile(r"(?:\d{1,9}[smhd])+")
LIVE = ("active", "idle")

HOOK = "pre-commit"
CHAINED = "pre-commit.before-session-bridge"  # a foreign pre-commit hook the guard runs first (install --chain)
MARK = "# session-bridge guard v1"  # the line that says we wrote a hook (uninstall removes only such a file)


@dataclass
class Lease:
    """One lease as stored, with its holder's session (None when that session is gone) and whether it is live."""

    path: str
    session: str
    exclusive: bool
    reason: str | None
    created: str
    expires: str | None
    file: Path
    holder: Session | None = None
    live: bool = False

    def covers(self, path: str) -> bool:
        """True when `path` is the leased path or under it (a directory lease covers its contents)."""
        return path == self.path or path.startswith(self.path.rstrip("/") + "/")

    def overlaps(self, path: str) -> bool:
        """True when this lease and a lease on `path` would cover a common path."""
        return self.covers(path) or self.path.startswith(path.rstrip("/") + "/")

    def record(self) -> dict:
        """The JSON written to the store."""
        return {"path": self.path, "session": self.session, "exclusive": self.exclusive, "reason": self.reason,
                "created": self.created, "expires": self.expires}

    def holder_text(self) -> str:
        """`session <id> (<project>, <label>, <role@room>)`, or the bare id when its session is gone."""
        return f"session {self.holder.describe()}" if self.holder else f"session {self.session}"

    def conflict_text(self, path: str) -> str:
        """One line: `path` is leased by whom, how, why and until when."""
        how = "exclusively" if self.exclusive else "(shared)"
        where = ("" if path == self.path else f" (inside the leased {self.path})" if self.covers(path)
                 else f" (it contains the leased {self.path})")
        why = f": {self.reason!r}" if self.reason else " (no reason given)"
        until = f", until {self.expires}" if self.expires else ""
        return f"{path}{where} is leased {how} by {self.holder_text()}{why}{until}"


class LeaseConflict(BridgeError):
    """Another live session holds a lease that conflicts with the one asked for."""


# --- input -------------------------------------------------------------------------------------------------------


def parse_duration(text: object) -> int:
    """Seconds for a TTL like 90s, 30m, 2h, 1d or 1h30m (at most a year), else a BridgeError."""
    if isinstance(text, str) and DURATION.fullmatch(text.strip().lower()):
        seconds = sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", text.strip().lower()))
        if 0 < seconds <= MAX_TTL_S:
            return seconds
    raise BridgeError(f"invalid duration {text!r}: use a positive number and a unit (s, m, h, d), e.g. 90s, 30m, "
                      "2h or 1h30m, at most 366d")


def resolve(raw: object, base: str | Path | None = None) -> str:
    """`raw` as an absolute path with links and `..` resolved (relative to `base`, default the working directory).
    Refused: empty, not text, over 4096 characters, or with a control character (NUL, newline)."""
    if not isinstance(raw, str) or not raw.strip():
        raise BridgeError("empty path: name the file or directory to lease, e.g. src/auth.py")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise BridgeError(f"path {raw!r} contains a control character (NUL, newline, tab, ...); name a real file "
                          "or directory")
    if len(raw) > PATH_MAX:
        raise BridgeError(f"path of {len(raw)} characters is over the {PATH_MAX}-character limit; name a shorter one")
    full = os.path.realpath(os.path.join(base if base is not None else os.getcwd(), os.path.expanduser(raw)))
    return full


def _reason(reason: object) -> str | None:
    if reason is None or (isinstance(reason, str) and not reason.strip()):
        return None
    if not isinstance(reason, str) or any(ord(c) < 32 or ord(c) == 127 for c in reason):
        raise BridgeError("the reason must be one line of text without control characters, e.g. 'refactoring auth'")
    if len(reason) > REASON_MAX:
        raise BridgeError(f"the reason is {len(reason)} characters, over the {REASON_MAX}-character limit; shorten it")
    return reason.strip()


# --- the store ---------------------------------------------------------------------------------------------------


def leases_dir(root: Path, create: bool = True) -> Path:
    """$BRIDGE_DIR/leases (created 0700 unless create=False)."""
    d = root / layout.LEASES
    if create:
        layout.make_dirs(d)
        layout.check_private(d)
    return d


def _file(root: Path, path: str, sid: str) -> Path:
    return root / layout.LEASES / f"{hashlib.sha256(path.encode('utf-8', 'surrogateescape')).hexdigest()}.{sid}.json"


def _parse(data: object, file: Path) -> Lease | None:
    """A stored lease, or None for anything that is not one (gc removes those)."""
    if not isinstance(data, dict):
        return None
    path, sid, expires, reason = data.get("path"), data.get("session"), data.get("expires"), data.get("reason")
    if not (isinstance(path, str) and path.startswith("/") and validate.is_session_id(sid)
            and isinstance(data.get("exclusive"), bool) and (reason is None or isinstance(reason, str))
            and (expires is None or message.parse_iso(expires) is not None)):
        return None
    if file.name != _file(file.parent.parent, path, sid).name:
        return None  # a file whose name does not match its content
    return Lease(path, sid, data["exclusive"], reason, str(data.get("created") or ""), expires, file)


def _read_all(root: Path, now: float | None = None) -> tuple[list[Lease], list[Path]]:
    """(every stored lease with holder and liveness filled in, files that are not leases)."""
    d = root / layout.LEASES
    try:
        names = sorted(os.listdir(d))
    except FileNotFoundError:
        return [], []
    now = time.time() if now is None else now
    found, junk, holders = [], [], {}
    for name in names:
        if not name.endswith(".json"):
            continue  # temp files in flight
        f = d / name
        try:
            lease = _parse(layout.read_json(f, LEASE_CAP), f)
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            lease = None
        if lease is None:
            junk.append(f)
            continue
        if lease.session not in holders:
            holders[lease.session] = sessions.load(root, lease.session)
        lease.holder = holders[lease.session]
        lease.live = (lease.holder is not None and lease.holder.liveness in LIVE
                      and (lease.expires is None or (message.parse_iso(lease.expires) or 0) > now))
        found.append(lease)
    return found, junk


def live(root: Path) -> list[Lease]:
    """Every live lease, by path then holder."""
    return sorted((x for x in _read_all(root)[0] if x.live), key=lambda x: (x.path, x.session))


def _remove_dead(leases: list[Lease], junk: list[Path]) -> int:
    dead = [x.file for x in leases if not x.live] + junk
    for f in dead:
        layout.unlink_quietly(f)
    return len(dead)


def take(session: Session, paths: list[str], *, exclusive: bool = False, ttl: str | None = None,
         reason: str | None = None, base: str | Path | None = None) -> list[Lease]:
    """Lease `paths` for `session` (shared unless exclusive; for `ttl` if given, e.g. "30m"), replacing the session's
    own lease on each. LeaseConflict names the first holder in the way (and how many more); nothing is taken then."""
    if not paths:
        raise BridgeError("name at least one file or directory to lease, e.g. src/auth.py")
    wanted = list(dict.fromkeys(resolve(p, base) for p in paths))
    seconds = None if ttl is None else parse_duration(ttl)
    why = _reason(reason)
    root = session.root
    d = leases_dir(root)
    with layout.dir_lock(d):
        now = time.time()
        stored, junk = _read_all(root, now)
        _remove_dead(stored, junk)
        clashes = [(p, x) for p in wanted for x in stored
                   if x.live and x.session != session.id and x.overlaps(p) and (exclusive or x.exclusive)]
        if clashes:
            path, lease = clashes[0]
            more = f" (and {len(clashes) - 1} more conflict(s))" if len(clashes) > 1 else ""
            raise LeaseConflict(f"cannot lease: {lease.conflict_text(path)}{more}; wait for its release or ask that "
                                "session")
        created = message.now_iso()
        expires = None if seconds is None else datetime.fromtimestamp(now + seconds, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        taken = []
        for p in wanted:
            lease = Lease(p, session.id, exclusive, why, created, expires, _file(root, p, session.id), session, True)
            layout.atomic_write(lease.file, layout.dumps(lease.record()))
            taken.append(lease)
    return taken


def release(session: Session, paths: list[str] | None = None, base: str | Path | None = None) -> list[str]:
    """Release the session's leases on `paths` (default: all of them, expired ones included); the released paths.
    Naming a path the session holds no lease on is an error, and then nothing is released."""
    root = session.root
    d = leases_dir(root)
    with layout.dir_lock(d):
        mine = [x for x in _read_all(root)[0] if x.session == session.id]
        if paths is None:
            chosen = mine
        else:
            wanted = list(dict.fromkeys(resolve(p, base) for p in paths))
            held = {x.path: x for x in mine}
            missing = [p for p in wanted if p not in held]
            if missing:
                yours = ", ".join(sorted(held)) if held else "none"
                raise BridgeError(f"this session holds no lease on {missing[0]}"
                                  + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                                  + f"; nothing released. Its leases: {yours}")
            chosen = [held[p] for p in wanted]
        for x in chosen:
            layout.unlink_quietly(x.file)
    return sorted(x.path for x in chosen)


def prune(root: Path) -> int:
    """Remove dead leases (session gone or stopped, TTL passed) and files that are not leases; how many (gc).
    Never waits long: a taker holding the lock prunes as it goes."""
    d = root / layout.LEASES
    if not d.is_dir():
        return 0
    try:
        with layout.dir_lock(d, timeout=2):
            return _remove_dead(*_read_all(root))
    except (layout.Busy, FileNotFoundError):
        return 0


def blocking(root: Path, paths: list[str], me: Session | None) -> list[tuple[str, Lease]]:
    """(path, lease) for each of `paths` (absolute) under a live exclusive lease of a session other than `me`."""
    leases = [x for x in live(root) if x.exclusive and (me is None or x.session != me.id)]
    return [(p, x) for p in paths for x in leases if x.covers(p)]


# --- the git pre-commit guard ------------------------------------------------------------------------------------


def _git(cwd: str | Path | None, *args: str) -> bytes:
    try:
        r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=30)
    except FileNotFoundError:
        raise BridgeError("git is not installed or not on PATH; the guard needs git") from None
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        raise BridgeError(f"git {' '.join(args)} failed: {err[-1] if err else 'exit ' + str(r.returncode)}; run "
                          "this inside a git repository")
    return r.stdout


def hooks_dir(cwd: str | Path | None = None) -> Path:
    """The current repository's hooks directory as git resolves it (worktrees, core.hooksPath)."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    out = _git(base, "rev-parse", "--git-path", "hooks").decode().strip()
    return (base / out).absolute()


def _ours(hook: Path) -> bool:
    try:
        return MARK in layout.read_bytes(hook, 1 << 20).decode("utf-8", "replace").splitlines()
    except (OSError, UnicodeDecodeError):
        return False


def hook_script(command: list[str]) -> str:
    """The pre-commit hook: run a chained hook first, then `<command> guard check`; if the command has disappeared,
    warn and allow the commit (the guard is advisory)."""
    exe = shlex.quote(command[0])
    run = " ".join(shlex.quote(c) for c in command)
    return f"""#!/bin/sh
{MARK}
# Refuses a commit touching a path another live bridge session leased exclusively (see: session-bridge leases).
# Written by `session-bridge guard install`; `session-bridge guard uninstall` removes it. Skip once: --no-verify.
chained="$(dirname "$0")/{CHAINED}"
if [ -x "$chained" ]; then "$chained" "$@" || exit $?; fi
if [ -x {exe} ]; then exec {run} guard check; fi
echo "session-bridge guard: "{exe}" is gone, commit allowed; reinstall with: session-bridge guard install" >&2
exit 0
"""


def _write_executable(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o755)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except OSError as e:
        layout.unlink_quietly(tmp)
        raise BridgeError(f"cannot write {path}: {e.strerror}; check the permissions of the hooks directory") from e


def guard_install(command: list[str], *, chain: bool = False, cwd: str | Path | None = None) -> dict:
    """Write the pre-commit hook running `command` (argv of session-bridge) + `guard check`; rewrites our own hook.
    A foreign pre-commit hook is refused unless `chain`: then it is kept as pre-commit.before-session-bridge and run
    first. {hook, chained, command}."""
    hooks = hooks_dir(cwd)
    hooks.mkdir(parents=True, exist_ok=True)
    hook, chained = hooks / HOOK, hooks / CHAINED
    if os.path.lexists(hook) and not _ours(hook):
        if not chain:
            raise BridgeError(f"{hook} exists and session-bridge did not write it; chain it (guard install --chain "
                              "runs it first, then the guard) or move it away")
        if os.path.lexists(chained):
            raise BridgeError(f"cannot chain: {chained} already exists; move it away first")
        os.rename(hook, chained)
    _write_executable(hook, hook_script(command))
    return {"hook": str(hook), "chained": str(chained) if os.path.lexists(chained) else None, "command": command}


def guard_uninstall(cwd: str | Path | None = None) -> dict:
    """Remove the hook guard_install wrote and put a chained hook back; a foreign hook is left alone (an error).
    {hook, removed, restored}."""
    hooks = hooks_dir(cwd)
    hook, chained = hooks / HOOK, hooks / CHAINED
    if not os.path.lexists(hook):
        return {"hook": str(hook), "removed": False, "restored": None}
    if not _ours(hook):
        raise BridgeError(f"{hook} was not written by session-bridge; left as it is (remove it yourself if you "
                          "mean to)")
    os.unlink(hook)
    restored = None
    if os.path.lexists(chained):
        os.rename(chained, hook)
        restored = str(hook)
    return {"hook": str(hook), "removed": True, "restored": restored}


def staged_paths(cwd: str | Path | None = None) -> list[str]:
    """The absolute resolved paths a commit would touch (both sides of a rename)."""
    top = _git(cwd, "rev-parse", "--show-toplevel").decode().rstrip("\n")
    names = _git(cwd, "diff", "--cached", "--name-only", "--no-renames", "-z").split(b"\0")
    return [os.path.realpath(os.path.join(top, os.fsdecode(n))) for n in names if n]


def guard_check(root: Path, me: Session | None, cwd: str | Path | None = None) -> list[tuple[str, Lease]]:
    """(staged path, lease) for each staged path another live session leased exclusively; empty: commit allowed."""
    return blocking(root, staged_paths(cwd), me)
