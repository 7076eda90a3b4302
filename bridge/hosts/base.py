"""What every agent CLI module (a host) is made of: where things are, its config edits, its health check.

A host module (claude_code.py, codex.py, ...) defines one Host subclass: where its config lives and in what format,
what `init` writes (edits), its hooks, and its own MCP health check. Edits keep every other byte of the user's
file: JSON/JSONC through jsonc.py, TOML through tomlkit plus a text splice of our one table. A file is backed up
(`<file>.session-bridge.bak`) before it changes; `--dry-run` prints the diff and writes nothing.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import click
import orjson

from bridge.hosts import jsonc

NAME = "session-bridge"  # the server's name in every host config
HOOK_EVENT = "user-prompt-submit"  # bridge/hooks.py: pending messages as additionalContext (Claude-shaped JSON)
CURSOR_HOOK = "cursor-hook"  # bridge/hooks.py: pending messages as Cursor's stop-hook followup_message
# bridge/hooks.py: the no-auto-commit guard, one event per answer format (Claude-shaped: Claude Code, Codex, Qwen Code)
GUARD_EVENTS = ("pre-tool-use", "before-tool", "before-shell-execution", "copilot-pre-tool-use")
BACKUP_SUFFIX = ".session-bridge.bak"
CHECK_TIMEOUT_S = 60


class HostError(click.ClickException):
    """A problem with one host's config; the message names the fix."""


# --- where things are --------------------------------------------------------------------------------------------


@dataclass
class Where:
    """Where init writes: the user's home, the project, and the session-bridge command the hosts will start."""

    home: Path
    project: Path
    command: str  # absolute path of the session-bridge executable the hosts will start

    @classmethod
    def here(cls) -> "Where":
        """This user, this project, this session-bridge."""
        from bridge import identity

        return cls(Path.home(), identity.project_dir(), executable())

    @property
    def codex_home(self) -> Path:
        """$CODEX_HOME, else ~/.codex."""
        return Path(os.environ["CODEX_HOME"]) if os.environ.get("CODEX_HOME") else self.home / ".codex"

    @property
    def xdg_config(self) -> Path:
        """$XDG_CONFIG_HOME, else ~/.config."""
        return Path(os.environ["XDG_CONFIG_HOME"]) if os.environ.get("XDG_CONFIG_HOME") else self.home / ".config"

    def env(self) -> dict:
        """Environment the server needs from ours: a non-default BRIDGE_DIR, so every agent shares one bridge."""
        return {"BRIDGE_DIR": os.environ["BRIDGE_DIR"]} if os.environ.get("BRIDGE_DIR") else {}

    def hook_command(self) -> str:
        """The prompt hook's command line (Claude-shaped output, which Codex and Gemini CLI read too)."""
        return f"{quote(self.command)} hook {HOOK_EVENT}"

    def guard_command(self, event: str = "pre-tool-use") -> str:
        """The no-auto-commit guard's command line: `event` is one of GUARD_EVENTS, the host's answer format."""
        assert event in GUARD_EVENTS, event
        return f"{quote(self.command)} hook {event}"

    def server(self, **extra: object) -> dict:
        """The MCP server entry most hosts take: command, args, extra keys, then env if any."""
        env = self.env()
        return {"command": self.command, "args": ["mcp"], **extra, **({"env": env} if env else {})}


def executable() -> str:
    """The absolute path of this session-bridge command (the venv's console script, else the one on PATH)."""
    beside = Path(sys.executable).parent / "session-bridge"
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    for candidate in (argv0 if argv0 and argv0.name == "session-bridge" else None, beside,
                      shutil.which("session-bridge")):
        if candidate and os.access(candidate, os.X_OK):
            return str(Path(candidate).absolute())
    raise HostError("cannot find the session-bridge command to configure; install it with: pipx install session-bridge")


def quote(s: str) -> str:
    """s quoted for a shell command line."""
    return shlex.quote(s)

# --- edits -------------------------------------------------------------------------------------------------------


@dataclass
class Edit:
    """One file's change: its text before and after (None: absent), and what it adds."""

    path: Path
    before: str | None  # None: the file does not exist
    after: str | None  # None: remove the file (it held nothing but our entry)
    what: str

    @property
    def changes(self) -> bool:
        """True when the edit changes the file."""
        return self.before != self.after

    def diff(self) -> str:
        """The unified diff of the edit."""
        a = (self.before or "").splitlines(keepends=True)
        b = (self.after or "").splitlines(keepends=True)
        return "".join(difflib.unified_diff(a, b, str(self.path) if self.before is not None else "/dev/null",
                                            str(self.path) if self.after is not None else "/dev/null"))

    def apply(self) -> Path | None:
        """Write the change after backing up the old file; returns the backup's path."""
        backup = None
        if self.before is not None:
            backup = self.path.with_name(self.path.name + BACKUP_SUFFIX)
            shutil.copy2(self.path, backup)
        target = self.path.resolve() if self.path.is_symlink() else self.path  # a dotfiles link stays a link
        if self.after is None:
            target.unlink()
            return backup
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = target.stat().st_mode & 0o777 if self.before is not None else 0o644
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(self.after)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return backup


