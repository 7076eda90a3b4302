"""Reaching a live session (issue 9): how fast a notifier points the agent at a new message, and what it costs idle.

    .venv/bin/python bench/push.py [--runs N]     # or: bench/bench.py --only push

(h) send -> monitor line: from the send time in the message's id (written by `session-bridge send`) until
    `session-bridge watch` (what the plugin's monitor runs) has printed the pointer line; each send waits out the
    notifier's 2 s rate limit first, as a lone message does.
(i) what a notifier costs while nothing arrives: the watch process's RSS and CPU over an idle window, and the
    monitor's shell loop before the session is bridged.
(k) a real interactive Claude Code in tmux with a scripted model (the tests' rig): a peer's `ask` -> the idle
    session's woken turn and -> the answer, woken by the plugin's monitor and by the Stop hook.
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

import psutil

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "bench"))

from report import table  # noqa: E402

from bridge import message  # noqa: E402

IDLE_S = 10


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


class Rig:
    """A temp BRIDGE_DIR with a stand-in agent process, its bridged session "lib" and a sender "app"."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bridge-push-"))
        self.agent = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        self.env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                        BRIDGE_DIR=str(self.tmp / "bridge"))
        for k in ("BRIDGE_SESSION_ID", "CLAUDE_PROJECT_DIR", "CLAUDE_PLUGIN_ROOT", "TMUX", "TMUX_PANE"):
            self.env.pop(k, None)

    def project(self, name: str, **extra: str) -> dict:
        p = self.tmp / name
        p.mkdir(exist_ok=True)
        return dict(self.env, PROJECT_DIR=str(p), **extra)

    def lib(self, **extra: str) -> dict:
        return self.project("lib", BRIDGE_HOST_PID=str(self.agent.pid), **extra)

    def run(self, env: dict, *args: str) -> str:
        return subprocess.run(["session-bridge", *args], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def close(self) -> None:
        self.agent.stdin.close()
        self.agent.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_line(proc: subprocess.Popen, sel: selectors.BaseSelector, timeout: float = 30) -> None:
    """Block until proc prints a whole line."""
    buf = b""
    end = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        if not sel.select(end - time.monotonic()):
            raise RuntimeError("the notifier printed nothing")
        buf += os.read(proc.stdout.fileno(), 4096)


def bench_monitor(runs: int) -> list[list[object]]:
    """(h) and (i)."""
    rig = Rig()
    try:
        rig.run(rig.lib(), "start", "--label", "lib")
        app = rig.project("app")
        rig.run(app, "start", "--label", "app")
        watch = subprocess.Popen(["session-bridge", "watch"], env=rig.lib(), stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
        sel = selectors.DefaultSelector()
        sel.register(watch.stdout, selectors.EVENT_READ)
        lat = []
        try:
            next_ok = 0.0
            for i in range(runs + 1):
                time.sleep(max(0.0, next_ok - time.monotonic()))  # the notifier's rate limit, not a sync
                sender = subprocess.Popen(["session-bridge", "send", "lib", "query", f"question {i}?"], env=app,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                read_line(watch, sel)
                t_line = time.time_ns()
                msg_id = sender.communicate()[0].decode().strip()
                next_ok = time.monotonic() + 2.1
                if i:  # the first one includes the notifier's own warm-up
                    lat.append((t_line - message.id_time_ns(msg_id)) / 1e6)  # from the id's own send time
            proc = psutil.Process(watch.pid)
            cpu0 = proc.cpu_times()
            time.sleep(IDLE_S)  # an idle window to measure, not a synchronization
            cpu1 = proc.cpu_times()
            rss = proc.memory_info().rss / 2**20
            idle_cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / IDLE_S * 100
        finally:
            watch.kill()
            watch.wait()
        shell = monitor_shell_idle(rig)
        return [
            [f"(h) send -> monitor line, {runs} sends", f"{statistics.median(lat):.0f} ms",
             f"{p95(lat):.0f} ms", ""],
            [f"(i) `session-bridge watch` idle {IDLE_S} s (bridged)", f"RSS {rss:.1f} MiB", f"CPU {idle_cpu:.2f} %",
             "target <= 30 MiB, ~0 CPU"],
            [f"(i) scripts/monitor idle {IDLE_S} s (not bridged)", f"RSS {shell[0]:.1f} MiB",
             f"CPU {shell[1]:.2f} %", "no Python resident"],
        ]
    finally:
        rig.close()


def monitor_shell_idle(rig: Rig) -> tuple[float, float]:
    """RSS of the shell loop and the CPU it and its children use over IDLE_S in a project that is not bridged."""
    env = rig.project("unbridged", CLAUDE_PROJECT_DIR=str(rig.tmp / "unbridged"))
    env.pop("PROJECT_DIR")
    mon = subprocess.Popen([str(REPO / "scripts" / "monitor")], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        proc = psutil.Process(mon.pid)
        before = time.perf_counter()
        t0 = os.times()
        time.sleep(IDLE_S)  # an idle window to measure
        t1 = os.times()
        rss = proc.memory_info().rss / 2**20
        # children's CPU (sleep, the shell's forks) is accounted to us only once reaped; the shell itself:
        c = proc.cpu_times()
        cpu = (c.user + c.system + c.children_user + c.children_system) / (time.perf_counter() - before) * 100
        assert t1.elapsed >= t0.elapsed
        return rss, cpu
    finally:
        mon.kill()
        mon.wait()


def bench_woken(rounds: int) -> list[list[object]]:
    """(k) a real interactive Claude Code in tmux, scripted model (tests/claude_support.py): a peer's ask -> the idle
    session's woken turn, and -> the answer, through the plugin's monitor and through the Stop hook."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from claude_support import woken_turn_latency
    except ImportError as e:
        return [[f"(k) woken turn in Claude Code: skipped ({e})", "", "", ""]]
    rows = []
    for mode in ("monitor", "hook"):
        if shutil.which("claude") is None or shutil.which("tmux") is None:
            return [["(k) woken turn in Claude Code: skipped (claude or tmux not on PATH)", "", "", ""]]
        got = woken_turn_latency(mode, rounds)
        woken = [a.woken_s * 1000 for a in got]
        answered = [a.answered_s * 1000 for a in got]
        rows.append([f"(k) ask -> woken turn, {mode}, {rounds} rounds", f"{statistics.median(woken):.0f} ms",
                     f"{max(woken):.0f} ms (max)", ""])
        rows.append([f"(k) ask -> answer, {mode}", f"{statistics.median(answered):.0f} ms",
                     f"{max(answered):.0f} ms (max)", ""])
    return rows


def bench_push(runs: int = 15) -> None:
    """Print the push table."""
    rows = bench_monitor(runs) + bench_woken(3)
    table("reaching a live session", ["path", "median / size", "p95 / CPU", "target"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    bench_push(ap.parse_args().runs)


if __name__ == "__main__":
    main()
