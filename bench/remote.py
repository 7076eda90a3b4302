"""Other machines (the gateway, bridge/gateway/): two bridge dirs on this host stand for machines a and b, each with
its own `session-bridge gateway` process, both on a real nats-server (JetStream, on file) on loopback.

    .venv/bin/python bench/remote.py [--quick]          # or: bench/bench.py --only remote

Needs nats-server on PATH (or /usr/sbin/nats-server; NATS_SERVER=PATH names another). Everything runs in a temp dir
that is removed at the end, and the server and both gateways are stopped however the run ends.

(r) send -> wake across machines: the core send from a session on a into the proxy of b's "lib" -> the file in lib's
    inbox on b (seen through the same inotify the listener uses) -> claimed by a listener blocked in protocol.listen;
    next to the local wake measured the same way in the same run (a session on b sending to the same listener),
    trials alternating remote / local; and a few lone messages sent after 6 s of quiet (past a gateway's fetch wait).
(s) round trip: an ask from a, answered on b by that listener (protocol.reply), the answer claimed back on a; a local
    ask on b next to it.
(t) throughput: 1,000 messages from a to a second session of b as fast as the core sends them: the time until all
    are in its inbox on b, lost and duplicated; the same sends into a local inbox; and a backlog: 1,000 written into
    b's proxy while gateway a is paused (SIGSTOP), then the time from resuming it until they are all on b.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("BRIDGE_HOST_PID", str(os.getpid()))  # the sessions below are hosted by this process

from bridge import inbound, layout, message, protocol, sessions  # noqa: E402
from bridge.errors import Timeout  # noqa: E402
from bridge.watch import watching  # noqa: E402
from report import table  # noqa: E402

CLI = [sys.executable, "-m", "bridge"]
WAIT_S = 30  # the longest any one message may take before the run gives up on it
IDLE_S = 6  # quiet before a lone message: longer than the 5 s a gateway's fetch waits for messages


def ms(values: list[float], top: bool = False) -> tuple[str, str]:
    """Median and p95 (or max, for a handful of values) in milliseconds."""
    values = sorted(values)
    p95 = values[-1] if top else values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return f"{statistics.median(values) * 1000:.1f} ms", f"{p95 * 1000:.1f} ms"


def nats_server() -> str:
    found = os.environ.get("NATS_SERVER") or shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not os.access(found, os.X_OK):
        raise SystemExit("bench/remote.py needs nats-server (apt install nats-server, or NATS_SERVER=PATH)")
    return found


def die_with_parent() -> None:
    """(In the child, before exec.) Killed when the bench dies, even by SIGKILL, even while paused: nothing outlives
    a run (an orderly end stops each with SIGTERM first, see stop())."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(what: str, check, timeout: float = WAIT_S, procs: tuple = ()):
    """Poll check() until it returns something true (a benchmark may poll; the bridge itself never does)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: {p.args[0] if isinstance(p.args, list) else p.args} exited "
                                   f"({p.returncode}); see {getattr(p, 'log', '')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g}s")
        time.sleep(0.01)


# --- the rig -------------------------------------------------------------------------------------------------------


class Machine:
    """A bridge dir standing for one machine; its sessions are hosted by this process."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.name = name
        self.tmp = tmp / name
        self.root = self.tmp / "bridge"
        layout.make_dirs(self.root / layout.SESSIONS)
        self.gateway: subprocess.Popen | None = None

    def session(self, label: str) -> sessions.Session:
        project = self.tmp / label
        project.mkdir(parents=True, exist_ok=True)
        os.environ["PROJECT_DIR"] = str(project)
        s = sessions.register(self.root, label)[0]
        os.environ.pop("BRIDGE_SESSION_ID", None)  # register exports it for a CLI; nothing here should read it
        return s

    def proxy_of(self, s: sessions.Session) -> sessions.Session | None:
        """This machine's proxy of a session of another machine, once presence made it."""
        p = sessions.load(self.root, s.id)
        return p if p is not None and p.machine else None