def read(path: Path) -> str | None:
    """A config file's text, None if it does not exist, a HostError naming the fix if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise HostError(f"cannot read {path}: {e}; fix or move the file, then run this again") from None


def json_edit(path: Path, install: bool, keys: list[str], entry: dict, what: str = "MCP server") -> Edit:
    """Add (or remove) our entry at keys + [NAME] of a JSON/JSONC file, keeping every other byte."""
    before = read(path)
    text = before or ""
    try:
        if install:
            after = jsonc.set_member(text, keys, NAME, entry)
        else:
            after = jsonc.remove_member(text, keys, NAME) if text.strip() else text
    except jsonc.JsoncError as e:
        raise HostError(f"{path} is not valid JSON ({e}); fix it, then run this again") from None
    return Edit(path, before, after if install else (after or None), what)


def hook_edit(path: Path, install: bool, keys: list[str], item: dict, *more: tuple[list[str], dict],
              what: str = "inbox hook") -> Edit:
    """Add (or remove) our hook item in the array at keys of a JSON/JSONC file, and each further (keys, item)."""
    before = read(path)
    return Edit(path, before, hooks_in(path, before or "", install, [(keys, item), *more]) or None, what)


def hooks_in(path: Path, text: str, install: bool, hooks: list[tuple[list[str], dict]]) -> str:
    """text with each (keys, item) hook added at (or removed from) the array at keys; a HostError if not JSON."""
    try:
        for keys, item in hooks:
            if install:
                text = jsonc.add_item(text, keys, item, is_ours)
            elif text.strip():
                text = jsonc.remove_items(text, keys, is_ours)
    except jsonc.JsoncError as e:
        raise HostError(f"{path} is not valid JSON ({e}); fix it, then run this again") from None
    return text


def settings_edit(path: Path, install: bool, entry: dict, *hooks: tuple[list[str], dict],
                  what: str = "MCP server and inbox hook") -> Edit:
    """Our MCP server (mcpServers) and our hooks (each item in the array at its keys) in one settings file, the
    hook edits applied on top of the server edit: Gemini CLI's and Qwen Code's settings.json."""
    mcp = json_edit(path, install, ["mcpServers"], entry)
    final = hooks_in(path, mcp.after or "", install, list(hooks))
    return Edit(path, mcp.before, final or None, what)


def toml_edit(path: Path, install: bool, entry: dict) -> Edit:
    """[mcp_servers.session-bridge] in Codex's config.toml: checked with tomlkit, our table spliced in or out."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    before = read(path)
    text = before or ""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as e:
        raise HostError(f"{path} is not valid TOML ({e}); fix it, then run this again") from None
    servers = doc.get("mcp_servers")
    current = servers.get(NAME) if servers is not None else None
    if install:
        if current is not None and current.unwrap() == entry:
            return Edit(path, before, before, "MCP server")
        if current is not None:
            servers[NAME] = entry
            return Edit(path, before, tomlkit.dumps(doc), "MCP server")
        block = tomlkit.dumps({"mcp_servers": {NAME: entry}})
        lead = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        return Edit(path, before, text + lead + block.replace("[mcp_servers]\n", "", 1), "MCP server")
    if current is None:
        return Edit(path, before, before, "MCP server")
    header = re.compile(r'^\[\s*mcp_servers\s*\.\s*("?)' + re.escape(NAME) + r'\1\s*(\]|\.)', re.M)
    m = header.search(text)
    after = None
    if m:
        end = re.compile(r"^\[", re.M)
        nxt = m.end()
        while (n := end.search(text, nxt)) and header.match(text, n.start()):
            nxt = n.end()
        n = end.search(text, nxt)
        stop = n.start() if n else len(text)
        start = m.start()
        if text[max(start - 2, 0):start] == "\n\n":
            start -= 1  # the blank line init put before our table
        candidate = text[:start] + text[stop:]
        if NAME not in (tomlkit.parse(candidate).get("mcp_servers") or {}):
            after = candidate
    if after is None:  # written some other way (inline table, dotted keys): let tomlkit remove it
        del servers[NAME]
        if not servers:
            del doc["mcp_servers"]
        after = tomlkit.dumps(doc)
    return Edit(path, before, after if after.strip() else None, "MCP server")


