"""Helpers for tests that run the real Claude Code CLI (npm @anthropic-ai/claude-code) on a fresh HOME with this
plugin installed from a marketplace clone of the working tree, headless (`claude -p`) or interactive in a tmux pane,
against the scripted Messages API of messages_api.py.

    user = ClaudeUser.create(tmp_path, claude)          # fresh HOME, plugin installed, CLI on PATH
    with MessagesApi(policy) as api:
        r = user.run_p("/bridge status", api, cwd=project)

Also usable outside pytest (bench/): `woken_turn_latency()` measures, in a live interactive session, the time from a
peer's send to the woken turn's first request to the model.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import orjson

from messages_api import MessagesApi, Request, Turn, bash, tool_use  # tests/ is on sys.path (pytest; bench.py)
from support import wait_until

REPO = Path(__file__).resolve().parent.parent
MARKETPLACE = PLUGIN = "session-bridge"
# this checkout's CLI (the venv's editable install), put on the user's PATH so the plugin's launcher uses it
SESSION_BRIDGE = Path(sys.executable).parent / "session-bridge"
if not SESSION_BRIDGE.exists():
    SESSION_BRIDGE = Path(shutil.which("session-bridge") or SESSION_BRIDGE)
MCP_PREFIX = f"mcp__plugin_{PLUGIN}_bridge__"  # the plugin's MCP tools as Claude Code names them


# --- moved from test_plugin_claude.py ---------------------------------------------------------------------------


def clean_env(home: Path, tmp: Path, **extra: str) -> dict:
    """The environment of a fresh user: no agent, model, bridge or XDG variables from this machine."""
    drop = ("CLAUDE", "ANTHROPIC", "BRIDGE_", "XDG_", "PROJECT_DIR", "TMUX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(HOME=str(home), TMPDIR=str(tmp), **extra)
    return env


def run(cmd: list[str], env: dict, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def export_tree(dest: Path) -> Path:
    """A clone of the working tree: tracked and new files, without ignored ones (.venv, caches)."""
    files = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def transcript_context(home: Path) -> dict[str, list[str]]:
    """additionalContext Claude Code took from each hook event, from every transcript under this HOME."""
    got: dict[str, list[str]] = {}
    for path in (home / ".claude" / "projects").glob("*/*.jsonl"):
        for line in path.read_text().splitlines():
            a = orjson.loads(line).get("attachment") or {}
            if a.get("type") == "hook_additional_context":
                got.setdefault(a["hookEvent"], []).extend(a["content"])
    return got


def base_python_bin(tmp: Path) -> str:
    """A PATH entry with python3 (this interpreter's base) and no session-bridge next to it."""
    d = tmp / "pybin"
    d.mkdir()
    (d / "python3").symlink_to(getattr(sys, "_base_executable", sys.executable))
    return str(d)


def install_plugin(claude: str, env: dict, tree: Path) -> Path:
    """`claude plugin marketplace add <tree>` + `claude plugin install`, as a user does; the installed copy's path."""
    for cmd in (["marketplace", "add", str(tree)], ["install", f"{PLUGIN}@{MARKETPLACE}"]):
        r = run([claude, "plugin", *cmd], env)
        assert r.returncode == 0, f"claude plugin {' '.join(cmd)}: {r.stdout}{r.stderr}"
    installed = orjson.loads((Path(env["HOME"]) / ".claude" / "plugins" / "installed_plugins.json").read_bytes())
    return Path(installed["plugins"][f"{PLUGIN}@{MARKETPLACE}"][0]["installPath"])


# --- waiting without sleeping -----------------------------------------------------------------------------------


@dataclass
class Headless:
    """A `claude -p` process started by ClaudeUser.running_p."""
    proc: subprocess.Popen
    stdout: str = ""
    stderr: str = ""

    def finish(self, timeout: float) -> int | None:
        """Wait for the exit (returns the exit code), or None if it is still running after `timeout` seconds."""
        try:
            self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.proc.returncode

    def kill(self) -> None:
        """End it and everything it started (hooks, MCP servers), if it still runs."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = self.proc.communicate()
            self.stdout, self.stderr = self.stdout + (out or ""), self.stderr + (err or "")


# --- a fresh user with the plugin -------------------------------------------------------------------------------


@dataclass
class ClaudeUser:
    """A fresh HOME with the plugin installed from a marketplace clone of the working tree, and this checkout's
    `session-bridge` on PATH (so the plugin's launcher uses it instead of installing itself)."""
    claude: str
    home: Path
    tmp: Path
    tree: Path
    install_path: Path
    bin: Path
    bridge_dir: Path

    @classmethod
    def create(cls, base: Path, claude: str, bridge_dir: Path | None = None, plugin_only: bool = False
               ) -> "ClaudeUser":
        """With plugin_only, the CLI is not on PATH: it is in the plugin's private venv, as the launcher's first
        run leaves it (here a link to this checkout's CLI, stamped with the plugin's pyproject.toml)."""
        home, tmp, bin_ = base / "home", base / "tmp", base / "bin"
        for d in (home, tmp, bin_):
            d.mkdir(parents=True, exist_ok=True)
        tree = export_tree(base / "clone")
        install_path = install_plugin(claude, clean_env(home, tmp), tree)
        if plugin_only:
            venv = home / ".local" / "share" / "session-bridge" / "venv"
            (venv / "bin").mkdir(parents=True)
            (venv / "bin" / "session-bridge").symlink_to(SESSION_BRIDGE)
            shutil.copy2(install_path / "pyproject.toml", venv / ".installed-pyproject.toml")
        else:
            (bin_ / "session-bridge").symlink_to(SESSION_BRIDGE)
        return cls(claude, home, tmp, tree, install_path, bin_, bridge_dir or base / "bridge")

    def env(self, api: MessagesApi | None = None, **extra: str) -> dict:
        """The user's environment for claude: fresh HOME, the scripted API, the bridge dir, CLI and claude on PATH."""
        env = clean_env(self.home, self.tmp, PATH=f"{self.bin}:{Path(self.claude).parent}:/usr/bin:/bin",
                        BRIDGE_DIR=str(self.bridge_dir))
        if api is not None:
            env.update(api.env())
        env.update(extra)
        return env

    def bridge_cli(self, cwd: Path, *args: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess:
        """`session-bridge ARGS` as a plain process of another tool in `cwd` (not under claude)."""
        return run([str(SESSION_BRIDGE), *args], self.env(**extra), cwd=cwd, timeout=timeout)

    @contextlib.contextmanager
    def running_p(self, prompt: str, api: MessagesApi, cwd: Path, *args: str) -> Iterator["Headless"]:
        """`claude -p PROMPT` in the background; killed (with its process group) if still running at the end."""
        proc = subprocess.Popen([self.claude, "-p", prompt, *args], env=self.env(api), cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        run_ = Headless(proc)
        try:
            yield run_
        finally:
            run_.kill()

    def run_p(self, prompt: str, api: MessagesApi, cwd: Path, *args: str, timeout: float = 180
              ) -> subprocess.CompletedProcess:
        """`claude -p PROMPT` to its end."""
        return run([self.claude, "-p", prompt, *args], self.env(api), cwd=cwd, timeout=timeout)

    # interactive set-up
    def trust(self, project: Path, api_key: str) -> None:
        """What Claude Code 2.1.329's first start asks, answered in ~/.claude.json: onboarding done (it otherwise
        checks api.anthropic.com and quits offline), this API key approved (customApiKeyResponses holds its last
        20 characters), and the project's folder trusted (without trust no hooks' wake-ups, no monitors)."""
        path = self.home / ".claude.json"
        cfg = json.loads(path.read_text()) if path.exists() else {}
        cfg.update(hasCompletedOnboarding=True, theme="dark")
        keys = cfg.setdefault("customApiKeyResponses", {"approved": [], "rejected": []})
        if api_key.strip()[-20:] not in keys["approved"]:
            keys["approved"].append(api_key.strip()[-20:])
        cfg.setdefault("projects", {}).setdefault(str(project.resolve()), {})["hasTrustDialogAccepted"] = True
        path.write_text(json.dumps(cfg, indent=2))

    def allow(self, *rules: str, mode: str = "default") -> None:
        """User settings: permission rules the user granted once (e.g. "Bash(session-bridge *)") and the default
        permission mode ("default": no classifier calls to the model between a tool call and its run)."""
        path = self.home / ".claude" / "settings.json"
        cfg = json.loads(path.read_text()) if path.exists() else {}
        perms = cfg.setdefault("permissions", {})
        perms["defaultMode"] = mode
        perms["allow"] = sorted(set(perms.get("allow", [])) | set(rules))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cfg, indent=2))


# --- scripted agents: what a model following the plugin's instructions does ---------------------------------------

COMMAND = f"/{PLUGIN}:bridge"  # the slash command as Claude Code 2.1.329 names it (plugin commands are namespaced)
LAUNCHER_RE = re.compile(r'"(/[^"\n]+/scripts/session-bridge)"')
HEADER_RE = re.compile(r"^\[(?P<type>[\w-]+)\] from .*? · (?P<id>msg-[\w.-]+)", re.M)
POINTER_RE = re.compile(r"take it with: (?P<cmd>\S+) read (?P<id>msg-[\w.-]+)")
WAKE_RE = re.compile(r"Answer with: (?P<cmd>\S+) reply (?P<id>msg-[\w.-]+)")


def launcher_in(req: Request) -> str:
    """The plugin launcher as the expanded /bridge command names it (shell-quoted, ready to run)."""
    m = LAUNCHER_RE.search(req.transcript())
    assert m, "the request has no expanded /bridge command naming the plugin's launcher"
    return shlex.quote(m.group(1))


def subcommand(command: str) -> str:
    """The CLI subcommand of a launcher call: `"/x/scripts/session-bridge" listen --timeout 5` -> listen."""
    words = shlex.split(command)
    for i, w in enumerate(words):
        if w.endswith("session-bridge") and i + 1 < len(words):
            return words[i + 1]
    return ""


def parse_message(output: str) -> tuple[str, str, str]:
    """(type, message id, content) of a message as `listen`, `read` and the Stop hook print it."""
    m = HEADER_RE.search(output)
    assert m, f"no message header in: {output!r}"
    body = output[m.end():].lstrip("\n")
    body = body.split("\n\nAnswer with:", 1)[0]
    return m.group("type"), m.group("id"), body.strip()


def reply_cmd(launcher: str, msg_id: str, answer: str) -> str:
    """A reply as commands/bridge.md writes one with text on stdin (a quoted heredoc)."""
    return f"{launcher} reply {msg_id} - <<'EOF'\n{answer}\nEOF"


Answerer = Callable[[str], str]  # question -> answer


def slash_listener(label: str, answer: Answerer) -> Callable[[Request], Turn]:
    """A model running `/bridge listen` as commands/bridge.md says: background off (on exit 4: start, retry), then a
    listen round; a query is answered with reply. After one answer it ends its turn (a real model listens again)."""

    def policy(req: Request) -> Turn:
        cli = launcher_in(req)
        done_ = req.exchanges(since_prompt=True)
        if not done_:
            return Turn("Turning background listening off, then listening.", bash(f"{cli} background off"))
        last = done_[-1]
        sub = subcommand(last.command)
        if last.exit_code == 4:
            return Turn(bash(f"{cli} start --label {label}"))
        if sub == "start":
            return Turn(bash(f"{cli} background off"))
        if sub == "background" or (sub == "listen" and last.exit_code == 3):
            return Turn(bash(f"{cli} listen --timeout 540", timeout_ms=600000))
        if sub == "listen" and last.exit_code == 0:
            kind, msg_id, content = parse_message(last.output)
            if kind != "query":
                return Turn(bash(f"{cli} listen --timeout 540", timeout_ms=600000))
            return Turn(bash(reply_cmd(cli, msg_id, answer(content))))
        if sub == "reply" and last.exit_code == 0:
            return Turn(f"Sent: {last.output.strip()}")
        return Turn(f"Stopped: `{last.command}` exited {last.exit_code}: {last.output}")

    return policy


def slash_asker(label: str) -> Callable[[Request], Turn]:
    """A model running `/bridge ask <peer> <question>`: ask (on exit 4: start, retry) and tell the user the answer."""

    def policy(req: Request) -> Turn:
        cli = launcher_in(req)
        m = re.search(r"<command-args>ask (\S+) (.*?)</command-args>", req.transcript(), re.S)
        assert m, "no `ask <peer> <question>` arguments in the expanded command"
        peer, question = m.group(1), m.group(2).strip()
        ask = bash(f"{cli} ask {peer} {shlex.quote(question)} --timeout 540", timeout_ms=600000)
        done_ = req.exchanges(since_prompt=True)
        if not done_:
            return Turn(ask)
        last = done_[-1]
        sub = subcommand(last.command)
        if last.exit_code == 4:
            return Turn(bash(f"{cli} start --label {label}"))
        if sub == "start":
            return Turn(ask)
        if sub == "ask" and last.exit_code == 0:
            return Turn(f"{peer} answered:\n{last.output.strip()}")
        return Turn(f"Stopped: `{last.command}` exited {last.exit_code}: {last.output}")

    return policy


def mcp_call(tool: str, **args) -> dict:
    """A call of one of the plugin's MCP tools (bridge_start, bridge_ask, ...)."""
    return tool_use(MCP_PREFIX + tool, args)


def load_tools(req: Request, *tools: str) -> Turn | None:
    """Claude Code 2.1.329 defers MCP tools: a ToolSearch "select:" call loads them before their first use."""
    missing = [MCP_PREFIX + t for t in tools if MCP_PREFIX + t not in req.tool_names()]
    if missing:
        return Turn(tool_use("ToolSearch", {"query": "select:" + ",".join(missing), "max_results": len(missing)}))
    return None


def _mcp_progress(req: Request, label: str, *tools: str):
    """How an MCP-tool policy starts each turn: load the tools (ToolSearch), call bridge_start, stop on a tool
    error. Returns that Turn, or (tool, result, exchange) of the last bridge call for the policy to go on from."""
    load = load_tools(req, "bridge_start", *tools)
    if load:
        return load
    calls = [e for e in req.exchanges(since_prompt=True) if e.name.startswith(MCP_PREFIX)]
    if not calls:
        return Turn(mcp_call("bridge_start", label=label))
    last = calls[-1]
    tool = last.name.removeprefix(MCP_PREFIX)
    if last.is_error:
        return Turn(f"Stopped: {tool} failed: {last.output}")
    return tool, last.json(), last


def mcp_listener(label: str, answer: Answerer) -> Callable[[Request], Turn]:
    """A model serving peers with the plugin's MCP tools: bridge_start, bridge_listen (again while "waiting"),
    bridge_reply to the query, then it ends its turn."""

    def policy(req: Request) -> Turn:
        step = _mcp_progress(req, label, "bridge_listen", "bridge_reply")
        if isinstance(step, Turn):
            return step
        tool, result, last = step
        if tool == "bridge_start" or (tool == "bridge_listen" and result.get("status") != "message"):
            return Turn(mcp_call("bridge_listen"))
        if tool == "bridge_listen":
            msg = result["message"]
            return Turn(mcp_call("bridge_reply", message_id=msg["id"], text=answer(msg["content"])))
        return Turn(f"Answered: {last.output}")

    return policy


def mcp_asker(label: str, peer: str, question: str) -> Callable[[Request], Turn]:
    """A model asking a peer with the MCP tools: bridge_start, bridge_ask, bridge_receive while "waiting"."""

    def policy(req: Request) -> Turn:
        step = _mcp_progress(req, label, "bridge_ask", "bridge_receive")
        if isinstance(step, Turn):
            return step
        tool, result, last = step
        if tool == "bridge_start":
            return Turn(mcp_call("bridge_ask", peer=peer, question=question))
        if result.get("status") == "waiting":
            return Turn(mcp_call("bridge_receive", message_id=result["question_id"]))
        return Turn(f"{peer} answered:\n{result['answer']['content']}")

    return policy


def slash_setup(label: str, action: str, *then: str) -> Callable[[Request], Turn | None]:
    """The turn of a `/bridge <action>` whose one launcher call is `action` (e.g. "background on", "start --label
    lib"): on exit 4 the model starts the session and retries, then runs the extra calls `then` (e.g. "delivery
    hook") and ends its turn. Returns None for requests that are not such a turn."""

    def policy(req: Request) -> Turn | None:
        if f"<command-name>{COMMAND}</command-name>" not in req.prompt_text():
            return None
        cli = launcher_in(req)
        done_ = req.exchanges(since_prompt=True)
        plan = [action, *then]
        last = done_[-1] if done_ else None
        if last and last.exit_code == 4:
            return Turn(bash(f"{cli} start --label {label}"))
        if last and last.exit_code != 0:
            return Turn(f"Stopped: `{last.command}` exited {last.exit_code}: {last.output}")
        succeeded = {e.command for e in done_ if e.exit_code == 0}
        for step in plan:
            if f"{cli} {step}" not in succeeded:
                return Turn(bash(f"{cli} {step}"))
        return Turn(f"Done: {last.output.strip()}")

    return policy


def woken_answerer(answer: Answerer) -> Callable[[Request], Turn | None]:
    """An idle session's model when something wakes it: the Stop hook's message (the whole message and the reply
    command: it replies), or the monitor's pointer line (it takes the message with the read command the line names,
    then replies). Returns None for a turn that is neither."""

    def policy(req: Request) -> Turn | None:
        wake, done_ = req.prompt_text(), req.exchanges(since_prompt=True)
        if (m := WAKE_RE.search(wake)) and HEADER_RE.search(wake):
            if not done_:
                _, msg_id, content = parse_message(wake)
                return Turn(bash(reply_cmd(m.group("cmd"), msg_id, answer(content))))
        elif m := POINTER_RE.search(wake):
            if not done_:
                return Turn(bash(f"{m.group('cmd')} read {m.group('id')}"))
            if subcommand(done_[-1].command) == "read" and done_[-1].exit_code == 0:
                _, msg_id, content = parse_message(done_[-1].output)
                return Turn(bash(reply_cmd(m.group("cmd"), msg_id, answer(content))))
        else:
            return None
        last = done_[-1]
        return Turn(f"Answered: {last.output.strip()}" if last.exit_code == 0 else
                    f"Stopped: `{last.command}` exited {last.exit_code}: {last.output}")

    return policy


def first_of(*policies: Callable[[Request], Turn | None], otherwise: str = "Nothing to do."
             ) -> Callable[[Request], Turn]:
    """A policy trying each in turn; the first that returns a Turn answers (else a plain text turn)."""

    def policy(req: Request) -> Turn:
        for p in policies:
            turn = p(req)
            if turn is not None:
                return turn
        return Turn(otherwise)

    return policy


# --- interactive claude in tmux ---------------------------------------------------------------------------------


class Pane:
    """Interactive `claude` in a pane of a private tmux server (own socket, no user config, the user's clean
    environment: nothing from this process leaks in). Read it with text() / wait_text(), type with submit()."""

    def __init__(self, user: ClaudeUser, api: MessagesApi, cwd: Path, width: int = 200, height: int = 50) -> None:
        import libtmux

        self.socket = str(user.tmp / f"tmux-{uuid.uuid4().hex[:8]}")  # removed with the test's directory
        self._own_dir = None
        if len(self.socket) > 100:  # a Unix socket path has a length limit (104-108 bytes)
            self._own_dir = tempfile.mkdtemp(prefix="bridge-tmux-")
            self.socket = os.path.join(self._own_dir, "s")
        conf = user.tmp / f"{Path(self.socket).name}.conf"
        conf.write_text("set -g remain-on-exit on\nset -g history-limit 20000\n")
        subprocess.run(["tmux", "-S", self.socket, "-f", str(conf), "new-session", "-d", "-s", "claude",
                        "-x", str(width), "-y", str(height), "-c", str(cwd), user.claude],
                       env=user.env(api), check=True, capture_output=True, timeout=30)
        self.server = libtmux.Server(socket_path=self.socket)
        self.pane = self.server.sessions[0].windows[0].panes[0]

    def text(self) -> str:
        """The pane's screen and scrollback as plain text."""
        return "\n".join(self.pane.capture_pane(start=-2000)).replace("\xa0", " ")

    def wait_text(self, needle: str | Callable[[str], object], timeout: float = 60, what: str | None = None):
        """Wait until the pane shows `needle` (or needle(text) is truthy)."""
        check = needle if callable(needle) else (lambda t: needle in t)
        return wait_until(lambda: check(self.text()), timeout, what or f"{needle!r} in the pane",
                          every=0.1, details=lambda: f"--- pane ---\n{self.text()[-3000:]}")

    def ready(self, timeout: float = 90) -> None:
        """Wait for Claude Code's input prompt."""
        self.wait_text(lambda t: "❯" in t and "Claude Code" in t, timeout, "claude's input prompt")

    def submit(self, prompt: str, timeout: float = 30) -> None:
        """Type a prompt, wait until the input box shows it (typing once more over a cleared line if keys were lost
        while claude was still starting), press Enter."""
        for attempt in (1, 2):
            self.pane.send_keys(prompt, enter=False, literal=True)
            try:
                self.wait_text(f"❯ {prompt}", timeout, f"the typed prompt {prompt!r}")
                break
            except AssertionError:
                if attempt == 2:
                    raise
                self.pane.send_keys("C-u", enter=False, literal=False)
        self.pane.send_keys("Enter", enter=False, literal=False)

    def close(self, timeout: float = 30) -> None:
        """End claude (the tmux server goes, claude gets SIGHUP) and wait until it and everything it started (hooks,
        the monitor, the MCP server) have exited; what is left after `timeout` is killed."""
        import psutil

        try:
            claude = psutil.Process(int(self.pane.pane_pid))
            procs = [claude, *claude.children(recursive=True)]
        except (psutil.Error, TypeError, ValueError):
            procs = []
        try:
            self.server.kill()
        except Exception:  # noqa: BLE001 - already gone
            pass
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=10)
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)


