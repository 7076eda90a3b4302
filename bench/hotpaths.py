"""Hot paths: what every Claude session on the machine pays, bridged or not (issue 8).

    .venv/bin/python bench/hotpaths.py [--runs N]     # or: bench/bench.py --only hotpaths

Each case runs as a whole process, side by side with the floor `python3 -c pass`: the cases are interleaved (one run
of each per round, in a rotating order), so machine noise hits them alike. Reported: the median, the ratio to the
floor, the target and whether it is met.

(a) scripts/hook in a Claude session that is not bridged, while 20 other projects on the machine are: its
    UserPromptSubmit and Stop (background-listen) hooks, fed the event's JSON on stdin as Claude does;
(b) scripts/hook user-prompt-submit in a bridged session with an empty inbox (the CLI runs);
(c) a one-shot send, `scripts/send-message.sh <peer> query hello`, from a bridged session;
(d) MCP server start: spawn to the JSON-RPC result of `initialize`, for `session-bridge mcp` and for a bare SDK
    server with one tool;
(e) scripts/hook pre-tool-use (the no-auto-commit guard, run before every Bash call), fed Claude Code's PreToolUse
    JSON: in an unbridged project and in a bridged one where auto-mode is not in use (the shell answers), in a
    bridged one where it is (the settings exist: the CLI runs and allows `git status`), and in a session auto-mode
    drives (the CLI denies `git commit`). `--only guard` runs just these, beside the floor.
"""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
BIN = Path(sys.executable).parent  # .venv/bin: session-bridge and python3 resolve there, as in a dev checkout
sys.path.insert(0, str(REPO / "bench"))

from report import table  # noqa: E402

OTHER_SESSIONS = 20
INIT = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}) + b"\n"
BARE_SERVER = '''\
from mcp.server.mcpserver import MCPServer

s = MCPServer("bare")


@s.tool()
def ping() -> str:
    return "pong"


s.run()
'''

VERDICTS: list[str] = []


class Machine:
    """A temp BRIDGE_DIR with OTHER_SESSIONS bridged projects, a bridged lib, an app (sender) and its peer, and an
    unbridged project. Every session is hosted by this process (BRIDGE_HOST_PID), like a Claude above its hooks."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bridge-hot-"))
        self.base = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                         BRIDGE_DIR=str(self.tmp / "bridge"), BRIDGE_HOST_PID=str(os.getpid()))
        # PYTHONDONTWRITEBYTECODE would make every run compile the bridge again: users run from cached bytecode
        for k in ("BRIDGE_SESSION_ID", "PROJECT_DIR", "CLAUDE_PROJECT_DIR", "CLAUDE_ENV_FILE", "PYTHONDONTWRITEBYTECODE"):
            self.base.pop(k, None)
        try:
            for i in range(OTHER_SESSIONS):
                self.start(f"others/p{i:02d}")
            self.lib = self.start("lib")
            self.app = self.start("app")
            self.peer = self.start("peer")
            self.project("unbridged")
        except BaseException:
            self.remove()
            raise

    def project(self, name: str) -> Path:
        p = self.tmp / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def env(self, project: str, **extra: str) -> dict:
        return dict(self.base, CLAUDE_PROJECT_DIR=str(self.project(project)), **extra)

    def start(self, name: str) -> str:
        r = subprocess.run(["session-bridge", "start", "--label", name.replace("/", "-")],
                           env=dict(self.env(name), PROJECT_DIR=str(self.project(name))), capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"session-bridge start failed ({r.returncode}): {r.stderr.decode()[-600:]}")
        return (self.project(name) / ".claude" / "bridge-session").read_text()  # the id `start` points it at

    def remove(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def hook_stdin(event: str, project: Path) -> bytes:
    """A small event JSON like Claude Code's (tests/fixtures/claude_hooks/ has the recorded ones)."""
    data = {"session_id": "0f3c2a9e-bench", "transcript_path": str(project / "t.jsonl"), "cwd": str(project),
            "hook_event_name": event}
    if event == "UserPromptSubmit":
        data["prompt"] = "what does this function return?"
    if event == "Stop":
        data["stop_hook_active"] = False
    return orjson.dumps(data)


