"""The tmux driver: find the pane an agent runs in, read its screen, tell what it is doing, nudge it, answer its menus.

- `pane_for()` names a pane (auto-detected from $TMUX_PANE + $TMUX, or given) as a small record a manifest can keep.
- `read_peer()` is the pane's visible screen as plain text; `detect_question()` says whether the agent is `busy`,
  waiting on a `menu` (with its options), waiting for free `text`, `idle` at its input prompt, or `unknown`, with
  the screen lines it read that from.
- `push()` pastes a pointer prompt into the pane (bracketed paste, then Enter) only while the agent is idle, and at
  most once per cooldown per pane across processes. A push is a nudge, not a delivery (DESIGN.md "Delivery:
  noticed is not read"): the message is read when the agent takes it.
- `respond()` answers a menu or a text question: a choice by its number, literal text, or named keys.

Screens are recognized by tables of patterns, one per agent (`TABLES`, `Screens`, `Rule`): adding an agent is adding
a table. Every tmux call goes through libtmux's `Server.cmd`; text is never given to tmux where it could be read as
key names or commands (pushes go through a paste buffer loaded from a file; `respond` text uses `send-keys -l`).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Mapping, Sequence

from bridge import layout
from bridge.errors import BridgeError
from bridge.terminal import safe

if TYPE_CHECKING:
    from libtmux.server import Server

State = Literal["busy", "menu", "text", "idle", "unknown"]
PushStatus = Literal["pushed", "busy", "cooldown", "no-pane", "refused"]
RespondStatus = Literal["sent", "refused", "no-pane"]

DEFAULT_COOLDOWN_S = 30.0
PUSH_CAP = 8192  # characters after escaping: a pointer prompt is one line; anything this long is not one
LOCK_WAIT_S = 10.0  # how long a push waits for another process's push to the same pane to finish


class NoPane(BridgeError):
    """No usable tmux pane: not inside tmux, tmux missing, the pane or its server gone (or restarted)."""


# --- naming a pane -------------------------------------------------------------------------------------------------


_PANE_ID = re.compile(r"%\d{1,9}")


@dataclass(frozen=True)
class PaneRef:
    """A pane: its tmux server's socket path, its pane id (`%N`, stable for the pane's life), and the server's pid
    (a restarted server reuses pane ids: a pid that differs means the recorded pane is gone).
    `to_dict()` is what a manifest records; `PaneRef.from_dict()` reads it back."""

    socket: str
    pane: str
    server_pid: int | None = None

    def to_dict(self) -> dict:
        """{"socket": path, "pane": "%N", "server_pid": int | None}: JSON-serializable."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PaneRef:
        """The record `to_dict()` made (e.g. from a manifest). NoPane if it is not one."""
        sock, pane, pid = data.get("socket"), data.get("pane"), data.get("server_pid")
        if not (isinstance(sock, str) and sock.startswith("/") and "\0" not in sock and isinstance(pane, str)
                and _PANE_ID.fullmatch(pane) and (pid is None or (isinstance(pid, int) and pid > 0))):
            raise NoPane(f"not a tmux pane record: {safe(dict(data))}")
        return cls(sock, pane, pid)

    def __str__(self) -> str:
        return f"tmux pane {self.pane} ({self.socket})"


def _ref(pane: PaneRef | Mapping[str, object]) -> PaneRef:
    return pane if isinstance(pane, PaneRef) else PaneRef.from_dict(pane)


def _server(socket: str | None) -> Server:
    from libtmux.server import Server

    return Server(socket_path=socket) if socket else Server()


def _arg(text: str) -> str:
    """An argument tmux passes on as it is: tmux reads an argument ending in `;` as a command separator (and `\\;`
    as a literal `;`), so a trailing `;` is escaped."""
    return text[:-1] + "\\;" if text.endswith(";") else text


def _tmux(server: Server, *args: str) -> tuple[int, list[str], list[str]]:
    """Run one tmux command line (commands separated by ";" arguments): (exit code, stdout lines, stderr lines)."""
    from libtmux import exc

    try:
        r = server.cmd(*args)
    except exc.TmuxCommandNotFound:
        raise NoPane("tmux is not installed (no `tmux` on PATH)") from None
    return r.returncode, r.stdout, r.stderr