class Team:
    """nats-server with a config from `session-bridge remote setup`, machines a and b, a gateway for each."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack
        self.tmp = Path(tempfile.mkdtemp(prefix="bridge-remote-"))
        stack.callback(shutil.rmtree, self.tmp, ignore_errors=True)
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k not in ("BRIDGE_SESSION_ID", "BRIDGE_DIR")}
        self.a, self.b = Machine(self.tmp, "a"), Machine(self.tmp, "b")
        team = self.tmp / "team"
        made = subprocess.run([*CLI, "remote", "setup", str(team), "--machine", "a", "--machine", "b", "--listen",
                               f"127.0.0.1:{self.port}"], env=dict(self.env, BRIDGE_DIR=str(self.tmp / "setup")),
                              capture_output=True, text=True)
        if made.returncode:
            raise RuntimeError(f"session-bridge remote setup failed: {made.stderr or made.stdout}")
        self.team = team
        self.server = self._spawn([nats_server(), "-c", str(team / "nats.conf")], stderr=subprocess.PIPE)
        self.server_log: list[str] = []
        self._wait_ready()

    def _spawn(self, args: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent, **kw)
        self.stack.callback(stop, p)
        return p

    def _wait_ready(self) -> None:
        """Wait until the server's log says it is ready (a thread reads the log throughout, so it never blocks)."""
        ready = threading.Event()

        def read() -> None:
            for raw in iter(self.server.stderr.readline, b""):
                line = raw.decode(errors="replace")
                self.server_log = (self.server_log + [line])[-200:]
                if "Server is ready" in line:
                    ready.set()
            ready.set()  # it exited: say so below

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(15) or self.server.poll() is not None:
            raise RuntimeError("nats-server did not start:\n" + "".join(self.server_log[-20:]))

    def start_gateway(self, m: Machine) -> None:
        log = self.tmp / f"gateway-{m.name}.log"
        with open(log, "wb") as out:
            m.gateway = self._spawn([*CLI, "gateway", "--nats", self.url, "--machine", m.name, "--creds",
                                     str(self.team / f"{m.name}.nk")], env=dict(self.env, BRIDGE_DIR=str(m.root)),
                                    stdout=out, stderr=subprocess.STDOUT)
        m.gateway.log = log

    def gateways(self) -> tuple:
        return (self.a.gateway, self.b.gateway, self.server)