def bash_stdin(project: Path, command: str) -> bytes:
    """Claude Code's PreToolUse JSON for a Bash call (tests/fixtures/claude_hooks/PreToolUse.json's shape)."""
    data = orjson.loads(hook_stdin("PreToolUse", project))
    data.update(permission_mode="default", tool_name="Bash", tool_use_id="toolu_bench",
                tool_input={"command": command, "description": "run it"})
    return orjson.dumps(data)


def guard_cases(m: Machine, auto: Machine) -> list[Case]:
    """(e): `m` has never used auto-mode; in `auto`, role web@shop is turned on (its session is web's)."""
    hook = str(SCRIPTS / "hook")
    unbridged, lib = m.project("unbridged"), m.project("lib")
    denied = (b'{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny",'
              b'"permissionDecisionReason":"session-bridge: denied in a session auto-mode drives')
    cases = [
        Case("(e) hook pre-tool-use, unbridged project", [hook, "pre-tool-use"], m.env("unbridged"),
             bash_stdin(unbridged, "git status"), unbridged, b"{}\n"),
        Case("(e) hook pre-tool-use, bridged, auto-mode not in use", [hook, "pre-tool-use"], m.env("lib"),
             bash_stdin(lib, "git status"), lib, b"{}\n"),
        Case("(e) hook pre-tool-use, bridged, auto-mode in use", [hook, "pre-tool-use"], auto.env("lib"),
             bash_stdin(auto.project("lib"), "git status"), auto.project("lib"), b"{}\n"),
        Case("(e) hook pre-tool-use, auto-driven: denies git commit", [hook, "pre-tool-use"], auto.env("web"),
             bash_stdin(auto.project("web"), 'git commit -m "auto"'), auto.project("web")),
    ]
    cases[-1].expect_prefix = denied
    return cases


def auto_machine() -> Machine:
    """A Machine where auto-mode is in use: role web of room shop, turned on, held by this process."""
    auto = Machine()
    try:
        for args in (["start", "--room", "shop", "--role", "web"], ["auto", "on", "shop", "web"]):
            env = dict(auto.env("web"), PROJECT_DIR=str(auto.project("web")))
            r = subprocess.run(["session-bridge", *args], env=env, capture_output=True)
            if r.returncode != 0:
                raise RuntimeError(f"session-bridge {' '.join(args)} failed: {r.stderr.decode()[-600:]}")
    except BaseException:
        auto.remove()
        raise
    return auto


class Case:
    """One whole-process command; run() returns its wall time and checks it answered."""

    def __init__(self, label: str, argv: list[str], env: dict, stdin: bytes = b"", cwd: Path | None = None,
                 expect: bytes | None = None) -> None:
        self.label, self.argv, self.env, self.stdin, self.cwd, self.expect = label, argv, env, stdin, cwd, expect
        self.expect_prefix: bytes | None = None
        self.times: list[float] = []

    def run(self) -> None:
        t = time.perf_counter()
        r = subprocess.run(self.argv, input=self.stdin, env=self.env, cwd=self.cwd, capture_output=True)
        self.times.append(time.perf_counter() - t)
        if r.returncode != 0 or (self.expect is not None and r.stdout != self.expect) or \
                (self.expect_prefix is not None and not r.stdout.startswith(self.expect_prefix)):
            raise RuntimeError(f"{self.label}: exit {r.returncode}, out {r.stdout[:200]!r}, err {r.stderr[:400]!r}")

    @property
    def median(self) -> float:
        return statistics.median(self.times)


