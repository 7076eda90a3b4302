"""Backlog benchmarks (run by bench.py, or alone: `bench/bench.py --only backlog`).

(f) per-claim cost (claim + finalize, in-process) with 100 / 1,000 / 10,000 / 100,000 messages pending, the first
    claim (which lists the inbox) reported apart, and the time to drain a whole backlog;
(g) with a large backlog, the wall time of the commands a user runs as whole processes: `session-bridge status`,
    `session-bridge inbox`, the UserPromptSubmit hook, next to the start-up floor (`python -m bridge --version`).

Pending files are written directly (layout.dumps of a message.build() record, one write, no fsync): the same bytes
Mailbox.deliver writes, only without the per-file fsync and rename, so 100,000 of them take seconds, not minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

from bridge import layout, message
from bridge.mailbox import Mailbox

CLAIM_SIZES = (100, 1_000, 10_000, 100_000)
CLAIM_SAMPLES = 200  # steady claims measured per backlog size, after the first (listing) one
CLAIM_TARGET = 2.0  # per-claim cost at 10,000 pending <= 2x the cost at 100
DRAIN_TARGET_S = 300.0  # a full drain of 100,000 within "minutes": 5 at most
COMMAND_TARGET_S = 0.5  # each whole command with the big backlog

VERDICTS: list[str] = []  # one line per target, printed at the end of the run


def verdict(ok: bool, text: str) -> None:
    VERDICTS.append(f"{'met' if ok else 'NOT met'}: {text}")


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def fill_pending(box: Mailbox, sender_manifest: dict, to: str, n: int, tag: str = "backlog") -> float:
    """Write n pending messages into box's inbox (oldest first); returns the seconds it took."""
    t = time.perf_counter()
    inbox = str(box.inbox)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    for i in range(n):
        msg = message.build(sender=sender_manifest, to=to, type="query",
                            content=f"{tag} message {i}: what does function_{i} return for an empty list?")
        fd = os.open(f"{inbox}/{msg['id']}.json", flags, 0o600)
        try:
            os.write(fd, layout.dumps(msg))
        finally:
            os.close(fd)
    return time.perf_counter() - t


def remove(env) -> None:
    """Delete a bench bridge dir (hundreds of MB with 100,000 messages and their read copies)."""
    shutil.rmtree(env.tmp, ignore_errors=True)


# --- (f) claim cost vs backlog ------------------------------------------------------------------------------------


