"""Auto-mode at the CLI: `auto set|on|off|limits|status|log|run`, what each says, what stays manual (sensitive roles,
configured drivers), bad input, and who may change the settings (never a session auto-mode woke, never an agent
session not launched with BRIDGE_ADMIN=1; a human terminal may)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys

import orjson
import pytest

from support import wait_until


def status(bridge, **env: str) -> dict:
    """`auto status --json`."""
    return orjson.loads(bridge.cli("x", "auto", "status", "--json", check=True, **env).stdout)


def wake(bridge, room: str, role: str) -> tuple[str, str]:
    """(wake, why) of role@room as `auto status` shows it."""
    e = status(bridge)["rooms"][room]["roles"][role]
    return e["wake"], e["why"]


def test_status_of_a_fresh_bridge(bridge):
    out = status(bridge)
    assert out == {"version": 1, "automation": True, "runner": False, "rooms": {}, "limits": {
        "max_hops": 6, "rate_per_min": 12, "quiet_s": 600, "cooldown_s": 10, "run_timeout_s": 1800,
        "sensitive": ["infra", "qa"], "deny": out["limits"]["deny"]}}
    lines = bridge.cli("x", "auto", "status", check=True).out.splitlines()
    assert lines[0] == "Auto-mode: on · runner: not running (start one with: session-bridge auto run)"
    assert lines[1].startswith("Limits: max_hops 6, rate 12/min, quiet 600 s, cooldown 10 s, run timeout 1800 s, "
                               "sensitive infra, qa, deny ")
    assert lines[2] == "No rooms yet; join one with: session-bridge start --room <room> --role <role>"


def test_set_configures_a_role_gives_it_a_seat_and_never_turns_it_on(bridge, tmp_path):
    r = bridge.cli("x", "auto", "set", "shop", "web", "--driver", "spawn", "--cwd", str(tmp_path), "--command",
                   "codex exec", "--json", check=True)
    out = orjson.loads(r.stdout)
    assert out["role"] == {"room": "shop", "role": "web", "wake": "manual",
                           "why": "wake policy is manual (turn it on with: auto on shop web)", "driver": "spawn",
                           "cwd": str(tmp_path), "command": "codex exec", "sensitive": False}
    seat = out["session_id"]
    members = orjson.loads(bridge.cli("x", "rooms", "shop", "--json", check=True).stdout)["rooms"]["shop"]
    assert [(m["session_id"], m["role"], m["status"], m["project_path"]) for m in members] == [
        (seat, "web", "idle", str(tmp_path))]

    r = bridge.cli("x", "auto", "set", "shop", "web", "--command", "claude -p", check=True)  # the rest stays
    assert r.out.splitlines() == [
        f"web@shop: driver spawn, command claude -p, in {tmp_path}; session {seat} (idle).",
        "  wake manual: wake policy is manual (turn it on with: auto on shop web)"]

    e = status(bridge)["rooms"]["shop"]["roles"]["web"]
    assert (e["session_id"], e["status"], e["pending"], e["briefing"]) == (seat, "idle", 0, False)
    text = bridge.cli("x", "auto", "status", check=True).out
    assert f"  web: manual · driver spawn · command claude -p · session {seat} idle, 0 pending" in text


def test_sensitive_roles_stay_manual_until_turned_on_by_name(bridge):
    for role in ("web", "backend"):
        bridge.cli(role, "start", "--room", "shop", "--role", role, check=True)
    bridge.cli("x", "auto", "set", "shop", "infra", "--driver", "spawn", check=True)
    assert wake(bridge, "shop", "infra")[0] == "manual"  # configuring its driver does not wake it

    r = bridge.cli("x", "auto", "on", "shop", check=True)
    assert r.out.splitlines()[:2] == [
        "Room shop is on; woken: backend, web.",
        "Sensitive role infra stays manual; turn one on by name: session-bridge auto on shop infra"]
    assert "No auto run is running" in r.out
    assert wake(bridge, "shop", "web") == ("auto", "room shop is on")
    assert wake(bridge, "shop", "infra") == ("manual", "infra is sensitive: the room being on does not wake it; "
                                                       "turn it on by name: auto on shop infra")
    out = orjson.loads(bridge.cli("x", "auto", "on", "shop", "--json", check=True).stdout)
    assert (out["room"], out["role"], out["sensitive_manual"], sorted(out["roles"])) == (
        "shop", None, ["infra"], ["backend", "infra", "web"])

    assert bridge.cli("x", "auto", "on", "shop", "infra", check=True).out.startswith(
        "infra@shop is auto: infra is turned on by name.")
    assert wake(bridge, "shop", "infra") == ("auto", "infra is turned on by name")
    assert "Sensitive" not in bridge.cli("x", "auto", "on", "shop", check=True).out  # named: it stays on

    assert bridge.cli("x", "auto", "off", "shop", "web", check=True).out == (
        "web@shop is manual: web is turned off by name.\n")
    assert bridge.cli("x", "auto", "off", "shop", check=True).out == "Room shop is off; no role of it is woken.\n"
    assert {r: e["wake"] for r, e in status(bridge)["rooms"]["shop"]["roles"].items()} == {
        "backend": "manual", "infra": "manual", "web": "manual"}


def test_a_room_with_no_sensitive_role_yet_says_which_would_stay_off(bridge):
    bridge.cli("web", "start", "--room", "shop", "--role", "web", check=True)
    out = bridge.cli("x", "auto", "on", "shop", check=True).out
    assert "Sensitive roles infra, qa stay manual (none in the room yet); turn one on by name: session-bridge " \
           "auto on shop infra" in out


def test_the_master_switch(bridge):
    bridge.cli("web", "start", "--room", "shop", "--role", "web", check=True)
    bridge.cli("x", "auto", "on", "shop", check=True)
    r = bridge.cli("x", "auto", "off", check=True)
    assert r.out == "Auto-mode is off everywhere: nothing is woken (turn it on again with: session-bridge auto on).\n"
    assert wake(bridge, "shop", "web") == ("manual", "automation is off everywhere (turn it on with: auto on)")
    assert bridge.cli("x", "auto", "status", check=True).out.startswith("Auto-mode: off everywhere")
    out = orjson.loads(bridge.cli("x", "auto", "on", "--json", check=True).stdout)
    assert (out["automation"], out["room"], out["roles"]) == (True, None, {})
    assert wake(bridge, "shop", "web")[0] == "auto"  # the room's own setting was kept


def test_limits_show_and_change_defaults_and_a_rooms_own(bridge):
    shown = orjson.loads(bridge.cli("x", "auto", "limits", "--json", check=True).stdout)
    assert shown["room"] is None and shown["limits"]["max_hops"] == 6
    r = bridge.cli("x", "auto", "limits", "shop", "--max-hops", "3", "--rate", "6", "--quiet", "30.5",
                   "--cooldown", "2", "--run-timeout", "60", "--sensitive", "infra, billing", "--deny", r"rm\s+-rf",
                   check=True)
    assert r.out == ("Limits in room shop: max_hops 3, rate 6/min, quiet 30.5 s, cooldown 2 s, run timeout 60 s, "
                     "sensitive infra, billing, deny rm\\s+-rf\n")
    assert orjson.loads(bridge.cli("x", "auto", "limits", "--json", check=True).stdout)["limits"]["max_hops"] == 6
    assert status(bridge)["rooms"]["shop"]["limits"]["sensitive"] == ["infra", "billing"]
    bridge.cli("x", "auto", "limits", "--sensitive", "", check=True)  # no sensitive roles by default
    assert orjson.loads(bridge.cli("x", "auto", "limits", "--json", check=True).stdout)["limits"]["sensitive"] == []
    assert bridge.cli("x", "auto", "limits", "shop", check=True).out.startswith("Limits in room shop: max_hops 3,")


@pytest.mark.parametrize("args, code, error", [
    (("--deny", "git (commit"), 1, "Error: the deny pattern is not a regular expression (missing ), unterminated subpattern"),
    (("--max-hops", "0"), 1, "Error: invalid limit max_hops=0; numbers must be >= 1"),
    (("--rate", "-1"), 1, "Error: invalid limit rate_per_min=-1"),
    (("--sensitive", "infra,../x"), 1, "Error: invalid limit sensitive=['infra', '../x']"),
    (("--quiet", "nan"), 2, "must be a finite number"),
    (("--cooldown", "soon"), 2, "must be a number"),
    (("shop/x", "--rate", "3"), 1, "Error: invalid room 'shop/x'"),
])
def test_bad_limits_are_refused_and_change_nothing(bridge, args, code, error):
    before = orjson.loads(bridge.cli("x", "auto", "limits", "--json", check=True).stdout)["limits"]
    r = bridge.cli("x", "auto", "limits", *args)
    assert r.returncode == code and error in r.err, r.err
    if code == 1:
        assert len(r.err.splitlines()) == 1
    assert orjson.loads(bridge.cli("x", "auto", "limits", "--json", check=True).stdout)["limits"] == before


@pytest.mark.parametrize("args, error", [
    (("set", "shop", "web", "--driver", "carrier-pigeon"),
     "Error: unknown driver 'carrier-pigeon'; use one of auto, monitor, tmux, queue, spawn"),
    (("set", "../x", "web"), "Error: invalid room '../x'"),
    (("set", "shop", "a@b@c"), "Error: invalid role 'a@b@c'"),
    (("set", "shop", "web", "--cwd", "/no/such/dir"), "Error: --cwd /no/such/dir is not a directory"),
    (("set", "shop", "web", "--command", "'unclosed"), "Error: cannot split command"),
    (("set", "shop", "web", "--command", " "), "Error: the command is empty"),
    (("on", "../x"), "Error: invalid room '../x'"),
    (("off", "shop", "../../etc"), "Error: invalid role '../../etc'"),
])
def test_bad_settings_are_one_line_errors_and_write_nothing(bridge, args, error):
    r = bridge.cli("x", "auto", *args)
    assert r.returncode == 1 and r.err.startswith(error) and len(r.err.splitlines()) == 1, r.err
    assert status(bridge)["rooms"] == {}


SETTINGS_CHANGES = [("auto", "set", "shop", "web", "--driver", "spawn"), ("auto", "on"), ("auto", "off"),
                    ("auto", "on", "shop"), ("auto", "off", "shop", "infra"), ("auto", "limits", "--max-hops", "99"),
                    ("auto", "limits", "shop", "--sensitive", ""), ("role-prompt", "set", "web", "x", "--room", "shop"),
                    ("role-prompt", "delete", "web", "--room", "shop")]


def test_a_session_auto_mode_woke_may_read_the_settings_but_never_change_them(bridge):
    bridge.cli("web", "start", "--room", "shop", "--role", "web", check=True)
    bridge.cli("x", "auto", "on", "shop", check=True)
    before = status(bridge)
    for args in SETTINGS_CHANGES:
        r = bridge.cli("web", *args, BRIDGE_AUTO="1")
        assert r.returncode == 1 and r.err == ("Error: this session was woken by auto-mode: it may read the settings "
                                               "but never change them\n"), args
        assert r.out == ""
    assert status(bridge, BRIDGE_AUTO="1") == before
    for args in (("auto", "status"), ("auto", "limits"), ("auto", "log"), ("rooms",), ("role-prompt", "list")):
        assert bridge.cli("web", *args, BRIDGE_AUTO="1").returncode == 0, args


def agent(tmp_path, **env: str) -> subprocess.Popen:
    """A stand-in Claude Code process (its command line names `claude`) launched with `env` added."""
    script = tmp_path / "claude"
    script.write_text("import sys\nsys.stdin.read()\n")
    return subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, env={**os.environ, **env})


def test_an_agent_session_changes_settings_only_when_launched_with_bridge_admin(bridge, tmp_path):
    plain = agent(tmp_path)
    admin = agent(tmp_path, BRIDGE_ADMIN="1")
    try:
        r = bridge.cli("web", "auto", "on", "shop", BRIDGE_HOST_PID=str(plain.pid))
        assert r.returncode == 1 and r.err == (
            "Error: settings change only from a human terminal or an agent session launched with BRIDGE_ADMIN=1 "
            "(this is a claude-code session); run the command in your own terminal\n")
        # the agent's own shell setting the variable does not count: the agent was not launched with it
        assert bridge.cli("web", "auto", "on", "shop", BRIDGE_HOST_PID=str(plain.pid),
                          BRIDGE_ADMIN="1").returncode == 1
        assert bridge.cli("web", "auto", "status", BRIDGE_HOST_PID=str(plain.pid)).returncode == 0
        assert bridge.cli("web", "auto", "on", "shop", BRIDGE_HOST_PID=str(admin.pid)).returncode == 0
        assert status(bridge)["rooms"]["shop"]["all"] is True
    finally:
        for p in (plain, admin):
            p.stdin.close()
            p.wait()


def test_run_wakes_a_role_with_no_live_session_and_log_says_so(bridge, tmp_path):
    role_dir = tmp_path / "webdir"
    role_dir.mkdir()
    # a stand-in agent: it keeps its prompt (the message, the last argument) where the test can read it
    keep = "import sys, pathlib; pathlib.Path('prompt.txt').write_text(sys.argv[-1])"
    command = shlex.join([sys.executable, "-c", keep])
    bridge.cli("x", "auto", "set", "shop", "web", "--driver", "spawn", "--cwd", str(role_dir), "--command", command,
               check=True)
    bridge.cli("x", "auto", "on", "shop", "web", check=True)
    assert bridge.cli("x", "auto", "log", check=True).out.startswith("Nothing logged yet")

    runner = bridge.spawn("x", "auto", "run")
    try:
        first = runner.stdout.readline().decode()
        assert re.match(rf"Auto-mode runner started for {re.escape(str(bridge.root))} \(pid {runner.pid}\); it logs "
                        rf"to {re.escape(str(bridge.root / 'logs' / 'auto.jsonl'))}; Ctrl-C stops it\.$", first)
        assert status(bridge)["runner"] is True
        assert bridge.cli("x", "auto", "status", check=True).out.startswith("Auto-mode: on · runner: running")
        again = bridge.cli("x", "auto", "run", timeout=10)
        assert again.returncode == 1 and again.err.startswith("Error: another auto run already runs for")

        bridge.start("app", "app")
        mid = bridge.cli("app", "send", "web@shop", "query", "which port does the shop use?", check=True).out.strip()
        prompt = wait_until(lambda: (role_dir / "prompt.txt").exists() and (role_dir / "prompt.txt").read_text(),
                            what="the spawned run")
        assert "which port does the shop use?" in prompt and mid in prompt

        def events() -> list[dict]:
            return orjson.loads(bridge.cli("x", "auto", "log", "--json", check=True).stdout)["events"]

        done = wait_until(lambda: [e for e in events() if e["event"] == "done"], what="the run's done event")
        assert (done[0]["room"], done[0]["role"], done[0]["msg"]) == ("shop", "web", mid)
        woke = [e for e in events() if e["event"] == "woke"]
        assert (woke[0]["msg"], woke[0]["driver"]) == (mid, "spawn")
        assert set(woke[0]) == {"at", "event", "room", "role", "session", "msg", "from", "hops", "why", "driver"}
        lines = bridge.cli("x", "auto", "log", check=True).out.splitlines()
        assert re.match(r"^\S+Z  started +-  -  runner pid \d+$", lines[0])
        assert re.search(rf"^\S+Z  woke +web@shop  {mid}  \[spawn\]  ", "\n".join(lines), re.M)
        assert re.search(rf"^\S+Z  done +web@shop  {mid}  the run exited 0$", "\n".join(lines), re.M)
        assert len(bridge.cli("x", "auto", "log", "--limit", "1", check=True).out.splitlines()) == 1
    finally:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 0
    assert status(bridge)["runner"] is False
    assert orjson.loads(bridge.cli("x", "auto", "log", "--json", "--limit", "1", check=True).stdout)[
        "events"][0]["event"] == "stopped"