class McpCase(Case):
    """Spawn an MCP server, write `initialize`, time until the line with its result arrives; then stop it."""

    def run(self) -> None:
        t = time.perf_counter()
        p = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        try:
            p.stdin.write(INIT)
            p.stdin.flush()
            sel = selectors.DefaultSelector()
            sel.register(p.stdout, selectors.EVENT_READ)
            deadline = t + 30
            while True:
                if not sel.select(timeout=max(0.0, deadline - time.perf_counter())):
                    raise RuntimeError(f"{self.label}: no initialize result within 30 s")
                line = p.stdout.readline()
                if not line:
                    raise RuntimeError(f"{self.label}: exited before answering initialize")
                msg = orjson.loads(line)
                if msg.get("id") == 1:
                    break
            self.times.append(time.perf_counter() - t)
            if "result" not in msg:
                raise RuntimeError(f"{self.label}: initialize failed: {msg}")
        finally:
            p.kill()
            p.wait()


def check_bridged(m: Machine, case: Case) -> None:
    """The bridged hook really runs the CLI for lib: a message sent to lib comes back in its output (which also
    leaves lib's inbox empty again for the runs)."""
    subprocess.run([str(SCRIPTS / "send-message.sh"), m.lib, "query", "are you there?"], check=True,
                   capture_output=True, env=m.env("app", BRIDGE_SESSION_ID=m.app))
    r = subprocess.run(case.argv, input=case.stdin, env=case.env, cwd=case.cwd, capture_output=True, check=True)
    if b"are you there?" not in r.stdout:
        raise RuntimeError(f"the bridged hook did not hand over lib's message: {r.stdout[:300]!r} {r.stderr[:300]!r}")


def interleave(cases: list[Case], runs: int, warmup: int = 2) -> None:
    """`runs` rounds, one run of each case per round, starting each round one case later than the last."""
    for _ in range(warmup):
        for c in cases:
            c.run()
        for c in cases:
            c.times.clear()
    for i in range(runs):
        k = i % len(cases)
        for c in cases[k:] + cases[:k]:
            c.run()


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def row(case: Case, floor: Case, target: str, ok: bool, ratio_to: Case | None = None) -> list[str]:
    base = ratio_to or floor
    verdict = "pass" if ok else "FAIL"
    VERDICTS.append(f"{'met' if ok else 'NOT met'}: {case.label}: {fmt(case.median)} "
                    f"({case.median / base.median:.2f}x {'the bare server' if ratio_to else 'the floor'}), "
                    f"target {target}")
    return [case.label, fmt(case.median), f"{case.median / floor.median:.2f}x",
            f"{case.median / base.median:.2f}x" if ratio_to else "", target, verdict]


def guard_rows(cases: list[Case], floor: Case) -> list[list[str]]:
    """(e)'s rows: the shell's answers against the fast path's target, the CLI's against the bridged hook's."""
    shell, cli = cases[:2], cases[2:]
    return ([row(c, floor, "<= 0.6x floor", c.median <= 0.6 * floor.median) for c in shell]
            + [row(c, floor, "<= 80 ms", c.median <= 0.080) for c in cli])


