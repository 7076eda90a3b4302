"""Kernel-notified waits: a rename wakes the waiter; nothing else times out; a change during a scan is kept."""

import os
import threading

import pytest

from bridge import watch


@pytest.fixture(params=["native", "watchdog", "poll"], autouse=True)
def backend(request, monkeypatch):
    """Every test runs against each way of waiting: the platform default, watchdog, and the polling fallback."""
    if request.param != "native":
        monkeypatch.setenv("BRIDGE_WATCH", request.param)
    return request.param


def test_rename_into_the_directory_wakes_a_waiter(tmp_path):
    w = watch.watching(tmp_path)
    seen = w.generation
    woke = threading.Event()

    def waiter():
        if w.wait(seen, 10):
            woke.set()

    t = threading.Thread(target=waiter)
    t.start()
    (tmp_path / ".tmp").write_text("x")
    os.rename(tmp_path / ".tmp", tmp_path / "m.json")
    t.join(10)
    assert woke.is_set()


def test_wait_times_out_without_changes(tmp_path, backend):
    w = watch.watching(tmp_path)
    assert w.wait(w.generation, 0.05) is (backend == "poll")  # polling always says "look again"


def test_a_change_between_reading_generation_and_waiting_is_not_missed(tmp_path):
    w = watch.watching(tmp_path)
    seen = w.generation
    (tmp_path / "a.json").write_text("{}")  # happens "during the scan"
    assert w.wait(seen, 10) is True


def test_one_watch_per_directory(tmp_path):
    assert watch.watching(tmp_path) is watch.watching(tmp_path)
