"""The Codex queue path with the real Codex CLI, offline: `session-bridge watch --driver queue` queues a one-line
pointer into the session's Codex thread with `codex queue --thread <id> --message <pointer>`.

Codex's model is a local fake Responses API (tests/fake_responses_api.py), so `codex exec` makes real threads (rollout
files, Codex's own state) and `codex exec resume` shows what a queued message becomes: the next request Codex sends
to the model carries it. Exit 0 of `codex queue` is not "delivered": the message is marked noticed, not read, and
stays in the inbox until the agent takes it. A failing `codex queue` marks nothing, the notifier goes on, and
`delivery --json` shows Codex's own `Error:` line. The last test drives a live, idle interactive Codex (the TUI in a
tmux server of its own) whose fake model does what the pointer says: the whole ask → wake → read → reply loop.

Facts these tests rest on (Codex CLI 0.169.0): `codex queue` stores the text in $CODEX_HOME/queue_1.sqlite
(queued_items) and exits 0 without any live Codex; a thread id whose rollout this CODEX_HOME lacks exits 1 with
"Error: ... no rollout found for thread id ..." (then a backtrace when RUST_BACKTRACE is set). The queue starts the
thread's next turn (turn_trigger "queue" in the rollout) with the queued text as a user message: in a live TUI, or
when the thread is resumed (`codex exec resume`, whose own prompt then joins that turn). A live TUI on Codex's managed app-server daemon starts that turn at once; one
with `--no-daemon` polls, and starts it 3-8 s later.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest

from fake_responses_api import Request, ResponsesApi, exec_command
from support import CLI, require_tool, wait_until

DEADLINE = 60  # generous: a loaded 2-core machine
CODEX_TIMEOUT = 120


def until(condition, what: str, timeout: float = DEADLINE):
    """support.wait_until, with this module's deadline."""
    return wait_until(condition, timeout, what)


# --- Codex, offline --------------------------------------------------------------------------------------------------