def pane_for(pane: str | None = None, *, socket: str | os.PathLike[str] | None = None,
             env: Mapping[str, str] | None = None, pid: int | None = None) -> PaneRef:
    """The pane an agent runs in, as a PaneRef to record (e.g. in the session's manifest).

    - `pane` given (`--pane`): a pane id (`%3`) or any tmux target (`work:1.0`), on the server at `socket`, else
      the one named by $TMUX of the environment, else tmux's default server.
    - `pane` not given: $TMUX_PANE and $TMUX of `env`, else of process `pid` (e.g. the agent's host process), else
      of this process (an agent's CLI, hooks and MCP server inherit them from the agent).

    Raises NoPane (not inside tmux, tmux missing, no such pane); the message says what to pass instead."""
    if env is None and pid is not None:
        env = _environ_of(pid)
    if env is None:
        env = os.environ
    tmux_var = env.get("TMUX", "")
    env_socket = tmux_var.rsplit(",", 2)[0] if tmux_var.count(",") >= 2 else None
    if pane is None:
        pane = env.get("TMUX_PANE", "")
        if not (_PANE_ID.fullmatch(pane) and env_socket):
            where = f"process {pid}" if pid is not None else "this process"
            raise NoPane(f"{where} does not run inside tmux ($TMUX_PANE/$TMUX not set); name the agent's pane "
                         "(a pane id like %3, or session:window.pane)")
    elif not pane or pane.startswith("-") or len(pane) > 200 or any(ord(c) < 0x20 for c in pane):
        raise NoPane(f"not a tmux pane or target: {safe(pane)!s}")
    sock = os.fspath(socket) if socket is not None else env_socket
    code, out, err = _tmux(_server(sock), "display-message", "-p", "-t", _arg(pane),
                           "#{socket_path}\t#{pane_id}\t#{pid}")
    fields = out[0].split("\t") if code == 0 and out else []
    if len(fields) != 3 or not _PANE_ID.fullmatch(fields[1]):
        raise NoPane(f"no tmux pane {safe(pane)} on {safe(sock or 'the default tmux server')}: "
                     f"{safe(' '.join(err)) or 'tmux found none'}")
    return PaneRef(fields[0], fields[1], int(fields[2]) if fields[2].isdigit() else None)


def _environ_of(pid: int) -> dict[str, str]:
    import psutil

    try:
        return psutil.Process(pid).environ()
    except (psutil.Error, OSError) as e:
        raise NoPane(f"cannot read the environment of process {pid}: {e}") from None


# --- reading the screen --------------------------------------------------------------------------------------------


_FIELDS = ("pane_id", "pid", "pane_pid", "cursor_x", "cursor_y", "pane_in_mode", "pane_dead", "pane_current_command")
_FORMAT = "\t".join("#{%s}" % f for f in _FIELDS)


@dataclass
class _Snapshot:
    ref: PaneRef
    lines: list[str]  # the visible screen, one string per row (trailing blanks trimmed by tmux)
    cursor_x: int
    cursor_y: int
    in_mode: bool
    dead: bool
    command: str  # the pane's foreground process (#{pane_current_command})
    pane_pid: int

    def before_cursor(self) -> str:
        """The cursor's row up to the cursor (padded with the blanks tmux trimmed)."""
        row = self.lines[self.cursor_y] if 0 <= self.cursor_y < len(self.lines) else ""
        out, width = [], 0
        for ch in row:
            w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 0 if unicodedata.combining(ch) else 1
            if width + w > self.cursor_x:
                break
            out.append(ch)
            width += w
        return "".join(out) + " " * (self.cursor_x - width)


def _snapshot(ref: PaneRef) -> _Snapshot:
    """The pane's facts and visible screen, in one tmux call."""
    code, out, err = _tmux(_server(ref.socket), "display-message", "-p", "-t", ref.pane, _FORMAT, ";",
                           "capture-pane", "-p", "-t", ref.pane)
    fields = out[0].split("\t", len(_FIELDS) - 1) if code == 0 and out else []
    if len(fields) != len(_FIELDS) or fields[0] != ref.pane:
        raise NoPane(f"{ref} is gone: {safe(' '.join(err)) or 'tmux did not find it'}")
    info = dict(zip(_FIELDS, fields))
    if ref.server_pid is not None and info["pid"] != str(ref.server_pid):
        raise NoPane(f"{ref} is gone: its tmux server restarted (pid {ref.server_pid}, now {safe(info['pid'])}); "
                     "record the agent's pane again")
    return _Snapshot(ref, out[1:], int(info["cursor_x"] or 0), int(info["cursor_y"] or 0),
                     info["pane_in_mode"] == "1", info["pane_dead"] == "1", info["pane_current_command"],
                     int(info["pane_pid"] or 0))


