"""Across machines: two (or three) simulated machines, each a bridge dir with its own gateway process, and one real
nats-server (Debian's nats-server; these tests skip without it, and fail in CI). Exactly once end to end under
gateway kills at every crash point, a server restart and a partition; per-machine permissions on the server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import orjson
import pytest

from gateway_support import Machine, Server
from support import CLI, wait_until

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def team(tmp_path):
    """A server for machines a, b and c; machines made on demand; every process ended after the test."""
    server = Server(tmp_path / "team", ["a", "b", "c"])
    made: list[Machine] = []

    def machine(name: str) -> Machine:
        m = Machine(tmp_path, name, server)
        made.append(m)
        return m

    machine.server = server
    yield machine
    for m in made:
        m.kill_gateway()
    server.stop()


def pair(team):
    """Machine a with session lib, machine b with session app, both gateways up and mirroring each other."""
    a, b = team("a"), team("b")
    lib, app = a.session("lib"), b.session("app")
    a.run_gateway()
    b.run_gateway()
    assert b.sees("lib", "a") == lib and a.sees("app", "b") == app
    return a, b, lib, app


def outbox_states(m: Machine, sid: str) -> dict[str, str]:
    return {v["id"]: v["state"] for v in orjson.loads(m.as_(sid, "outbox", "--limit", "0", "--json").stdout)["messages"]}


def test_ask_and_answer_across_machines(team):
    a, b, lib, app = pair(team)
    assert a.as_(lib, "inbound", "trust", "app@b").returncode == 0
    listener = subprocess.Popen([*CLI, "listen", "--timeout", "120"], env=a.env("p", BRIDGE_SESSION_ID=lib),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    asker = subprocess.Popen([*CLI, "ask", "lib@a", "what changed in v2?", "--timeout", "120"],
                             env=b.env("p", BRIDGE_SESSION_ID=app), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    question, err = listener.communicate(timeout=120)
    assert listener.returncode == 0, err
    assert "what changed in v2?" in question
    assert "from app@b" in question and "external: from machine b" in question  # framed as from outside
    qid = next(w for w in question.split() if w.startswith("msg-"))
    assert a.as_(lib, "reply", qid, "v2 renamed parse() to load()").returncode == 0
    answer, err = asker.communicate(timeout=120)
    assert asker.returncode == 0, err
    assert answer.strip() == "v2 renamed parse() to load()"
    wait_until(lambda: outbox_states(b, app).get(qid) == "answered", what="answered flows back to the asker")
    peers = orjson.loads(b.as_(app, "peers", "--json").stdout)["peers"]
    assert [(p["label"], p["machine"]) for p in peers] == [("lib", "a")]


def test_a_remote_sender_is_held_until_trusted(team):
    a, b, lib, app = pair(team)
    sent = b.as_(app, "send", "lib@a", "query", "may I?", check=True).out.strip()
    wait_until(lambda: outbox_states(b, app).get(sent) == "held", what="held flows back to the sender",
               details=a.log_tail)
    assert a.inbox_ids(lib) == []  # no reader sees it
    held = orjson.loads(a.as_(lib, "inbound", "--json").stdout)["held"]
    assert [(h["id"], h["machine"]) for h in held] == [(sent, "b")]
    trusted = orjson.loads(a.as_(lib, "inbound", "trust", "app@b", "--json", check=True).stdout)
    assert trusted["released"] == [sent] and trusted["inbound"]["trust"] == ["app@b"]
    wait_until(lambda: outbox_states(b, app).get(sent) == "queued", what="released flows back to the sender",
               details=a.log_tail)
    got = orjson.loads(a.as_(lib, "listen", "--timeout", "30", "--json", check=True).stdout)["message"]
    assert (got["id"], got["machine"], got["from_name"]) == (sent, "b", "app@b")
    wait_until(lambda: outbox_states(b, app).get(sent) == "read", what="read flows back to the sender")
    nxt = b.as_(app, "send", "lib@a", "query", "and now?", check=True).out.strip()
    wait_until(lambda: nxt in a.inbox_ids(lib), what="a trusted sender's message lands pending")


def clash(a: Machine, b: Machine) -> tuple[str, str]:
    """Sessions lib and other on a, and one on b that has other's id (ids are minted per machine, so two machines
    can hold the same one): (lib, that id)."""
    lib, taken = a.session("lib"), a.session("other")
    app = b.session("app")
    os.rename(b.root / "sessions" / app, b.root / "sessions" / taken)
    manifest = b.root / "sessions" / taken / "manifest.json"
    manifest.write_bytes(orjson.dumps({**orjson.loads(manifest.read_bytes()), "sessionId": taken}))
    return lib, taken


def as_machine(server: Server, machine: str, work) -> object:
    """Run `work(nc, js)` on a connection of machine's own (its credential), as a hostile or broken peer would."""
    async def main():
        import nats

        nc = await nats.connect(server.url, nkeys_seed=server.creds(machine), inbox_prefix=f"_INBOX_{machine}",
                                max_reconnect_attempts=0)
        try:
            return await work(nc, nc.jetstream(timeout=5))
        finally:
            await nc.close()
    return asyncio.run(main())


