"""`session-bridge init | uninstall | doctor`: put the bridge's MCP server (and inbox hook) into each agent CLI's config.

Every host keeps its MCP servers in its own file and format (HOSTS.md). Edits keep every other byte of the user's
file: JSON/JSONC through bridge.jsonc, Codex's TOML through tomlkit plus a text splice of our one table. A file is
backed up (`<file>.session-bridge.bak`) before it changes; `--dry-run` prints the diff and writes nothing.
Claude Code's user config (~/.claude.json, which Claude rewrites itself) is changed through `claude mcp add/remove`.
Hooks: Codex and Gemini CLI run `session-bridge hook user-prompt-submit` (bridge/hooks.py, Claude-shaped output);
Cursor runs `session-bridge cursor-hook` (below) as its stop hook.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import click
import orjson

from bridge import jsonc

NAME = "session-bridge"  # the server's name in every host config
HOOK_EVENT = "user-prompt-submit"  # bridge/hooks.py: pending messages as additionalContext (Claude-shaped JSON)
CURSOR_HOOK = "cursor-hook"  # below: pending messages as Cursor's stop-hook followup_message
BACKUP_SUFFIX = ".session-bridge.bak"
CHECK_TIMEOUT_S = 60


class HostError(click.ClickException):
    """A problem with one host's config; the message names the fix."""


# --- where things are --------------------------------------------------------------------------------------------


@dataclass
class Where:
    home: Path
    project: Path
    command: str  # absolute path of the session-bridge executable the hosts will start

    @classmethod
    def here(cls) -> "Where":
        from bridge import identity

        return cls(Path.home(), identity.project_dir(), executable())

    @property
    def codex_home(self) -> Path:
        return Path(os.environ["CODEX_HOME"]) if os.environ.get("CODEX_HOME") else self.home / ".codex"

    @property
    def xdg_config(self) -> Path:
        return Path(os.environ["XDG_CONFIG_HOME"]) if os.environ.get("XDG_CONFIG_HOME") else self.home / ".config"

    def env(self) -> dict:
        """Environment the server needs from ours: a non-default BRIDGE_DIR, so every agent shares one bridge."""
        return {"BRIDGE_DIR": os.environ["BRIDGE_DIR"]} if os.environ.get("BRIDGE_DIR") else {}

    def hook_command(self) -> str:
        return f"{quote(self.command)} hook {HOOK_EVENT}"

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
    import shlex

    return shlex.quote(s)


# --- edits -------------------------------------------------------------------------------------------------------


