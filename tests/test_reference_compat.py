"""A session of the reference bash plugin (played from fixture files) and one of ours on the same BRIDGE_DIR."""

from __future__ import annotations

import orjson

from bridge.watch import watching
from reference import ReferenceSession


def test_we_connect_and_ask_a_reference_session(bridge):
    app = bridge.start("app")
    ref = ReferenceSession(bridge.root, bridge.project("legacy-lib"))
    r = bridge.cli("app", "connect", ref.id, check=True)
    assert r.out.strip() == f"Connected to 'legacy-lib' ({ref.id}) at {bridge.project('legacy-lib')}"
    asker = bridge.spawn("app", "ask", "legacy-lib", "What changed in v2?", "--timeout", "30")
    # the reference agent sees our ping and our query exactly as its own scripts would
    inbox = watching(ref.dir / "inbox")
    while True:  # our ask is a separate process: wait for its query file to appear
        generation = inbox.generation
        seen = ref.pending()
        if len(seen) == 2:
            break
        assert inbox.wait(generation, 30), "the query never arrived"
    ping, query = seen if seen[0]["type"] == "ping" else seen[::-1]
    assert (ping["content"], ping["from"], ping["metadata"]["fromProject"]) == ("connected", app, "app")
    assert (query["type"], query["content"], query["to"]) == ("query", "What changed in v2?", ref.id)
    ref.mark_read(query["id"])
    ref.send(app, "response", "getUser() is now fetchUser(id)", in_reply_to=query["id"])
    out, err = asker.communicate(timeout=30)
    assert asker.returncode == 0, err
    assert out == b"getUser() is now fetchUser(id)\n"


def test_a_reference_session_asks_us_and_reads_our_answer(bridge):
    lib = bridge.start("lib", "library")
    ref = ReferenceSession(bridge.root, bridge.project("legacy-app"))
    qid = ref.send(lib, "query", "Which version removed getUser()?")
    got = orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "10", check=True).stdout)["message"]
    assert (got["id"], got["from"], got["from_name"]) == (qid, ref.id, "legacy-app")  # its metadata.fromProject
    # the reference reads the delivered message's status at inbox/<id>.json
    assert ref.status_of(bridge.root / "sessions" / lib / "inbox", qid) == "read"
    bridge.cli("lib", "reply", qid, "2.0.0; use fetchUser(id)", check=True)
    [answer] = ref.pending()
    assert (answer["type"], answer["inReplyTo"], answer["content"]) == ("response", qid, "2.0.0; use fetchUser(id)")
    assert answer["metadata"]["fromProject"] == "lib" and answer["status"] == "pending"


def test_messages_the_reference_marked_read_are_not_delivered_again(bridge):
    lib = bridge.start("lib")
    ref = ReferenceSession(bridge.root, bridge.project("legacy-app"))
    first = ref.send(lib, "query", "seen by a reference reader")
    path = bridge.root / "sessions" / lib / "inbox" / f"{first}.json"
    msg = orjson.loads(path.read_bytes())
    path.write_bytes(orjson.dumps(dict(msg, status="read")))
    ref.send(lib, "query", "new one")
    got = orjson.loads(bridge.cli("lib", "listen", "--json", "--timeout", "5", check=True).stdout)
    assert got["message"]["content"] == "new one"


def test_reference_sessions_are_judged_by_heartbeat(bridge):
    bridge.start("app")
    fresh = ReferenceSession(bridge.root, bridge.project("fresh"))
    old = ReferenceSession(bridge.root, bridge.project("old"), heartbeat_age_s=10 * 60)
    listed = orjson.loads(bridge.cli("app", "peers", "--json").stdout)["peers"]
    peers = {p["session_id"]: p["status"] for p in listed}
    assert peers == {fresh.id: "active", old.id: "stale"}
    r = bridge.script("app", "connect-peer.sh", old.id)
    assert r.returncode == 0 and "appears stale" in r.err


def test_our_manifest_keeps_the_reference_keys(bridge):
    sid = bridge.start("app", "app")
    m = orjson.loads((bridge.root / "sessions" / sid / "manifest.json").read_bytes())
    assert {"sessionId", "projectName", "projectPath", "startedAt", "lastHeartbeat", "status", "capabilities"} <= set(m)
    assert m["status"] == "active" and m["lastHeartbeat"].endswith("Z")