def test_a_sender_whose_id_is_taken_on_the_far_machine_is_told_undeliverable(team):
    a, b = team("a"), team("b")
    lib, taken = clash(a, b)
    a.run_gateway()
    b.run_gateway()
    assert b.sees("lib", "a") == lib
    sent = b.as_(taken, "send", "lib@a", "query", "do you know me?", check=True).out.strip()
    wait_until(lambda: outbox_states(b, taken).get(sent) == "undeliverable", what="the bounce reaches b",
               details=a.log_tail)
    assert [e["event"] for e in a.log() if e.get("msg") == sent] == ["bounced"]
    assert a.inbox_ids(lib) == [] and orjson.loads(a.as_(lib, "inbound", "--json").stdout)["held"] == []


def test_a_bounce_its_machine_will_not_take_is_dropped_not_kept_pending(team):
    a, b = team("a"), team("b")
    lib, taken = clash(a, b)
    cap = {"BRIDGE_GATEWAY_QUEUE_CAP": "1"}
    a.run_gateway(**cap)
    b.run_gateway(**cap)
    assert b.sees("lib", "a") == lib
    a.kill_gateway()  # a is off: b's message waits on the server
    b.as_(taken, "send", "lib@a", "query", "do you know me?", check=True)
    wait_until(lambda: b.status()["waiting_to_send"] == 0, what="b's message on the server", details=b.log_tail)
    b.kill_gateway()  # b takes no receipts any more, and its receipts queue is full
    as_machine(team.server, "a", lambda nc, js: js.publish("bridge.b.rcpt.a", b"{}"))
    a.run_gateway()
    wait_until(lambda: [e for e in a.log() if e["event"] == "bounce-unsent"], what="the bounce given up",
               details=a.log_tail)
    # acked: nothing stays pending on a's consumer (a thousand such would stall everything a receives)
    def settled() -> bool:
        info = as_machine(team.server, "a", lambda nc, js: js.consumer_info("BRIDGE", "gw-a"))
        return (info.num_pending, info.num_ack_pending) == (0, 0)
    wait_until(settled, what="the bounced message acked", details=a.log_tail)


def test_a_machine_that_does_not_take_its_messages_leaves_the_rest_waiting_at_the_sender(team):
    a, b = team("a"), team("b")
    lib, app = a.session("lib"), b.session("app")
    b.as_(app, "inbound", "trust", "@a", check=True)
    cap = {"BRIDGE_GATEWAY_QUEUE_CAP": "10"}  # whichever creates the stream: at most 10 waiting per pair of machines
    b.run_gateway(**cap)
    a.run_gateway(**cap)
    assert a.sees("app", "b") == app
    b.kill_gateway()  # b is off: its proxy stays on a, and what a sends for it piles up
    sent = [a.as_(lib, "send", "app@b", "note", f"n{i}", check=True).out.strip() for i in range(25)]
    wait_until(lambda: a.status()["waiting_to_send"] == 15, what="15 of 25 wait on a", details=a.log_tail)
    assert "machine b has not taken what this one sent it" in a.status()["last_error"]
    b.run_gateway()
    wait_until(lambda: sorted(b.inbox_ids(app)) == sorted(sent), what="all 25 reach b once", details=a.log_tail)
    wait_until(lambda: a.status()["waiting_to_send"] == 0 and a.status()["last_error"] is None,
               what="a's backlog drained, and its error over", details=a.log_tail)