class Codex:
    """The real Codex CLI with its own CODEX_HOME whose model is the fake Responses API `api`."""

    def __init__(self, exe: str, api: ResponsesApi, home: Path, work: Path) -> None:
        self.exe, self.api, self.home, self.work = exe, api, api.codex_home(home), work
        work.mkdir(parents=True, exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        return dict(os.environ, **self.api.env(self.home), **extra)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([self.exe, *args], env=self.env(), cwd=self.work, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=CODEX_TIMEOUT)
        if check and r.returncode != 0:
            raise AssertionError(f"codex {' '.join(args)} exited {r.returncode}:\n{r.stderr}\n{r.stdout}")
        return r

    def new_thread(self, prompt: str = "hello") -> str:
        """A real Codex thread (one turn answered by the fake model); its id, from `codex exec --json`."""
        r = self.run("exec", "--json", "--skip-git-repo-check", prompt)
        events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        thread = next(e["thread_id"] for e in events if e.get("type") == "thread.started")
        assert any(e.get("type") == "turn.completed" for e in events), r.stdout
        assert self.rollout(thread) is not None, "codex exec wrote no rollout file"
        return thread

    def rollout(self, thread: str) -> Path | None:
        """The thread's rollout file (Codex's transcript of it) under this CODEX_HOME."""
        return next((self.home / "sessions").rglob(f"rollout-*{thread}.jsonl"), None)

    def queued(self, thread: str) -> list[dict]:
        """What Codex holds queued for the thread, oldest first: [{id, text, created_ms}] (Codex 0.169 keeps its
        queue in $CODEX_HOME/queue_1.sqlite, table queued_items)."""
        out = []
        for db in sorted(self.home.glob("queue_*.sqlite")):
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
            try:
                rows = con.execute("SELECT id, payload_json, created_at_ms FROM queued_items WHERE thread_id = ? "
                                   "ORDER BY queue_order", (thread,)).fetchall()
            except sqlite3.OperationalError as e:  # not created yet, or written right now
                if any(w in str(e) for w in ("no such table", "locked", "busy", "unable to open")):
                    continue
                raise
            finally:
                con.close()
            for qid, payload, created in rows:
                parts = json.loads(payload).get("UserInput", {}).get("content", [])
                out.append({"id": qid, "text": "".join(p.get("text", "") for p in parts), "created_ms": created})
        return out

    def resume(self, thread: str, prompt: str) -> list[Request]:
        """`codex exec resume <thread> <prompt>`: the model requests it made, in order."""
        before = len(self.api.responses())
        r = self.run("exec", "--json", "--skip-git-repo-check", "resume", thread, prompt)
        assert '"turn.completed"' in r.stdout, r.stdout
        return self.api.responses()[before:]


@pytest.fixture
def codex_exe() -> str:
    return require_tool("codex")


@pytest.fixture
def api():
    with ResponsesApi() as server:
        yield server


@pytest.fixture
def codex(codex_exe, api, tmp_path) -> Codex:
    return Codex(codex_exe, api, tmp_path / "codex-home", tmp_path / "codex-work")


# --- the bridge side -------------------------------------------------------------------------------------------------


@pytest.fixture
def watchers():
    """start(...) runs `session-bridge watch --driver queue` as a real process; all are ended after the test."""
    started: list[subprocess.Popen] = []

    def start(env: dict, log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen([*CLI, "watch", "--driver", "queue"], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env)
        started.append(proc)
        return proc

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


def codex_session(bridge, host, thread: str, mode: str = "queue") -> str:
    """Bind project "lib" to the Codex thread as a command run by Codex does (CODEX_THREAD_ID set, the agent
    process a stand-in named codex), and choose the delivery mode; the bridge session id."""
    env = dict(CODEX_THREAD_ID=thread, BRIDGE_HOST_PID=host.pid)
    sid = orjson.loads(bridge.cli("lib", "start", "--label", "lib", "--json", check=True, **env).stdout)[
        "session"]["session_id"]
    manifest = orjson.loads((bridge.root / "sessions" / sid / "manifest.json").read_bytes())
    assert manifest["host"] == "codex" and manifest["agentSessionId"] == thread, manifest
    if mode != "auto":
        bridge.cli("lib", "delivery", mode, check=True, **env)
    return sid


def watch_env(bridge, host, thread: str, codex: Codex, **extra: str) -> dict:
    return bridge.env("lib", **{"BRIDGE_HOST_PID": host.pid, "BRIDGE_NOTIFIER_RECHECK": "0.5",
                                "CODEX_THREAD_ID": thread, **codex.api.env(codex.home), **extra})


def delivery_of(bridge, host) -> dict:
    """`delivery --json` of project "lib", as its agent (a Host, or a pid)."""
    pid = str(getattr(host, "pid", host))
    return orjson.loads(bridge.cli("lib", "delivery", "--json", check=True, BRIDGE_HOST_PID=pid).stdout)["delivery"]


def states(bridge, sender: str) -> dict[str, str]:
    out = orjson.loads(bridge.cli(sender, "outbox", "--json", check=True).stdout)
    return {m["id"]: m["state"] for m in out["messages"]}


def inbox_ids(bridge, host) -> list[str]:
    out = orjson.loads(bridge.cli("lib", "inbox", "--json", check=True, BRIDGE_HOST_PID=host.pid).stdout)
    return [m["id"] for m in out["messages"]]


def turn_triggers(rollout: Path) -> list[str]:
    """What started each turn of a Codex thread, from its rollout: "exec", "queue", ..."""
    text = rollout.read_text()
    events = [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines() if line.strip()]  # whole lines
    return [e["payload"].get("turn_attribution", {}).get("turn_trigger") for e in events
            if e.get("type") == "event_msg" and e["payload"].get("type") == "task_started"]


def last_queue_result(bridge, sid: str) -> dict:
    try:
        return orjson.loads((bridge.root / "sessions" / sid / ".delivery" / "queue.json").read_bytes())
    except (OSError, ValueError):
        return {}


# --- the tests -------------------------------------------------------------------------------------------------------


def test_codex_refuses_a_thread_without_a_rollout_then_the_notifier_delivers_once_it_exists(
        bridge, hosts, codex, watchers, tmp_path):
    """A thread id whose rollout this CODEX_HOME does not have: `codex queue` exits 1 ("no rollout found"). Nothing
    is marked, the notifier keeps running and `delivery --json` shows Codex's `Error:` line (not its backtrace).
    When the rollout appears, the notifier's next attempt queues the pointer and the message becomes noticed."""
    thread = codex.new_thread()
    empty = Codex(codex.exe, codex.api, tmp_path / "empty-codex-home", codex.work)  # knows no thread at all
    r = empty.run("queue", "--thread", thread, "--message", "probe", check=False)
    assert r.returncode == 1 and f"no rollout found for thread id {thread}" in r.stderr, r.stderr

    host = hosts("codex")
    sid = codex_session(bridge, host, thread)
    bridge.start("app", "app")
    log = tmp_path / "watch.out"
    proc = watchers(watch_env(bridge, host, thread, empty, RUST_BACKTRACE="1"), log)  # Codex prints a backtrace
    q = bridge.cli("app", "send", "lib", "query", "is v2 out?", check=True).out.strip()

    failed = until(lambda: (e := last_queue_result(bridge, sid)) and e.get("ok") is False and e, "a failed attempt")
    shown = delivery_of(bridge, host)
    assert shown["mode"] == "queue" and shown["effective"] == "queue"
    path = shown["paths"]["queue"]
    assert path["ok"] is False and path["armed"] is True, path
    assert path["detail"].startswith("codex queue exited 1: Error: failed to queue session message"), path
    assert f"no rollout found for thread id {thread}" in path["detail"], path
    assert "backtrace" not in path["detail"].lower() and "<unknown>" not in path["detail"]
    assert failed["detail"] == path["detail"]
    assert states(bridge, "app")[q] == "queued"  # not noticed: nobody was told
    assert q in inbox_ids(bridge, host)
    notifier_log = bridge.root / "logs" / f"queue-{host.pid}.log"
    until(lambda: "step failed" in notifier_log.read_text(), "the failure is logged")
    assert "no rollout found" in notifier_log.read_text()
    assert proc.poll() is None, log.read_text()
    assert empty.queued(thread) == []

    # The thread's rollout appears in this CODEX_HOME: the next attempt (the notifier's backoff) succeeds.
    source = codex.rollout(thread)
    target = empty.home / source.relative_to(codex.home)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    until(lambda: states(bridge, "app").get(q) == "noticed", "noticed once codex queue succeeds")
    path = delivery_of(bridge, host)["paths"]["queue"]
    assert path["ok"] is True and path["detail"] == "noticed 1 message(s)", path
    [item] = empty.queued(thread)
    assert q in item["text"] and "from app" in item["text"]
    assert q in inbox_ids(bridge, host)  # noticed is not read
    assert proc.poll() is None, log.read_text()


def test_codex_queue_puts_the_text_into_the_thread_and_the_model_gets_it_on_resume(codex):
    """The Codex side alone: `codex queue` exits 0 into a real thread (no Codex runs it), Codex keeps the text queued
    for that thread, and the thread's next turn (`codex exec resume`) is started by the queue: the model gets the
    queued text as a user message, before the new prompt (which joins that turn)."""
    thread = codex.new_thread("first prompt")
    r = codex.run("queue", "--thread", thread, "--message", "QUEUED-PROBE 42")
    assert r.returncode == 0 and f"for thread {thread}" in r.stdout, (r.stdout, r.stderr)
    [item] = codex.queued(thread)
    assert item["text"] == "QUEUED-PROBE 42"

    sent = codex.resume(thread, "next prompt")
    first = next(req for req in sent if "QUEUED-PROBE 42" in req.user_texts())
    assert first.last_user_text() == "QUEUED-PROBE 42" and "first prompt" in first.user_texts()
    last = sent[-1].user_texts()
    assert last.index("first prompt") < last.index("QUEUED-PROBE 42") < last.index("next prompt"), last
    assert codex.queued(thread) == []  # consumed by the thread
    assert turn_triggers(codex.rollout(thread)) == ["exec", "queue"]  # Codex: the queue started the second turn


def test_watch_queues_a_pointer_into_the_codex_thread_noticed_not_read(bridge, hosts, codex, watchers, tmp_path):
    """End to end: a peer's query becomes one pointer (id, sender, subject, how to take it; never the body) queued
    into the session's Codex thread; the sender sees it noticed, the inbox still holds it, and the thread's next turn
    hands exactly that pointer to the model. Only taking it makes it read."""
    thread = codex.new_thread()
    host = hosts("codex")
    sid = codex_session(bridge, host, thread)
    bridge.start("app", "app")
    log = tmp_path / "watch.out"
    proc = watchers(watch_env(bridge, host, thread, codex), log)
    body = "what changed in v2?\n" + "SECRET-BODY " * 100
    q = bridge.cli("app", "send", "lib", "query", body, check=True).out.strip()

    [item] = until(lambda: codex.queued(thread), "the pointer in Codex's queue for the thread")
    text = item["text"]
    assert text.startswith(f"session-bridge: query {q} from app waits: ") and '"what changed in v2?"' in text
    assert f"session-bridge read {q}" in text and f"session-bridge reply {q} -" in text
    assert "SECRET-BODY" not in text and "\n" not in text and len(text) <= 500
    until(lambda: states(bridge, "app").get(q) == "noticed", "the sender sees its query noticed")
    assert q in inbox_ids(bridge, host)  # noticed, not read
    path = delivery_of(bridge, host)["paths"]["queue"]
    assert path["ok"] is True and path["detail"] == "noticed 1 message(s)" and path["armed"] is True, path
    notifier_log = (bridge.root / "logs" / f"queue-{host.pid}.log").read_text()
    assert f"queued a pointer to 1 message(s) into Codex thread {thread}: {q}" in notifier_log
    assert sid in notifier_log

    sent = codex.resume(thread, "carry on")  # the thread's next turn
    assert any(req.user_texts()[-1:] == [text] for req in sent), [r.user_texts()[-2:] for r in sent]
    assert turn_triggers(codex.rollout(thread)) == ["exec", "queue"]
    assert not any("SECRET-BODY" in req.input_text() for req in sent)
    assert states(bridge, "app")[q] == "noticed"  # Codex got the pointer; the agent has not taken the message

    taken = orjson.loads(bridge.cli("lib", "read", q, "--json", check=True, BRIDGE_HOST_PID=host.pid).stdout)
    assert taken["message"]["content"] == body
    until(lambda: states(bridge, "app").get(q) == "read", "read once taken")
    assert proc.poll() is None, log.read_text()


def test_send_to_codex_queue_latency_with_delivery_auto(bridge, hosts, codex, watchers, tmp_path):
    """delivery auto picks the running queue notifier; each send's pointer reaches Codex's queue. Measures send →
    `codex queue` accepted (Codex's own timestamp) and returned (the notifier's record), median of a few."""
    thread = codex.new_thread()
    host = hosts("codex")
    sid = codex_session(bridge, host, thread, mode="auto")
    bridge.start("app", "app")
    proc = watchers(watch_env(bridge, host, thread, codex), tmp_path / "watch.out")
    until(lambda: (d := delivery_of(bridge, host))["effective"] == "queue" and d, "auto resolves to the queue")

    cli_s, accepted_s, returned_s = [], [], []
    for i in range(5):
        last = last_queue_result(bridge, sid).get("at", 0)
        time.sleep(max(0.0, last + 2.2 - time.time()))  # pacing, not synchronization: past the 2 s rate limit
        t0 = time.time()
        q = bridge.cli("app", "send", "lib", "note", f"ping {i}", check=True).out.strip()
        cli_s.append(time.time() - t0)
        item = until(lambda: next((it for it in codex.queued(thread) if q in it["text"]), None), f"{q} queued")
        done = until(lambda: (e := last_queue_result(bridge, sid)).get("at", 0) > t0 and e.get("ok") and e,
                     f"{q} recorded")
        accepted_s.append(item["created_ms"] / 1000 - t0)
        returned_s.append(done["at"] - t0)
        until(lambda: states(bridge, "app").get(q) == "noticed", f"{q} noticed")
    assert len(codex.queued(thread)) == 5
    report = (f"send CLI {statistics.median(cli_s):.3f}s, send→codex accepted {statistics.median(accepted_s):.3f}s, "
              f"send→codex queue returned {statistics.median(returned_s):.3f}s (median of 5; max "
              f"{max(returned_s):.3f}s)")
    sys.stderr.write(f"\ncodex queue latency: {report}\n")
    (tmp_path.parent / "codex-queue-latency.txt").write_text(report + "\n")
    assert max(returned_s) < 30, report
    assert proc.poll() is None


# --- a live, idle Codex (the interactive TUI in tmux) ----------------------------------------------------------------


class Pane:
    """The interactive Codex TUI in a tmux server of its own (socket under `base`); kill() ends both."""

    def __init__(self, base: Path, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.tmux = require_tool("tmux")
        self.socket = str(base / "tmux.sock")
        if len(self.socket) > 100:  # a unix socket path holds ~107 bytes
            self.socket = f"/tmp/sbq-{os.getpid()}-{os.urandom(4).hex()}.sock"
        extra = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        subprocess.run([self.tmux, "-S", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "codex", "-x",
                        "160", "-y", "50", "-c", str(cwd), *extra, *argv], env=env, check=True, timeout=30)

    def screen(self) -> str:
        r = subprocess.run([self.tmux, "-S", self.socket, "capture-pane", "-p", "-t", "codex"], capture_output=True,
                           text=True, timeout=30)
        return r.stdout

    def kill(self) -> None:
        subprocess.run([self.tmux, "-S", self.socket, "kill-server"], capture_output=True, timeout=30)
        if self.socket.startswith("/tmp/sbq-"):
            Path(self.socket).unlink(missing_ok=True)


def agent_policy(req: Request):
    """The fake model of a Codex agent that binds the bridge when asked, and that, woken by a pointer, does what
    the pointer says: takes the message and answers it."""
    said, ran = req.last_user_text(), req.tool_outputs()
    if said == "BIND":
        return [exec_command("session-bridge start --label lib")] if not ran else "Bridged."
    pointer = re.match(r"session-bridge: query (\S+) from \S+ waits: .*; take it with: (.+?) read \1, then answer "
                       r"with: \2 reply \1 -$", said)
    if pointer:
        mid, cli = pointer.groups()
        if not ran:
            return [exec_command(f"{cli} read {mid}")]
        if len(ran) == 1:
            return [exec_command(f"echo 'yes: v2 shipped on Monday' | {cli} reply {mid} -")]
        return "Answered."
    return "Nothing to do."


def codex_processes_under(home: Path) -> list[psutil.Process]:
    """Processes running a Codex binary that this test's CODEX_HOME holds (the managed app-server daemon and its
    updater, installed there by the TUI): ours to end."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if cmd and cmd[0].startswith(str(home) + os.sep):
            found.append(p)
    return found


@pytest.mark.parametrize("daemon", [False, True], ids=["embedded", "daemon"])
def test_an_idle_live_codex_is_woken_by_the_pointer_and_answers(daemon, bridge, codex_exe, watchers, tmp_path):
    """The whole path with a live interactive Codex (the TUI in tmux, idle): Codex's own shell command binds the
    bridge session (CODEX_THREAD_ID and the codex process, found by the bridge itself), `watch --driver queue` runs
    beside it with delivery auto, a peer asks; the pointer starts a turn in the idle thread (Codex records the turn's
    trigger as "queue"), the model is given the pointer only, runs what it says, and the peer's `ask` gets the
    answer. The notifier ends when the agent process exits.

    embedded: `codex --no-daemon` (the app server runs inside the TUI; it polls the queue: a wake takes seconds).
    daemon: Codex's default, a managed app-server daemon installed into CODEX_HOME that outlives the TUI; it runs
    the agent's shell commands, so it is the process the bridge takes for the agent."""
    with ResponsesApi(policy=agent_policy) as api:
        home = api.codex_home(tmp_path / "codex-home")
        project = bridge.project("lib")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "CODEX_", "TMUX", "CLAUDE"))}
        env.update(BRIDGE_DIR=str(bridge.root), PROJECT_DIR=str(project), TERM="xterm-256color", **api.env(home))
        argv = [codex_exe, *([] if daemon else ["--no-daemon"]), "--sandbox", "danger-full-access", "BIND"]
        pane = Pane(tmp_path, argv, env, project)
        proc = agent = None
        try:
            bound = api.wait_for(lambda r: r.last_user_text() == "BIND" and bool(r.tool_outputs()), DEADLINE * 2,
                                 "Codex's result of `session-bridge start`")
            thread = bound.headers["thread-id"]
            [manifest_file] = until(lambda: list((bridge.root / "sessions").glob("*/manifest.json")), "a session")
            sid = manifest_file.parent.name
            manifest = orjson.loads(manifest_file.read_bytes())
            assert manifest["agentSessionId"] == thread and manifest["host"] == "codex", manifest
            agent = psutil.Process(manifest["pid"])
            assert agent.name() == "codex", agent.cmdline()  # the bridge found the real Codex process itself
            in_daemon = "app-server" in agent.cmdline()
            assert in_daemon == daemon, agent.cmdline()  # with the daemon, the agent's commands run under it
            rollout = until(lambda: next((home / "sessions").rglob(f"rollout-*{thread}.jsonl"), None), "a rollout")
            until(lambda: '"task_complete"' in rollout.read_text(), "Codex finished the BIND turn: idle")

            bridge.start("app", "app")
            proc = watchers(bridge.env("lib", BRIDGE_HOST_PID=str(agent.pid), BRIDGE_NOTIFIER_RECHECK="0.5",
                                       CODEX_THREAD_ID=thread, **api.env(home)), tmp_path / "watch.out")
            until(lambda: delivery_of(bridge, agent.pid)["effective"] == "queue",
                  "delivery auto picks the running queue notifier")
            before = len(api.responses())
            t0, wall0 = time.monotonic(), time.time()
            asker = bridge.spawn("app", "ask", "lib", "is v2 out?\nSECRET-BODY " * 3, "--timeout", "120", "--json")
            woke = api.wait_for(lambda r: r.last_user_text().startswith("session-bridge: query "), DEADLINE * 2,
                                "the pointer reaching the model", after=before)
            woken_s = woke.at - t0
            said = woke.last_user_text()
            assert "from app" in said and '"is v2 out?"' in said and "SECRET-BODY" not in woke.input_text()
            out, err = asker.communicate(timeout=DEADLINE * 2)
            answered_s = time.monotonic() - t0
            assert asker.returncode == 0, err.decode()
            answer = orjson.loads(out)
            assert answer["status"] == "answered" and answer["answer"]["content"] == "yes: v2 shipped on Monday\n"
            assert answer["question_id"] in said
            triggers = turn_triggers(rollout)
            assert triggers[-1] == "queue" and len(triggers) == 2, triggers  # Codex: the queue started that turn
            taken = [o for r in api.responses() for o in r.tool_outputs() if "is v2 out?" in o]
            assert taken and "SECRET-BODY" in taken[-1]  # the body reached the agent only by `session-bridge read`
            told = last_queue_result(bridge, sid)
            assert told["ok"] is True and told["detail"] == "noticed 1 message(s)", told
            report = (f"{'daemon' if daemon else 'embedded'}: ask → codex queue returned {told['at'] - wall0:.2f}s, "
                      f"→ pointer at the model {woken_s:.2f}s, → answer {answered_s:.2f}s")
            sys.stderr.write(f"\nlive Codex {report}\n")
            with open(tmp_path.parent / "codex-live-latency.txt", "a") as f:
                f.write(report + "\n")
        finally:
            screen = pane.screen()
            pane.kill()
            if daemon:
                subprocess.run([codex_exe, "app-server", "daemon", "stop"], env=dict(os.environ, **api.env(home)),
                               capture_output=True, timeout=CODEX_TIMEOUT)
                for leftover in codex_processes_under(home):  # its updater loop survives `daemon stop`
                    try:
                        leftover.kill()
                    except psutil.NoSuchProcess:
                        pass
                shutil.rmtree(home / "packages", ignore_errors=True)  # the daemon's copy of Codex: ~360 MB
        assert proc.wait(timeout=DEADLINE) == 0, screen  # the notifier ends with its agent
        log = (bridge.root / "logs" / f"queue-{agent.pid}.log").read_text()
        assert "ending: the agent exited" in log, log
