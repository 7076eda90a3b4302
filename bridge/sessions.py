"""Sessions: manifests, who the caller is, liveness, naming peers, and garbage collection.

A manifest keeps the reference plugin's keys (sessionId, projectName, projectPath, startedAt, lastHeartbeat, status,
capabilities) and adds ours: pid + pidStartedAt of the host agent process, host, label, agentSessionId, version,
connections, room and role. A session with a pid is alive exactly while that process lives; one without (written by
the reference) is judged by its heartbeat: stale after 5 minutes, removable after 30. A *seat* (manifest "seat": true)
is a role's session that auto-mode keeps for it while no agent holds it: it is "idle", never gone, and gc keeps it.

Rooms and roles: a room is a name sessions share; in it each role (backend, web, infra) is held by one session, found
by `role_session`. A peer is named by id, label or project name as before, or by role: `web` within the caller's room,
`web@shop` across rooms; `*` (or `*@shop`) names every other session of the room (`recipients`).

Concurrency: start's find-or-create holds $BRIDGE_DIR/.locks/registry.lock (one session per project and host, a
label held by one live session); every manifest change is a read-modify-write under the flock of the session's
directory itself, which can never recreate a stopped session. Removal is one rename to sessions/.ended-<sid>-<hex>; gc finishes what a killed stop or
start left behind.
"""

from __future__ import annotations

import os
import stat
import string
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator

from bridge import __version__, identity, layout, message, validate
from bridge.errors import BridgeError, Next, NoSession, PeerNotFound
from bridge.mailbox import Mailbox

STALE_S = 5 * 60
REMOVABLE_S = 30 * 60
PROXY_STALE_S = 90  # a proxy of a remote session (bridge/remote.py): its machine re-announces it every 15 s
HEARTBEAT_EVERY_S = 30  # refresh on use at most this often; reference peers judge us by it
TEMP_MAX_AGE_S = 60 * 60
ORPHAN_AGE_S = 60  # a session dir without a manifest this old is a killed start, not one in progress
CAPABILITIES = ["query", "context-dump", "conversation"]
SUMMARY_CHARS = 300  # a session's one-line summary (what it works on), as peers see it


@dataclass
class Session:
    """A session: its bridge root and manifest (a snapshot; load() again for a fresh one)."""
    root: Path
    manifest: dict

    @property
    def id(self) -> str:
        """The session id."""
        return self.manifest["sessionId"]

    @property
    def dir(self) -> Path:
        """$BRIDGE_DIR/sessions/<id>."""
        return layout.session_dir(self.root, self.id)

    @cached_property
    def mailbox(self) -> Mailbox:
        """This session's inbox (one per Session object: it keeps its listing)."""
        return Mailbox(self.dir)

    @property
    def name(self) -> str:
        """What peers call it: the label, else the project name, else the id."""
        return self.manifest.get("label") or self.manifest.get("projectName") or self.id

    @property
    def liveness(self) -> str:
        """active, stale, idle (a seat) or gone (see liveness())."""
        return liveness(self.manifest)

    @property
    def summary(self) -> str | None:
        """The one line it says it works on (see summary_of), or None."""
        return summary_of(self.manifest)

    @property
    def room(self) -> str | None:
        """The room this session is in, if any."""
        room = self.manifest.get("room")
        return room if validate.is_name(room) else None

    @property
    def role(self) -> str | None:
        """The role it holds in its room, if any."""
        role = self.manifest.get("role")
        return role if self.room and validate.is_name(role) else None

    @property
    def machine(self) -> str | None:
        """The machine a proxy of a remote session stands for (bridge/remote.py); None for this machine's own."""
        m = self.manifest.get("machine")
        return m if self.manifest.get("remote") is True and validate.is_machine(m) else None

    @property
    def address(self) -> str | None:
        """`role@room`, how any session names this one by its role; None outside a room or without a role."""
        return f"{self.role}@{self.room}" if self.role else None

    def describe(self) -> str:
        """`<id> (<project>, <label>, <role@room>)` for messages."""
        label = self.manifest.get("label")
        project = self.manifest.get("projectName", "?")
        extra = [x for x in (label if label != project else None, self.address,
                             f"on {self.machine}" if self.machine else None) if x]
        return f"{self.id} ({', '.join([project, *extra])})"


