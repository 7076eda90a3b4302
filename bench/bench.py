"""session-bridge benchmarks: prints markdown tables (the README's numbers come from here).

    ./dev bench                  # full run, about 12 minutes (the 100,000-message backlog tables take 4,
                                 # every crash point and pair three times takes 5)
    ./dev bench --quick          # fewer trials, shorter idle window, backlogs of at most 10,000
    ./dev bench --only backlog   # just (f) and (g); --only takes a comma list of: wake,read,throughput,idle,backlog,crash,
                                 # hotpaths (bench/hotpaths.py), push (bench/push.py), ui (bench/ui.py),
                                 # remote (bench/remote.py)

(a) send -> wake of a blocked bridge-listen.sh and of an in-process waiter, next to the floor measured in the same
    run (a bare rename seen through the same inotify mechanism, and `python -c pass`);
(b) a listen that finds one pending message among 0 / 1,000 / 10,000 already-read ones;
(c) 4 concurrent senders x 250 messages into 2 competing readers: throughput, lost, duplicated;
(d) CPU time of a listener idle for 30 s;  (e) peak RSS of a listener;
(h, i) a real process killed before every file-system step of every store operation, and of every recovery
    from such a crash (bench/crash_points.py): lost, unmarked duplicates, stuck readers;
(f) claim + finalize cost with 100 / 1,000 / 10,000 / 100,000 pending, and a full drain of 100,000 (bench/backlog.py);
(g) `session-bridge status`, `inbox` and the UserPromptSubmit hook as whole commands with 100,000 pending.
A one-line verdict per target is printed at the end.
"""

from __future__ import annotations

import argparse
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
os.environ["BRIDGE_HOST_PID"] = str(os.getpid())  # every session of this run is hosted by the bench process

from bridge import layout, message, protocol, sessions  # noqa: E402
from bridge.mailbox import Mailbox  # noqa: E402
from bridge.watch import watching  # noqa: E402

import backlog  # noqa: E402  (bench/ is on sys.path when this file runs)
from report import table  # noqa: E402

PROCS = str(REPO / "tests" / "procs.py")
SCRIPTS = REPO / "scripts"


def ms(values: list[float]) -> tuple[str, str]:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return f"{statistics.median(values) * 1000:.2f} ms", f"{p95 * 1000:.2f} ms"


class Env:
    """A fresh bridge dir with a 'lib' session (the listener) and an 'app' session (the sender)."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
        os.environ["BRIDGE_DIR"] = str(self.tmp / "bridge")
        self.root = layout.bridge_dir()
        self.lib = self.session("lib")
        self.app = self.session("app")

    def session(self, name: str) -> sessions.Session:
        (self.tmp / name).mkdir(exist_ok=True)
        os.environ["PROJECT_DIR"] = str(self.tmp / name)
        return sessions.register(self.root, name)[0]

    def env(self, project: str) -> dict:
        return dict(os.environ, PROJECT_DIR=str(self.tmp / project))


def inotify_ready(pid: int) -> bool:
    """True once the process holds an inotify watch: from then on it cannot miss an arrival."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fdinfo"):
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                if "inotify wd:" in f.read():
                    return True
    except OSError:
        pass
    return False