def claim_one(box: Mailbox) -> tuple[float, float, float]:
    """Claim and finalize the oldest pending message: (wall seconds, CPU seconds of this thread with the kernel's
    share, wall seconds of the claim alone)."""
    t, c = time.perf_counter(), time.thread_time()
    claim = box.claim(lambda m: True)
    claimed = time.perf_counter()
    if claim is None:
        raise RuntimeError("backlog ran dry")
    box.finalize(claim)
    return time.perf_counter() - t, time.thread_time() - c, claimed - t


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def bench_claim_backlog(env_cls, table, quick: bool) -> None:
    """Every backlog is written first; then each size's first claim (a fresh reader lists the inbox), then
    CLAIM_SAMPLES claims per size in interleaved rounds, so load from other processes on this shared machine falls
    on every size alike. After each claim one new message is written (untimed), so the backlog stays at N."""
    sizes = list(CLAIM_SIZES[:-1] if quick else CLAIM_SIZES)
    drain_n = sizes[-1]
    rounds = 5

    # One bridge dir, one reader session per size and one sender: ext4 places a directory tree in one block group,
    # and on this shared disk creating inodes costs ~15 us in one group and ~800 us in another (measured), which
    # would swamp the mailbox's own cost if each size had its own tree.
    e = env_cls()
    warm = e.session("warm-up")  # the process's first claim also starts the inotify thread: not part of any row
    fill_pending(warm.mailbox, e.app.manifest, warm.id, 3)
    warm_box = Mailbox(warm.dir)
    warm_box.follow()  # a reader that claims again and again follows arrivals, as a listen or a drain does
    for _ in range(3):
        claim_one(warm_box)

    readers, fill_s, boxes, first = {}, {}, {}, {}
    for n in sizes:
        readers[n] = reader = e.session(f"pending-{n}")
        fill_s[n] = fill_pending(reader.mailbox, e.app.manifest, reader.id, n)

    def top_up(n: int, k: int = 1) -> None:
        fill_pending(boxes[n], e.app.manifest, readers[n].id, k, tag="top-up")

    for n in sizes:
        boxes[n] = Mailbox(readers[n].dir)  # a fresh reader: its first claim lists the inbox
        boxes[n].follow()
        first[n] = claim_one(boxes[n])[0]
        top_up(n)
    wall: dict[int, list[float]] = {n: [] for n in sizes}
    cpu: dict[int, list[float]] = {n: [] for n in sizes}
    claim_part: dict[int, list[float]] = {n: [] for n in sizes}
    for i in range(rounds):
        for n in sizes[i % len(sizes):] + sizes[:i % len(sizes)]:
            for _ in range(CLAIM_SAMPLES // rounds):
                w, c, cl = claim_one(boxes[n])
                wall[n].append(w)
                cpu[n].append(c)
                claim_part[n].append(cl)
                top_up(n)
    steady = {n: statistics.median(wall[n]) for n in sizes}
    rows = [[f"{n:,}", f"{fill_s[n]:.1f} s", fmt_ms(first[n]), fmt_ms(steady[n]), fmt_ms(p95(wall[n])),
             fmt_ms(statistics.median(claim_part[n])),
             fmt_ms(statistics.median(w - c for w, c in zip(wall[n], claim_part[n]))),
             fmt_ms(statistics.median(cpu[n])), f"{steady[n] / steady[sizes[0]]:.2f}x"] for n in sizes]

    drain_box = Mailbox(readers[drain_n].dir)  # still exactly drain_n pending: drain it all with a fresh reader
    drain_box.follow()
    pending = drain_box.count()
    t = time.perf_counter()
    drained = 0
    while (claim := drain_box.claim(lambda m: True)) is not None:
        drain_box.finalize(claim)
        drained += 1
    drained_s = time.perf_counter() - t
    rate = f"{drained / drained_s:,.0f} msg/s"
    drain_row = [f"{pending:,}", f"{drained:,}", f"{drained_s:.1f} s", rate,
                 f"{drained_s / max(drained, 1) * 1000:.2f} ms"]
    remove(e)

    table(f"(f) claim + finalize (in-process, `Mailbox.claim` + `Mailbox.finalize`) with N pending, "
          f"median of {rounds} x {CLAIM_SAMPLES // rounds} claims from the front", [
              "pending", "time to write the backlog", "first claim (lists the inbox)", "claim + finalize after that",
              "p95", "of which claim", "of which finalize", "CPU (user + kernel)", "vs 100"], rows)
    print("\nA claim is one rename plus one read of the file; a finalize writes the read copy, the inbox link and the "
          "sender's receipt: three new inodes, whose cost is the filesystem's.")
    table("(f) draining a whole backlog with one fresh reader (claim + finalize each, in-process)",
          ["pending", "drained", "total", "throughput", "per message"], [drain_row])
    if 10_000 in steady:
        r = steady[10_000] / steady[100]
        verdict(r <= CLAIM_TARGET, f"(f) claim+finalize at 10,000 pending = {r:.2f}x the cost at 100 "
                                   f"({fmt_ms(steady[10_000])} vs {fmt_ms(steady[100])}; target <= {CLAIM_TARGET:g}x)")
    if drain_n == 100_000:
        verdict(drained_s <= DRAIN_TARGET_S, f"(f) draining 100,000 pending took {drained_s:.1f} s, {rate} "
                                             f"(target: minutes, <= {DRAIN_TARGET_S:g} s)")
    else:
        projected = drained_s * 100_000 / drain_n
        verdict(projected <= DRAIN_TARGET_S, f"(f) draining {drain_n:,} took {drained_s:.1f} s, {rate}; "
                                             f"100,000 projected {projected:.0f} s (target <= {DRAIN_TARGET_S:g} s; "
                                             "--quick does not measure 100,000)")


# --- (g) whole commands with a big backlog -----------------------------------------------------------------------


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("session-bridge")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "bridge"]


def timed(cmd: list[str], env: dict, stdin: bytes | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, input=stdin, capture_output=True, timeout=300)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-500:]}")
    return elapsed, r


def hook_summary(stdout: bytes) -> tuple[int, int | None, int]:
    """(messages handed over, the 'N more wait' count or None, characters of additionalContext)."""
    out = orjson.loads(stdout)
    text = (out.get("hookSpecificOutput") or {}).get("additionalContext", "")
    handed = len(re.findall(r"^\[[a-z][a-z0-9-]*\] from ", text, re.MULTILINE))  # render.message's head line
    more = re.search(r"\((\d+) more message\(s\) wait", text)
    return handed, int(more.group(1)) if more else None, len(text)