# --- manifests ---------------------------------------------------------------------------------------------------


def load(root: Path, sid: str) -> Session | None:
    """The session `sid`, or None if it has no readable manifest (missing, not a regular file, too big, not JSON,
    or naming another session): one broken session never breaks the commands that list them all."""
    try:
        data = layout.read_json(layout.session_dir(root, sid) / layout.MANIFEST)
    except (OSError, ValueError, BridgeError):  # NotAFile is an OSError; orjson.JSONDecodeError a ValueError
        return None
    if not isinstance(data, dict) or data.get("sessionId") != sid:
        return None
    return Session(root, data)


def all_sessions(root: Path) -> list[Session]:
    """Every session with a readable manifest, by id."""
    out = []
    for sid in sorted(os.listdir(layout.sessions_dir(root))):
        if validate.is_session_id(sid):
            s = load(root, sid)
            if s is not None:
                out.append(s)
    return out


def others(root: Path) -> list[Session]:
    """Every session but the caller's own (what `peers` lists)."""
    mine = current(root)
    return [s for s in all_sessions(root) if mine is None or s.id != mine.id]


def modify(session: Session, fn: Callable[[dict], None]) -> Session:
    """Read-modify-write the manifest under the session's lock: fn mutates the manifest as it is on disk now, so
    concurrent writers never undo each other's changes. session.manifest becomes the result.
    NoSession if the session was stopped (its manifest is gone); a stopped session is never recreated."""
    with _session_lock(session):
        data = _fresh_manifest(session)
        fn(data)
        layout.atomic_write(session.dir / layout.MANIFEST, layout.dumps(data), durable=False)
    session.manifest = data
    return session


def update(session: Session, **changes: object) -> Session:
    """Set manifest keys (see modify)."""
    return modify(session, lambda m: m.update(changes))


def _stopped(session: Session) -> NoSession:
    return NoSession(f"session {session.id} was stopped", Next("start", "start one again with"))


@contextmanager
def _session_lock(session: Session) -> Iterator[None]:
    """Hold the flock of the session's directory itself: a lock file would make filelock recreate the dir of a
    session a stop just moved away; a dir that is gone is a stopped session."""
    try:
        with layout.dir_lock(session.dir):
            if not (session.dir / layout.MANIFEST).exists():
                raise _stopped(session)
            yield
    except FileNotFoundError:
        raise _stopped(session) from None
    except layout.Busy:
        raise BridgeError(f"session {session.id} is locked by a process that does not let go; retry, or stop "
                          "that process") from None


def _fresh_manifest(session: Session) -> dict:
    """The manifest on disk, read under the session's lock. If it is there but unreadable (a hostile file), the
    caller's copy stands in: writing it back repairs the session rather than losing the change."""
    try:
        data = layout.read_json(session.dir / layout.MANIFEST)
    except FileNotFoundError:
        raise _stopped(session) from None
    except (OSError, ValueError):
        return dict(session.manifest)
    if not isinstance(data, dict) or data.get("sessionId") != session.id:
        return dict(session.manifest)
    return data


def index_project(session: Session) -> None:
    """Keep the session's projectPath as one line in .project: the hook launcher (scripts/hook), which reads no JSON,
    tells from it that a session cannot be the caller's."""
    path = session.manifest.get("projectPath")
    if isinstance(path, str) and path.startswith("/") and "\n" not in path:
        layout.atomic_write(session.dir / layout.PROJECT_INDEX, path.encode() + b"\n", durable=False)


def set_background(session: Session, on: bool) -> Session:
    """Turn background listening on or off: the manifest's backgroundListen, mirrored by the flag file the hook
    launcher (scripts/hook) checks without starting Python."""
    session = update(session, backgroundListen=on)
    flag = session.dir / layout.BACKGROUND_FLAG
    if on:
        layout.atomic_write(flag, b"on\n", durable=False)
    else:
        layout.unlink_quietly(flag)
    return session