def wait_blocked(p: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while not inotify_ready(p.pid):  # a benchmark harness may poll /proc; the bridge itself never does
        if time.monotonic() > deadline or p.poll() is not None:
            raise RuntimeError("listener did not start")
        time.sleep(0.002)
    time.sleep(0.01)  # let it finish its first scan and block


# --- (a) wake latency ---------------------------------------------------------------------------------------------


def bench_wake(trials: int) -> None:
    e = Env()
    script_lat = []
    for _ in range(trials):
        p = subprocess.Popen([str(SCRIPTS / "bridge-listen.sh"), "30"], env=e.env("lib"), stdout=subprocess.PIPE)
        wait_blocked(p)
        t = time.perf_counter()
        protocol.send(e.app, e.lib, "query", "ping?")
        p.stdout.readline()
        script_lat.append(time.perf_counter() - t)
        p.wait()

    inproc, arrival = [], []
    got = threading.Event()
    ready = threading.Event()

    def waiter() -> None:
        for _ in range(2 * trials):
            ready.set()
            with protocol.listen(e.lib, 30):
                got.set()

    threading.Thread(target=waiter, daemon=True).start()
    box = e.lib.mailbox
    for i in range(2 * trials):
        ready.wait()
        ready.clear()
        time.sleep(0.005)  # let the waiter block again
        got.clear()
        if i % 2 == 0:  # the whole send: build, write + fsync, rename, outbox copy
            t = time.perf_counter()
            protocol.send(e.app, e.lib, "query", "ping?")
            got.wait()
            inproc.append(time.perf_counter() - t)
        else:  # arrival only: from the rename that makes the message appear to the waiter holding it
            msg = message.build(sender=e.app.manifest, to=e.lib.id, type="query", content="ping?")
            tmp = e.tmp / "staged.json"
            tmp.write_bytes(layout.dumps(msg))
            t = time.perf_counter()
            os.rename(tmp, box.inbox / message.filename(msg["id"]))
            got.wait()
            arrival.append(time.perf_counter() - t)

    floor = []
    d = e.tmp / "floor"
    d.mkdir()
    w = watching(d)
    for i in range(trials):
        (e.tmp / f"f{i}").write_text("x")
        seen = w.generation
        t = time.perf_counter()
        os.rename(e.tmp / f"f{i}", d / f"f{i}.json")
        w.wait(seen, 5)
        floor.append(time.perf_counter() - t)

    startup = []
    for _ in range(max(10, trials // 5)):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        startup.append(time.perf_counter() - t)

    table(f"(a) send -> wake, {trials} trials", ["path", "median", "p95"], [
        ["blocked `bridge-listen.sh` (separate process, prints the message)", *ms(script_lat)],
        ["in-process waiter: whole send -> wake (send writes + fsyncs)", *ms(inproc)],
        ["in-process waiter: arrival (rename) -> wake, message claimed", *ms(arrival)],
        ["floor: bare rename seen through the same inotify watch", *ms(floor)],
        ["floor: `python -c pass`", *ms(startup)],
        ["reference plugin (3 s polling, measured upstream)", "~2700 ms", "-"],
    ])
    ratio = statistics.median(arrival) / statistics.median(floor)
    print(f"\nin-process wake (arrival -> claimed) = {ratio:.1f}x the bare-notification floor (target <= 20x)")


# --- (b) scan cost with read messages ----------------------------------------------------------------------------


def fill_read(box: Mailbox, sender: sessions.Session, n: int) -> None:
    for i in range(n):
        box.deliver(message.build(sender=sender.manifest, to="lib", type="query", content=f"old {i}"))
        box.finalize(box.claim(lambda m: True))


def bench_read_backlog(runs: int) -> None:
    rows = []
    base_script = base_claim = None
    for n in (0, 1000, 10000):
        e = Env()
        fill_read(e.lib.mailbox, e.app, n)
        script_t, claim_t = [], []
        for _ in range(runs):
            protocol.send(e.app, e.lib, "query", "new")
            t = time.perf_counter()
            subprocess.run([str(SCRIPTS / "bridge-listen.sh"), "5"], env=e.env("lib"), capture_output=True, check=True)
            script_t.append(time.perf_counter() - t)
        box = Mailbox(e.lib.dir)
        for _ in range(runs * 4):
            protocol.send(e.app, e.lib, "query", "new")
            t = time.perf_counter()
            box.finalize(box.claim(lambda m: True))
            claim_t.append(time.perf_counter() - t)
        s, c = statistics.median(script_t), statistics.median(claim_t)
        base_script, base_claim = base_script or s, base_claim or c
        rows.append([f"{n:,}", f"{s * 1000:.1f} ms", f"{s / base_script:.2f}x", f"{c * 1000:.2f} ms",
                     f"{c / base_claim:.2f}x"])
    table("(b) one pending message among N read ones", [
        "read messages", "`bridge-listen.sh` (whole command)", "vs empty", "in-process claim+finish", "vs empty"], rows)


# --- (c) throughput with competing readers ----------------------------------------------------------------------


def bench_throughput(senders: int, per_sender: int) -> None:
    e = Env()
    readers = [subprocess.Popen([sys.executable, PROCS, "reader"], env=e.env("lib"), stdout=subprocess.PIPE)
               for _ in range(2)]
    for r in readers:
        r.stdout.readline()
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, PROCS, "sender", "lib", str(per_sender), f"s{i}"],
                              env=e.env(f"app{i}"), stdout=subprocess.DEVNULL) for i in range(senders)]
    total = senders * per_sender
    sel = selectors.DefaultSelector()
    for r in readers:
        sel.register(r.stdout, selectors.EVENT_READ)
    got: list[str] = []
    deadline = time.monotonic() + 120
    while len(got) < total and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            line = key.fileobj.readline()
            if line:
                got.append(orjson.loads(line)["content"])
    elapsed = time.perf_counter() - t
    for p in procs + readers:
        p.kill()
        p.wait()
    expected = {f"s{i}-{n}" for i in range(senders) for n in range(per_sender)}
    table(f"(c) {senders} senders x {per_sender} messages, 2 competing reader processes", [
        "messages", "seconds (incl. process start)", "throughput", "lost", "duplicated"], [[
            total, f"{elapsed:.2f}", f"{len(got) / elapsed:.0f} msg/s", len(expected - set(got)),
            len(got) - len(set(got))]])


