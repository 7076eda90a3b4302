"""Sessions: manifests, who the caller is, liveness, naming peers, and garbage collection.

A manifest keeps the reference plugin's keys (sessionId, projectName, projectPath, startedAt, lastHeartbeat, status,
capabilities) and adds ours: pid + pidStartedAt of the host agent process, host, label, agentSessionId, version,
connections. A session with a pid is alive exactly while that process lives; one without (written by the reference)
is judged by its heartbeat: stale after 5 minutes, removable after 30.
"""

from __future__ import annotations

import os
import secrets
import shutil
import string
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import orjson
from filelock import FileLock

from bridge import __version__, identity, layout, message, validate
from bridge.errors import BridgeError, NoSession, PeerNotFound
from bridge.store import Mailbox

STALE_S = 5 * 60
REMOVABLE_S = 30 * 60
HEARTBEAT_EVERY_S = 30  # refresh on use at most this often; reference peers judge us by it
TEMP_MAX_AGE_S = 60 * 60
CAPABILITIES = ["query", "context-dump", "conversation"]


@dataclass
class Session:
    root: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.manifest["sessionId"]

    @property
    def dir(self) -> Path:
        return layout.session_dir(self.root, self.id)

    @cached_property
    def mailbox(self) -> Mailbox:
        return Mailbox(self.dir)

    @property
    def name(self) -> str:
        return self.manifest.get("label") or self.manifest.get("projectName") or self.id

    @property
    def liveness(self) -> str:
        return liveness(self.manifest)

    def describe(self) -> str:
        label = self.manifest.get("label")
        project = self.manifest.get("projectName", "?")
        return f"{self.id} ({project}{', ' + label if label and label != project else ''})"


# --- manifests ---------------------------------------------------------------------------------------------------


def load(root: Path, sid: str) -> Session | None:
    try:
        data = layout.read_json(layout.session_dir(root, sid) / "manifest.json")
    except (OSError, orjson.JSONDecodeError, BridgeError):
        return None
    if not isinstance(data, dict) or data.get("sessionId") != sid:
        return None
    return Session(root, data)


def all_sessions(root: Path) -> list[Session]:
    out = []
    for sid in sorted(os.listdir(layout.sessions_dir(root))):
        if validate.is_session_id(sid):
            s = load(root, sid)
            if s is not None:
                out.append(s)
    return out


def update(session: Session, **changes: object) -> Session:
    """Change manifest keys under the session's lock (read, modify, rename)."""
    with FileLock(session.dir / ".lock", timeout=10):
        fresh = load(session.root, session.id)
        data = fresh.manifest if fresh else session.manifest
        data.update(changes)
        layout.atomic_write(session.dir / "manifest.json", layout.dumps(data), durable=False)
    session.manifest = data
    return session


def touch(session: Session) -> None:
    """Refresh lastHeartbeat if it is older than HEARTBEAT_EVERY_S."""
    last = message.parse_iso(session.manifest.get("lastHeartbeat")) or 0
    if time.time() - last >= HEARTBEAT_EVERY_S:
        update(session, lastHeartbeat=message.now_iso())


def remember_peer(session: Session, peer_id: str) -> None:
    peers = session.manifest.get("connections") or []
    if peer_id not in peers:
        update(session, connections=[*peers, peer_id])


# --- liveness ----------------------------------------------------------------------------------------------------


def liveness(manifest: dict, now: float | None = None) -> str:
    """'active', 'stale' or 'gone'. A host pid decides when present; else the heartbeat's age."""
    pid = manifest.get("pid")
    if isinstance(pid, int):
        return "active" if identity.process_alive(pid, manifest.get("pidStartedAt")) else "gone"
    age = (now or time.time()) - (message.parse_iso(manifest.get("lastHeartbeat")) or 0)
    return "active" if age <= STALE_S else "stale" if age <= REMOVABLE_S else "gone"


def removable(manifest: dict, now: float | None = None) -> bool:
    """Gone, and silent for 30 minutes (a resumed agent may still come back for its session before that)."""
    age = (now or time.time()) - (message.parse_iso(manifest.get("lastHeartbeat")) or 0)
    return liveness(manifest, now) == "gone" and age > REMOVABLE_S


def _owned_by_other(manifest: dict) -> bool:
    """True when a different, live process hosts this session (another agent in the same repo)."""
    pid = manifest.get("pid")
    if not isinstance(pid, int):
        return False
    h = identity.host()
    if h is not None and pid == h.pid:
        return False
    return identity.process_alive(pid, manifest.get("pidStartedAt"))