def read_peer(pane: PaneRef | Mapping[str, object], lines: int | None = None) -> str:
    """The pane's visible screen as plain text: no escape sequences (colours and cursor moves are gone), trailing
    blank rows dropped, the last `lines` rows if given. Control characters and bidi overrides are escaped, so the
    text is safe to print. Raises NoPane."""
    rows = _snapshot(_ref(pane)).lines
    while rows and not rows[-1].strip():
        rows.pop()
    if lines is not None:
        rows = rows[-lines:] if lines > 0 else []
    return "\n".join(safe(r) for r in rows)


# --- what the screen says: tables of patterns, one per agent ---------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One way a screen shows a state. It holds when every `screen` regex matches one of the last `tail` non-blank
    rows (0: any row), and `cursor`, if set, matches the cursor's row up to the cursor. `why` says what it means."""

    state: State
    screen: tuple[str, ...] = ()
    tail: int = 0
    cursor: str | None = None
    why: str = ""


@dataclass(frozen=True)
class Screens:
    """How one agent's screen reads: `rules` are tried in order and the first that holds gives the state.

    - `commands`: foreground process names (#{pane_current_command}) that mean this agent runs in the pane.
    - `by_screen`: also try this table when the foreground process is not one of `commands` (an agent started
      through node, a wrapper, ...).
    - `option`: regex of one menu option row, with groups `number`, `label` and optionally `cursor` (the
      highlighted one).
    - `bracketed_paste`: the agent turns bracketed paste on at its prompt, so a pasted newline or tab is text, not
      a key. Without it, push refuses text with newlines or tabs.
    - `choice_enter`: a menu takes a choice as the option's number and then Enter (else the number alone)."""

    agent: str
    commands: frozenset[str]
    rules: tuple[Rule, ...]
    option: str
    by_screen: bool = True
    bracketed_paste: bool = True
    choice_enter: bool = False


_RULE_LINE = r"^─{8,}\s*$"  # the rules above and below Claude Code's input box
# (Claude Code writes a no-break space after its ❯: `\s` matches both.)

CLAUDE_CODE = Screens(
    agent="claude-code",
    commands=frozenset({"claude"}),
    rules=(
        Rule("busy", (r"\besc to interrupt\b",), tail=3, why="the footer offers 'esc to interrupt': a turn runs"),
        Rule("busy", (r"^[·✢✳✶✻✽]\s\S+…(\s\(.*\))?\s*$",), tail=12,
             why="the spinner line ('<verb>…') shows a turn running"),
        Rule("text", cursor=r"^\s*❯\s\d{1,2}\.\s", why="the cursor is in a menu's text field: type the answer"),
        Rule("menu", (r"^\s*❯\s\d{1,2}\.\s+\S", r"\bEsc to cancel\b"), tail=24,
             why="a numbered menu with the ❯ cursor waits for a choice"),
        Rule("idle", (_RULE_LINE,), tail=8, cursor=r"^[❯>]\s$", why="the input box is empty and has the cursor"),
        Rule("idle", (_RULE_LINE, r"^[❯>]\s*$"), tail=8, why="the input box is empty"),
        # Claude Code 1.x and early 2.x: a rounded input box with a "> " prompt
        Rule("idle", (r"^╭─+╮\s*$",), tail=8, cursor=r"^│\s>\s$",
             why="the input box is empty and has the cursor"),
        Rule("text", (_RULE_LINE, r"^[❯>]\s\S"), tail=8, why="someone is typing a prompt in the input box"),
        Rule("text", (r"^╭─+╮\s*$", r"^│\s>\s\S"), tail=8, why="someone is typing a prompt in the input box"),
    ),
    option=r"^\s*(?P<cursor>❯)?\s*(?P<number>\d{1,2})\.\s+(?P<label>\S.*?)\s*$",
)

SHELLS = frozenset({"bash", "sh", "dash", "zsh", "fish", "ksh", "mksh", "ash", "tcsh", "csh", "yash", "nu"})

