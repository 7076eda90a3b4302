"""The crash-point table: a real process SIGKILLed before every file-system step of every store operation, and
before every step of the recovery from each such crash (tests/crash.py does the work; this prints the table).

    .venv/bin/python bench/crash_points.py [--trials N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
os.environ["BRIDGE_HOST_PID"] = str(os.getpid())  # every session of this run is hosted by the bench process

import crash  # noqa: E402
from report import table  # noqa: E402


def main(trials: int) -> int:
    started = time.monotonic()
    rows, bad = [], 0
    for name in [*crash.READER_OPS, *crash.ENDING_OPS]:
        steps = crash.steps_of(name)
        total = crash.Outcome()
        for k in range(1, len(steps) + 2):
            for _ in range(trials):
                total.add(crash.single(name, k))
            crash.cleanup()
        kinds = sorted({s["op"] for s in steps})
        rows.append([name, len(steps) + 1, trials, ", ".join(kinds), total.lost, total.unmarked, total.stuck])
        bad += total.lost + total.unmarked + total.stuck
    table(f"(h) one crash: a real process killed before each step ({trials} trial(s) per point)",
          ["operation", "crash points", "trials", "steps", "lost", "unmarked duplicates", "stuck readers"], rows)
    rows = []
    for first, second in crash.PAIRS:
        n = len(crash.steps_of(first))
        total, count = crash.Outcome(), 0
        for k1 in range(1, n + 2):
            for _, o in crash.pair_points(first, k1, second):
                total.add(o)
                count += 1
            crash.cleanup()
        rows.append([f"{first} → {second}", count, total.lost, total.unmarked, total.stuck])
        bad += total.lost + total.unmarked + total.stuck
    table("(i) a crash, then a crash of the recovery from it (every pair of points)",
          ["crash, then crash during", "pairs", "lost", "unmarked duplicates", "stuck readers"], rows)
    print(f"\n{'all crash points hold' if not bad else f'{bad} FAILURES'} ({time.monotonic() - started:.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1)
    sys.exit(main(ap.parse_args().trials))
