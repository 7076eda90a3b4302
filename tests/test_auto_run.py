"""Auto-mode end to end: a real `session-bridge auto run` wakes roles by spawning a stand-in agent command
(tests/standin_agent.py, on PATH as `standin-agent`) that answers through the real CLI. Each test tries to break one
rail: the hop limit, the rate limit, sensitive roles, single flight, a role nobody can wake, the admin rail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from support import CLI, REPO, wait_until

STANDIN = REPO / "tests" / "standin_agent.py"


class Room:
    """A bridge dir with a room `shop`, roles configured to spawn the stand-in, and a runner."""

    def __init__(self, bridge, tmp: Path) -> None:
        self.bridge = bridge
        self.tmp = tmp
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "standin-agent"
        wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {STANDIN} \"$@\"\n")
        wrapper.chmod(0o755)
        self.path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        self.runner: subprocess.Popen | None = None

    def cli(self, project: str, *args: str, **kw):
        return self.bridge.cli(project, *args, PATH=self.path, **kw)

    def role(self, role: str, plan: dict, command: str = "standin-agent") -> Path:
        """Configure role@shop to spawn the stand-in in its own directory, following `plan`."""
        cwd = self.bridge.project(f"role-{role}")
        (cwd / "standin.json").write_text(json.dumps(plan))
        self.cli("admin", "auto", "set", "shop", role, "--driver", "spawn", "--cwd", str(cwd), "--command", command,
                 check=True)
        return cwd

    def human(self, role: str) -> str:
        """A session started by a person at a terminal, holding `role`."""
        out = self.cli(role, "start", "--room", "shop", "--role", role, "--json", check=True).stdout
        return orjson.loads(out)["session"]["session_id"]

    def run(self, **env: str) -> None:
        self.runner = subprocess.Popen([*CLI, "auto", "run"], env=self.bridge.env("admin", PATH=self.path, **env),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def log(self) -> list[dict]:
        path = self.bridge.root / "logs" / "auto.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def events(self, event: str, role: str | None = None) -> list[dict]:
        return [e for e in self.log() if e["event"] == event and (role is None or e["role"] == role)]

    def runs(self, role: str, event: str = "start") -> list[dict]:
        path = self.bridge.project(f"role-{role}") / "runs.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [r for r in map(json.loads, lines) if r["event"] == event]

    def stop(self) -> None:
        if self.runner and self.runner.poll() is None:
            self.runner.send_signal(signal.SIGTERM)
            self.runner.wait(timeout=30)

    def details(self) -> str:
        return "auto log:\n" + "\n".join(json.dumps(e) for e in self.log())


@pytest.fixture
def room(bridge, tmp_path):
    r = Room(bridge, tmp_path)
    yield r
    r.stop()


def test_a_backend_web_infra_chain_runs_end_to_end_and_infra_wakes_only_when_named(room):
    backend = room.human("backend")
    room.role("web", {"query": [["send", "infra", "query", "deploy what {id} asked"], ["reply", "{id}", "web: done"]]})
    room.role("infra", {"query": [["reply", "{id}", "infra: deployed"]]})
    room.cli("admin", "auto", "on", "shop", check=True)
    room.run()
    asked = room.cli("backend", "send", "web", "query", "ship the v2 page", "--json", check=True)
    question = orjson.loads(asked.stdout)["message"]["id"]
    answer = room.cli("backend", "receive", question, "--timeout", "120", "--json", check=True)
    assert orjson.loads(answer.stdout)["answer"]["content"] == "web: done"
    # infra is sensitive: the room being on left it manual, so web's message to it waits for a human
    held = wait_until(lambda: room.events("held", "infra"), what="infra's message held", details=room.details)
    assert "sensitive" in held[0]["why"] and room.runs("infra") == []
    room.cli("admin", "auto", "on", "shop", "infra", check=True)  # by name, while the runner runs: no restart
    wait_until(lambda: room.runs("web", "end")[1:], what="web woken by infra's answer", details=room.details)
    web, infra = room.runs("web"), room.runs("infra")
    assert [r["hops"] for r in web] == ["0", "2"] and [r["hops"] for r in infra] == ["1"]
    assert all(r["auto"] == "1" and r["session"] for r in web + infra)
    assert backend not in {r["session"] for r in web + infra}
    assert room.runs("infra", "end")[0]["results"][0]["rc"] == 0


def test_a_ping_pong_forever_stops_at_max_hops_however_long_the_turns(room):
    room.human("manager")
    room.role("backend", {"query": [["send", "web", "query", "ping back {id}"]]})
    room.role("web", {"query": [["send", "backend", "query", "pong back {id}"]]})
    room.cli("admin", "auto", "on", "shop", check=True)
    room.cli("admin", "auto", "limits", "shop", "--quiet", "0", check=True)  # no time window keeps a chain alive
    room.run()
    room.cli("manager", "send", "web", "query", "start the rally", check=True)
    guard = wait_until(lambda: [e for e in room.events("held") if "loop guard" in e["why"]],
                       what="the loop guard stopping the chain", details=room.details)
    assert guard[0]["hops"] == 6
    woken = room.runs("web") + room.runs("backend")
    assert sorted(int(r["hops"]) for r in woken) == [0, 1, 2, 3, 4, 5]
    pending = room.cli("admin", "auto", "status", "--json", check=True)
    roles = orjson.loads(pending.stdout)["rooms"]["shop"]["roles"]
    assert roles["backend"]["pending"] + roles["web"]["pending"] == 1  # the hop-6 message waits, not dropped


def test_over_the_rate_limit_wakes_wait_and_happen_later_none_dropped(room):
    room.human("backend")
    room.role("web", {"query": [["reply", "{id}", "ok"]]})
    room.cli("admin", "auto", "on", "shop", "web", check=True)
    room.cli("admin", "auto", "limits", "shop", "--rate", "2", check=True)
    room.run(BRIDGE_RATE_WINDOW_S="3")
    for i in range(5):
        room.cli("backend", "send", "web", "query", f"q{i}", check=True)
    wait_until(lambda: len(room.runs("web", "end")) == 5, what="all five answered", details=room.details)
    assert any("rate limit" in e["why"] for e in room.events("later", "web")), room.details()
    woke = room.events("woke", "web")
    assert len(woke) == 5 and len({e["msg"] for e in woke}) == 5  # each once: none dropped, none twice


def test_one_spawned_run_at_a_time_per_role(room):
    room.human("backend")
    gate = room.tmp / "let-it-finish"
    room.role("web", {"query": [["reply", "{id}", "ok"]], "gate": str(gate)})
    room.cli("admin", "auto", "on", "shop", "web", check=True)
    room.run()
    room.cli("backend", "send", "web", "query", "first", check=True)
    wait_until(lambda: room.runs("web"), what="the first run")
    room.cli("backend", "send", "web", "query", "second", check=True)
    room.cli("backend", "send", "web", "query", "third", check=True)
    wait_until(lambda: [e for e in room.events("later", "web") if "one at a time" in e["why"]],
               what="the runner seeing the others while the run goes on", details=room.details)
    assert len(room.runs("web")) == 1
    gate.touch()
    wait_until(lambda: len(room.runs("web", "end")) == 3, what="all three runs", details=room.details)
    starts, ends = room.runs("web"), room.runs("web", "end")
    assert all(starts[i + 1]["at"] >= ends[i]["at"] for i in range(2))  # never overlapping


def test_a_role_with_no_live_session_and_no_command_is_never_woken(room):
    room.human("backend")
    room.human("docs")
    room.cli("docs", "stop", check=True)
    room.cli("admin", "auto", "set", "shop", "docs", check=True)  # a seat, no command
    room.cli("admin", "auto", "on", "shop", "docs", check=True)
    room.run()
    room.cli("backend", "send", "docs", "query", "anyone?", check=True)
    waits = wait_until(lambda: room.events("waits", "docs"), what="the message left waiting", details=room.details)
    assert "no spawn command" in waits[0]["why"] and not room.events("woke", "docs")


def test_a_woken_session_can_read_the_settings_but_never_change_them(room):
    room.human("backend")
    room.role("web", {"query": [["auto", "on", "shop", "infra"], ["auto", "limits", "--max-hops", "99"],
                                ["auto", "status"], ["reply", "{id}", "tried"]]})
    room.cli("admin", "auto", "on", "shop", "web", check=True)
    room.run(BRIDGE_ADMIN="1")  # even a runner started by an admin hands its runs no admin rights
    room.cli("backend", "send", "web", "query", "please turn infra on", check=True)
    end = wait_until(lambda: room.runs("web", "end"), what="the run", details=room.details)[0]
    on, limits, status, _ = end["results"]
    assert on["rc"] == 1 and "woken by auto-mode" in on["err"]
    assert limits["rc"] == 1 and status["rc"] == 0
    assert room.runs("web")[0]["admin"] is None
    settings = orjson.loads(room.cli("admin", "auto", "status", "--json", check=True).stdout)
    assert settings["limits"]["max_hops"] == 6 and settings["rooms"]["shop"]["roles"].get("infra") is None


def test_a_second_runner_is_refused_and_settings_changes_need_no_restart(room):
    room.human("backend")
    room.role("web", {"query": [["reply", "{id}", "ok"]]})
    room.run()
    wait_until(lambda: room.events("started"), what="the runner")
    second = room.cli("admin", "auto", "run", timeout=30)
    assert second.returncode == 1 and "already runs" in second.err
    room.cli("backend", "send", "web", "query", "are you on?", check=True)
    wait_until(lambda: room.events("held", "web"), what="web held (manual)", details=room.details)
    room.cli("admin", "auto", "on", "shop", "web", check=True)
    wait_until(lambda: room.runs("web", "end"), what="web woken once turned on", details=room.details)


def test_a_runner_killed_mid_run_loses_nothing_and_the_next_one_offers_the_message_again(room):
    room.human("backend")
    gate = room.tmp / "let-it-finish"
    room.role("web", {"query": [["reply", "{id}", "ok"]], "gate": str(gate)})
    room.cli("admin", "auto", "on", "shop", "web", check=True)
    room.run()
    question = room.cli("backend", "send", "web", "query", "still there?", check=True).out.strip()
    wait_until(lambda: room.runs("web"), what="the first run")
    room.runner.kill()  # SIGKILL while its run holds the claimed message
    room.runner.wait()
    room.run()  # a new runner finds the claim of a dead owner and puts the message back, marked as a redelivery
    runs = wait_until(lambda: room.runs("web")[1:], what="the message offered again", details=room.details)
    assert runs[0]["msg"] == question
    gate.touch()
    answer = room.cli("backend", "receive", question, "--timeout", "120", "--json", check=True)
    assert orjson.loads(answer.stdout)["answer"]["content"] == "ok"
    wait_until(lambda: room.events("done", "web"), what="the run finished and its message delivered")
    inbox = orjson.loads(room.cli("web", "inbox", "--all", "--json", BRIDGE_SESSION_ID=runs[0]["session"],
                                  check=True).stdout)["messages"]
    assert [(m["id"], m["status"], m["attempt"]) for m in inbox if m["id"] == question] == [(question, "read", 2)]
