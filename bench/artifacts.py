"""Artifacts: share and get of a 10 MiB artifact (issue 11, item 7).

    .venv/bin/python bench/artifacts.py [--runs N]     # or: bench/bench.py --only artifacts

(a) in-process, the core calls: bridge.artifacts.share(root, path) of a new 10 MiB file (read once while hashing and
    writing the temp file, fsync, rename), the same share again (deduplicated: same bytes, same name), and
    bridge.artifacts.get(root, sha) (read back and hash-checked);
(b) the whole commands as a user runs them: `session-bridge share FILE` and `session-bridge artifact get SHA -o FILE`
    (process start included), next to the floor `session-bridge --version`.

Each case runs N times on fresh random data (a new hash each run, so nothing is deduplicated by accident); reported:
the median and the slowest time, and the median throughput in MiB/s. Results depend on the disk (fsync) and the page
cache; they are not a gate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from report import table  # noqa: E402

SIZE = 10 * 1024 * 1024
MiB = 1024 * 1024


def _row(what: str, times: list[float]) -> list[object]:
    med = statistics.median(times)
    return [what, f"{med * 1000:.1f} ms", f"{max(times) * 1000:.1f} ms", f"{SIZE / MiB / med:.0f} MiB/s"]


def bench_artifacts(runs: int = 7) -> None:
    """Time share and get of a 10 MiB artifact, in-process and as whole commands, and print two tables."""
    from bridge import artifacts

    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as tmp:
        root = Path(tmp) / "bridge"
        root.mkdir(mode=0o700)
        (root / "sessions").mkdir(mode=0o700)
        env = dict(os.environ, BRIDGE_DIR=str(root), PROJECT_DIR=tmp)
        share_t, again_t, get_t, cli_share_t, cli_get_t, floor_t = [], [], [], [], [], []
        for i in range(runs):
            src = Path(tmp) / f"data-{i}.bin"
            src.write_bytes(os.urandom(SIZE))
            t = time.perf_counter()
            ref = artifacts.share(root, src)
            share_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            artifacts.share(root, src)
            again_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            _, data = artifacts.get(root, ref["sha256"])
            get_t.append(time.perf_counter() - t)
            assert len(data) == SIZE

            src2 = Path(tmp) / f"cli-{i}.bin"
            src2.write_bytes(os.urandom(SIZE))
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "bridge", "share", str(src2)], env=env, capture_output=True,
                               check=True)
            cli_share_t.append(time.perf_counter() - t)
            sha = r.stdout.decode().strip()
            out = Path(tmp) / f"out-{i}.bin"
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bridge", "artifact", "get", sha, "-o", str(out)], env=env,
                           capture_output=True, check=True)
            cli_get_t.append(time.perf_counter() - t)
            assert out.stat().st_size == SIZE
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bridge", "--version"], env=env, capture_output=True, check=True)
            floor_t.append(time.perf_counter() - t)
            for p in (src, src2, out):
                p.unlink()
    header = ["case", "median", "slowest", "throughput (median)"]
    table(f"(a) a 10 MiB artifact, in-process core calls ({runs} runs)", header, [
        _row("share (read + hash + write + fsync + rename)", share_t),
        _row("share of the same bytes again (dedup)", again_t),
        _row("get (read + hash check)", get_t),
    ])
    table(f"(b) a 10 MiB artifact, the whole command ({runs} runs, process start included)", header, [
        _row("session-bridge share FILE", cli_share_t),
        _row("session-bridge artifact get SHA -o FILE", cli_get_t),
        ["floor: session-bridge --version (process start, imports)", f"{statistics.median(floor_t) * 1000:.1f} ms",
         f"{max(floor_t) * 1000:.1f} ms", "-"],
    ])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    bench_artifacts(ap.parse_args().runs)