# --- (d, e) idle listener ------------------------------------------------------------------------------------------


def bench_idle(seconds: float) -> None:
    e = Env()
    p = subprocess.Popen([sys.executable, "-m", "bridge", "listen"], env=e.env("lib"), stdout=subprocess.PIPE)
    wait_blocked(p)
    proc = psutil.Process(p.pid)
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    cpu = (after.user - before.user) + (after.system - before.system)
    with open(f"/proc/{p.pid}/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    threads = proc.num_threads()
    p.kill()
    p.wait()
    table("(d, e) a listener blocked in `session-bridge listen`", ["measure", "value"], [
        [f"CPU time while idle for {seconds:g} s", f"{cpu * 1000:.0f} ms ({cpu / seconds * 100:.2f}% of a core)"],
        ["peak RSS (VmHWM)", f"{hwm / 1024:.1f} MiB"],
        ["threads", threads],
    ])


PARTS = ("wake", "read", "throughput", "idle", "backlog", "crash", "hotpaths", "push", "history", "artifacts", "ui",
         "remote")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer trials, a 5 s idle window, backlogs of at most 10,000")
    ap.add_argument("--only", default=",".join(PARTS), help="comma list of: " + ", ".join(PARTS))
    args = ap.parse_args()
    only = {p.strip() for p in args.only.split(",") if p.strip()}
    if only - set(PARTS):
        ap.error(f"--only takes {', '.join(PARTS)}, not {', '.join(sorted(only - set(PARTS)))}")
    print(f"session-bridge benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if "wake" in only:
        bench_wake(20 if args.quick else 60)
    if "read" in only:
        bench_read_backlog(3 if args.quick else 7)
    if "throughput" in only:
        bench_throughput(4, 250)
    if "idle" in only:
        bench_idle(5 if args.quick else 30)
    if "backlog" in only:
        backlog.bench_claim_backlog(Env, table, args.quick)
        backlog.bench_commands(Env, table, args.quick)
    if "crash" in only:
        import crash_points  # bench/crash_points.py: every crash point and pair, against the real store

        crash_points.main(trials=1 if args.quick else 3)
    if "hotpaths" in only:
        import hotpaths  # bench/hotpaths.py: the hooks, a one-shot send and the MCP server start, next to the floor

        hotpaths.bench_hotpaths(7 if args.quick else 21)
        hotpaths.print_verdicts()
    if "push" in only:
        import push  # bench/push.py: notifier latency and idle cost, tmux push, the rig's woken turn

        push.bench_push(8 if args.quick else 15)
    if "history" in only:
        import history  # bench/history.py: search and history at 100,000 messages, catch-up, the whole command

        history.bench_history(args.quick)
        history.print_verdicts()
    if "artifacts" in only:
        import artifacts  # bench/artifacts.py: share and get of a 10 MiB artifact, in-process and as commands

        artifacts.bench_artifacts(3 if args.quick else 7)
    if "ui" in only:
        import ui  # bench/ui.py: send -> on screen in the dashboard, a real chromium through Playwright

        ui.bench_ui(10 if args.quick else 20)
    if "remote" in only:
        import remote  # bench/remote.py: two machines through their gateways and a real nats-server, on loopback

        remote.bench_remote(20 if args.quick else 100, 6 if args.quick else 33, backlog_wait=10 if args.quick else 20,
                            idle_trials=2 if args.quick else 3)
    backlog.print_verdicts()


if __name__ == "__main__":
    main()