def touch(session: Session) -> None:
    """Refresh lastHeartbeat if it is older than HEARTBEAT_EVERY_S."""
    last = message.parse_iso(session.manifest.get("lastHeartbeat")) or 0
    if time.time() - last >= HEARTBEAT_EVERY_S:
        update(session, lastHeartbeat=message.now_iso())


def remember_peer(session: Session, peer_id: str) -> None:
    """Add peer_id to the session's connections. Appended to the list on disk under the lock, so several processes
    recording peers at once (a listener taking pings, senders) all keep theirs."""
    if peer_id in (session.manifest.get("connections") or []):
        return  # connections are only ever added: known here means known on disk

    def add(m: dict) -> None:
        peers = m.get("connections")
        peers = list(peers) if isinstance(peers, list) else []
        if peer_id not in peers:
            m["connections"] = [*peers, peer_id]

    modify(session, add)


# --- summaries ---------------------------------------------------------------------------------------------------


def summary_text(text: str) -> str:
    """A summary as stored: one line (whitespace runs become one space), at most SUMMARY_CHARS characters, not
    empty; else a BridgeError naming the fix."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not line:
        raise BridgeError("the summary is empty; say in one line what this session is working on, or clear it")
    if len(line) > SUMMARY_CHARS:
        raise BridgeError(f"the summary is {len(line)} characters, over the {SUMMARY_CHARS}-character limit; "
                          f"say it in one shorter line")
    return line


def set_summary(session: Session, text: str | None) -> str | None:
    """Set (or with None clear) the one line a session says it works on: manifest key `summary`, shown to peers."""
    value = None if text is None else summary_text(text)

    def apply(m: dict) -> None:
        if value is None:
            m.pop("summary", None)
        else:
            m["summary"] = value

    modify(session, apply)
    return value


def summary_of(manifest: dict) -> str | None:
    """A manifest's summary if it is a valid one (a peer may have written anything), cut to SUMMARY_CHARS."""
    value = manifest.get("summary")
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(value.split())[:SUMMARY_CHARS]


# --- liveness ----------------------------------------------------------------------------------------------------


def liveness(manifest: dict, now: float | None = None) -> str:
    """'active', 'stale', 'idle' or 'gone'. A host pid decides when present; else the heartbeat's age. A seat
    whose agent is not running is 'idle': its messages wait for auto-mode to spawn one (never 'gone')."""
    pid = manifest.get("pid")
    if isinstance(pid, int):
        state = "active" if identity.process_alive(pid, manifest.get("pidStartedAt")) else "gone"
    elif manifest.get("seat") is True:
        state = "idle"
    else:
        age = (now or time.time()) - (message.parse_iso(manifest.get("lastHeartbeat")) or 0)
        stale_s = PROXY_STALE_S if manifest.get("remote") is True else STALE_S
        state = "active" if age <= stale_s else "stale" if age <= REMOVABLE_S else "gone"
    return "idle" if state == "gone" and manifest.get("seat") is True else state


def removable(manifest: dict, now: float | None = None) -> bool:
    """Gone, and silent for 30 minutes (a resumed agent may still come back for its session before that). A seat
    is never removable: auto-mode keeps it for its role."""
    age = (now or time.time()) - (message.parse_iso(manifest.get("lastHeartbeat")) or 0)
    return manifest.get("seat") is not True and liveness(manifest, now) == "gone" and age > REMOVABLE_S


def _owned_by_other(manifest: dict) -> bool:
    """True when a different, live process holds this session and keeps it from the caller: another agent in the same
    repo. A session held by a plain process (a shell that ran `session-bridge start`) goes to an agent that asks."""
    pid = manifest.get("pid")
    if not isinstance(pid, int):
        return False
    h = identity.agent_process()
    if h is not None and pid == h.pid:
        return False
    if not identity.process_alive(pid, manifest.get("pidStartedAt")):
        return False
    return not (h is not None and h.kind and manifest.get("host") not in identity.AGENTS.values())


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
    h = identity.agent_process()
    if h is not None:
        ours = [
            s for s in sessions
            if s.manifest.get("pid") == h.pid and _within(project, s.manifest.get("projectPath"))
            and identity.process_alive(h.pid, s.manifest.get("pidStartedAt"))
        ]
        if ours:
            return max(ours, key=lambda s: len(s.manifest["projectPath"]))
    for d in (project, *project.parents):
        sid = _read_pointer(d)
        if sid is None:
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
    """The caller's session, or NoSession whose next step is start."""
    s = current(root)
    if s is None:
        raise NoSession(f"no bridge session for {identity.project_dir()}", Next("start", "start one with"))
    return s