def is_ours(e: object) -> bool:
    """True for a hook entry init wrote (it runs our hook command: the inbox hook or the commit guard)."""
    text = orjson.dumps(e).decode()
    return NAME in text and (f"hook {HOOK_EVENT}" in text or f" {CURSOR_HOOK}" in text
                             or any(f"hook {event}" in text for event in GUARD_EVENTS))


def command_check(title: str, configs: list[Path]) -> Health:
    """For hosts without a health check of their own: does the configured command still exist?"""
    for path in configs:
        try:
            entry = (jsonc.loads(read(path) or "{}").get("mcpServers") or {}).get(NAME)
        except jsonc.JsoncError as e:
            return Health(False, f"{path} is not valid JSON: {e}")
        if isinstance(entry, dict):
            cmd = entry.get("command")
            if not isinstance(cmd, str) or not os.access(cmd, os.X_OK):
                return Health(False, f"{path} starts {cmd!r}, which is not an executable")
    return Health(None, f"the configured command exists; {title} has no MCP health check")


# --- the hosts ---------------------------------------------------------------------------------------------------


@dataclass
class Health:
    """A host's verdict on our server: ok True/False, or None when it has no check; detail says what it saw; fix,
    when the host knows it better than doctor's generic advice."""

    ok: bool | None  # None: the host has no health check, or it could not run
    detail: str
    fix: str = ""


@dataclass
class Host:
    """One agent CLI: its key (--provider), title, binaries, config scopes and what it gets from the bridge."""

    key: str
    title: str
    binaries: tuple[str, ...]
    scopes: tuple[str, ...]
    gets: str  # what the host gets, for the README and doctor
    extra_dirs: tuple[str, ...] = field(default_factory=tuple)  # home dirs that show it is installed
    # How an idle session of this agent is reached (doctor says it). Most have no wake primitive of their own.
    wake: str = ("no wake primitive: messages come with the next prompt or when the agent listens; in tmux, "
                 "session-bridge watch --driver tmux pushes a pointer")

    def installed(self, w: Where) -> str | None:
        """Where the CLI is (its binary on PATH, or its config folder), or None."""
        for b in self.binaries:
            path = shutil.which(b)
            if path:
                return path
        for d in self.extra_dirs:
            if (w.home / d).is_dir():
                return str(w.home / d)
        return None

    def check_scope(self, scope: str) -> None:
        """HostError unless this host reads MCP servers from that scope."""
        if scope not in self.scopes:
            raise HostError(f"{self.title} reads MCP servers only from its {self.scopes[0]} config; "
                            f"use --scope {self.scopes[0]}")

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        """The file edits that install (or remove) the bridge for this host in that scope."""
        raise NotImplementedError

    def configured(self, w: Where) -> list[str]:
        """The scopes whose config has our server."""
        found = []
        for scope in self.scopes:
            try:
                edits = self.edits(w, scope, install=False)
            except HostError:
                continue
            if any(e.changes and e.what.startswith("MCP server") for e in edits):
                found.append(scope)
        return found

    def apply(self, w: Where, scope: str, install: bool, edit: Edit) -> Path | None:
        """Make one edit (a host whose file belongs to the host itself overrides this); returns the backup."""
        return edit.apply()

    def health(self, w: Where) -> Health:
        """The host's own check that it can start our server (None: it has no such check)."""
        return Health(None, "no health check; the config points at " + w.command)


def run(args: list[str], w: Where, **env: str) -> subprocess.CompletedProcess:
    """Run a host's CLI in the project, with extra environment, no stdin, within CHECK_TIMEOUT_S."""
    return subprocess.run(args, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, cwd=w.project,
                          env=dict(os.environ, **env), stdin=subprocess.DEVNULL)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """A CLI's output without its colour codes (some print them even under NO_COLOR)."""
    return _ANSI.sub("", text)


def listed(args: list[str], w: Where, good: re.Pattern, **env: str) -> Health:
    """Run a host's own `mcp list` and read our server's line."""
    try:
        r = run(args, w, **env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Health(False, f"`{' '.join(args)}` did not finish: {e}")
    out = plain(r.stdout + r.stderr)
    lines = [ln.strip(" │┃|") for ln in out.splitlines()]
    for n, ln in enumerate(lines):
        if NAME in ln:
            line = ln if good.search(ln) or n + 1 >= len(lines) else ln + " " + lines[n + 1]
            if good.search(ln):
                return Health(True, ln.strip())
            return Health(False, line.strip())
    return Health(False, f"`{' '.join(args)}` does not list {NAME}")


