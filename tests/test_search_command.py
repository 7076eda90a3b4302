"""`session-bridge search` and the MCP tools bridge_search / bridge_history / bridge_thread: ranked matches with
snippets, filters, and query text that is not valid FTS5 syntax (quoted, or a one-line error)."""

from __future__ import annotations

import anyio
import orjson
import pytest
from mcp import Client

from bridge import index
from bridge.mcp import tools
from test_history_command import exchange


def search(bridge, *args: str) -> dict:
    return orjson.loads(bridge.cli("app", "search", "--json", *args, check=True).out)


@pytest.fixture
def talked(bridge):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    bridge.start("other", "other")
    ids = {}
    ids["v2"] = exchange(bridge, "What replaced getUser() in v2?", "getUser was removed: use fetchUser(id)")
    ids["cache"] = exchange(bridge, "How big is the cache?", "64 MiB, see cache.ts")
    ids["other"] = exchange(bridge, "Does fetchUser retry?", "No", asker="other")
    return ids


def test_search_ranks_matches_with_snippets(bridge, talked):
    out = search(bridge, "getUser")
    assert out["version"] == 1 and out["query"] == "getUser"
    hits = out["hits"]
    assert {h["id"] for h in hits} == set(talked["v2"])
    assert all("**getUser**" in h["snippet"] for h in hits)
    assert hits[0]["rank"] <= hits[-1]["rank"]
    assert set(hits[0]) >= {"id", "from", "from_name", "to_name", "content", "snippet", "rank", "room"}
    text = bridge.cli("app", "search", "fetch*", check=True).out
    assert "**fetchUser**" in text and talked["other"][0] in text


def test_peer_filter_and_phrases(bridge, talked):
    assert {h["id"] for h in search(bridge, "fetchUser", "--peer", "other")["hits"]} == {talked["other"][0]}
    assert [h["id"] for h in search(bridge, '"the cache"')["hits"]] == [talked["cache"][0]]
    assert search(bridge, "nothing-like-this-anywhere")["hits"] == []
    assert "No message matches" in bridge.cli("app", "search", "zebra", check=True).out


@pytest.mark.parametrize("query", ["foo AND", '"unbalanced', "NEAR(", "*", "col:x", "AND", "()", "^", '"', "-x"])
def test_query_text_that_is_not_fts5_syntax_is_searched_as_words(bridge, talked, query):
    r = bridge.cli("app", "search", "--json", "--", query)
    assert r.returncode == 0, r.err
    out = orjson.loads(r.out)
    assert out["query"] == index.quoted(query) and out["hits"] == []


def test_syntax_fallback_still_finds_the_words(bridge, talked):
    out = search(bridge, '"cache')  # an unbalanced quote is a syntax error; as a word it finds both messages
    assert out["query"] == '"cache"' and {h["id"] for h in out["hits"]} == set(talked["cache"])
    r = bridge.cli("app", "search", "cache AND", check=True)
    assert "not valid search syntax" in r.err


def test_an_empty_query_is_a_one_line_error(bridge, talked):
    r = bridge.cli("app", "search", "   ")
    assert r.returncode == 1 and r.err.startswith("Error: give something to search for") and r.err.count("\n") == 1


def test_the_mcp_tools_read_the_same_index(bridge, talked, monkeypatch):
    bridge.use("app", monkeypatch)

    async def main():
        async with Client(tools.server) as client:
            async def call(name, **args):
                r = await client.call_tool(name, args)
                assert not r.is_error, r.content[0].text
                return r.structured_content

            found = await call("bridge_search", query="getUser")
            hist = await call("bridge_history", peer="other")
            thread = await call("bridge_thread", message_id=talked["v2"][1])
            syntax = await call("bridge_search", query="NEAR(")
            missing = await client.call_tool("bridge_thread", {"message_id": "msg-1-abc"})
            return found, hist, thread, syntax, missing

    found, hist, thread, syntax, missing = anyio.run(main)
    assert {h["id"] for h in found["hits"]} == set(talked["v2"])
    assert {**found, "notes": []} == {**search(bridge, "getUser"), "hits": found["hits"]}
    assert [m["id"] for m in hist["messages"]] == list(talked["other"])
    cli_hist = orjson.loads(bridge.cli("app", "history", "--peer", "other", "--json", check=True).out)
    assert {**hist, "notes": []} == cli_hist  # one shape and the same content in both front-ends
    cli_thread = orjson.loads(bridge.cli("app", "thread", talked["v2"][1], "--json", check=True).out)
    assert {**thread, "notes": []} == cli_thread
    assert thread["root_id"] == talked["v2"][0] and [m["id"] for m in thread["messages"]] == list(talked["v2"])
    assert syntax["query"] == '"NEAR("'
    assert missing.is_error and "no message msg-1-abc in the history" in missing.content[0].text
