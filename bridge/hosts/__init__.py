"""`session-bridge init | uninstall | doctor`: put the bridge's MCP server (and its hooks) into each agent CLI.

One module per agent CLI (a host) in this package, each with where its config lives and in what format, what
`init` writes, its hooks and its own MCP health check (base.py holds what they share; jsonc.py edits JSON with
comments byte for byte). Adding an agent is adding a module and its line in MODULES.
"""

from __future__ import annotations

import importlib
import sys
from concurrent.futures import ThreadPoolExecutor

import click
import orjson

from bridge.hosts.base import NAME, Health, Host, HostError, Where

# The agent CLIs, in the order doctor lists them: bridge/hosts/<module>.py defines HOST.
MODULES = ("claude_code", "codex", "gemini_cli", "opencode", "cursor", "cline", "grok", "copilot", "qwen_code", "amp")
HOSTS: dict[str, Host] = {h.key: h for h in (importlib.import_module(f"bridge.hosts.{m}").HOST for m in MODULES)}


# --- the commands ------------------------------------------------------------------------------------------------


def chosen(providers: tuple[str, ...], every: bool, w: Where) -> list[Host]:
    """The hosts to configure: those named, every one, or the ones installed here."""
    if every:
        return list(HOSTS.values())
    if providers:
        return [HOSTS[p] for p in providers]
    found = [h for h in HOSTS.values() if h.installed(w)]
    if not found:
        names = ", ".join(b for h in HOSTS.values() for b in h.binaries[:1])
        raise HostError(f"found no agent CLI on this machine ({names}); name one with --provider")
    return found


def change(install: bool, providers: tuple[str, ...], every: bool, scope: str, dry_run: bool, as_json: bool) -> None:
    """init (install) or uninstall: make each chosen host's edits, report them, exit 1 if any host failed. A host
    not named with --provider that does not read this scope (Grok CLI: project only) is skipped with a note."""
    w = Where.here()
    report, failed = [], False
    for host in chosen(providers, every, w):
        entry = {"provider": host.key, "scope": scope, "files": []}
        if scope not in host.scopes and host.key not in providers:
            entry["skipped"] = f"{host.title} reads MCP servers only from its {host.scopes[0]} config; " \
                               f"use --provider {host.key} --scope {host.scopes[0]}"
            report.append(entry)
            continue
        try:
            edits = host.edits(w, scope, install)
            for e in edits:
                done = {"path": str(e.path), "what": e.what, "changed": e.changes}
                if e.changes and dry_run:
                    done["diff"] = e.diff()
                elif e.changes:
                    backup = host.apply(w, scope, install, e)
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
    if "skipped" in entry:
        click.echo(f"{title}: skipped: {entry['skipped']}")
        return
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
    """Add the bridge's MCP server (and, where the host has hooks, the inbox hook and the no-auto-commit guard) to
    agent CLIs' configs.

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
    """Remove what `init` added: the MCP server entry and the hooks; nothing else changes.

    \b
    Example:
        session-bridge uninstall --provider codex
    """
    change(False, providers, every, scope, dry_run, as_json)


def diagnose(host: Host, w: Where) -> dict:
    """doctor's row for one host: installed, configured scopes, its own health check, and the fix."""
    installed = host.installed(w)
    try:
        scopes = host.configured(w)
    except HostError as e:
        return {"provider": host.key, "installed": installed, "configured": [], "health": False,
                "detail": e.message, "fix": "fix the config file named above", "gets": host.gets}
    health = host.health(w) if installed and scopes else Health(None, "")
    if not installed:
        fix = f"install {host.title}, then: session-bridge init --provider {host.key}"
    elif not scopes:
        fix = f"session-bridge init --provider {host.key}"
    elif "plugin" in scopes and len(scopes) > 1:
        fix = (f"the plugin already ships the server, so {host.title} loads it twice: "
               f"session-bridge uninstall --provider {host.key} --scope {scopes[1]}")
    elif health.ok is False and health.fix:  # the host knows the fix (e.g. trusting Gemini CLI's folder)
        fix = health.fix
    elif health.ok is False:
        fix = (f"the server does not start for {host.title}: run `{w.command} mcp < /dev/null` to see its error, "
               f"then session-bridge init --provider {host.key} again")
    else:
        fix = ""
    return {"provider": host.key, "installed": installed, "configured": scopes, "health": health.ok,
            "detail": health.detail, "fix": fix, "gets": host.gets, "wake": host.wake}


def receiving() -> dict | None:
    """How this caller's own session receives messages now (doctor's last line), or None without a session."""
    import bridge
    from bridge import delivery, views

    try:
        session = bridge.me()
    except bridge.BridgeError:
        return None
    return {"session_id": session.id, "summary": delivery.describe(session), **views.delivery_view(session)}


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
    mine = receiving()
    if as_json:
        click.echo(orjson.dumps({"version": 1, "command": w.command, "hosts": rows, "receiving": mine},
                                option=orjson.OPT_INDENT_2).decode())
    else:
        table = [("HOST", "INSTALLED", "CONFIGURED", "HEALTH", "FIX / DETAIL")]
        for r in rows:
            health = {True: "ok", False: "FAILED", None: "-"}[r["health"]]
            table.append((HOSTS[r["provider"]].title, "yes" if r["installed"] else "no",
                          ",".join(r["configured"]) or "no", health, r["fix"] or r["detail"]))
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        for row in table:
            click.echo("  ".join(c.ljust(wd) for c, wd in zip(row, widths)) + "  " + row[4])
        for r in rows:
            if r["installed"]:
                click.echo(f"{HOSTS[r['provider']].title} wakes: {r['wake']}")
        if mine:
            click.echo(f"receiving ({mine['session_id']}): {mine['summary']}")
    if any(r["health"] is False for r in rows):
        sys.exit(1)


commands = [init, uninstall, doctor]