def stop(p: subprocess.Popen) -> None:
    """SIGTERM (a gateway acks nothing more and closes), then SIGKILL if it lingers."""
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Arrivals:
    """When (perf_counter) each file appeared in a directory, from the bridge's own inotify watch of it: the moment a
    listener blocked on that inbox could first see the message."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.watch = watching(folder)
        self.sub = self.watch.subscribe()
        self.at: dict[str, float] = {}
        self.cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            seen = self.watch.generation
            names, overflow = self.sub.take()
            now = time.perf_counter()
            if overflow:
                names |= set(os.listdir(self.folder))
            if names:
                with self.cond:
                    for n in names:
                        self.at.setdefault(n, now)
                    self.cond.notify_all()
            self.watch.wait(seen, None)

    def wait(self, msg_id: str, timeout: float = WAIT_S) -> float:
        name = message.filename(msg_id)
        with self.cond:
            if not self.cond.wait_for(lambda: name in self.at, timeout):
                raise RuntimeError(f"{msg_id} did not arrive in {self.folder} within {timeout:g}s")
            return self.at[name]


class Listener:
    """A thread blocked in protocol.listen on a session, as a front-end's listener is: records when it claimed each
    message, and answers the ones whose content starts with "ask" (protocol.reply, after the claim ends)."""

    def __init__(self, me: sessions.Session) -> None:
        self.me = me
        self.claimed: dict[str, float] = {}
        self.cond = threading.Condition()
        self.stopping = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stopping:
                try:
                    with protocol.listen(self.me, 1) as msg:
                        t = time.perf_counter()
                except Timeout:
                    continue
                with self.cond:
                    self.claimed[msg["id"]] = t
                    self.cond.notify_all()
                if msg["content"].startswith("ask"):
                    protocol.reply(self.me, msg["id"], "answer")
        except BaseException as e:  # say so in the main thread, not as a silent dead thread
            self.error = e
            with self.cond:
                self.cond.notify_all()

    def wait(self, msg_id: str, timeout: float = WAIT_S) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: msg_id in self.claimed or self.error, timeout):
                raise RuntimeError(f"{msg_id} was not claimed within {timeout:g}s")
        if self.error:
            raise RuntimeError(f"the listener failed: {self.error!r}")
        return self.claimed[msg_id]

    def close(self) -> None:
        self.stopping = True
        self.thread.join(5)


# --- the bench -----------------------------------------------------------------------------------------------------


def bench_remote(trials: int = 100, rt_trials: int = 33, bulk: int = 1000, backlog_wait: float = 20,
                 idle_trials: int = 3) -> None:
    """Print tables (r), (s) and (t). `backlog_wait`: how long the backlog may take to reach b before the run moves
    on (saying how much arrived)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops the server and gateways
    with ExitStack() as stack:
        t_setup = time.perf_counter()
        team = Team(stack)
        a, b = team.a, team.b
        app = a.session("app")  # the sender on a
        lib, near, sink = b.session("lib"), b.session("near"), b.session("sink")  # on b: listener, local sender, bulk
        for s in (lib, sink):
            inbound.trust(s, "app@a")  # a remote sender is held until its recipient trusts it
        team.start_gateway(a)
        team.start_gateway(b)
        lib_at_a = until("b's sessions mirrored on a", lambda: a.proxy_of(lib), procs=team.gateways())
        sink_at_a = until("b's sessions mirrored on a", lambda: a.proxy_of(sink), procs=team.gateways())
        until("a's sessions mirrored on b", lambda: b.proxy_of(app), procs=team.gateways())
        t_setup = time.perf_counter() - t_setup

        arrivals = Arrivals(lib.mailbox.inbox)
        listener = Listener(lib)
        stack.callback(listener.close)
        paths = {"remote": (app, lib_at_a), "local": (near, lib)}
        arrival: dict[str, list[float]] = {"remote": [], "local": []}
        claimed: dict[str, list[float]] = {"remote": [], "local": []}
        for i in range(trials):
            for where, (sender, target) in paths.items():
                time.sleep(0.005)  # let the listener block again
                t = time.perf_counter()
                msg = protocol.send(sender, target, "query", f"wake {i}")
                arrival[where].append(arrivals.wait(msg["id"]) - t)
                claimed[where].append(listener.wait(msg["id"]) - t)

        idle_arrival, idle_claimed = [], []
        for i in range(idle_trials):  # a lone message: both gateways idle for longer than one fetch waits
            time.sleep(IDLE_S)
            t = time.perf_counter()
            msg = protocol.send(app, lib_at_a, "query", f"after idle {i}")
            idle_arrival.append(arrivals.wait(msg["id"]) - t)
            idle_claimed.append(listener.wait(msg["id"]) - t)

        table(f"(r) send -> wake across machines, on loopback ({trials} trials each, alternating)",
              ["path", "send -> in the recipient's inbox (median)", "p95", "send -> claimed by its listener (median)",
               "p95"],
              [["a -> b: core send into b's proxy, gateway a, nats-server, gateway b", *ms(arrival["remote"]),
                *ms(claimed["remote"])],
               ["local on b: core send -> the same listener", *ms(arrival["local"]), *ms(claimed["local"])],
               *([[f"a -> b after {IDLE_S:g} s of quiet ({idle_trials} trials; median / max)",
                   *ms(idle_arrival, top=True), *ms(idle_claimed, top=True)]] if idle_trials else [])])

        rt: dict[str, list[float]] = {"remote": [], "local": []}
        for i in range(rt_trials):
            for where, (sender, target) in paths.items():
                t = time.perf_counter()
                with protocol.ask(sender, target, f"ask {i}", timeout=WAIT_S):
                    rt[where].append(time.perf_counter() - t)
        table(f"(s) round trip: ask, the listener replies (protocol.reply), the answer claimed by the asker "
              f"({rt_trials} trials each)", ["path", "median", "p95"],
              [["a -> b -> a: ask from a, answered on b, answer back on a", *ms(rt["remote"])],
               ["local on b: the same listener", *ms(rt["local"])]])

        sink_arrivals = Arrivals(sink.mailbox.inbox)
        live_sent, live = bulk_send(app, sink_at_a, sink_arrivals, bulk, "live")
        local_sent, local = bulk_send(near, sink, sink_arrivals, bulk, "local")
        a.gateway.send_signal(signal.SIGSTOP)  # gateway a holds still while the core writes the backlog
        try:
            paused_sent, paused = bulk_send(app, sink_at_a, sink_arrivals, bulk, "backlog", a.gateway, backlog_wait)
        finally:
            a.gateway.send_signal(signal.SIGCONT)
        left_on_a = sink_at_a.mailbox.count()
        inbox = sink.mailbox.pending()
        dup = len(inbox) - len({m["id"] for m in inbox})
        first = min(100, bulk)
        if len(paused) == bulk:
            drained = rate(bulk, paused[-1])
        else:
            drained = (f"not within {backlog_wait:g} s: {len(paused)} arrived, {left_on_a} still in the proxy's inbox "
                       f"on a" + (f" (the last arrival {paused[-1]:.2f} s after resuming)" if paused else ""))
        table(f"(t) throughput a -> b: {bulk:,} messages sent back to back by the core", ["measure", "value"], [
            ["live (both gateways running): the core's sends into b's proxy on a", rate(bulk, live_sent)],
            ["live: first send -> all in the recipient's inbox on b", rate(len(live), live[-1]) if live else "-"],
            ["local on b, same recipient: the core's sends (no gateway in the path)", rate(bulk, local_sent)],
            ["backlog: the core's sends into b's proxy while gateway a is paused (SIGSTOP)", rate(bulk, paused_sent)],
            [f"backlog: gateway a resumed (SIGCONT) -> the first {first} in the inbox on b",
             rate(first, paused[first - 1]) if len(paused) >= first else "-"],
            ["backlog: gateway a resumed -> all in the inbox on b", drained],
            ["lost (live and local runs) / duplicated (all)", f"{2 * bulk - len(live) - len(local)} / {dup}"],
        ])
        if len(paused) < bulk:
            from bridge.gateway.run import REFRESH_S

            print(f"\nthe backlog stalled after {len(paused)} of {bulk:,}: a gateway pass forwards at most "
                  f"remote.outgoing()'s limit (100) per proxy, and a forwarded file's removal rings no bell, so the "
                  f"next pass waits for a new arrival or the {REFRESH_S:g} s presence refresh "
                  f"(bridge/gateway/run.py _files)")
        print(f"\nsetup (remote setup, nats-server, 2 gateways until each mirrors the other's sessions): "
              f"{t_setup:.2f} s")


