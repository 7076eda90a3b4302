"""Crash safety, proved the way SQLite proves it: a real process killed at every file-system step of every store
operation (send, claim, deliver, put back, read by id, the prompt hook's drain, reply, notice, recover, stop, gc),
and at every pair of a crash followed by a crash of the recovery from it. See tests/crash.py."""

from __future__ import annotations

import os

import pytest

import crash


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    monkeypatch.setenv("BRIDGE_DIR", os.environ.get("BRIDGE_DIR", "/nonexistent"))
    monkeypatch.setenv("PROJECT_DIR", os.environ.get("PROJECT_DIR", "/nonexistent"))
    yield
    crash.cleanup()


def outcome_of(points: list[crash.Outcome]) -> crash.Outcome:
    total = crash.Outcome()
    for o in points:
        total.add(o)
    return total


@pytest.mark.parametrize("name", [*crash.READER_OPS, *crash.ENDING_OPS])
def test_a_crash_at_any_step_loses_nothing_and_duplicates_nothing(name):
    steps = crash.steps_of(name)
    assert steps, f"{name} made no file-system step: the harness would prove nothing"
    total = outcome_of([crash.single(name, k) for k in range(1, len(steps) + 2)])
    assert (total.lost, total.unmarked, total.stuck) == (0, 0, 0), total.notes


@pytest.mark.parametrize("first,second", crash.PAIRS)
def test_a_crash_while_recovering_from_a_crash_loses_nothing(first, second):
    n = len(crash.steps_of(first))
    results = []
    for k1 in range(1, n + 2):
        results += [o for _, o in crash.pair_points(first, k1, second)]
        crash.cleanup()
    total = outcome_of(results)
    assert len(results) > n, "the recovery made no file-system step after any crash"
    assert (total.lost, total.unmarked, total.stuck) == (0, 0, 0), total.notes


def test_the_harness_sees_a_broken_store(monkeypatch):
    """The checker is not vacuous: a store that forgets to put a failed delivery back is caught."""
    from bridge.mailbox import Mailbox

    monkeypatch.setattr(Mailbox, "release", lambda self, claim, redelivery=True: os.unlink(claim.path))
    b = crash.prepare("listen, fails")
    events, _ = crash.run_worker(b.root, crash.op_for("listen, fails", b))
    assert crash.check(b, events).lost == 1