SHELL = Screens(
    agent="shell",
    commands=SHELLS,
    rules=(
        Rule("menu", (r"^\s*1\) \S",), tail=40, cursor=r"#\? $", why="a `select` menu waits for a number"),
        Rule("idle", cursor=r"[$#%>❯»] $", why="the cursor sits after the shell's prompt"),
        Rule("text", cursor=r"[$#%>❯»] \S", why="a command is being typed at the prompt"),
        Rule("text", cursor=r"\S[:?] ?$", why="a question on the cursor's row waits for an answer"),
    ),
    option=r"^\s*(?P<number>\d{1,3})\)\s+(?P<label>\S.*?)\s*$",
    by_screen=False,
    bracketed_paste=False,  # bash ≥ 5.1 turns it on, other shells and older bash do not: a newline would run
    choice_enter=True,
)

TABLES: dict[str, Screens] = {t.agent: t for t in (CLAUDE_CODE, SHELL)}


def register(table: Screens) -> None:
    """Add (or replace) an agent's table. Tables named by the pane's foreground process are tried first, then the
    others with `by_screen`, in registration order."""
    TABLES[table.agent] = table


@dataclass(frozen=True)
class Option:
    """One menu option: its number, its label, and whether the menu's cursor is on it."""
    number: int
    label: str
    selected: bool = False


@dataclass
class Detection:
    """What the pane shows: `state` (busy, menu, text, idle, unknown), the table (`agent`) that read it, the screen
    rows or facts it was read from (`evidence`, with `why`), and for a menu its `question` and `options`."""

    state: State
    agent: str | None
    evidence: list[str]
    why: str = ""
    question: str | None = None
    options: list[Option] = field(default_factory=list)
    command: str = ""  # the pane's foreground process

    def to_dict(self) -> dict:
        """JSON-serializable; the evidence rows are escaped for a terminal."""
        d = asdict(self)
        d["evidence"] = [safe(e) for e in self.evidence]
        d["question"] = safe(self.question) if self.question is not None else None
        d["options"] = [dict(o, label=safe(o["label"])) for o in d["options"]]
        d["command"] = safe(self.command)
        return d


def _options(rows: list[str], pattern: str) -> tuple[str | None, list[Option]]:
    """The bottom-most numbered run 1, 2, 3... of option rows, and the question: the row above option 1."""
    best: list[Option] = []
    question = None
    run: list[Option] = []
    run_question = None
    for i, row in enumerate(rows):
        m = re.match(pattern, row)
        if not m:
            continue
        n = int(m["number"])
        opt = Option(n, m["label"], bool(m.groupdict().get("cursor")))
        if n == 1:
            run = [opt]
            above = [r.strip() for r in rows[:i] if r.strip() and not re.match(r"^[─╌━═\s]+$", r)]
            run_question = above[-1] if above else None
        elif run and n == run[-1].number + 1:
            run.append(opt)
        else:
            continue
        best, question = run, run_question
    return question, list(best)


def _classify(snap: _Snapshot, table: Screens) -> Detection | None:
    rows = [r for r in snap.lines if r.strip()]
    before = snap.before_cursor()
    for rule in table.rules:
        region = rows[-rule.tail:] if rule.tail else rows
        evidence: list[str] = []
        for pattern in rule.screen:
            hit = next((r for r in reversed(region) if re.search(pattern, r)), None)
            if hit is None:
                break
            evidence.append(hit.strip())
        else:
            if rule.cursor is not None:
                if not re.search(rule.cursor, before):
                    continue
                evidence.append(f"cursor row up to the cursor: {before.strip()!r}")
            det = Detection(rule.state, table.agent, evidence, rule.why, command=snap.command)
            if rule.state in ("menu", "text"):
                det.question, det.options = _options(rows[-40:], table.option)
            return det
    return None


def _root_command(snap: _Snapshot) -> str:
    import psutil

    try:
        return psutil.Process(snap.pane_pid).name()
    except (psutil.Error, ValueError):
        return ""


