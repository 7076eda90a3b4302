"""The history index (issue 11): search and history with 100,000 messages indexed, catch-up after 10,000 new ones,
and the whole `search` command at 100,000 messages against the same command at 100.

    .venv/bin/python bench/history.py [--quick]       # or: bench/bench.py --only history

(h1) building the index from 100,000 message files (a first use, or `reindex`), and catching up after 10,000 new;
(h2) in-process search and history at 100,000: each run opens the index and catches up (a few stats, nothing new),
     then queries: a rare word, a word in about 1% of the messages, a word in about 20%, a phrase, a search with a
     peer filter, history (newest 50), history of one peer;
(h3) `session-bridge search WORD` as a whole process at 100 and at 100,000 messages, interleaved, and the floor.
Targets: search <= 50 ms median in-process at 100,000; the whole command within 1.5x of the same at 100.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("BRIDGE_HOST_PID", str(os.getpid()))

from bridge import index, layout, message, sessions  # noqa: E402
from report import table  # noqa: E402

VERDICTS: list[str] = []
WORDS = [f"w{i}" for i in range(5000)]  # Zipf-ish vocabulary: w0 is everywhere, w4999 nearly nowhere


def ms(values: list[float]) -> tuple[str, str]:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return f"{statistics.median(values) * 1000:.2f} ms", f"{p95 * 1000:.2f} ms"


class Machine:
    """A temp bridge dir with sessions lib and app (and peer, for the filter) whose exchanges are message files."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bridge-history-"))
        os.environ["BRIDGE_DIR"] = str(self.tmp / "bridge")
        self.root = layout.bridge_dir()
        self.env = dict(os.environ)
        self.s = {name: self.session(name) for name in ("lib", "app", "peer")}
        self.rng = random.Random(11)
        self.n = 0

    def session(self, name: str) -> sessions.Session:
        (self.tmp / name).mkdir(exist_ok=True)
        os.environ["PROJECT_DIR"] = str(self.tmp / name)
        return sessions.register(self.root, name)[0]

    def body(self) -> str:
        size = self.rng.randint(8, 40)
        words = [WORDS[min(int(self.rng.paretovariate(0.7)) - 1, len(WORDS) - 1)] for _ in range(size)]
        if self.n % 1000 == 0:
            words.append("needle")  # ~0.1%: a rare word
        if self.n % 100 == 0:
            words += ["getuser", "was", "removed"]  # ~1%, and a phrase
        if self.n % 5 == 0:
            words.append("cache")  # ~20%
        return " ".join(words)

    def add(self, count: int) -> None:
        """count delivered messages (read copies in the recipient's inbox/.read/), written as the bridge writes them
        but without fsync (setup, not the thing measured)."""
        for _ in range(count):
            sender, to = (self.s["app"], self.s["lib"]) if self.n % 7 else (self.s["peer"], self.s["lib"])
            msg = message.build(sender=sender.manifest, to=to.id, type="query", content=self.body())
            msg["status"] = "read"
            (to.mailbox.read_dir / f"{msg['id']}.json").write_bytes(layout.dumps(msg))
            self.n += 1


def settle() -> None:
    time.sleep(index.SETTLE_NS / 1e9 + 0.1)  # directories written within the last second are listed again


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench_history(quick: bool = False) -> None:
    big_n, new_n, runs = (20_000, 2_000, 15) if quick else (100_000, 10_000, 41)
    big = Machine()
    t = time.perf_counter()
    big.add(big_n)
    write_s = time.perf_counter() - t
    t = time.perf_counter()
    count, build_s = index.reindex(big.root)
    assert count == big_n, count
    big.add(new_n)
    t = time.perf_counter()
    with index.reading(big.root) as ix:
        total = ix.count()
    catch_s = time.perf_counter() - t
    assert total == big_n + new_n, total
    settle()
    with index.reading(big.root):
        pass  # takes the now settled mtimes
    table(f"(h1) building and catching up the history index ({big_n:,} messages)", ["step", "time"], [
        [f"writing {big_n:,} message files (setup, no fsync)", f"{write_s:.1f} s"],
        [f"`reindex`: building the index from {big_n:,} files", f"{build_s:.2f} s"],
        [f"catch-up after {new_n:,} new messages (one reader)", f"{catch_s * 1000:.0f} ms"],
    ])

    def search(q: str, peer: str | None = None):
        def run():
            with index.reading(big.root) as ix:
                ix.search(q, peer)
        return run

    def history(peer: str | None = None):
        def run():
            with index.reading(big.root) as ix:
                ix.history(peer)
        return run

    cases = [("search a rare word (`needle`, ~0.1%)", search("needle")),
             ("search a word in ~1% (`getuser`)", search("getuser")),
             ("search a word in ~20% (`cache`)", search("cache")),
             ('search a phrase (`"getuser was removed"`)', search('"getuser was removed"')),
             ("search `getuser` of one peer (`--peer peer`)", search("getuser", "peer")),
             ("search text that is not valid syntax (`getuser AND`)", search("getuser AND")),
             ("history: the newest 50", history()),
             ("history of one peer: the newest 50", history("peer"))]
    rows, medians = [], {}
    for name, fn in cases:
        fn()  # warm
        got = timed(fn, runs)
        medians[name] = statistics.median(got)
        rows.append([name, *ms(got)])
    table(f"(h2) in-process, {big_n + new_n:,} messages indexed (open + catch-up + query), {runs} runs", [
        "query", "median", "p95"], rows)
    worst = max(v for k, v in medians.items() if k.startswith("search"))
    VERDICTS.append(f"in-process search at {big_n + new_n:,} messages: median {worst * 1000:.1f} ms for the slowest "
                    f"query (target <= 50 ms): {'met' if worst <= 0.05 else 'NOT met'}")

    small = Machine()
    small.add(100)
    with index.reading(small.root):
        pass
    settle()
    for m in (small, big):
        with index.reading(m.root):
            pass
    cmd = [sys.executable, "-m", "bridge", "search", "getuser"]
    base = {k: v for k, v in os.environ.items() if k not in ("PROJECT_DIR", "BRIDGE_DIR")}
    envs = {"small": dict(base, BRIDGE_DIR=str(small.root)), "big": dict(base, BRIDGE_DIR=str(big.root))}
    times: dict[str, list[float]] = {"small": [], "big": [], "floor": []}
    for i in range(max(7, runs // 3)):
        for which in ("small", "big", "floor") if i % 2 else ("floor", "big", "small"):
            t = time.perf_counter()
            if which == "floor":
                subprocess.run([sys.executable, "-c", "pass"], check=True)
            else:
                subprocess.run(cmd, env=envs[which], check=True, capture_output=True)
            times[which].append(time.perf_counter() - t)
    ratio = statistics.median(times["big"]) / statistics.median(times["small"])
    table("(h3) `session-bridge search getuser` as a whole process", ["case", "median", "p95"], [
        ["100 messages indexed", *ms(times["small"])],
        [f"{big_n + new_n:,} messages indexed", *ms(times["big"])],
        ["floor: `python -c pass`", *ms(times["floor"])],
    ])
    VERDICTS.append(f"whole `search` at {big_n + new_n:,} messages = {ratio:.2f}x the same at 100 (target <= 1.5x): "
                    f"{'met' if ratio <= 1.5 else 'NOT met'}")


def print_verdicts() -> None:
    """One line per target."""
    print()
    for v in VERDICTS:
        print(v)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20,000 messages instead of 100,000")
    bench_history(ap.parse_args().quick)
    print_verdicts()
