"""`session-bridge history` (real CLI processes): past exchanges with filters, kept after their sessions stop, and the
slash command's `history` action run as written."""

from __future__ import annotations

import orjson

from test_plugin_instructions import Docs, Session, ok


def exchange(bridge, question: str, answer: str, asker: str = "app", peer: str = "library") -> tuple[str, str]:
    """asker sends a query to peer, peer reads and replies; (question id, answer id)."""
    q = bridge.cli(asker, "send", peer, "query", question, check=True).out.strip()
    lib = "lib" if peer == "library" else peer
    bridge.cli(lib, "read", q, check=True)
    a = orjson.loads(bridge.cli(lib, "reply", q, answer, "--json", check=True).out)["message"]["id"]
    return q, a


def history(bridge, *args: str, project: str = "app") -> dict:
    return orjson.loads(bridge.cli(project, "history", "--json", *args, check=True).out)


def test_history_lists_exchanges_oldest_first_with_both_names(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, a = exchange(bridge, "What replaced getUser() in v2?", "fetchUser(id)")
    out = history(bridge)
    assert out["version"] == 1 and out["notes"] == [] or "missing" in out["notes"][0]
    got = [(m["id"], m["from_name"], m["to_name"], m["type"], m["in_reply_to"]) for m in out["messages"]]
    assert got == [(q, "app", "library", "query", None), (a, "library", "app", "response", q)]
    text = bridge.cli("app", "history", check=True).out.splitlines()
    assert "app → library  query" in text[0] and text[0].endswith("What replaced getUser() in v2?")
    assert "library → app  response" in text[1]


def test_filters_peer_since_and_limit(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    bridge.start("other", "other")
    exchange(bridge, "one", "1")
    exchange(bridge, "two", "2", asker="other")
    assert {m["content"] for m in history(bridge, "--peer", "other")["messages"]} == {"two", "2"}
    assert len(history(bridge, "--peer", "library")["messages"]) == 4
    assert [m["content"] for m in history(bridge, "--limit", "1")["messages"]] == ["2"]
    assert len(history(bridge, "--since", "1h")["messages"]) == 4
    assert history(bridge, "--since", "2999-01-01")["messages"] == []
    r = bridge.cli("app", "history", "--since", "yesterday")
    assert r.returncode == 1 and "--since takes a duration" in r.err and len(r.err.splitlines()) == 1


def test_history_survives_stop_of_both_sessions(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    q, a = exchange(bridge, "kept after stop?", "yes")
    bridge.cli("app", "stop", check=True)
    bridge.cli("lib", "stop", check=True)
    assert not list((bridge.root / "sessions").iterdir())
    ids = [m["id"] for m in history(bridge)["messages"]]
    assert q in ids and a in ids


def test_the_slash_commands_history_action_runs_as_written(bridge, hosts):
    docs = Docs()
    lib, app = Session(bridge, "lib", hosts()), Session(bridge, "app", hosts())
    ok(lib.run(docs.command("bridge.md", "start", "start", label="library")))
    ok(app.run(docs.command("bridge.md", "start", "start", label="app")))
    q = ok(app.run("session-bridge send library query 'Is 2.0 a breaking change?'")).strip()
    out = ok(app.run(docs.command("bridge.md", "history", "history", peer="library")))
    assert q in out and "Is 2.0 a breaking change?" in out
    out = ok(app.run(docs.command("bridge.md", "search", "search", words="breaking")))
    assert q in out and "**breaking**" in out
    out = ok(app.run(docs.command("bridge.md", "search", "thread", **{"message-id": q})))
    assert "Is 2.0 a breaking change?" in out
    assert {s for (_, s) in [(k, docs.blocks[k][0]) for k in docs.ran]} == {"start", "history", "search"}
