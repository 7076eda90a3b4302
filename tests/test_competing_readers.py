"""Several real reader processes on one inbox, several senders: every message delivered exactly once, FIFO per
sender; readers SIGKILLed at random points lose nothing and any redelivery is marked."""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

PROCS = str(Path(__file__).with_name("procs.py"))


def spawn(bridge, project: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, PROCS, *args], env=bridge.env(project), stdout=subprocess.PIPE)


def collect(readers: list[subprocess.Popen], until: int, deadline_s: float = 60) -> list[dict]:
    """Read JSON lines from all readers until `until` deliveries were seen."""
    sel = selectors.DefaultSelector()
    for r in readers:
        sel.register(r.stdout, selectors.EVENT_READ, data=bytearray())  # "ready" was read before any message
    got: list[dict] = []
    end = time.monotonic() + deadline_s
    while len(got) < until and time.monotonic() < end:
        for key, _ in sel.select(timeout=end - time.monotonic()):
            chunk = os.read(key.fileobj.fileno(), 65536)  # unbuffered: a readline() would strand lines in a buffer
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            key.data.extend(chunk)
            *lines, rest = key.data.split(b"\n")
            key.data[:] = rest
            got += [e for e in map(orjson.loads, lines) if "id" in e]
    return got


def test_two_readers_four_senders_exactly_once_and_fifo(bridge):
    lib = bridge.start("lib", "library")
    readers = [spawn(bridge, "lib", "reader") for _ in range(2)]
    for r in readers:
        assert orjson.loads(r.stdout.readline()) == {"ready": lib}
    senders = [spawn(bridge, f"app{i}", "sender", "library", "50", f"s{i}") for i in range(4)]
    try:
        got = collect(readers, 200)
    finally:
        for p in readers + senders:
            p.kill()
            p.wait()
    contents = [g["content"] for g in got]
    assert len(contents) == 200
    assert len(set(contents)) == 200, "a message was delivered twice"
    assert all(g["attempt"] == 1 for g in got)
    for i in range(4):  # FIFO per sender across both readers: deliveries start in send order
        seq = [int(c.split("-")[1]) for c in contents if c.startswith(f"s{i}-")]
        assert sorted(seq) == list(range(50))
        assert sum(a > b for a, b in zip(seq, seq[1:])) <= 1 * len(seq) // 10  # two readers may swap neighbours


def test_readers_killed_at_random_points_lose_nothing(bridge):
    bridge.start("lib", "library")
    sender = spawn(bridge, "app", "sender", "library", "80", "m")
    assert orjson.loads(sender.stdout.readline()) == {"sent": 80}
    sender.wait()
    rng = random.Random(int(os.environ.get("BRIDGE_TEST_SEED", "7")))
    delivered: list[dict] = []
    kills = 0
    while len({d["content"] for d in delivered}) < 80 and kills < 40:
        reader = spawn(bridge, "lib", "reader", "2")
        assert "ready" in orjson.loads(reader.stdout.readline())
        # let it deliver a random number of messages, then kill it wherever it is in the next one
        for _ in range(rng.randint(0, 6)):
            line = reader.stdout.readline()
            if not line:
                break
            delivered.append(orjson.loads(line))
        reader.send_signal(signal.SIGKILL)
        rest, _ = reader.communicate()
        delivered += [orjson.loads(x) for x in rest.splitlines() if x.strip()]
        kills += 1
    # a final reader picks up whatever the killed ones left claimed or pending
    final = spawn(bridge, "lib", "reader", "1")
    out, _ = final.communicate(timeout=60)
    delivered += [e for e in map(orjson.loads, out.splitlines()) if "id" in e]
    contents = [d["content"] for d in delivered]
    assert sorted(set(contents)) == sorted(f"m-{n}" for n in range(80)), "a message was lost"
    seen: set[str] = set()
    for d in delivered:  # every second delivery of a message is marked as a redelivery
        if d["content"] in seen:
            assert d["attempt"] > 1
        seen.add(d["content"])
    assert not list((bridge.root / "sessions").glob("*/inbox/.claimed/*")), "claims left behind"
    print(f"{kills} kills, {len(delivered) - len(seen)} marked redeliveries")


def test_an_ask_keeps_its_fast_answers_from_another_reader_of_its_session(bridge):
    """The asking session also runs a listener (a hook, a listen loop): every answer still reaches the ask, since
    the wait is marked before the question is sent."""
    bridge.start("lib", "library")
    bridge.start("app", "app")
    answerer = spawn(bridge, "lib", "answerer")
    other_reader = spawn(bridge, "app", "reader")
    try:
        for p in (answerer, other_reader):
            assert "ready" in orjson.loads(p.stdout.readline())
        asker = subprocess.run([sys.executable, PROCS, "asker", "library", "50"], env=bridge.env("app"),
                               capture_output=True, timeout=240)
        events = [orjson.loads(line) for line in asker.stdout.splitlines()]
        assert [e.get("answer") for e in events] == [f"answer: q{n}" for n in range(50)], events[-1:]
    finally:
        for p in (answerer, other_reader):
            p.kill()
            p.wait()