def team_env() -> tuple[str | None, str | None]:
    """(room, role) from the environment: BRIDGE_ROOM / BRIDGE_ROLE, with BRIDGE_PROJECT as the room's alias (the
    name another bridge uses, so its users' launch aliases keep working)."""
    room = os.environ.get("BRIDGE_ROOM") or os.environ.get("BRIDGE_PROJECT") or None
    return room, os.environ.get("BRIDGE_ROLE") or None


def register(root: Path, label: str | None = None, room: str | None = None,
             role: str | None = None) -> tuple[Session, bool]:
    """Start (or resume) the caller's session; returns (session, created). `room` and `role` (default: team_env())
    put it in a room holding a role; a role's existing session (a seat, or one its agent left) is taken over with
    its waiting messages.

    The whole find-or-create runs under the registry lock, so concurrent starts agree: one session per project and
    host agent process, a label held by at most one live session, and a role by one session per room."""
    if label is not None:
        validate.label(label)
    env_room, env_role = team_env()
    room, role = room or env_room, role or env_role
    validate.team(room, role)
    project = identity.project_dir()
    with registry_lock(root):
        session, created = _find_or_create(root, project, label, room, role)
        _write_pointer(project, session.id)
        index_project(session)
    _export_env(session.id)
    return session, created


@contextmanager
def registry_lock(root: Path) -> Iterator[None]:
    """(For every find-or-create of a session.) Hold $BRIDGE_DIR/.locks/registry.lock (flock: a killed holder releases it)."""
    layout.make_dirs(root / layout.LOCKS)  # ourselves, 0700: filelock would create it with the umask's mode
    lock = layout.lock(root / layout.LOCKS / layout.REGISTRY_LOCK)
    try:
        lock.acquire()
    except TimeoutError:  # filelock.Timeout
        raise BridgeError(f"another start holds {lock.lock_file} and does not finish; retry, or stop that process") \
            from None
    try:
        yield
    finally:
        lock.release()


def _find_or_create(root: Path, project: Path, label: str | None, room: str | None = None,
                    role: str | None = None) -> tuple[Session, bool]:
    """The caller's session, resumed (and relabelled), else a new one. Call under the registry lock."""
    existing = current(root)
    if role is not None:
        holder = role_session(root, room, role, local=True)
        if holder is not None and (existing is None or holder.id != existing.id):
            if _owned_by_other(holder.manifest) and holder.liveness == "active":
                raise BridgeError(f"role {role}@{room} is held by live session {holder.describe()}; pick another "
                                  "--role, or stop that session first")
            existing = holder  # take the role's session over: its inbox, its seat, its briefing
    if label is not None:
        _check_label_free(root, label, existing.id if existing else None)
    h = identity.agent_process()
    owner = {"pid": h.pid, "pidStartedAt": h.started, "host": identity.agent_kind()} if h else {}
    extra: dict = {"agentSessionId": identity.agent_session_id()} if identity.agent_session_id() else {}
    if identity.tmux_pane():
        extra["tmux"] = identity.tmux_pane()  # where a tmux notifier pushes (bridge/drivers/tmux.py)
    if room is not None:
        extra.update(room=room, role=role, projectName=project.name or str(project), projectPath=str(project))
        if role is None:
            extra["role"] = None
    if existing is not None:
        try:
            return _resume(existing, label, owner, extra), False
        except NoSession:
            pass  # a stop removed it since we found it: start afresh
    return create(root, project, label, {**owner, **extra}), True


def _resume(session: Session, label: str | None, owner: dict, extra: dict) -> Session:
    """Mark a found session active again; our host takes it over unless another live agent holds it."""
    def apply(m: dict) -> None:
        m.update(lastHeartbeat=message.now_iso(), status="active", **extra)
        if owner and not _owned_by_other(m):
            m.update(owner)
        if label is not None:
            m["label"] = label

    return modify(session, apply)