def test_a_stream_made_first_with_other_settings_is_reported(team):
    """Any machine may create the stream; one that made it first, by hand or to harm, gets it into the log."""
    from nats.js import api

    as_machine(team.server, "c", lambda nc, js: js.add_stream(api.StreamConfig(name="BRIDGE", subjects=["bridge.>"])))
    a = team("a")
    a.session("lib")
    a.run_gateway()
    said = wait_until(lambda: [e["why"] for e in a.log() if e["event"] == "stream-settings"],
                      what="the stream's settings reported", details=a.log_tail)
    assert len(said) == 1 and "retention is 'limits', not 'workqueue'" in said[0] and "per-pair cap" in said[0]


SENDER = """
import sys
from bridge import protocol, sessions, layout
root = layout.bridge_dir()
me = sessions.require_current(root)
target = sessions.find_peer(root, sys.argv[1], me)
with open(sys.argv[3], "w") as out:
    for i in range(int(sys.argv[2])):
        out.write(protocol.send(me, target, "query", f"message {i} from {me.id}")["id"] + "\\n")
        out.flush()
"""


READER = """
import sys
from bridge import protocol, sessions, layout
me = sessions.require_current(layout.bridge_dir())
for _ in range(int(sys.argv[1])):
    with protocol.listen(me, 60) as msg:
        print(msg["id"], flush=True)
"""


