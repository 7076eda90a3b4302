"""The file side of the gateway (bridge/remote.py), without a server: what a remote machine can and cannot do to
this one through presence records, messages and receipts, and how its sessions look here. The network side is in
test_gateway.py, against a real nats-server."""

from __future__ import annotations

import time

import orjson

from bridge import layout, message, remote, sessions


def announce(root, machine: str, sid: str, **fields) -> sessions.Session | None:
    """What machine's gateway says of one of its sessions, as the presence watcher hands it to mirror()."""
    return remote.mirror(root, machine, {"sessionId": sid, "liveness": "active", "startedAt": message.now_iso(),
                                         **fields})


def arrive(root, origin: str, to: str, content: str, sender: str = "rmt001", **meta) -> tuple[dict, tuple]:
    """A message from session `sender` on machine `origin`, as the receiving gateway hands it to deliver()."""
    msg = message.build(sender={"sessionId": sender, "projectName": "app", "label": "app"}, to=to, type="query",
                        content=content)
    msg["metadata"].update(meta)
    return msg, remote.deliver(root, origin, layout.dumps(msg))


def sent_to(bridge, project: str, address: str, text: str) -> str:
    return bridge.cli(project, "send", address, "query", text, check=True).out.strip()


def test_a_remote_machine_cannot_take_a_role_from_a_live_local_holder(bridge):
    local = orjson.loads(bridge.cli("api", "start", "--room", "shop", "--role", "backend", "--json",
                                    check=True).out)["session"]["session_id"]
    bridge.start("web", "web")
    # machine b announces a newer holder of backend@shop: messages for the role still go to the live local one
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    assert announce(bridge.root, "b", "rmt002", label="impostor", room="shop", role="backend",
                    startedAt=later) is not None
    msg_id = sent_to(bridge, "web", "backend@shop", "who holds backend?")
    assert (bridge.root / "sessions" / local / "inbox" / f"{msg_id}.json").exists()
    # once the local holder has ended, the role is reached on machine b
    bridge.cli("api", "stop", check=True)
    msg_id = sent_to(bridge, "web", "backend@shop", "and now?")
    assert (bridge.root / "sessions" / "rmt002" / "inbox" / f"{msg_id}.json").exists()


def test_taking_a_role_held_on_another_machine_starts_a_local_session_and_leaves_the_proxy(bridge):
    proxy = announce(bridge.root, "b", "rmt003", label="remote-web", room="shop", role="web")
    out = orjson.loads(bridge.cli("web", "start", "--room", "shop", "--role", "web", "--json", check=True).out)
    assert out["session"]["session_id"] != proxy.id and out["session"]["machine"] is None
    assert sessions.load(bridge.root, proxy.id).machine == "b"  # the proxy was not resumed as a local session
    bridge.start("api", "api")
    msg_id = sent_to(bridge, "api", "web@shop", "local first")
    assert (bridge.root / "sessions" / out["session"]["session_id"] / "inbox" / f"{msg_id}.json").exists()


def test_a_proxy_goes_stale_soon_after_its_machine_falls_silent_a_local_session_does_not(bridge):
    local = bridge.start("lib", "lib")
    proxy = announce(bridge.root, "b", "rmt004", label="app")
    two_minutes_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120))
    for sid in (local, proxy.id):
        s = sessions.load(bridge.root, sid)
        sessions.modify(s, lambda m: (m.pop("pid", None), m.update(lastHeartbeat=two_minutes_ago)))
    peers = {p["session_id"]: p["status"] for p in
             orjson.loads(bridge.cli("lib", "peers", "--json", check=True).out)["peers"]}
    assert peers[proxy.id] == "stale"
    assert sessions.load(bridge.root, local).liveness == "active"
    announce(bridge.root, "b", "rmt004", label="app")  # its machine speaks again
    assert sessions.load(bridge.root, proxy.id).liveness == "active"


def test_the_origin_comes_from_the_subject_never_from_the_payload_and_arrives_once(bridge):
    lib = bridge.start("lib", "lib")
    bridge.cli("lib", "inbound", "trust", "@b", check=True)
    msg, outcome = arrive(bridge.root, "b", lib, "hello", machine="c")  # the payload claims machine c
    assert outcome == ("delivered", lib)
    assert remote.deliver(bridge.root, "b", layout.dumps(msg))[0] == "duplicate"  # a redelivery
    got = orjson.loads(bridge.cli("lib", "inbox", "--json", check=True).out)["messages"]
    assert [(m["id"], m["machine"], m["from_name"]) for m in got] == [(msg["id"], "b", "app@b")]
    bridge.cli("lib", "read", msg["id"], check=True)
    assert remote.deliver(bridge.root, "b", layout.dumps(msg))[0] == "duplicate"  # even after it was read