def hosted_here(root: Path, project: Path, label: str, host: str) -> Session:
    """The session of `project` labelled `label`, hosted by this very process (not the agent above it): resumed if
    it exists, else created. For a front-end that is itself a peer (the dashboard's `human`), whatever the
    environment it was launched from says about the caller."""
    validate.label(label)
    me = identity.this_process()
    owner = {"pid": me.pid, "pidStartedAt": me.started, "host": host, "status": "active",
             "lastHeartbeat": message.now_iso()}
    with registry_lock(root):
        _check_label_free(root, label, None if (found := _labelled(root, project, label)) is None else found.id)
        if found is not None:
            try:
                return modify(found, lambda m: m.update(owner))
            except NoSession:
                pass  # stopped meanwhile: start afresh
        return create(root, project, label, owner)


def _labelled(root: Path, project: Path, label: str) -> Session | None:
    same = [s for s in all_sessions(root) if s.manifest.get("projectPath") == str(project)
            and s.manifest.get("label") == label]
    return max(same, key=lambda s: s.manifest.get("startedAt", "")) if same else None


def _export_env(sid: str) -> None:
    """Append BRIDGE_SESSION_ID to CLAUDE_ENV_FILE when the host gave one (the agent's later shells read it)."""
    env_file = os.environ.get("CLAUDE_ENV_FILE")
    if env_file:
        with open(env_file, "a") as f:
            f.write(f"export BRIDGE_SESSION_ID={sid}\n")


def create(root: Path, project: Path, label: str | None, extra: dict) -> Session:
    """A new session for `project` with manifest keys `extra`: mint an id, make its dir, write the manifest last (a
    dir without one is a start in progress). Call under the registry lock (auto-mode's seats come through here)."""
    import secrets  # here, not at the top: only a start mints ids (a hook on every prompt never does)

    alphabet = string.ascii_lowercase + string.digits
    for _ in range(100):
        sid = "".join(secrets.choice(alphabet) for _ in range(6))
        sdir = layout.session_dir(root, sid)
        try:
            os.mkdir(sdir, layout.DIR_MODE)
            break
        except FileExistsError:
            continue
    else:
        raise BridgeError("could not mint a free session id", Next("gc", "clean up with"))
    os.chmod(sdir, layout.DIR_MODE)  # mkdir's mode is masked by the umask
    layout.make_session_dirs(sdir)
    layout.crash_point("create")
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
    layout.atomic_write(sdir / layout.MANIFEST, layout.dumps(manifest))
    return Session(root, manifest)


def _read_pointer(project: Path) -> str | None:
    """The session id in <project>/.claude/bridge-session, or None if it is missing or not a small regular file."""
    try:
        return layout.read_text(layout.pointer_path(project)).strip()
    except (OSError, UnicodeDecodeError):
        return None


def _write_pointer(project: Path, sid: str) -> None:
    """Point the project at the session (the reference plugin finds it there)."""
    pointer = layout.pointer_path(project)
    if _read_pointer(project) == sid:
        return
    try:
        layout.make_dirs(pointer.parent)  # a .claude we create is 0700: others must not plant hooks in it
        layout.atomic_write(pointer, sid.encode(), durable=False)
    except (OSError, BridgeError):
        pass  # a read-only project still gets a working session through the host identity


def _check_label_free(root: Path, label: str, own_id: str | None) -> None:
    """BridgeError if another live session holds the label. Call under the registry lock."""
    for s in all_sessions(root):
        if s.id != own_id and s.manifest.get("label") == label and s.liveness != "gone":
            raise BridgeError(f"label {label!r} is taken by live session {s.describe()}; pick another with --label")


# --- naming peers ------------------------------------------------------------------------------------------------


BROADCAST = "*"


def is_broadcast(name: str) -> bool:
    """True for '*' and '*@room': a name for every other session of a room rather than one session."""
    return name.partition("@")[0] == BROADCAST


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 128 or "/" in name or "\0" in name or ".." in name:
        raise PeerNotFound(f"invalid peer name {name!r}: give a session id, label, project name, role or role@room")
    return name