# --- who is calling ----------------------------------------------------------------------------------------------


def _within(project: Path, path: object) -> bool:
    if not isinstance(path, str) or not path:
        return False
    base = Path(path)
    return project == base or base in project.parents


def current(root: Path) -> Session | None:
    """The caller's session: BRIDGE_SESSION_ID; else the one our host agent runs for this project; else the
    project's pointer file (here or in a parent directory); else a manifest for this project or a parent."""
    env = os.environ.get("BRIDGE_SESSION_ID")
    if env and validate.is_session_id(env):
        s = load(root, env)
        if s is not None:
            return s
    project = identity.project_dir()
    sessions = all_sessions(root)
    h = identity.host()
    if h is not None:
        ours = [
            s for s in sessions
            if s.manifest.get("pid") == h.pid and _within(project, s.manifest.get("projectPath"))
            and identity.process_alive(h.pid, s.manifest.get("pidStartedAt"))
        ]
        if ours:
            return max(ours, key=lambda s: len(s.manifest["projectPath"]))
    for d in (project, *project.parents):
        try:
            sid = layout.pointer_path(d).read_text().strip()
        except OSError:
            continue
        s = load(root, sid) if validate.is_session_id(sid) else None
        if s is not None and not _owned_by_other(s.manifest):
            return s
    candidates = [
        s for s in sessions
        if _within(project, s.manifest.get("projectPath")) and not _owned_by_other(s.manifest)
        and s.liveness != "gone"
    ]
    if candidates:
        return max(candidates, key=lambda s: (len(s.manifest["projectPath"]), s.manifest.get("startedAt", "")))
    return None


def require_current(root: Path) -> Session:
    s = current(root)
    if s is None:
        raise NoSession(f"no bridge session for {identity.project_dir()}; start one with: session-bridge start")
    return s


def register(root: Path, label: str | None = None) -> tuple[Session, bool]:
    """Start (or resume) the caller's session; returns (session, created)."""
    if label is not None:
        validate.label(label)
    project = identity.project_dir()
    h = identity.host()
    existing = current(root)
    if label is not None:
        _check_label_free(root, label, existing.id if existing else None)
    owner = {"pid": h.pid, "pidStartedAt": h.started, "host": identity.host_kind()} if h else {}
    extra = {"agentSessionId": identity.agent_session_id()} if identity.agent_session_id() else {}
    if existing is not None:
        changes = {"lastHeartbeat": message.now_iso(), "status": "active", **extra}
        if h is not None and not _owned_by_other(existing.manifest):
            changes.update(owner)
        if label is not None:
            changes["label"] = label
        session = update(existing, **changes)
        created = False
    else:
        session = _create(root, project, label, {**owner, **extra})
        created = True
    _write_pointer(project, session.id)
    env_file = os.environ.get("CLAUDE_ENV_FILE")
    if env_file:
        with open(env_file, "a") as f:
            f.write(f"export BRIDGE_SESSION_ID={session.id}\n")
    return session, created


def _create(root: Path, project: Path, label: str | None, extra: dict) -> Session:
    alphabet = string.ascii_lowercase + string.digits
    for _ in range(100):
        sid = "".join(secrets.choice(alphabet) for _ in range(6))
        sdir = layout.session_dir(root, sid)
        try:
            sdir.mkdir(mode=layout.DIR_MODE)
            break
        except FileExistsError:
            continue
    else:
        raise BridgeError("could not mint a free session id; run session-bridge gc")
    layout.make_session_dirs(sdir)
    now = message.now_iso()
    manifest = {
        "sessionId": sid,
        "projectName": project.name or str(project),
        "projectPath": str(project),
        "startedAt": now,
        "lastHeartbeat": now,
        "status": "active",
        "capabilities": CAPABILITIES,
        **({"label": label} if label else {}),
        **extra,
        "version": __version__,
        "connections": [],
    }
    layout.atomic_write(sdir / "manifest.json", layout.dumps(manifest))
    return Session(root, manifest)


def _write_pointer(project: Path, sid: str) -> None:
    pointer = layout.pointer_path(project)
    try:
        if pointer.read_text() == sid:
            return
    except OSError:
        pass
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        layout.atomic_write(pointer, sid.encode(), durable=False)
    except (OSError, BridgeError):
        pass  # a read-only project still gets a working session through the host identity


def _check_label_free(root: Path, label: str, own_id: str | None) -> None:
    for s in all_sessions(root):
        if s.id != own_id and s.manifest.get("label") == label and s.liveness != "gone":
            raise BridgeError(f"label {label!r} is taken by live session {s.describe()}; pick another with --label")