def test_a_remote_sender_is_held_until_trusted_and_its_machine_is_told(bridge):
    lib = bridge.start("lib", "lib")
    msg, outcome = arrive(bridge.root, "b", lib, "let me in")
    assert outcome == ("held", lib)
    assert (bridge.root / "sessions" / "rmt001" / "receipts" / f"{msg['id']}.held").exists()  # goes back to b
    assert orjson.loads(bridge.cli("lib", "inbox", "--json", check=True).out)["messages"] == []
    bridge.cli("lib", "inbound", "trust", "app@b", check=True)
    got = orjson.loads(bridge.cli("lib", "inbox", "--json", check=True).out)["messages"]
    assert [m["id"] for m in got] == [msg["id"]]
    # b is told too, so its sender's outbox stops saying held (as the gateway carries receipts: see below)
    assert (bridge.root / "sessions" / "rmt001" / "receipts" / f"{msg['id']}.released").exists()


def test_untrust_holds_the_next_messages_again_and_keeps_what_was_released(bridge):
    lib = bridge.start("lib", "lib")
    first, _ = arrive(bridge.root, "b", lib, "before")
    bridge.cli("lib", "inbound", "trust", "@b", check=True)
    out = orjson.loads(bridge.cli("lib", "inbound", "untrust", "@b", "--json", check=True).out)
    assert out["inbound"]["trust"] == [] and out["released"] == []
    _, outcome = arrive(bridge.root, "b", lib, "after")
    assert outcome == ("held", lib)
    assert [m["id"] for m in orjson.loads(bridge.cli("lib", "inbox", "--json", check=True).out)["messages"]] == [
        first["id"]]


def test_a_sender_sees_held_then_queued_when_the_remote_peer_releases_it(bridge):
    app = bridge.start("app", "app")
    announce(bridge.root, "b", "rmt007", label="lib")
    msg_id = sent_to(bridge, "app", "lib@b", "may I?")

    def state() -> str:
        return orjson.loads(bridge.cli("app", "outbox", "--json", check=True).out)["messages"][0]["state"]

    assert remote.apply_receipt(bridge.root, "b", app, msg_id, "held") and state() == "held"
    assert remote.apply_receipt(bridge.root, "b", app, msg_id, "released") and state() == "queued"
    assert remote.apply_receipt(bridge.root, "b", app, msg_id, "read") and state() == "read"


def test_a_remote_machine_cannot_pose_as_a_local_session_or_reach_a_proxy(bridge):
    lib = bridge.start("lib", "lib")
    app = bridge.start("app", "app")
    posing, outcome = arrive(bridge.root, "b", lib, "I am app", sender=app)
    assert outcome[0] == "bounced" and "its id is taken here" in outcome[1]
    assert remote.bounced(layout.dumps(posing)) == (app, posing["id"])  # b's sender is told, not app here
    assert not (bridge.root / "sessions" / app / "receipts" / f"{posing['id']}.undeliverable").exists()
    assert orjson.loads(bridge.cli("lib", "inbox", "--json", check=True).out)["messages"] == []
    proxy = announce(bridge.root, "c", "rmt005", label="other")
    msg, outcome = arrive(bridge.root, "b", proxy.id, "relay me to c")
    assert outcome[0] == "undeliverable"  # no relaying through this machine
    assert (bridge.root / "sessions" / "rmt001" / "receipts" / f"{msg['id']}.undeliverable").exists()
    assert announce(bridge.root, "b", lib, label="lib") is None  # nor take a local id by presence
    assert sessions.load(bridge.root, lib).machine is None


def test_a_receipt_counts_only_from_the_machine_the_message_went_to(bridge):
    app = bridge.start("app", "app")
    announce(bridge.root, "b", "rmt006", label="lib")
    msg_id = sent_to(bridge, "app", "lib@b", "what changed?")
    assert not remote.apply_receipt(bridge.root, "c", app, msg_id, "read")  # c was not asked
    assert not remote.apply_receipt(bridge.root, "b", app, msg_id, "forged-state")
    status = orjson.loads(bridge.cli("app", "outbox", "--json", check=True).out)["messages"]
    assert [m["state"] for m in status] == ["queued"]
    assert remote.apply_receipt(bridge.root, "b", app, msg_id, "read")
    status = orjson.loads(bridge.cli("app", "outbox", "--json", check=True).out)["messages"]
    assert [m["state"] for m in status] == ["read"]


def test_a_name_that_is_both_a_local_role_and_a_remote_label_is_refused_as_ambiguous(bridge):
    local = orjson.loads(bridge.cli("api", "start", "--room", "shop", "--role", "backend", "--json",
                                    check=True).out)["session"]["session_id"]
    bridge.start("web", "web")
    announce(bridge.root, "shop", "rmt008", label="backend")  # machine "shop", session "backend": backend@shop
    r = bridge.cli("web", "send", "backend@shop", "query", "which one?")
    assert r.returncode == 5 and f"names both {local}" in r.err and "rmt008" in r.err and "by its id" in r.err
    assert list((bridge.root / "sessions" / local / "inbox").glob("*.json")) == []
    assert list((bridge.root / "sessions" / "rmt008" / "inbox").glob("*.json")) == []
    bridge.cli("api", "stop", check=True)
    msg_id = sent_to(bridge, "web", "backend@shop", "and now?")  # no holder here: the label on machine shop
    assert (bridge.root / "sessions" / "rmt008" / "inbox" / f"{msg_id}.json").exists()