def _detect(snap: _Snapshot, agent: str | None = None) -> Detection:
    if snap.dead:
        return Detection("unknown", None, ["the pane's program has exited"], "nothing runs in the pane",
                         command=snap.command)
    if snap.in_mode:
        return Detection("busy", None, ["the pane is in a tmux mode (copy mode: someone is scrolling it)"],
                         "keys would go to tmux, not the program", command=snap.command)
    if agent is not None:
        if agent not in TABLES:
            raise ValueError(f"no screen table for agent {agent!r}; known: {', '.join(TABLES)}")
        tables = [TABLES[agent]]
    else:
        named = [t for t in TABLES.values() if snap.command in t.commands]
        tables = named + [t for t in TABLES.values() if t.by_screen and t not in named]
    for table in tables:
        found = _classify(snap, table)
        if found is not None:
            return found
    if snap.command not in SHELLS and _root_command(snap) in SHELLS:
        return Detection("busy", None, [f"the pane's shell runs {snap.command!r} in the foreground"],
                         "a command is running", command=snap.command)
    return Detection("unknown", None, [f"no screen table recognizes what {snap.command!r} shows"],
                     command=snap.command)


def detect_question(pane: PaneRef | Mapping[str, object], agent: str | None = None) -> Detection:
    """What the agent in the pane is doing, read from its screen:
    `busy` (working: do not type), `menu` (waits for a choice: see `options`, answer with respond(choice=N)),
    `text` (waits for free text, or someone is typing: respond(text=...) answers a question), `idle` (at its input
    prompt: push() may nudge it), `unknown` (no table recognizes the screen).
    `agent` forces one table (a key of TABLES); else the pane's foreground process picks it, then every table that
    reads screens. Raises NoPane."""
    return _detect(_snapshot(_ref(pane)), agent)


# --- pushing a pointer prompt --------------------------------------------------------------------------------------