def read_all(m: Machine, sid: str, n: int) -> list[str]:
    """Have session sid's agent take n messages (a real reader process, as the agent's listen loop would)."""
    r = subprocess.run([sys.executable, "-c", READER, str(n)], env=m.env("p", BRIDGE_SESSION_ID=sid),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_flood_with_gateways_killed_and_the_server_restarted_loses_nothing_and_repeats_nothing(team, tmp_path):
    """4 senders x 250 messages from a to b. a's gateway is killed right after the server acked message 300 (before
    it dropped its copy: it publishes that one again), b's right after writing message 200 into the inbox (before
    its ack: the server offers it again), the server restarts while both are down, then both gateways come back."""
    a, b = team("a"), team("b")
    senders = [a.session(f"s{i}") for i in range(4)]
    rcv = b.session("rcv")
    assert b.as_(rcv, "inbound", "trust", "@a").returncode == 0
    a.run_gateway(crash_at="gateway-published:300")
    b.run_gateway(crash_at="gateway-delivered:200")
    b.sees("s3", "a")
    a.sees("rcv", "b")
    procs = [subprocess.Popen([sys.executable, "-c", SENDER, "rcv@b", "250", str(tmp_path / f"sent-{s}")],
                              env=a.env("p", BRIDGE_SESSION_ID=s)) for s in senders]
    for p in procs:
        assert p.wait(300) == 0
    assert a.gateway.wait(300) == -9 and b.gateway.wait(300) == -9  # each died at its crash point
    sent = [line for s in senders for line in (tmp_path / f"sent-{s}").read_text().split()]
    assert len(set(sent)) == 1000
    team.server.stop()
    team.server.start()
    a.run_gateway()
    b.run_gateway()
    wait_until(lambda: len(b.inbox_ids(rcv)) >= 1000, timeout=300, what="all 1000 messages on b",
               details=lambda: f"{len(b.inbox_ids(rcv))} there\n{b.log_tail()}")
    # the message b died on (written, not acked) comes again when its ack wait runs out, which may be after all
    # the others are in: it is recognised, not written twice
    wait_until(lambda: "duplicate" in [e["event"] for e in b.log()], timeout=120, what="the redelivery recognised",
               details=b.log_tail)
    got = b.inbox_ids(rcv)
    assert len(got) == 1000 and set(got) == set(sent)  # 0 lost, 0 duplicated
    # b's agent reads them all; a's senders see every one read, each exactly once
    assert sorted(read_all(b, rcv, 1000)) == sorted(sent)
    def all_read() -> bool:
        return all(st == "read" for s in senders for st in outbox_states(a, s).values())
    wait_until(all_read, timeout=300, what="1000 read receipts back on a", details=a.log_tail)
    assert sum(len(outbox_states(a, s)) for s in senders) == 1000


def test_server_away_for_10s_queues_then_delivers(team):
    a, b, lib, app = pair(team)
    assert b.as_(app, "inbound", "trust", "lib@a").returncode == 0
    team.server.stop()
    down = time.monotonic()
    wait_until(lambda: not a.status()["connected"], what="a notices the server is gone")
    ids = [a.as_(lib, "send", "app@b", "query", f"during the partition {i}", check=True).out.strip()
           for i in range(20)]
    assert set(outbox_states(a, lib).values()) == {"queued"}
    assert a.status()["waiting_to_send"] == 20
    time.sleep(max(0.0, 10 - (time.monotonic() - down)))  # the partition lasts 10 s (the scenario, not a sync)
    team.server.start()
    wait_until(lambda: sorted(b.inbox_ids(app)) == sorted(ids), timeout=120, what="queued messages delivered",
               details=a.log_tail)
    assert a.status()["waiting_to_send"] == 0
    assert read_all(b, app, 20) == ids  # in the order they were sent
    wait_until(lambda: set(outbox_states(a, lib).values()) == {"read"}, what="read flows back after the partition")


@pytest.mark.parametrize("point", ["gateway-published", "gateway-delivered", "gateway-receipt-published",
                                   "gateway-receipt-applied"])
def test_a_gateway_killed_at_each_crash_point_delivers_once(team, point):
    """Every place a gateway writes before it acknowledges: killed there, then started again, the message is in
    the recipient's inbox once and its sender sees it read."""
    a, b, lib, app = pair(team)
    assert b.as_(app, "inbound", "trust", "lib@a").returncode == 0
    crashing = a if point in ("gateway-published", "gateway-receipt-applied") else b
    crashing.stop_gateway()
    crashing.run_gateway(crash_at=point)
    sent = a.as_(lib, "send", "app@b", "query", "once only", check=True).out.strip()
    if point.startswith("gateway-receipt"):
        wait_until(lambda: sent in b.inbox_ids(app), what="delivered")
        assert b.as_(app, "listen", "--timeout", "30").returncode == 0  # read: a receipt goes back
    assert crashing.gateway.wait(120) == -9
    crashing.run_gateway()
    wait_until(lambda: outbox_states(a, lib).get(sent) == "read" if point.startswith("gateway-receipt")
               else sent in b.inbox_ids(app), what="the message through", details=crashing.log_tail)
    assert b.inbox_ids(app).count(sent) == 1
    if not point.startswith("gateway-receipt"):
        assert b.as_(app, "listen", "--timeout", "30").returncode == 0
        assert b.as_(app, "listen", "--timeout", "1").returncode != 0  # nothing twice
        wait_until(lambda: outbox_states(a, lib).get(sent) == "read", what="read flows back")


def test_attachments_travel_through_the_object_store(team, tmp_path):
    a, b, lib, app = pair(team)
    assert b.as_(app, "inbound", "trust", "lib@a").returncode == 0
    data = bytes(range(256)) * 8192  # 2 MiB: more than a message may carry
    (tmp_path / "dump.bin").write_bytes(data)
    sent = a.as_(lib, "send", "app@b", "query", "see the dump", "--attach", str(tmp_path / "dump.bin"),
                 check=True).out.strip()
    wait_until(lambda: sent in b.inbox_ids(app), what="delivered", details=b.log_tail)
    msg = orjson.loads(b.as_(app, "listen", "--json", "--timeout", "30", check=True).stdout)["message"]
    sha = msg["attachments"][0]["sha256"]
    out = tmp_path / "got.bin"
    assert b.as_(app, "artifact", "get", sha, "-o", str(out)).returncode == 0
    assert out.read_bytes() == data


def test_a_machine_cannot_read_or_forge_another_machines_subjects(team):
    """c holds valid credentials of its own: the server lets it publish into a's inbox as c, and nothing else."""
    a, b, lib, app = pair(team)
    server = team.server

    async def attempts() -> dict:
        import nats
        from nats.js import api

        errors: list[str] = []

        async def on_error(e: Exception) -> None:
            errors.append(str(e).lower())

        nc = await nats.connect(server.url, nkeys_seed=server.creds("c"), inbox_prefix="_INBOX_c",
                                error_cb=on_error, max_reconnect_attempts=0)
        js = nc.jetstream(timeout=2)
        out = {}
        for name, subject in (("core subscribe", "bridge.a.>"), ("reply inbox", "_INBOX_a.>")):
            await nc.subscribe(subject)
            await nc.flush()
            out[name] = subject
        for name, coro in (
            ("consumer on a's subjects", js.add_consumer("BRIDGE", api.ConsumerConfig(
                name="gw-c", durable_name="gw-c", filter_subject="bridge.a.>"))),
            ("a's consumer", js.consumer_info("BRIDGE", "gw-a")),
            ("stream get", js.get_msg("BRIDGE", seq=1)),
            ("forge b's word", js.publish("bridge.a.msg.b", b"{}")),
        ):
            try:
                await coro
                out[name] = "allowed"
            except Exception as e:  # refused: a permission error or no answer at all
                out[name] = f"refused: {type(e).__name__}"
        ok = await js.publish("bridge.a.rcpt.c", b"{}")  # its own word: allowed (and ignored by a's gateway)
        out["own word"] = f"acked {ok.seq > 0}"
        await nc.close()
        out["errors"] = errors
        return out

    out = asyncio.run(attempts())
    assert any("permissions violation for subscription to \"bridge.a.>\"" in e for e in out["errors"]), out
    assert any("permissions violation for subscription to \"_inbox_a.>\"" in e for e in out["errors"]), out
    for name in ("consumer on a's subjects", "a's consumer", "stream get", "forge b's word"):
        assert out[name].startswith("refused"), out
    assert out["own word"] == "acked True"
    # a still gets its messages: the refusals took nothing from it
    assert a.as_(lib, "inbound", "trust", "app@b").returncode == 0
    sent = b.as_(app, "send", "lib@a", "query", "still there?", check=True).out.strip()
    wait_until(lambda: sent in a.inbox_ids(lib), what="a's own messages still arrive")


def test_bad_addresses_and_missing_tls_are_one_line_errors(team, tmp_path):
    m = team("a")
    r = m.cli("p", "gateway", "--nats", "nats://10.1.2.3:4222", "--machine", "a")
    assert r.returncode != 0 and "without TLS" in r.err and len(r.err.strip().splitlines()) == 1
    r = m.cli("p", "gateway", "--nats", "nats://127.0.0.1:1", "--machine", "a.b")
    assert r.returncode != 0 and "invalid machine name" in r.err
    r = m.cli("p", "gateway", "--nats", team.server.url, "--machine", "a", "--creds", str(tmp_path / "nope.nk"))
    assert r.returncode != 0 and "cannot read credentials" in r.err
    r = m.cli("p", "remote", "setup", str(tmp_path / "t2"), "--machine", "x", "--listen", "0.0.0.0:4222")
    assert r.returncode != 0 and "must use TLS" in r.err
    assert "No gateway runs" in m.cli("p", "remote", "status").out
