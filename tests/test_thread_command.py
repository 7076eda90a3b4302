"""`session-bridge thread MESSAGE-ID`: the question a message belongs to, its answer and follow-ups, in order."""

from __future__ import annotations

import orjson

from test_history_command import exchange


def thread(bridge, msg_id: str) -> dict:
    return orjson.loads(bridge.cli("app", "thread", msg_id, "--json", check=True).out)


def test_thread_from_any_message_gives_the_root_question_first(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, a = exchange(bridge, "What replaced getUser()?", "fetchUser(id)")
    # a follow-up on the answer, and its answer
    f = bridge.cli("app", "send", "library", "query", "And for admins?", "--in-reply-to", a, check=True).out.strip()
    bridge.cli("lib", "read", f, check=True)
    fa = orjson.loads(bridge.cli("lib", "reply", f, "fetchAdmin(id)", "--json", check=True).out)["message"]["id"]
    unrelated, _ = exchange(bridge, "Unrelated?", "yes")
    for start in (q, a, f, fa):
        out = thread(bridge, start)
        assert out["root_id"] == q
        assert [m["id"] for m in out["messages"]] == [q, a, f, fa], start
    assert unrelated not in [m["id"] for m in thread(bridge, q)["messages"]]
    text = bridge.cli("app", "thread", fa, check=True).out
    assert text.index("What replaced getUser()?") < text.index("fetchUser(id)") < text.index("And for admins?") \
        < text.index("fetchAdmin(id)")
    assert f"in reply to {a}" in text


def test_a_thread_outlives_its_sessions(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, a = exchange(bridge, "kept?", "kept.")
    bridge.cli("lib", "stop", check=True)
    bridge.cli("app", "stop", check=True)
    assert [m["id"] for m in thread(bridge, a)["messages"]] == [q, a]


def test_unknown_and_invalid_ids_are_one_line_errors(bridge):
    bridge.start("app", "app")
    r = bridge.cli("app", "thread", "msg-1-abc")
    assert r.returncode == 1 and "no message msg-1-abc in the history" in r.err and r.err.count("\n") == 1
    r = bridge.cli("app", "thread", "../etc/passwd")
    assert r.returncode == 1 and "message id" in r.err