def sanitize(text: str) -> str:
    """The text a push pastes: line endings made `\\n`, every other control character (C0 but newline and tab, DEL,
    C1: ESC, ^C, ^D, NUL...) and bidi override shown as a visible escape (`\\x1b`), so nothing in it can act as a
    key, end the bracketed paste early or restyle the terminal."""
    return safe(text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass
class PushResult:
    """What push() did. `pushed` means the text was pasted and Enter sent, not that the agent read it.
    busy: the pane is not idle (see `detection`); cooldown: pushed to recently (`retry_after` seconds left) or
    another process is pushing now; no-pane: the pane or its server is gone; refused: the text cannot be pushed
    safely (see `detail`)."""

    status: PushStatus
    detail: str
    pane: PaneRef | None = None
    detection: Detection | None = None
    retry_after: float | None = None
    text: str | None = None  # what was pasted (escaped), when pushed

    def to_dict(self) -> dict:
        return {"status": self.status, "detail": safe(self.detail),
                "pane": self.pane.to_dict() if self.pane else None,
                "detection": self.detection.to_dict() if self.detection else None,
                "retry_after": self.retry_after, "text": self.text}


def _state_name(ref: PaneRef) -> str:
    return "tmux-" + hashlib.sha256(f"{ref.socket}\0{ref.pane}\0{ref.server_pid}".encode()).hexdigest()[:20]


def _last_push(path: Path) -> float | None:
    try:
        data = layout.read_json(path, cap=layout.SMALL_CAP)
    except (OSError, ValueError):
        return None
    at = data.get("at") if isinstance(data, dict) else None
    return float(at) if isinstance(at, (int, float)) else None


def _paste(ref: PaneRef, body: str, enter: bool, scratch: Path) -> tuple[int, list[str]]:
    """Load body into a uniquely named buffer (from a private file: no argument parsing touches it), paste it
    with bracketed paste (tmux adds the brackets when the program asked for them) deleting the buffer, then Enter:
    one tmux command line, so nothing interleaves."""
    name = f"session-bridge-{os.getpid()}-{os.urandom(6).hex()}"
    path = scratch / f".{name}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    server = _server(ref.socket)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body.encode())
        args = ["load-buffer", "-b", name, str(path), ";", "paste-buffer", "-p", "-d", "-b", name, "-t", ref.pane]
        if enter:
            args += [";", "send-keys", "-t", ref.pane, "Enter"]
        code, _, err = _tmux(server, *args)
    finally:
        layout.unlink_quietly(path)
    if code != 0:
        _tmux(server, "delete-buffer", "-b", name)  # if the paste never ran; an error here is moot
    return code, err


def push(pane: PaneRef | Mapping[str, object], text: str, *, state_dir: str | os.PathLike[str],
         cooldown: float = DEFAULT_COOLDOWN_S, agent: str | None = None, enter: bool = True) -> PushResult:
    """Paste `text` (a pointer prompt: "a message waits; take it with ...") into the agent's pane and press Enter,
    only if the pane shows the agent idle at its prompt and nothing was pushed to this pane in the last `cooldown`
    seconds (by any process sharing `state_dir`, where the per-pane state and lock live; created 0700).

    The text is escaped first (sanitize()): it arrives as typed text, never as keys. Multi-line text needs an agent
    whose table declares bracketed paste. Returns a PushResult; "pushed" is not "delivered". `agent` forces one
    screen table (see detect_question)."""
    try:
        ref = _ref(pane)
    except NoPane as e:
        return PushResult("no-pane", str(e))
    body = sanitize(text)
    if not body.strip():
        return PushResult("refused", "nothing to push: the text is empty", ref)
    if len(body) > PUSH_CAP:
        return PushResult("refused", f"the text is {len(body)} characters; a push takes at most {PUSH_CAP}: push a "
                                     "short pointer to the message instead of its body", ref)
    scratch = Path(state_dir).absolute()
    layout.make_dirs(scratch)
    state = scratch / f"{_state_name(ref)}.json"
    from filelock import Timeout

    lock = layout.lock(scratch / f"{_state_name(ref)}.lock", timeout=LOCK_WAIT_S)
    try:
        lock.acquire()
    except Timeout:
        return PushResult("cooldown", "another process is pushing to this pane", ref, retry_after=cooldown)
    try:
        last = _last_push(state)
        now = time.time()
        if last is not None and 0 <= now - last < cooldown:
            left = round(cooldown - (now - last), 3)
            return PushResult("cooldown", f"pushed to this pane {now - last:.1f}s ago (cooldown {cooldown:g}s)", ref,
                              retry_after=left)
        try:
            snap = _snapshot(ref)
        except NoPane as e:
            return PushResult("no-pane", str(e), ref)
        det = _detect(snap, agent)
        if det.state != "idle":
            return PushResult("busy", f"the pane is not at its input prompt ({det.state}: {det.why or 'see evidence'})",
                              ref, det)
        table = TABLES[det.agent] if det.agent in TABLES else None
        if (table is None or not table.bracketed_paste) and ("\n" in body or "\t" in body):
            return PushResult("refused", f"{det.agent or 'this program'} does not take bracketed paste: a newline or "
                                         "tab would act as a key; push one line without tabs", ref, det)
        code, err = _paste(ref, body, enter, scratch)
        if code != 0:
            return PushResult("no-pane", f"tmux could not paste into {ref}: {safe(' '.join(err))}", ref, det)
        layout.atomic_write(state, layout.dumps({"at": now, "pane": ref.to_dict(), "pid": os.getpid()}),
                            durable=False)
        return PushResult("pushed", f"pasted {len(body)} characters and Enter into {ref} (not yet read)", ref, det,
                          text=body)
    finally:
        lock.release()


# --- answering a menu or a question --------------------------------------------------------------------------------


# Key names respond(keys=...) sends as keys; anything else is refused (text goes through respond(text=...)).
KEY_NAME = re.compile(r"(Enter|Escape|Tab|BTab|BSpace|Space|Up|Down|Left|Right|Home|End|PageUp|PageDown|PPage|NPage"
                      r"|DC|IC|F[1-9]|F1[0-2]|[CM]-[a-z0-9])")


@dataclass
class RespondResult:
    """What respond() did: sent (the keys went to the pane; `changed` says whether the screen moved on from what was
    answered within `confirm` seconds), refused (`detail` says why; nothing was sent), no-pane."""

    status: RespondStatus
    detail: str
    detection: Detection | None = None
    sent: list[str] = field(default_factory=list)  # what went to tmux, as send-keys arguments
    changed: bool | None = None  # None: not checked

    def to_dict(self) -> dict:
        return {"status": self.status, "detail": safe(self.detail),
                "detection": self.detection.to_dict() if self.detection else None,
                "sent": [safe(s) for s in self.sent], "changed": self.changed}


def _question(det: Detection) -> tuple:
    return det.state, det.agent, det.question, tuple(det.options)


def _settled(ref: PaneRef, agent: str | None, settle: float) -> tuple[_Snapshot, Detection]:
    """The pane once its menu or question has stayed the same for `settle` seconds (Claude Code drops keys that
    reach a permission prompt in its first moments); other states at once."""
    snap = _snapshot(ref)
    det = _detect(snap, agent)
    since = time.monotonic()
    deadline = since + settle + 10
    while det.state in ("menu", "text") and time.monotonic() - since < settle and time.monotonic() < deadline:
        time.sleep(0.05)
        snap = _snapshot(ref)
        now = _detect(snap, agent)
        if _question(now) != _question(det):
            since = time.monotonic()
        det = now
    return snap, det


def respond(pane: PaneRef | Mapping[str, object], *, choice: int | None = None, text: str | None = None,
            keys: Sequence[str] = (), enter: bool | None = None, agent: str | None = None, force: bool = False,
            settle: float = 0.5, confirm: float = 3.0) -> RespondResult:
    """Answer what the agent in the pane asks; give exactly one of:

    - `choice=N`: pick option N of the menu on screen (detect_question(...).options); refused unless the pane
      shows a menu with that option. Claude Code takes the digit alone; a shell `select` the digit and Enter.
    - `text="..."`: type one line literally (never read as key names; control characters escaped), then Enter
      (`enter=False` to leave it unsent); refused unless the pane waits for text.
    - `keys=["Down", "Enter"]`: named keys (Enter, Escape, Tab, BTab, BSpace, Space, arrows, Home, End, PageUp,
      PageDown, F1-F12, C-x, M-x); refused unless the pane shows a menu or waits for text.

    A menu or question must have stayed unchanged on screen for `settle` seconds before keys go (an agent may
    ignore keys on a prompt that has just appeared). After sending, waits up to `confirm` seconds for the screen to
    move on and reports it in `changed` (never resends). `force=True` skips the state checks (e.g. Escape to
    interrupt a busy agent). Returns a RespondResult."""
    if (choice is not None) + (text is not None) + bool(keys) != 1:
        raise ValueError("give exactly one of choice, text or keys")
    body = safe(text) if text is not None else ""
    if "\n" in body:
        return RespondResult("refused", "respond types one line; push() pastes several")
    bad = [k for k in keys if not KEY_NAME.fullmatch(k)]
    if bad:
        return RespondResult("refused", f"not key names: {bad}; send text with text=")
    try:
        ref = _ref(pane)
        snap, det = _settled(ref, agent, settle)
    except NoPane as e:
        return RespondResult("no-pane", str(e))
    table = TABLES.get(det.agent or "")
    batches: list[list[str]] = []
    if choice is not None:
        if not force and det.state != "menu":
            return RespondResult("refused", f"the pane shows no menu ({det.state})", det)
        numbers = [o.number for o in det.options]
        if not force and choice not in numbers:
            return RespondResult("refused", f"the menu has no option {choice} (options: {numbers})", det)
        batches.append(["-l", "--", str(int(choice))])
        if (table.choice_enter if table else False) if enter is None else enter:
            batches.append(["Enter"])
    elif text is not None:
        if not force and det.state != "text":
            return RespondResult("refused", f"the pane does not wait for text ({det.state})", det)
        if body:
            batches.append(["-l", "--", _arg(body)])
        if enter is not False:
            batches.append(["Enter"])
    else:
        if not force and det.state not in ("menu", "text"):
            return RespondResult("refused", f"the pane shows no menu or question ({det.state})", det)
        batches.append(list(keys))
    args: list[str] = []
    for batch in batches:
        args += [*([";"] if args else []), "send-keys", "-t", ref.pane, *batch]
    code, _, err = _tmux(_server(ref.socket), *args)
    if code != 0:
        return RespondResult("no-pane", f"tmux could not send to {ref}: {safe(' '.join(err))}", det)
    sent = [a for b in batches for a in b]
    changed = None
    if confirm > 0:
        deadline = time.monotonic() + confirm
        changed = False
        while not changed and time.monotonic() < deadline:
            try:
                changed = _snapshot(ref).lines != snap.lines
            except NoPane:
                changed = True  # the program ended: it moved on
            if not changed:
                time.sleep(0.05)
    return RespondResult("sent", f"sent to {ref}" + ("" if changed is None else
                                                      " and the screen changed" if changed else
                                                      f"; the screen did not change within {confirm:g}s"),
                         det, sent, changed)
