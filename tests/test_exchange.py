"""Two real sessions in separate processes: handshake, ask/answer, follow-ups, dead peers, session-ended."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

PROCS = str(Path(__file__).with_name("procs.py"))


def start_answerer(bridge, project: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, PROCS, "answerer"], env=bridge.env(project), stdout=subprocess.PIPE,
                         text=True)
    assert "ready" in orjson.loads(p.stdout.readline())
    return p


def test_connect_records_the_peer_on_both_sides(bridge):
    lib = bridge.start("lib", "library")
    app = bridge.start("app", "app")
    r = bridge.cli("app", "connect", "library", check=True)
    assert r.out.strip() == f"Connected to 'lib' ({lib}) at {bridge.project('lib')}"
    # the library's listener absorbs the ping as a connection instead of waking its agent
    listener = bridge.cli("lib", "listen", "--timeout", "0.5")
    assert listener.returncode == 3
    assert listener.err == "Error: no message within 0.5s; listen again, or see who is connected with: " \
                           "session-bridge status\n"
    status = orjson.loads(bridge.cli("lib", "status", "--json", check=True).stdout)
    assert status["session"]["session_id"] == lib
    assert [c["session_id"] for c in status["connections"]] == [app]
    status = orjson.loads(bridge.cli("app", "status", "--json", check=True).stdout)
    assert [(c["session_id"], c["status"]) for c in status["connections"]] == [(lib, "active")]


def test_ask_gets_the_answer_from_a_listening_peer(bridge):
    bridge.start("lib", "library")
    bridge.start("app")
    answerer = start_answerer(bridge, "lib")
    try:
        r = bridge.cli("app", "ask", "library", "What changed in v2?", "--timeout", "20", check=True)
        assert r.out == "answer: What changed in v2?\n"
        assert "Answer from library" in r.err
        # follow-up turns on the same connection
        for n in range(3):
            r = bridge.cli("app", "ask", "library", f"follow-up {n}", "--json", check=True)
            data = orjson.loads(r.stdout)
            assert (data["version"], data["status"]) == (1, "answered")
            assert data["answer"]["content"] == f"answer: follow-up {n}"
            assert data["answer"]["in_reply_to"] == data["question_id"]
    finally:
        answerer.kill()
        answerer.wait()


def test_ask_body_from_stdin_and_file(bridge, tmp_path):
    bridge.start("lib", "library")
    bridge.start("app")
    answerer = start_answerer(bridge, "lib")
    try:
        assert bridge.cli("app", "ask", "library", "-", input="from stdin", check=True).out == "answer: from stdin\n"
        f = tmp_path / "q.txt"
        f.write_text("from a file\nsecond line")
        r = bridge.cli("app", "ask", "library", "--file", str(f), check=True)
        assert r.out == "answer: from a file\nsecond line\n"
    finally:
        answerer.kill()
        answerer.wait()


def test_ask_times_out_with_advice_when_nobody_listens(bridge):
    bridge.start("lib", "library")
    bridge.start("app")
    r = bridge.cli("app", "ask", "library", "anyone?", "--timeout", "0.3")
    assert r.returncode == 3
    assert "not read yet, so the peer may not be listening" in r.err
    assert r.err.count("\n") == 1 and "; fetch a late answer with: session-bridge receive msg-" in r.err
    # the question is not lost: the library gets it when it listens later
    got = orjson.loads(bridge.cli("lib", "listen", "--timeout", "5", "--json", check=True).stdout)["message"]
    assert got["content"] == "anyone?"
    assert r.err.endswith(f"session-bridge receive {got['id']}\n")  # the advice names the question


def test_late_answer_is_fetched_with_receive(bridge):
    bridge.start("lib", "library")
    bridge.start("app")
    r = bridge.cli("app", "send", "library", "query", "slow question", "--json", check=True)
    qid = orjson.loads(r.stdout)["message"]["id"]
    got = orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "5", check=True).stdout)["message"]
    bridge.cli("lib", "reply", got["id"], "late answer", check=True)
    r = bridge.cli("app", "receive", qid, "--timeout", "5", check=True)
    assert r.out == "late answer\n"


def test_ask_fails_fast_when_the_peer_ends(bridge):
    bridge.start("lib", "library")
    bridge.start("app")
    asker = bridge.spawn("app", "ask", "library", "are you there?", "--timeout", "60")
    # the library sees the question, then stops without answering
    got = bridge.cli("lib", "listen", "--json", "--timeout", "10", check=True)
    assert orjson.loads(got.stdout)["message"]["content"] == "are you there?"
    bridge.cli("lib", "stop", check=True)
    out, err = asker.communicate(timeout=15)
    assert asker.returncode == 5
    assert b"ended before answering" in err


def test_dead_host_process_makes_a_session_gone(bridge):
    host = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        bridge.cli("lib", "start", "--label", "library", check=True, BRIDGE_HOST_PID=str(host.pid))
        bridge.start("app")
        peers = orjson.loads(bridge.cli("app", "peers", "--json", check=True).stdout)["peers"]
        assert [(p["label"], p["status"]) for p in peers] == [("library", "active")]
    finally:
        host.stdin.close()
        host.wait()
    peers = orjson.loads(bridge.cli("app", "peers", "--json", check=True).stdout)["peers"]
    assert [(p["label"], p["status"]) for p in peers] == [("library", "gone")]
    r = bridge.cli("app", "ask", "library", "hello?", "--timeout", "30")
    assert r.returncode == 5  # not a 30 s wait: the peer is known dead
    assert "no session named 'library'" in r.err or "ended before answering" in r.err


def test_stop_tells_peers_it_talked_to(bridge):
    lib = bridge.start("lib", "library")
    bridge.start("app")
    bridge.cli("app", "connect", "library", check=True)
    r = bridge.cli("app", "stop", "--json", check=True)
    assert orjson.loads(r.stdout)["notified"] == [lib]
    got = orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "5", check=True).stdout)["message"]
    assert (got["type"], got["content"]) == ("session-ended", "Session ended")
    assert not (bridge.project("app") / ".claude" / "bridge-session").exists()


def test_receive_fails_fast_when_the_asked_peer_ends(bridge):
    bridge.start("lib", "library")
    bridge.start("app")
    qid = orjson.loads(bridge.cli("app", "send", "library", "query", "q", "--json", check=True).stdout)["message"]["id"]
    waiter = bridge.spawn("app", "receive", qid, "--timeout", "60")
    bridge.cli("lib", "listen", "--timeout", "5", check=True)
    bridge.cli("lib", "stop", check=True)
    _, err = waiter.communicate(timeout=15)
    assert waiter.returncode == 5 and b"ended before answering" in err


def test_a_listener_whose_session_is_stopped_elsewhere_says_so(bridge):
    sid = bridge.start("lib", "library")
    listener = subprocess.Popen([sys.executable, PROCS, "listen-once"], env=bridge.env("lib"), stdout=subprocess.PIPE)
    assert orjson.loads(listener.stdout.readline()) == {"ready": sid}
    bridge.cli("lib", "stop", check=True)  # e.g. from another terminal, wherever the listener is in its wait
    out, _ = listener.communicate(timeout=30)
    assert orjson.loads(out) == {
        "error": f"session {sid} was stopped while waiting; start one again with: session-bridge start", "code": 4}