def cell(text: str, width: int = 90) -> str:
    """Command output quoted for a markdown table cell."""
    text = text.replace("|", "\\|").replace("`", "'")
    return f"`{text[:width]}{'...' if len(text) > width else ''}`"


def bench_commands(env_cls, table, quick: bool) -> None:
    """Each command runs `runs` times, the commands interleaved round by round (load from other processes falls on
    all of them alike). The hook claims messages, so the backlog is topped up to n after each hook run."""
    n = 10_000 if quick else 100_000
    runs = 2 if quick else 5
    e = env_cls()
    fill_s = fill_pending(e.lib.mailbox, e.app.manifest, e.lib.id, n)
    env = e.env("lib")  # BRIDGE_HOST_PID is the bench process, which hosts the 'lib' session
    box = Mailbox(e.lib.dir)  # counts only (no claim here, so no watch on the inbox while we top it up)
    base = cli()
    times: dict[str, list[float]] = {k: [] for k in ("pass", "version", "status", "inbox", "hook")}
    status_out = inbox_out = b""
    hooks, hook_err = [], ""
    for _ in range(runs):
        times["pass"].append(timed([sys.executable, "-c", "pass"], env)[0])
        times["version"].append(timed([sys.executable, "-m", "bridge", "--version"], env)[0])
        s, r = timed([*base, "status"], env)
        times["status"].append(s)
        status_out = r.stdout
        s, r = timed([*base, "inbox"], env)
        times["inbox"].append(s)
        inbox_out = r.stdout
        s, r = timed([*base, "hook", "user-prompt-submit"], env, stdin=b'{"session_id": "x"}')
        times["hook"].append(s)
        hooks.append(hook_summary(r.stdout))
        hook_err = hook_err or r.stderr.decode().strip()
        taken = n - box.count()
        if taken > 0:
            fill_pending(box, e.app.manifest, e.lib.id, taken, tag="top-up")  # back to n pending for the next run
    remove(e)

    med = {k: statistics.median(v) for k, v in times.items()}

    def row(what: str, key: str, output: str) -> list[str]:
        return [what, fmt_ms(med[key]), fmt_ms(max(times[key])), f"{med[key] / med['version']:.1f}x", output]

    status_lines = status_out.decode().splitlines()
    inbox_lines = inbox_out.decode().splitlines()
    handed, more, chars = hooks[-1]
    handed_all = sorted({h[0] for h in hooks})
    hook_said = (f"handed over {'/'.join(map(str, handed_all))} message(s) ({chars:,} chars of context); "
                 + (f"said {more:,} more wait" if more is not None else "did NOT say how many more wait")
                 + (f"; stderr: {cell(hook_err)}" if hook_err else ""))
    table(f"(g) whole commands with {n:,} pending (backlog written in {fill_s:.1f} s), median of {runs} runs", [
        "command", "median", "max", "vs `--version`", "output"], [
        row("floor: `python -c pass`", "pass", "-"),
        row("floor: `python -m bridge --version`", "version", "version line"),
        row("`session-bridge status`", "status", cell(status_lines[0] if status_lines else "")),
        row("`session-bridge inbox`", "inbox",
            f"{len(inbox_lines):,} lines, the last: {cell(inbox_lines[-1] if inbox_lines else '')}"),
        row("`session-bridge hook user-prompt-submit` (backlog topped up after each run)", "hook", hook_said),
    ])
    for what, key in (("`session-bridge status`", "status"), ("`session-bridge inbox`", "inbox"),
                      ("UserPromptSubmit hook", "hook")):
        verdict(med[key] <= COMMAND_TARGET_S,
                f"(g) {what} with {n:,} pending: {fmt_ms(med[key])} (target <= {COMMAND_TARGET_S * 1000:.0f} ms; "
                f"`python -m bridge --version` {fmt_ms(med['version'])})")
    said = f"said {more:,} more wait" if more is not None else "did not say how many more wait"
    verdict(more is not None and handed > 0 and more == n - handed,
            f"(g) the hook handed over {handed} message(s) and {said} (expected {n - handed:,})")


def print_verdicts() -> None:
    if VERDICTS:
        print("\n### Verdicts\n")
        for line in VERDICTS:
            print(f"- {line}")
        sys.stdout.flush()