# --- naming peers ------------------------------------------------------------------------------------------------


def find_peer(root: Path, name: str, me: Session | None) -> Session:
    """A session by id, label, project name or unique id prefix; the error lists the live ones."""
    if not isinstance(name, str) or not name or len(name) > 128 or "/" in name or "\0" in name or ".." in name:
        raise PeerNotFound(f"invalid peer name {name!r}: give a session id, label or project name")
    others = [s for s in all_sessions(root) if me is None or s.id != me.id]
    if validate.is_session_id(name):
        exact = load(root, name)
        if exact is not None and (me is None or exact.id != me.id):
            return exact
    live = [s for s in others if s.liveness != "gone"]
    for matches in (
        [s for s in live if s.manifest.get("label") == name],
        [s for s in live if s.manifest.get("projectName") == name],
        [s for s in others if len(name) >= 2 and s.id.startswith(name)],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listing = ", ".join(s.describe() for s in matches)
            raise PeerNotFound(f"{name!r} matches several sessions: {listing}; name one by its id")
    listing = ", ".join(s.describe() for s in live) or "none"
    raise PeerNotFound(f"no session named {name!r}; live sessions: {listing}; see: session-bridge peers")


# --- cleanup -----------------------------------------------------------------------------------------------------


def remove(session: Session) -> None:
    shutil.rmtree(session.dir, ignore_errors=True)
    project = session.manifest.get("projectPath")
    if isinstance(project, str) and os.path.isabs(project):
        pointer = layout.pointer_path(Path(project))
        try:
            if pointer.read_text().strip() == session.id:
                pointer.unlink()
        except OSError:
            pass


def gc(root: Path) -> dict:
    """Remove sessions gone for 30 minutes, put back messages of dead readers, delete abandoned temp files."""
    removed, redelivered, temps = [], 0, 0
    now = time.time()
    for s in all_sessions(root):
        if removable(s.manifest, now):
            remove(s)
            removed.append(s.id)
            continue
        box = s.mailbox
        try:
            redelivered += box.recover()
        except OSError:
            continue
        for d in (box.inbox, box.read_dir, s.dir / "outbox", s.dir):
            for e in os.scandir(d):
                if e.name.startswith((".tmp-", ".lnk-", ".adopt-")):
                    try:
                        if now - e.stat(follow_symlinks=False).st_mtime > TEMP_MAX_AGE_S:
                            os.unlink(e.path)
                            temps += 1
                    except FileNotFoundError:
                        pass
    return {"removed": removed, "redelivered": redelivered, "tempFilesRemoved": temps}


# --- agent sessions (hooks) --------------------------------------------------------------------------------------


def bind(root: Path, agent_session_id: str | None = None) -> Session | None:
    """Attach the calling agent session (its host process and id) to the project's bridge session, if it has one
    that no other live agent holds. Never creates a session; exports BRIDGE_SESSION_ID to CLAUDE_ENV_FILE."""
    session = current(root)
    if session is None or _owned_by_other(session.manifest):
        return None
    h = identity.host()
    changes: dict = {"lastHeartbeat": message.now_iso(), "status": "active"}
    if h is not None:
        changes.update(pid=h.pid, pidStartedAt=h.started, host=identity.host_kind())
    agent = agent_session_id or identity.agent_session_id()
    if agent:
        changes["agentSessionId"] = agent
    session = update(session, **changes)
    env_file = os.environ.get("CLAUDE_ENV_FILE")
    if env_file:
        with open(env_file, "a") as f:
            f.write(f"export BRIDGE_SESSION_ID={session.id}\n")
    return session


def for_agent(root: Path, agent_session_id: str | None = None) -> Session | None:
    """The caller's session, only if the calling agent holds it (same host process, or same agent session id)."""
    session = current(root)
    if session is None:
        return None
    m = session.manifest
    h = identity.host()
    if h is not None and m.get("pid") == h.pid and identity.process_alive(h.pid, m.get("pidStartedAt")):
        return session
    agent = agent_session_id or identity.agent_session_id()
    return session if agent and m.get("agentSessionId") == agent else None


# --- long-running front-ends (the MCP server) --------------------------------------------------------------------


def wait_current(root: Path, timeout: float | None = None) -> Session | None:
    """The caller's session; if it has none yet, wait (kernel notifications on sessions/) until one starts.
    None if the timeout passes first."""
    from bridge.watch import watching

    watch = watching(layout.sessions_dir(root))
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        seen = watch.generation
        session = current(root)
        if session is not None:
            return session
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return None
        watch.wait(seen, remaining)