def rate(n: int, seconds: float) -> str:
    return f"{seconds:.2f} s ({n / seconds:,.0f} msg/s)" if seconds > 0 else "-"


def bulk_send(sender: sessions.Session, target: sessions.Session, arrivals: Arrivals, n: int, tag: str,
              paused: subprocess.Popen | None = None, wait: float = 60) -> tuple[float, list[float]]:
    """Send n messages back to back: (seconds the core took to send them, when each arrived in the recipient's
    inbox in seconds from the first send, or from resuming `paused`, sorted; those that arrived within `wait`)."""
    t = time.perf_counter()
    names = [message.filename(protocol.send(sender, target, "note", f"{tag} {i}")["id"]) for i in range(n)]
    sent = time.perf_counter() - t
    if paused is not None:
        paused.send_signal(signal.SIGCONT)
        t = time.perf_counter()
    with arrivals.cond:
        arrivals.cond.wait_for(lambda: all(m in arrivals.at for m in names), wait)
        return sent, sorted(arrivals.at[m] - t for m in names if m in arrivals.at)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20 wake trials, 2 after quiet, 6 round trips, a 10 s "
                    "backlog window (1,000 messages still)")
    ap.add_argument("--trials", type=int, help="wake trials per path (default 100, 20 with --quick); round trips: a "
                    "third of it")
    args = ap.parse_args()
    trials = args.trials or (20 if args.quick else 100)
    bench_remote(trials, max(5, trials // 3), backlog_wait=10 if args.quick else 20, idle_trials=2 if args.quick else 3)


if __name__ == "__main__":
    main()
