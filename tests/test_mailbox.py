"""The mailbox: claim once, finish as a read symlink, put back, recover, quarantine."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from bridge import layout, message
from bridge.mailbox import Claim, Mailbox

SENDER = {"sessionId": "app001", "projectName": "app"}


@pytest.fixture
def box(tmp_path) -> Mailbox:
    layout.make_session_dirs(tmp_path / "s")
    return Mailbox(tmp_path / "s")


def put(box: Mailbox, content: str = "hi", **kw) -> dict:
    m = message.build(sender=SENDER, to="lib001", type=kw.pop("type", "query"), content=content, **kw)
    box.deliver(m)
    return m


def take(box: Mailbox):
    return box.claim(lambda m: True)


def test_delivered_message_reads_as_status_read_at_its_inbox_path(box):
    m = put(box)
    claim = take(box)
    assert claim.message == m
    assert take(box) is None  # claimed: nobody else gets it
    box.finalize(claim)
    path = box.inbox / f"{m['id']}.json"
    assert path.is_symlink()
    assert orjson.loads(path.read_bytes())["status"] == "read"  # what the reference plugin reads
    assert box.pending() == [] and [d["id"] for d in box.delivered()] == [m["id"]]
    assert not os.listdir(box.claimed_dir)


def test_files_are_private(box):
    m = put(box)
    assert (box.inbox / f"{m['id']}.json").stat().st_mode & 0o777 == 0o600
    assert box.inbox.stat().st_mode & 0o777 == 0o700


def test_fifo_order(box):
    sent = [put(box, str(n)) for n in range(20)]
    got = []
    while (c := take(box)) is not None:
        got.append(c.message["id"])
        box.finalize(c)
    assert got == [m["id"] for m in sent]


def test_release_marks_the_redelivery(box):
    put(box)
    box.release(take(box))
    again = take(box)
    assert message.attempt(again.message) == 2


def test_delivering_puts_back_on_error(box):
    put(box)
    with pytest.raises(BrokenPipeError):
        with box.delivering(take(box)):
            raise BrokenPipeError
    assert message.attempt(box.pending()[0]) == 2


def test_claims_of_dead_readers_are_recovered_once(box):
    m = put(box)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    os.rename(box.inbox / f"{m['id']}.json", box.claimed_dir / f"{m['id']}@{dead.stdout.strip()}.0")
    assert take(box) is None
    assert box.recover() == 1
    assert box.recover() == 0
    assert message.attempt(take(box).message) == 2


def test_claims_of_live_readers_are_left_alone(box):
    put(box)
    c = take(box)
    class OtherReader(Mailbox):
        owner = "1.0"  # pretend to be another reader; our own claim's owner (this process) is alive

    other = OtherReader(box.session_dir)
    assert other.owner != box.owner
    assert other.recover() == 0
    assert c.path.exists()


@pytest.mark.parametrize("name,data,reason", [
    ("msg-corrupt.json", b'{"id": "msg-corrupt", "from": ', "not valid"),
    ("msg-binary.json", b"\xff\xfe\x00garbage", "not valid"),
    ("msg-foreign.json", b'{"hello": "world"}', "missing"),
    ("msg-array.json", b"[1, 2]", "not a JSON object"),
    ("notes.json", b"{}", "missing"),
])
def test_bad_files_are_quarantined_once_and_the_reader_goes_on(box, name, data, reason):
    (box.inbox / name).write_bytes(data)
    good = put(box)
    claim = take(box)
    assert claim.message["id"] == good["id"]
    assert len(box.reports) == 1 and reason in box.reports[0]
    assert not (box.inbox / name).exists()
    moved = [p for p in os.listdir(box.quarantine_dir) if p.endswith(name)]
    assert len(moved) == 1 and (box.quarantine_dir / moved[0]).read_bytes() == data  # nothing lost
    second = Mailbox(box.session_dir)
    assert second.claim(lambda m: True) is None and second.reports == []  # reported once


def test_old_foreign_files_are_quarantined_but_fresh_temp_files_are_left(box):
    fresh = box.inbox / "msg-abc.XyZ123"  # a reference writer's mktemp file, still in flight
    fresh.write_text("{")
    old = box.inbox / "README.txt"
    old.write_text("hello")
    os.utime(old, (0, 0))
    assert take(box) is None
    assert fresh.exists() and not old.exists()
    assert len(box.reports) == 1


def test_directory_named_like_a_message_is_quarantined(box):
    (box.inbox / "msg-dir.json").mkdir()
    assert take(box) is None
    assert "not a regular file" in box.reports[0]


def test_reference_marked_read_files_are_skipped_and_filed(box):
    m = put(box)
    path = box.inbox / f"{m['id']}.json"
    path.write_bytes(orjson.dumps(dict(m, status="read")))  # the reference's in-place rewrite
    assert take(box) is None
    assert path.is_symlink() and orjson.loads(path.read_bytes())["status"] == "read"


def test_scans_never_open_delivered_messages(box):
    for n in range(500):  # dangling links would fail if a scan opened them
        os.symlink(f".read/msg-gone{n}.json", box.inbox / f"msg-gone{n}.json")
    m = put(box)
    assert take(box).message["id"] == m["id"]


def test_filter_leaves_other_messages_pending(box):
    q = put(box, "question")
    r = put(box, "answer", type="response", in_reply_to="msg-x")
    claim = box.claim(lambda m: m.get("inReplyTo") == "msg-x")
    assert claim.message["id"] == r["id"]
    assert [p["id"] for p in box.pending()] == [q["id"]]


def test_awaited_replies_are_visible_to_other_readers(box):
    assert not box.is_awaited("msg-q")
    with box.awaiting("msg-q"):
        assert box.is_awaited("msg-q")
    assert not box.is_awaited("msg-q")
    assert not box.is_awaited("../etc/passwd")


def test_find_by_id_in_any_state(box):
    m = put(box)
    assert box.find(m["id"])["status"] == "pending"
    c = take(box)
    assert box.find(m["id"])["id"] == m["id"]
    box.finalize(c)
    assert box.find(m["id"])["status"] == "read"
    assert box.find("msg-unknown") is None


def test_a_claim_is_named_for_its_message_and_its_reader(box):
    m = put(box)
    c = take(box)
    assert isinstance(c, Claim) and c.path.parent == box.claimed_dir
    assert c.path.name.startswith(m["id"] + "@")


def test_a_reader_that_follows_arrivals_lists_the_inbox_once(box, monkeypatch):
    listings = []
    real = box._list_inbox
    monkeypatch.setattr(box, "_list_inbox", lambda: listings.append(1) or real())
    box.follow()
    for n in range(300):  # delivered messages the reader must not walk past again
        os.symlink(f".read/msg-old{n}.json", box.inbox / f"msg-old{n}.json")
    other_writer = Mailbox(box.session_dir)
    sent = [other_writer.deliver(m) or m for m in
            (message.build(sender=SENDER, to="lib001", type="query", content=str(n)) for n in range(5))]
    got = []
    while (c := take(box)) is not None:
        got.append(c.message["id"])
        box.finalize(c)
        if len(got) == 2:  # a message that arrives between two claims is seen by the very next one
            late = message.build(sender=SENDER, to="lib001", type="query", content="late")
            other_writer.deliver(late)
            sent.append(late)
    assert got == [m["id"] for m in sent]
    assert len(listings) == 1


def test_a_one_shot_reader_lists_every_look_and_starts_no_watch(box, monkeypatch):
    import bridge.watch

    monkeypatch.setattr(bridge.watch, "watching", lambda path: pytest.fail("a one-shot look started a watch"))
    assert take(box) is None  # the hook on every prompt: one listing of an empty inbox
    m = put(box)  # arrives after that listing: the next look lists again and sees it
    assert take(box).message["id"] == m["id"]


def test_a_lost_arrival_queue_falls_back_to_a_full_listing(box):
    box.follow()
    take(box)  # first scan: the reader now follows arrivals
    box._arrivals.overflow = True
    m = put(box)
    assert take(box).message["id"] == m["id"]


@pytest.mark.parametrize("backend", ["watchdog", "poll"])
def test_without_exact_arrival_names_every_scan_lists(box, monkeypatch, backend):
    monkeypatch.setenv("BRIDGE_WATCH", backend)
    sent = [put(box, str(n)) for n in range(5)]
    got = []
    while (c := take(box)) is not None:
        got.append(c.message["id"])
        box.finalize(c)
    assert got == [m["id"] for m in sent] and box._arrivals is None