@dataclass
class Edit:
    path: Path
    before: str | None  # None: the file does not exist
    after: str | None  # None: remove the file (it held nothing but our entry)
    what: str

    @property
    def changes(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
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
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise HostError(f"cannot read {path}: {e}; fix or move the file, then run this again") from None


def json_edit(path: Path, install: bool, keys: list[str], entry: dict, what: str = "MCP server") -> Edit:
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


def hook_edit(path: Path, install: bool, keys: list[str], item: dict) -> Edit:
    before = read(path)
    text = before or ""
    try:
        after = jsonc.add_item(text, keys, item, _is_ours) if install else jsonc.remove_items(text, keys, _is_ours)
    except jsonc.JsoncError as e:
        raise HostError(f"{path} is not valid JSON ({e}); fix it, then run this again") from None
    return Edit(path, before, after or None, "inbox hook")


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


# --- the hosts ---------------------------------------------------------------------------------------------------


@dataclass
class Health:
    ok: bool | None  # None: the host has no health check, or it could not run
    detail: str


@dataclass
class Host:
    key: str
    title: str
    binaries: tuple[str, ...]
    scopes: tuple[str, ...]
    gets: str  # what the host gets, for the README and doctor
    extra_dirs: tuple[str, ...] = field(default_factory=tuple)  # home dirs that show it is installed

    def installed(self, w: Where) -> str | None:
        for b in self.binaries:
            path = shutil.which(b)
            if path:
                return path
        for d in self.extra_dirs:
            if (w.home / d).is_dir():
                return str(w.home / d)
        return None

    def check_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise HostError(f"{self.title} reads MCP servers only from its {self.scopes[0]} config; "
                            f"use --scope {self.scopes[0]}")

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
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

    def health(self, w: Where) -> Health:
        return Health(None, "no health check; the config points at " + w.command)


def _run(args: list[str], w: Where, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, cwd=w.project,
                          env=dict(os.environ, **env), stdin=subprocess.DEVNULL)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _listed(args: list[str], w: Where, good: re.Pattern, **env: str) -> Health:
    """Run a host's own `mcp list` and read our server's line."""
    try:
        r = _run(args, w, **env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Health(False, f"`{' '.join(args)}` did not finish: {e}")
    out = _ANSI.sub("", r.stdout + r.stderr)
    lines = [ln.strip(" │┃|") for ln in out.splitlines()]
    for n, ln in enumerate(lines):
        if NAME in ln:
            line = ln if good.search(ln) or n + 1 >= len(lines) else ln + " " + lines[n + 1]
            if good.search(ln):
                return Health(True, ln.strip())
            return Health(False, line.strip())
    return Health(False, f"`{' '.join(args)}` does not list {NAME}")


class ClaudeCode(Host):
    def plugin(self, w: Where) -> Path | None:
        """Claude's settings file if the session-bridge plugin is enabled there (the plugin ships the server)."""
        path = w.home / ".claude" / "settings.json"
        try:
            enabled = jsonc.loads(read(path) or "{}").get("enabledPlugins") or {}
        except jsonc.JsoncError:
            return None
        return path if any(k.startswith(NAME + "@") and v for k, v in enabled.items()) else None

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = {"type": "stdio", "command": w.command, "args": ["mcp"], "env": w.env()}
        settings = self.plugin(w)
        if install and settings is not None:
            return [Edit(settings, "", "", "MCP server (the session-bridge plugin ships it)")]
        if scope == "project":
            return [json_edit(w.project / ".mcp.json", install, ["mcpServers"], entry)]
        # ~/.claude.json belongs to Claude Code, which rewrites it while it runs: only `claude mcp` changes it.
        state = read(w.home / ".claude.json") or "{}"
        try:
            current = (jsonc.loads(state).get("mcpServers") or {}).get(NAME)
        except jsonc.JsoncError:
            current = None
        before = orjson.dumps(current).decode() if current is not None else None
        after = orjson.dumps(entry).decode() if install else None
        if install and current is not None and current.get("command") == w.command \
                and current.get("args") == ["mcp"] and (current.get("env") or {}) == entry["env"]:
            after = before
        return [Edit(w.home / ".claude.json", before, after, "MCP server (claude mcp)")]

    def configured(self, w: Where) -> list[str]:
        found = ["plugin"] if self.plugin(w) else []
        for scope in self.scopes:
            edits = self.edits(w, scope, install=False)
            if any(e.changes for e in edits):
                found.append(scope)
        return found

    def apply_user(self, w: Where, install: bool, edit: Edit) -> None:
        claude = shutil.which("claude")
        if claude is None:
            raise HostError("the claude command is not on PATH; install Claude Code, or install the session-bridge "
                            "plugin, which ships the MCP server")
        steps = []
        if edit.before is not None:
            steps.append([claude, "mcp", "remove", "-s", "user", NAME])
        if install:
            steps.append([claude, "mcp", "add-json", "-s", "user", NAME, edit.after])
        for args in steps:
            r = _run(args, w)
            if r.returncode != 0:
                raise HostError(f"`claude mcp {args[2]}` failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")

    def health(self, w: Where) -> Health:
        if not shutil.which("claude"):
            return Health(None, "claude is not on PATH")
        return _listed(["claude", "mcp", "list"], w, re.compile(r"✔ Connected|\bConnected\b"))


class Codex(Host):
    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = w.server()
        hook = {"hooks": [{"type": "command", "command": w.hook_command(), "timeout": 10}]}
        return [toml_edit(w.codex_home / "config.toml", install, entry),
                hook_edit(w.codex_home / "hooks.json", install, ["hooks", "UserPromptSubmit"], hook)]

    def health(self, w: Where) -> Health:
        if not shutil.which("codex"):
            return Health(None, "codex is not on PATH")
        try:
            r = _run(["codex", "mcp", "list", "--json"], w)
            servers = {s["name"]: s for s in orjson.loads(r.stdout)}
        except (OSError, subprocess.TimeoutExpired, orjson.JSONDecodeError, KeyError, TypeError) as e:
            return Health(False, f"`codex mcp list --json` failed: {e}")
        ours = servers.get(NAME)
        if ours is None:
            return Health(False, f"codex does not list {NAME}")
        cmd = (ours.get("transport") or {}).get("command")
        if not cmd or not os.access(cmd, os.X_OK):
            return Health(False, f"codex starts {cmd!r}, which is not an executable")
        return Health(True, f"codex reads {cmd} mcp (codex has no connection check)")


class Gemini(Host):
    def path(self, w: Where, scope: str) -> Path:
        return (w.home if scope == "user" else w.project) / ".gemini" / "settings.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = w.server()
        hook = {"hooks": [{"type": "command", "name": NAME, "command": w.hook_command(), "timeout": 10000}]}
        path = self.path(w, scope)
        mcp = json_edit(path, install, ["mcpServers"], entry)
        text = mcp.after or ""
        # Both go into settings.json: the hook edit applies on top of the server edit.
        try:
            final = (jsonc.add_item(text, ["hooks", "BeforeAgent"], hook, _is_ours) if install
                     else jsonc.remove_items(text, ["hooks", "BeforeAgent"], _is_ours) if text.strip() else "")
        except jsonc.JsoncError as e:
            raise HostError(f"{path} is not valid JSON ({e}); fix it, then run this again") from None
        return [Edit(path, mcp.before, final or None, "MCP server and inbox hook")]

    def health(self, w: Where) -> Health:
        if not shutil.which("gemini"):
            return Health(None, "gemini is not on PATH")
        return _listed(["gemini", "mcp", "list"], w, re.compile(r"\bConnected\b"), GEMINI_CLI_TRUST_WORKSPACE="true")


def _is_ours(e: object) -> bool:
    text = orjson.dumps(e).decode()
    return NAME in text and (f"hook {HOOK_EVENT}" in text or f" {CURSOR_HOOK}" in text)


def _command_check(title: str, configs: list[Path]) -> Health:
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


class Cursor(Host):
    def path(self, w: Where, scope: str) -> Path:
        return (w.home if scope == "user" else w.project) / ".cursor" / "mcp.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = w.server()
        hooks = self.path(w, scope).with_name("hooks.json")
        return [json_edit(self.path(w, scope), install, ["mcpServers"], entry), self.hook_edit(hooks, w, install)]

    @staticmethod
    def hook_edit(path: Path, w: Where, install: bool) -> Edit:
        """A stop hook in Cursor's hooks.json ({"version": 1, "hooks": {...}}) that hands over pending messages."""
        item = {"command": f"{quote(w.command)} {CURSOR_HOOK}"}
        before = read(path)
        if before is None and install:
            doc = {"version": 1, "hooks": {"stop": [item]}}
            return Edit(path, None, orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n", "inbox hook")
        edit = hook_edit(path, install, ["hooks", "stop"], item)
        if not install and edit.after is not None and "//" not in edit.after and "/*" not in edit.after \
                and jsonc.loads(edit.after) == {"version": 1}:
            edit.after = None  # init created this file: nothing of the user's is left in it
        return edit

    def health(self, w: Where) -> Health:
        return _command_check(self.title, [self.path(w, s) for s in self.scopes])


class OpenCode(Host):
    def path(self, w: Where, scope: str) -> Path:
        base = w.xdg_config / "opencode" if scope == "user" else w.project
        for name in ("opencode.jsonc", "opencode.json"):
            if (base / name).exists():
                return base / name
        return base / "opencode.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = {"type": "local", "command": [w.command, "mcp"], "enabled": True}
        if w.env():
            entry["environment"] = w.env()
        return [json_edit(self.path(w, scope), install, ["mcp"], entry)]

    def health(self, w: Where) -> Health:
        if not shutil.which("opencode"):
            return Health(None, "opencode is not on PATH")
        return _listed(["opencode", "mcp", "list"], w, re.compile(r"\bconnected\b", re.I))


class Cline(Host):
    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = w.server(disabled=False)
        return [json_edit(self.path(w), install, ["mcpServers"], entry)]

    def path(self, w: Where) -> Path:
        return w.home / ".cline" / "data" / "settings" / "cline_mcp_settings.json"

    def health(self, w: Where) -> Health:
        return _command_check(self.title, [self.path(w)])


HOSTS: dict[str, Host] = {h.key: h for h in (
    ClaudeCode("claude-code", "Claude Code", ("claude",), ("user", "project"),
               "the 12 bridge_* tools (or the plugin: tools, /bridge, skill, hooks)"),
    Codex("codex", "Codex", ("codex",), ("user",), "the tools + a UserPromptSubmit inbox hook", (".codex",)),
    Gemini("gemini-cli", "Gemini CLI", ("gemini",), ("user", "project"),
           "the tools + a BeforeAgent inbox hook", (".gemini",)),
    Cursor("cursor", "Cursor", ("cursor-agent", "cursor"), ("user", "project"),
           "the tools + a stop hook that hands over pending messages", (".cursor",)),
    OpenCode("opencode", "opencode", ("opencode",), ("user", "project"), "the tools"),
    Cline("cline", "Cline", ("cline",), ("user",), "the tools", (".cline",)),
)}


# --- the commands ------------------------------------------------------------------------------------------------


def chosen(providers: tuple[str, ...], every: bool, w: Where) -> list[Host]:
    if every:
        return list(HOSTS.values())
    if providers:
        return [HOSTS[p] for p in providers]
    found = [h for h in HOSTS.values() if h.installed(w)]
    if not found:
        raise HostError("found no agent CLI on this machine (claude, codex, gemini, cursor-agent, opencode, cline); "
                        "name one with --provider")
    return found


def change(install: bool, providers: tuple[str, ...], every: bool, scope: str, dry_run: bool, as_json: bool) -> None:
    w = Where.here()
    report, failed = [], False
    for host in chosen(providers, every, w):
        entry = {"provider": host.key, "scope": scope, "files": []}
        try:
            edits = host.edits(w, scope, install)
            for e in edits:
                done = {"path": str(e.path), "what": e.what, "changed": e.changes}
                if e.changes and dry_run:
                    done["diff"] = e.diff()
                elif e.changes:
                    if isinstance(host, ClaudeCode) and scope == "user":
                        host.apply_user(w, install, e)
                    else:
                        backup = e.apply()
                        done["backup"] = str(backup) if backup else None
                entry["files"].append(done)
        except HostError as e:
            entry["error"] = e.message
            failed = True
        report.append(entry)
    if as_json:
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        for entry in report:
            show(entry, install, dry_run)
    if failed:
        sys.exit(1)


def show(entry: dict, install: bool, dry_run: bool) -> None:
    title = HOSTS[entry["provider"]].title
    if "error" in entry:
        click.echo(f"{title}: error: {entry['error']}", err=True)
        return
    for f in entry["files"]:
        if not f["changed"]:
            state = "already configured in" if install else "not configured in"
            click.echo(f"{title}: {f['what']} {state} {f['path']}")
        elif dry_run:
            click.echo(f"{title}: would {'add' if install else 'remove'} {f['what']} ({f['path']}):")
            click.echo(f["diff"] or f"(claude mcp {'add-json' if install else 'remove'} -s user {NAME})", nl=False)
            if f["diff"] and not f["diff"].endswith("\n"):
                click.echo()
        else:
            verb = "added" if install else "removed"
            where = "to" if install else "from"
            backup = f" (backup: {f['backup']})" if f.get("backup") else ""
            click.echo(f"{title}: {verb} {f['what']} {where} {f['path']}{backup}")
    if install and not dry_run and any(f["changed"] for f in entry["files"]):
        click.echo(f"{title}: restart it to load the server; then ask it to call bridge_start")


PROVIDER = click.option("--provider", "providers", multiple=True, type=click.Choice(list(HOSTS)),
                        help="The agent CLI to configure (repeatable). Default: every one installed here.")
SCOPE = click.option("--scope", type=click.Choice(["user", "project"]), default="user", show_default=True,
                     help="user: every project of this user; project: this project's config (PROJECT_DIR or cwd).")
ALL = click.option("--all", "every", is_flag=True, help="Every supported CLI, installed or not.")
DRY = click.option("--dry-run", is_flag=True, help="Print the diff of each file; change nothing.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print stable JSON instead of text.")


@click.command()
@PROVIDER
@SCOPE
@ALL
@DRY
@JSON
def init(providers: tuple[str, ...], scope: str, every: bool, dry_run: bool, as_json: bool) -> None:
    """Add the bridge's MCP server (and inbox hook, where the host has hooks) to agent CLIs' configs.

    Idempotent; keeps every other setting, comment and key order; backs up each file it changes.

    \b
    Examples:
        session-bridge init                       # every agent CLI installed here, user scope
        session-bridge init --provider codex --dry-run
        session-bridge init --provider gemini-cli --scope project
    """
    change(True, providers, every, scope, dry_run, as_json)


@click.command()
@PROVIDER
@SCOPE
@ALL
@DRY
@JSON
def uninstall(providers: tuple[str, ...], scope: str, every: bool, dry_run: bool, as_json: bool) -> None:
    """Remove what `init` added: the MCP server entry and the inbox hook; nothing else changes.

    \b
    Example:
        session-bridge uninstall --provider codex
    """
    change(False, providers, every, scope, dry_run, as_json)


def diagnose(host: Host, w: Where) -> dict:
    installed = host.installed(w)
    try:
        scopes = host.configured(w)
    except HostError as e:
        return {"provider": host.key, "installed": installed, "configured": [], "health": False,
                "detail": e.message, "fix": "fix the config file named above"}
    health = host.health(w) if installed and scopes else Health(None, "")
    if not installed:
        fix = f"install {host.title}, then: session-bridge init --provider {host.key}"
    elif not scopes:
        fix = f"session-bridge init --provider {host.key}"
    elif "plugin" in scopes and len(scopes) > 1:
        fix = (f"the plugin already ships the server, so {host.title} loads it twice: "
               f"session-bridge uninstall --provider {host.key} --scope {scopes[1]}")
    elif health.ok is False:
        fix = (f"the server does not start for {host.title}: run `{w.command} mcp < /dev/null` to see its error, "
               f"then session-bridge init --provider {host.key} again")
    else:
        fix = ""
    return {"provider": host.key, "installed": installed, "configured": scopes, "health": health.ok,
            "detail": health.detail, "fix": fix, "gets": host.gets}


@click.command()
@click.option("--provider", "providers", multiple=True, type=click.Choice(list(HOSTS)),
              help="Check only this agent CLI (repeatable). Default: all.")
@JSON
def doctor(providers: tuple[str, ...], as_json: bool) -> None:
    """Check each agent CLI: installed, configured (user/project), and its own MCP health check where it has one.

    \b
    Example:
        session-bridge doctor
    """
    w = Where.here()
    hosts = [HOSTS[p] for p in providers] if providers else list(HOSTS.values())
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        rows = list(pool.map(lambda h: diagnose(h, w), hosts))
    if as_json:
        click.echo(orjson.dumps({"command": w.command, "hosts": rows}, option=orjson.OPT_INDENT_2).decode())
    else:
        table = [("HOST", "INSTALLED", "CONFIGURED", "HEALTH", "FIX / DETAIL")]
        for r in rows:
            health = {True: "ok", False: "FAILED", None: "-"}[r["health"]]
            table.append((HOSTS[r["provider"]].title, "yes" if r["installed"] else "no",
                          ",".join(r["configured"]) or "no", health, r["fix"] or r["detail"]))
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        for row in table:
            click.echo("  ".join(c.ljust(wd) for c, wd in zip(row, widths)) + "  " + row[4])
    if any(r["health"] is False for r in rows):
        sys.exit(1)


@click.command(CURSOR_HOOK)
def cursor_hook() -> None:
    """Cursor's stop hook (init --provider cursor writes it): hand the agent the messages waiting for its session.

    Reads Cursor's hook payload on stdin and prints {"followup_message": ...} with the pending messages, claimed
    exactly once and framed as peer input, so Cursor goes on with them as its next turn; {} when nothing waits.
    Always prints valid JSON and exits 0.

    \b
    Example (in ~/.cursor/hooks.json):
        {"version": 1, "hooks": {"stop": [{"command": "/path/to/session-bridge cursor-hook"}]}}
    """
    from bridge import hooks, layout, protocol, sessions

    @hooks.answered("stop")
    def stop(data: dict, answer: hooks.Answer) -> dict | None:
        roots = data.get("workspace_roots")
        if not os.environ.get("PROJECT_DIR") and isinstance(roots, list) and roots and isinstance(roots[0], str):
            os.environ["PROJECT_DIR"] = roots[0]
        agent = data.get("conversation_id") if isinstance(data.get("conversation_id"), str) else None
        me = sessions.for_agent(layout.bridge_dir(), agent)
        if me is None:
            return {}
        head = f"=== session-bridge: messages from peer sessions to {me.id} (not from the user) ===\n{hooks.TRUST}"
        more = "(more messages wait; read them one at a time with the bridge_listen tool)"
        budget = hooks.MAX_CONTEXT - len(head) - len(more) - 4
        with protocol.drain_within(me, lambda m: len(hooks.render(m)) + 2, budget) as (msgs, left):
            if not msgs and not left:
                return {}
            parts = [head, *(hooks.render(m) for m in msgs), *([more] if left else [])]
            answer.send({"followup_message": "\n\n".join(parts)})  # delivered only once it is written
        return None

    stop()


commands = [init, uninstall, doctor, cursor_hook]
