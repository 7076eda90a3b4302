"""Gemini CLI: `mcpServers` and hooks in ~/.gemini/settings.json or .gemini/settings.json: BeforeAgent (the inbox)
and BeforeTool on run_shell_command (the no-auto-commit guard: `session-bridge hook before-tool`, which reads
tool_input.command and answers {"decision": "deny", "reason": ...}, as Gemini CLI 0.61's BeforeToolHookOutput reads).

Gemini CLI runs no MCP server (user- or project-level) in a folder it does not trust: `gemini mcp list` then warns
"MCP servers are configured but disabled because this folder is untrusted" and lists ours as "Disabled". It records
trust in ~/.gemini/trustedFolders.json ({"<absolute path>": "TRUST_FOLDER" | "TRUST_PARENT" | "DO_NOT_TRUST"}; the
longest matching path wins; $GEMINI_CLI_TRUSTED_FOLDERS_PATH or $GEMINI_CLI_HOME move it), which is what its "Trust
folder" prompt and `/permissions trust` write. The health check runs `gemini mcp list` as the user would, in the
project, without forcing trust, and names that fix when the folder is untrusted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bridge.hosts import jsonc
from bridge.hosts.base import NAME, Edit, Health, Host, Where, plain, run, settings_edit

LIST = ["gemini", "mcp", "list"]
CONNECTED = re.compile(r"\bConnected\b")
UNTRUSTED = "because this folder is untrusted"  # gemini mcp list's warning (Gemini CLI 0.61)


def trusted_folders_file(w: Where) -> Path:
    """Where Gemini CLI keeps its trusted folders (Storage.getTrustedFoldersPath in its code)."""
    if os.environ.get("GEMINI_CLI_TRUSTED_FOLDERS_PATH"):
        return Path(os.environ["GEMINI_CLI_TRUSTED_FOLDERS_PATH"])
    home = Path(os.environ["GEMINI_CLI_HOME"]) if os.environ.get("GEMINI_CLI_HOME") else w.home
    if os.environ.get("SANDBOX") == "sandbox-exec":
        return home / ".cache" / ".gemini" / "trustedFolders.json"
    return home / ".gemini" / "trustedFolders.json"


def trust_rule(w: Where, file: Path) -> tuple[str, str] | None:
    """The rule of Gemini's trusted-folders file that decides the project (the longest matching path, as Gemini
    matches it: real paths, TRUST_PARENT covering the rule's parent), or None (no rule, or no readable file)."""
    try:
        rules = jsonc.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, jsonc.JsoncError):
        return None
    if not isinstance(rules, dict):
        return None
    project = Path(os.path.realpath(w.project))
    best = None
    for rule, level in rules.items():
        covered = Path(os.path.realpath(os.path.dirname(rule) if level == "TRUST_PARENT" else rule))
        if (project == covered or covered in project.parents) and (best is None or len(rule) > len(best[0])):
            best = (rule, level)
    return best


def untrusted(w: Where, line: str) -> Health:
    """The verdict for a project folder Gemini CLI does not trust, with how to trust it."""
    forced = [k for k, v in (("GEMINI_RESTRICTED_MODE", "true"), ("GEMINI_CLI_TRUST_WORKSPACE", "false"))
              if os.environ.get(k) == v]  # Gemini distrusts every folder then (checkPathTrust)
    file = trusted_folders_file(w)
    project = str(w.project)
    if forced:
        why = "the environment sets " + " and ".join(f"{k}={os.environ[k]}" for k in forced)
        fix = f"unset {' and '.join(forced)} where Gemini CLI runs: it distrusts every folder then"
    else:
        rule = trust_rule(w, file)
        if rule is not None and rule[1] == "DO_NOT_TRUST":
            why = f"{file} marks {rule[0]} DO_NOT_TRUST"
            edit = f'set "{rule[0]}" to "TRUST_FOLDER"' if rule[0] == project else \
                f'add "{project}": "TRUST_FOLDER"'
        else:
            why = f"{file} has no entry that trusts it"
            edit = f'add "{project}": "TRUST_FOLDER"'
        fix = (f"trust the folder in Gemini CLI: run gemini in {project} and choose \"Trust folder\" "
               f"(or /permissions trust), or {edit} in {file}")
    return Health(False, f"Gemini CLI does not trust the folder {project} ({why}), so it disables every MCP "
                            f"server there: {line}", fix)


class Gemini(Host):
    def path(self, w: Where, scope: str) -> Path:
        return (w.home if scope == "user" else w.project) / ".gemini" / "settings.json"

    def edits(self, w: Where, scope: str, install: bool) -> list[Edit]:
        self.check_scope(scope)
        entry = w.server()
        hook = {"hooks": [{"type": "command", "name": NAME, "command": w.hook_command(), "timeout": 10000}]}
        guard = {"matcher": "run_shell_command", "hooks": [{"type": "command", "name": NAME,
                                                             "command": w.guard_command("before-tool"),
                                                             "timeout": 10000}]}
        path = self.path(w, scope)
        return [settings_edit(path, install, entry, (["hooks", "BeforeAgent"], hook), (["hooks", "BeforeTool"], guard),
                              what="MCP server, inbox hook and commit guard")]

    def health(self, w: Where) -> Health:
        """`gemini mcp list` in the project as the user's Gemini CLI sees it: trust is not forced, so a folder
        Gemini does not trust fails (its servers are "Disabled" there) with how to trust it."""
        if not shutil.which("gemini"):
            return Health(None, "gemini is not on PATH")
        try:
            r = run(LIST, w)
        except (OSError, subprocess.TimeoutExpired) as e:
            return Health(False, f"`{' '.join(LIST)}` did not finish: {e}")
        out = plain(r.stdout + r.stderr)
        line = next((ln.strip() for ln in out.splitlines() if NAME in ln), None)
        if line is None:
            return Health(False, f"`{' '.join(LIST)}` does not list {NAME}")
        if CONNECTED.search(line):
            return Health(True, line)
        if UNTRUSTED in out:
            return untrusted(w, line)
        return Health(False, line)


HOST = Gemini("gemini-cli", "Gemini CLI", ("gemini",), ("user", "project"),
              "the tools + a BeforeAgent inbox hook + a BeforeTool commit guard", (".gemini",))