def role_session(root: Path, room: str | None, role: str, local: bool = False) -> Session | None:
    """The session that holds `role` in `room`: a live one first, of this machine before a proxy of another's (a
    remote machine must not take a role over from a live local holder by announcing a newer one), else the newest (a
    seat, or one its agent left). `local`: this machine's sessions only (to take over or seat)."""
    if room is None:
        return None
    holders = [s for s in all_sessions(root) if s.room == room and s.role == role and not (local and s.machine)]
    holders.sort(key=lambda s: (s.liveness in ("active", "idle"), s.machine is None, s.manifest.get("startedAt", "")))
    return holders[-1] if holders else None


def seat(root: Path, room: str, role: str, cwd: str | None = None) -> Session:
    """role@room's session, created as a seat (kept for auto-mode while no agent holds it, projectPath `cwd`) if
    the role has none; an existing one is marked a seat. Its inbox is where the role's messages wait between runs."""
    validate.room(room)
    validate.role(role)
    with registry_lock(root):
        holder = role_session(root, room, role, local=True)
        if holder is None:
            project = Path(cwd) if cwd else Path.home()
            return create(root, project, None, {"room": room, "role": role, "seat": True, "host": "spawn"})
    return update(holder, seat=True)


def members(root: Path, room: str) -> list[Session]:
    """Every session in `room` that is not gone (an idle seat counts), by role then id."""
    return sorted((s for s in all_sessions(root) if s.room == room and s.liveness != "gone"),
                  key=lambda s: (s.role or "", s.id))


def rooms(root: Path) -> dict[str, list[Session]]:
    """Every room with at least one session that is not gone: {room: members}."""
    out: dict[str, list[Session]] = {}
    for s in all_sessions(root):
        if s.room and s.liveness != "gone":
            out.setdefault(s.room, []).append(s)
    return {r: sorted(ms, key=lambda s: (s.role or "", s.id)) for r, ms in sorted(out.items())}


def recipients(root: Path, name: str, me: Session | None) -> list[Session]:
    """Who a message to `name` goes to: `*` every other session of the caller's room (`*@room`: of that room), one
    copy each; any other name the one session find_peer names."""
    _check_name(name)
    _, at, room = name.partition("@")
    if not is_broadcast(name):
        return [find_peer(root, name, me)]
    if at and not room:
        raise PeerNotFound("'*@' names no room; send to '*' (your room) or '*@ROOM'")
    if not room:
        if me is None or me.room is None:
            raise PeerNotFound("'*' sends to your room, and this session is in none; start with --room R, or "
                               "name a room: '*@R'")
        room = me.room
    validate.room(room)
    out = [s for s in members(root, room) if me is None or s.id != me.id]
    if not out:
        raise PeerNotFound(f"nobody else is in room {room!r}", Next("peers", "see who is live with"))
    return out


def find_peer(root: Path, name: str, me: Session | None) -> Session:
    """A session by id, `label@machine` (a peer on another machine), `role@room`, role in the caller's room, label,
    project name or unique id prefix; the error lists the live ones."""
    _check_name(name)
    others = [s for s in all_sessions(root) if me is None or s.id != me.id]
    if validate.is_session_id(name):
        exact = load(root, name)
        if exact is not None and (me is None or exact.id != me.id):
            return exact
    if "@" in name:
        role, _, room = name.partition("@")
        named = validate.is_name(room) and validate.is_name(role)
        local = role_session(root, room, role, local=True) if named else None
        if local is not None and (local.liveness not in ("active", "idle") or (me is not None and local.id == me.id)):
            local = None
        remote = [s for s in others if s.machine == room and role in (s.id, s.manifest.get("label"),
                                                                       s.manifest.get("projectName"))]
        rival = [s for s in remote if s.liveness != "gone"]
        if local is not None and rival:  # a machine named like a room: neither may take the other's messages
            raise PeerNotFound(f"{name!r} names both {local.describe()} here and {rival[0].describe()}; name one "
                               "by its id", Next("peers", "see"))
        if local is not None:
            return local
        if remote:  # a label reused on that machine: its live, newest session
            return max(remote, key=lambda s: (s.liveness != "gone", s.manifest.get("startedAt", "")))
        holder = role_session(root, validate.room(room), validate.role(role))
        if holder is None or (me is not None and holder.id == me.id):
            held = ", ".join(s.address for s in members(root, room) if s.address) or "none"
            raise PeerNotFound(f"no session holds role {name!r}; roles in {room}: {held}", Next("peers", "see"))
        return holder
    if me is not None and me.room and validate.is_name(name):
        holder = role_session(root, me.room, name)
        if holder is not None and holder.id != me.id:
            return holder
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
    raise PeerNotFound(f"no session named {name!r}; live sessions: {listing}", Next("peers", "see"))