def bench_guard(runs: int) -> None:
    """(e) alone, beside the floor."""
    python3 = shutil.which("python3", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") or sys.executable
    m = Machine()
    try:
        auto = auto_machine()
        try:
            floor = Case("floor: `python3 -c pass`", [python3, "-c", "pass"], m.base)
            cases = guard_cases(m, auto)
            print(f"\n{OTHER_SESSIONS + 3} bridge sessions on each machine; {runs} interleaved runs of each case")
            sys.stdout.flush()
            interleave([floor, *cases], runs)
            table(f"the commit guard's hook, median of {runs} interleaved runs", [
                "path", "median", "vs floor", "vs bare server", "target", "verdict"], [
                [floor.label, fmt(floor.median), "1.00x", "", "", ""], *guard_rows(cases, floor)])
        finally:
            auto.remove()
    finally:
        m.remove()


def bench_hotpaths(runs: int) -> None:
    python3 = shutil.which("python3", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") or sys.executable
    m = Machine()
    auto = None
    try:
        auto = auto_machine()
        floor = Case("floor: `python3 -c pass`", [python3, "-c", "pass"], m.base)
        unbridged = m.project("unbridged")
        hook = str(SCRIPTS / "hook")
        fast_prompt = Case("(a) hook user-prompt-submit, unbridged project", [hook, "user-prompt-submit"],
                           m.env("unbridged"), hook_stdin("UserPromptSubmit", unbridged), unbridged, b"{}\n")
        fast_stop = Case("(a) hook background-listen, unbridged project", [hook, "background-listen"],
                         m.env("unbridged"), hook_stdin("Stop", unbridged), unbridged, b"{}\n")
        lib = m.project("lib")
        bridged = Case("(b) hook user-prompt-submit, bridged, empty inbox", [hook, "user-prompt-submit"],
                       m.env("lib"), hook_stdin("UserPromptSubmit", lib), lib, b"{}\n")
        send = Case("(c) `send-message.sh <peer> query hello`",
                    [str(SCRIPTS / "send-message.sh"), m.peer, "query", "hello"],
                    m.env("app", BRIDGE_SESSION_ID=m.app), cwd=m.project("app"))
        bare_py = m.tmp / "bare_server.py"
        bare_py.write_text(BARE_SERVER)
        bare = McpCase("(d) bare SDK server (one tool): spawn -> initialize result", [sys.executable, str(bare_py)],
                       m.base, cwd=m.tmp)
        ours = McpCase("(d) `session-bridge mcp`: spawn -> initialize result", ["session-bridge", "mcp"],
                       m.env("lib"), cwd=lib)
        check_bridged(m, bridged)
        guard = guard_cases(m, auto)
        cases = [floor, fast_prompt, fast_stop, bridged, send, bare, ours, *guard]
        system = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.access(p, os.X_OK)), None)
        if system and Path(system).resolve() != Path(python3).resolve():  # how fast this machine's own Python starts
            cases.append(Case(f"info: `{system} -c pass` (not the CLI's interpreter)", [system, "-c", "pass"], m.base))
        print(f"\n{OTHER_SESSIONS + 3} bridge sessions on the machine; floor interpreter {python3}; "
              f"{runs} interleaved runs of each case")
        sys.stdout.flush()
        interleave(cases, runs)
        table(f"hot paths, median of {runs} interleaved runs", [
            "path", "median", "vs floor", "vs bare server", "target", "verdict"], [
            [floor.label, fmt(floor.median), "1.00x", "", "", ""],
            row(fast_prompt, floor, "<= 0.6x floor", fast_prompt.median <= 0.6 * floor.median),
            row(fast_stop, floor, "<= 0.6x floor", fast_stop.median <= 0.6 * floor.median),
            row(bridged, floor, "<= 80 ms", bridged.median <= 0.080),
            row(send, floor, "<= 3x floor", send.median <= 3 * floor.median),
            [bare.label, fmt(bare.median), f"{bare.median / floor.median:.2f}x", "1.00x", "(reference)", ""],
            row(ours, floor, "<= 1.2x bare server", ours.median <= 1.2 * bare.median, ratio_to=bare),
            *guard_rows(guard, floor),
        ] + [[c.label, fmt(c.median), f"{c.median / floor.median:.2f}x", "", "", ""] for c in cases[7 + len(guard):]])
    finally:
        m.remove()
        if auto is not None:
            auto.remove()


def print_verdicts() -> None:
    if VERDICTS:
        print("\n### Verdicts (hot paths)\n")
        for line in VERDICTS:
            print(f"- {line}")
        sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=21, help="interleaved runs of each case (default 21)")
    ap.add_argument("--only", choices=["guard"], help="run only these cases: guard, (e) the commit guard's hook")
    args = ap.parse_args()
    print(f"session-bridge hot paths on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if args.only == "guard":
        bench_guard(args.runs)
    else:
        bench_hotpaths(args.runs)
    print_verdicts()


if __name__ == "__main__":
    main()
