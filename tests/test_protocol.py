"""The protocol called in-process, as every front-end calls it: fast checks of the core's behaviour (the subprocess
tests prove the same through the real CLI, hooks and MCP server)."""

from __future__ import annotations

import threading

import pytest

import bridge as api
from bridge import views
from bridge.errors import ACTIONS


@pytest.fixture
def pair(bridge, monkeypatch):
    """(lib, app): two sessions of this process, in projects lib and app; calls act as app unless switched."""
    bridge.use("lib", monkeypatch)
    lib, _ = api.start("library")
    bridge.use("app", monkeypatch)
    app, _ = api.start("app")
    return lib, app


def test_messages_arrive_in_order_and_pings_only_record_the_connection(pair):
    lib, app = pair
    api.connect(app, lib)
    ids = [api.send(app, lib, "query", f"q{n}")["id"] for n in range(3)]
    got = []
    for _ in ids:
        with api.listen(lib, 5) as msg:
            got.append(msg["id"])
    assert got == ids
    assert app.id in (api.status(lib)["connections"][0]["sessionId"],)
    assert api.must_read(lib) == (0, False)


def test_ask_waits_for_the_reply_another_thread_sends(pair):
    lib, app = pair

    def answer() -> None:
        with api.listen(lib, 10) as q:
            api.reply(lib, q["id"], f"answer to {q['content']}")

    t = threading.Thread(target=answer)
    t.start()
    with api.ask(app, lib, "what changed?", 10) as (q, a):
        assert (a["inReplyTo"], a["content"]) == (q["id"], "answer to what changed?")
    t.join()
    assert [m["state"] for m in api.outbox(app)] == ["answered"]


def test_receive_hands_back_a_reply_that_reached_the_session_another_way(pair):
    lib, app = pair
    q = api.send(app, lib, "query", "late?")
    with api.listen(lib, 5):
        pass
    api.reply(lib, q["id"], "yes")
    with api.listen(app, 5) as taken:  # a listen (or a hook) took the reply first
        assert taken["content"] == "yes"
    with api.receive(app, q["id"], 0.1) as again:  # returns at once instead of waiting for nothing
        assert (again["content"], again["status"]) == ("yes", "read")


def test_the_delivery_states_progress_queued_noticed_read_answered(pair):
    lib, app = pair
    q = api.send(app, lib, "query", "status?")
    state = lambda: api.outbox(app)[-1]["state"]  # noqa: E731
    assert state() == "queued"
    with api.notice(lib) as due:
        assert [m["id"] for m in due] == [q["id"]]
    assert state() == "noticed"
    with api.read(lib, q["id"]) as (msg, now):
        assert now and msg["content"] == "status?"
    assert state() == "read"
    api.reply(lib, q["id"], "fine")
    assert state() == "answered"


def test_the_digest_fits_the_budget_and_counts_what_stays(pair):
    lib, app = pair
    for n in range(4):
        api.send(app, lib, "query", f"question {n} " + "x" * 900)
    with api.digest(lib, 2500, "HEAD", "session-bridge", "read them with: session-bridge listen") as text:
        assert len(text) <= 2500 and text.startswith("HEAD")
        assert "question 0 " in text and "question 3 " not in text
        assert "more message(s) wait" in text and "session-bridge reply msg-" in text
    assert [m["content"][:10] for m in api.inbox(lib)][-1] == "question 3"
    with api.digest(lib, 8000, "HEAD", "x", "y") as rest:
        assert rest is not None
    with api.digest(lib, 8000, "HEAD", "x", "y") as nothing:
        assert nothing is None


def test_must_read_counts_queries_not_pings(pair):
    lib, app = pair
    api.connect(app, lib)
    api.send(app, lib, "query", "one")
    assert api.must_read(lib) == (1, False)


def test_core_errors_name_their_next_step_as_an_action_every_front_end_words(pair):
    from bridge import cli, compat, hooks
    from bridge.mcp import tools

    lib, app = pair
    with pytest.raises(api.PeerNotFound) as e:
        api.find_peer(app.root, "nobody", app)
    assert e.value.next.action == "peers" and "session-bridge" not in str(e.value)
    assert e.value.worded(cli.WORDS).endswith("; see: session-bridge peers")
    assert e.value.worded(tools.WORDS).endswith("; see: call bridge_peers")
    for words in (cli.WORDS, compat.WORDS, hooks.WORDS, hooks.SHELL_WORDS, tools.WORDS):
        assert set(words) == set(ACTIONS)


def test_a_stopped_peer_is_told_and_a_send_to_it_is_undeliverable(pair):
    lib, app = pair
    api.connect(app, lib)
    assert api.stop(lib) == [app.id]
    with api.listen(app, 5) as ended:
        assert ended["type"] == "session-ended"
    with pytest.raises(api.PeerGone):
        api.send(app, lib, "query", "anyone?")
    assert api.outbox(app)[-1]["state"] == "undeliverable"


def test_a_wait_stops_when_its_idle_check_raises(pair):
    lib, _ = pair

    class Cancelled(Exception):
        pass

    def idle() -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        with api.listen(lib, 30, idle=idle):
            pass


def test_the_views_are_the_one_json_shape(pair):
    lib, app = pair
    msg = api.send(app, lib, "query", "shape?")
    view = views.message_view(msg)
    assert set(view) == set(views.MessageView.__annotations__)
    assert view["from"] == app.id and view["from_name"] == "app"
    assert set(views.session_view(lib)) == set(views.SessionView.__annotations__)
    assert views.result(x=1) == {"version": views.VERSION, "x": 1}