# --- cleanup -----------------------------------------------------------------------------------------------------


def remove(session: Session) -> None:
    """Remove a session. One rename takes its dir out of sessions/ (from then on it does not exist for anyone, and
    no send can write into it); the rest is cleanup that gc finishes if this process dies midway."""
    ended = layout.sessions_dir(session.root) / f"{layout.ENDED_PREFIX}{session.id}-{os.urandom(4).hex()}"
    try:
        os.rename(session.dir, ended)
    except FileNotFoundError:
        return  # someone else removed it first
    layout.crash_point("renamed")
    _finish_removal(session.root, ended, session.id, session.manifest)


def _finish_removal(root: Path, ended: Path, sid: str, manifest: dict | None) -> None:
    """Clear the pointer, tell senders their unread messages are undeliverable, delete the files."""
    project = (manifest or {}).get("projectPath")
    if isinstance(project, str) and os.path.isabs(project):
        _clear_pointer(root, Path(project), sid)
    layout.crash_point("pointer")
    from bridge import index  # only stop and gc remove: one-shot commands stay light

    index.absorb(root, ended)  # its messages outlive it in the history (best effort: never fails the removal)
    try:
        Mailbox(ended).abandon()
    except (OSError, BridgeError):
        pass  # a half-deleted mailbox or a sender gone too: tell what can be told, and finish the removal anyway
    _delete_tree(ended)


def _clear_pointer(root: Path, project: Path, sid: str) -> None:
    """Remove the project's pointer if it still names sid. Under the registry lock, so a start that just pointed the
    project at a new session keeps its pointer."""
    try:
        with registry_lock(root):
            if _read_pointer(project) == sid:
                os.unlink(layout.pointer_path(project))
    except (OSError, BridgeError):
        pass  # a pointer to a missing session is harmless: current() skips it


def _delete_tree(path: Path) -> None:
    """rmtree, the inbox first (most of the files): a crash in between leaves an .ended-* dir for gc to finish."""
    import shutil  # here, not at the top: only stop and gc delete (see create)

    shutil.rmtree(path / layout.INBOX, ignore_errors=True)
    layout.crash_point("rmtree")
    shutil.rmtree(path, ignore_errors=True)


def gc(root: Path) -> dict:
    """Remove sessions gone for 30 minutes, finish removals a crash interrupted, put back messages of dead readers,
    delete abandoned temp files."""
    now = time.time()
    report = {"removed": [], "redelivered": 0, "temp_files_removed": 0,
              "ended_removed": _finish_ended(root), "orphans_removed": _remove_orphans(root, now)}
    for s in all_sessions(root):
        if removable(s.manifest, now):
            remove(s)
            report["removed"].append(s.id)
            continue
        try:
            report["redelivered"] += s.mailbox.recover()
            report["temp_files_removed"] += _remove_old_temps(s, now)
        except OSError:
            continue  # stopped meanwhile
    from bridge import artifacts, index, leases  # here: each of them imports this module

    report["leases_removed"] = leases.prune(root)  # leases of sessions that are gone, and expired ones
    report["artifacts_removed"] = artifacts.gc(root)  # old artifacts no message names any more
    report["pruned"] = index.prune(root)  # history older than BRIDGE_HISTORY_DAYS
    return report