# --- an idle interactive session woken by a peer ----------------------------------------------------------------

WAKE_MODES = {
    # the Stop hook (asyncRewake) waits while the session is idle: `/bridge listen --background`; delivery "hook"
    # keeps the plugin's monitor from taking the job (with a monitor armed, auto mode prefers it)
    "hook": (f"{COMMAND} listen --background", ("background on", "delivery hook")),
    # the plugin's monitor announces each new message with a pointer line; the session only has to be started
    "monitor": (f"{COMMAND} start lib", ("start --label lib",)),
}


def default_answer(question: str) -> str:
    return f"getUser() became fetchUser(id) in v2.0. (You asked: {question})"


@dataclass
class Asked:
    """One `session-bridge ask` from the peer project, and the woken turn that answered it."""
    returncode: int
    stdout: str
    stderr: str
    woken: Request | None  # the woken turn's first request to the model
    woken_s: float | None  # send -> that request (s)
    answered_s: float  # send -> the answer printed by ask (s)
    last: Request | None = None  # the woken turn's last request (its tool calls: exchanges(since_prompt=True))


class IdleSession:
    """An interactive `claude` in tmux, project "lib", bridged and idle, that a peer's message wakes: with
    mode "hook" through the Stop hook (background listening), with "monitor" through the plugin's monitor. The
    peer is project "app": plain `session-bridge` processes (not an agent). Use as a context manager:

        with IdleSession(base_dir, claude, "monitor") as lib:
            got = lib.ask("what changed in v2?")
    """

    def __init__(self, base: Path, claude: str, mode: str, answer: Answerer = default_answer,
                 ready_timeout: float = 120, plugin_only: bool = False) -> None:
        assert mode in WAKE_MODES, mode
        self.base, self.claude, self.mode, self.answer = base, claude, mode, answer
        self.plugin_only = plugin_only  # the user has the CLI only in the plugin's private venv (ClaudeUser.create)
        self.ready_timeout = ready_timeout
        self.pane: Pane | None = None
        self.session_id = ""

    def __enter__(self) -> "IdleSession":
        self.user = ClaudeUser.create(self.base, self.claude, plugin_only=self.plugin_only)
        self.lib, self.app = self.base / "lib", self.base / "app"
        self.lib.mkdir(exist_ok=True)
        self.app.mkdir(exist_ok=True)
        prompt, plan = WAKE_MODES[self.mode]
        self.api = MessagesApi(first_of(slash_setup("lib", *plan), woken_answerer(self.answer)))
        self.api.start()
        try:
            self.user.trust(self.lib, self.api.API_KEY)
            # what the user allowed once ("don't ask again"): the woken turn runs the launcher outside /bridge
            self.user.allow("Bash(*/scripts/session-bridge *)")
            self.pane = Pane(self.user, self.api, self.lib)
            self.pane.ready(self.ready_timeout)
            self.pane.submit(prompt)
            done = self.api.wait_for(lambda r: r.is_main and "<command-name>" in r.prompt_text() and all(
                any(e.command.endswith(f" {step}") and e.exit_code == 0 for e in r.exchanges(since_prompt=True))
                for step in plan), self.ready_timeout, f"the model's `{prompt}` turn")
            started = next(e for e in done.exchanges() if subcommand(e.command) == "start" and e.exit_code == 0)
            self.session_id = re.search(r"session (\S+) for", started.output).group(1)
            r = self.user.bridge_cli(self.app, "start", "--label", "app")
            assert r.returncode == 0, r.stderr
            self.wait_idle(done.wall)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pane is not None:
            self.pane.close()
        self.api.stop()

    def delivery(self) -> dict:
        """lib's delivery state as `session-bridge status --json` shows it ({} if it has none)."""
        r = self.user.bridge_cli(self.lib, "status", "--json", BRIDGE_SESSION_ID=self.session_id)
        return orjson.loads(r.stdout).get("delivery", {}) if r.returncode == 0 else {}

    def wait_idle(self, since: float, timeout: float = 60) -> None:
        """Wait until lib can be woken again: the Stop hook's wait began after `since` (hook), or the monitor is
        armed (monitor). Uses status's delivery paths; without them (an older CLI) it does not wait."""
        def ready() -> bool:
            d = self.delivery()
            if not d:
                return True
            path = d.get("paths", {}).get("background" if self.mode == "hook" else "monitor", {})
            return path.get("armed", False) if self.mode == "monitor" else path.get("at", 0) >= since
        what = ("lib's Stop hook (session-bridge hook background-listen) to start waiting for a message after its turn"
                if self.mode == "hook" else "lib's plugin monitor (session-bridge watch) to serve its session")
        wait_until(ready, timeout, what, every=0.1,
                   details=lambda: f"delivery: {self.delivery()}\n--- pane ---\n{self.pane.text()[-2000:]}")

    def ask(self, question: str, timeout: float = 90) -> Asked:
        """`session-bridge ask lib QUESTION` from the app project; times the woken turn and the answer."""
        n = len(self.api.requests)
        t0 = time.monotonic()
        r = self.user.bridge_cli(self.app, "ask", "lib", question, "--timeout", str(timeout), timeout=timeout + 30)
        answered = time.monotonic() - t0
        self.api.check()
        woken = next((q for q in self.api.requests[n:] if q.is_main and (
            WAKE_RE.search(q.prompt_text()) or POINTER_RE.search(q.prompt_text()))), None)
        # the woken turn ends (its last request, after reply) before lib can be woken again
        last = None
        if woken is not None:
            last = self.api.wait_for(lambda q: q.is_main and q.prompt_index() == woken.prompt_index() and any(
                subcommand(e.command) == "reply" for e in q.exchanges(since_prompt=True)), 60,
                "the end of the woken turn", after=n)
            self.wait_idle(last.wall)
        return Asked(r.returncode, r.stdout, r.stderr, woken, woken.at - t0 if woken else None, answered, last)


def woken_turn_latency(mode: str = "monitor", rounds: int = 3, claude: str | None = None,
                       spacing_s: float = 2.5) -> list[Asked]:
    """For bench/: in a live interactive Claude Code (tmux, scripted model), how long from a peer's
    `session-bridge ask` to the idle session's woken turn (Asked.woken_s) and to the answer (Asked.answered_s),
    `rounds` times, `spacing_s` apart (past the notifier's 2 s between lines: each is a lone message).
    mode: "monitor" (the plugin's monitor) or "hook" (the Stop hook, background listening)."""
    claude = claude or shutil.which("claude") or str(REPO / ".venv" / "npm" / "bin" / "claude")
    with tempfile.TemporaryDirectory(prefix="bridge-wake-", ignore_cleanup_errors=True) as d:
        with IdleSession(Path(d), claude, mode) as lib:
            got = []
            for i in range(rounds):
                if i:
                    time.sleep(spacing_s)  # a measured gap between rounds, not a synchronization
                got.append(lib.ask(f"question {i}: what changed in v2?"))
            return got