def _finish_ended(root: Path) -> list[str]:
    """Finish the removals a killed stop left as sessions/.ended-* (any age: nobody can use them)."""
    done = []
    for e in os.scandir(layout.sessions_dir(root)):
        if not e.name.startswith(layout.ENDED_PREFIX) or not e.is_dir(follow_symlinks=False):
            continue
        sid = e.name[len(layout.ENDED_PREFIX):].rsplit("-", 1)[0]
        try:
            manifest = layout.read_json(Path(e.path) / layout.MANIFEST)
        except (OSError, ValueError):
            manifest = None
        ok = isinstance(manifest, dict) and manifest.get("sessionId") == sid
        _finish_removal(root, Path(e.path), sid, manifest if ok else None)
        done.append(sid)
    return done


def _remove_orphans(root: Path, now: float) -> list[str]:
    """Remove session dirs with no readable manifest, older than ORPHAN_AGE_S (a killed start). Younger ones and
    ones whose manifest was just written are left: a start (ours or the reference's) may be filling them in. Under
    the registry lock, so no start of ours is halfway through creating one."""
    removed = []
    try:
        with registry_lock(root):
            for sid in sorted(os.listdir(layout.sessions_dir(root))):
                if validate.is_session_id(sid) and _is_old_orphan(root, sid, now):
                    remove(Session(root, {"sessionId": sid}))
                    removed.append(sid)
    except BridgeError:
        pass  # the registry is busy: the next gc does it
    return removed


def _is_old_orphan(root: Path, sid: str, now: float) -> bool:
    """A real dir (not a link) under sessions/ without a readable manifest, untouched for ORPHAN_AGE_S."""
    sdir = layout.session_dir(root, sid)
    try:
        st = os.lstat(sdir)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or load(root, sid) is not None:
        return False
    newest = st.st_mtime
    try:
        newest = max(newest, os.lstat(sdir / layout.MANIFEST).st_mtime)
    except OSError:
        pass
    return now - newest > ORPHAN_AGE_S


def _remove_old_temps(s: Session, now: float) -> int:
    """Delete temp and link files a killed writer left, once they are TEMP_MAX_AGE_S old."""
    count = 0
    box = s.mailbox
    for d in (box.inbox, box.read_dir, box.claimed_dir, box.noticed_dir, s.dir / layout.OUTBOX, s.dir):
        for e in os.scandir(d):
            if e.name.startswith(layout.TEMP_PREFIXES):
                try:
                    if now - e.stat(follow_symlinks=False).st_mtime > TEMP_MAX_AGE_S:
                        os.unlink(e.path)
                        count += 1
                except FileNotFoundError:
                    pass
    return count


# --- agent sessions (hooks) --------------------------------------------------------------------------------------


def bind(root: Path, agent_session_id: str | None = None) -> Session | None:
    """Attach the calling agent session (its host process and id) to the project's bridge session, if it has one
    that no other live agent holds. Never creates a session; exports BRIDGE_SESSION_ID to CLAUDE_ENV_FILE."""
    session = current(root)
    if session is None or _owned_by_other(session.manifest):
        return None
    h = identity.agent_process()
    changes: dict = {"lastHeartbeat": message.now_iso(), "status": "active"}
    if h is not None:
        changes.update(pid=h.pid, pidStartedAt=h.started, host=identity.agent_kind())
    agent = agent_session_id or identity.agent_session_id()
    if agent:
        changes["agentSessionId"] = agent
    if identity.tmux_pane():
        changes["tmux"] = identity.tmux_pane()
    held_by_other = False

    def attach(m: dict) -> None:
        nonlocal held_by_other
        held_by_other = _owned_by_other(m)  # decided on the fresh manifest: two agents binding at once can't both win
        if not held_by_other:
            m.update(changes)

    try:
        modify(session, attach)
    except NoSession:
        return None  # stopped since we found it: nothing to attach to
    if held_by_other:
        return None
    _export_env(session.id)
    fresh = load(root, session.id) or session
    index_project(fresh)
    if fresh.manifest.get("backgroundListen"):
        set_background(fresh, True)  # the launcher's flag file, for a session turned on before it existed
    return fresh


def for_agent(root: Path, agent_session_id: str | None = None) -> Session | None:
    """The caller's session, only if the calling agent holds it (same host process, or same agent session id)."""
    session = current(root)
    if session is None:
        return None
    m = session.manifest
    h = identity.agent_process()
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
