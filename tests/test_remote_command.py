"""`session-bridge remote setup|status|peers` without a server: the team folder a rerun keeps, and what a machine
says of its remote peers before and after its gateway has run. With a real nats-server: test_gateway.py."""

from __future__ import annotations

import os

import orjson

from bridge import remote


def setup(bridge, folder, *args: str, check: bool = True):
    """`remote setup FOLDER ARGS`: its JSON when check, else the finished process (errors are text on stderr)."""
    return bridge.cli("p", "remote", "setup", str(folder), *args, *(["--json"] if check else []), check=check)


def test_setup_writes_a_config_and_private_credentials_and_a_rerun_keeps_both(bridge, tmp_path):
    team = tmp_path / "team"
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    first = orjson.loads(setup(bridge, team, "--machine", "laptop", "--machine", "ci", "--listen", "0.0.0.0:4222",
                               "--tls-cert", str(cert), "--tls-key", str(key)).out)
    assert first["new_credentials"] == ["ci", "laptop"] and first["tls"] is True
    assert {os.stat(p).st_mode & 0o777 for p in first["credentials"].values()} == {0o600}
    seed = (team / "laptop.nk").read_bytes()
    # adding a machine without repeating the server's flags keeps its listen address and TLS
    again = orjson.loads(setup(bridge, team, "--machine", "buildbox").out)
    assert again["machines"] == ["buildbox", "ci", "laptop"] and again["new_credentials"] == ["buildbox"]
    assert (again["listen"], again["tls"]) == ("0.0.0.0:4222", True)
    conf = (team / "nats.conf").read_text()
    assert '"0.0.0.0:4222"' in conf and str(cert) in conf and conf.count("nkey:") == 3
    assert (team / "laptop.nk").read_bytes() == seed
    text = bridge.cli("p", "remote", "setup", str(team), "--machine", "ci", check=True).out
    assert "listening on 0.0.0.0:4222, with TLS" in text


def test_setup_refuses_what_would_expose_the_team_with_one_line_errors(bridge, tmp_path):
    r = setup(bridge, tmp_path / "open", "--machine", "a", "--listen", "0.0.0.0:4222", check=False)
    assert r.returncode != 0 and "must use TLS" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "open" / "nats.conf").exists()
    r = setup(bridge, tmp_path / "half", "--machine", "a", "--tls-cert", "x.pem", check=False)
    assert r.returncode != 0 and "both --tls-cert and --tls-key" in r.err
    r = setup(bridge, tmp_path / "dots", "--machine", "a.b", check=False)
    assert r.returncode != 0 and "invalid machine name" in r.err
    team = tmp_path / "team"
    setup(bridge, team, "--machine", "a")
    (team / "setup.json").write_text("[1, 2")  # not what setup wrote
    r = setup(bridge, team, "--machine", "b", check=False)
    assert r.returncode != 0 and "setup.json" in r.err and "delete it" in r.err
    assert len(r.err.strip().splitlines()) == 1 and not (team / "b.nk").exists()
    (team / "nats.conf").write_text("# a config written by hand\n")  # and no setup.json: its settings are unknown
    (team / "setup.json").unlink()
    r = setup(bridge, team, "--machine", "b", check=False)
    assert r.returncode != 0 and "give --listen and --store" in r.err and not (team / "b.nk").exists()


def test_setup_on_a_folder_from_before_setup_json_keeps_the_settings_of_its_config(bridge, tmp_path):
    team, store = tmp_path / "team", tmp_path / "elsewhere"
    setup(bridge, team, "--machine", "a", "--listen", "0.0.0.0:4333", "--store", str(store), "--tls-cert", "/c.pem",
          "--tls-key", "/k.pem")
    (team / "setup.json").unlink()  # as an older session-bridge left the folder
    out = orjson.loads(setup(bridge, team, "--machine", "b").out)
    assert (out["listen"], out["tls"], out["machines"]) == ("0.0.0.0:4333", True, ["a", "b"])
    conf = (team / "nats.conf").read_text()
    assert f'store_dir: "{store}"' in conf and '"/c.pem"' in conf and '"/k.pem"' in conf


def test_status_and_peers_before_any_gateway_ran_and_with_mirrored_peers(bridge):
    bridge.start("lib", "lib")
    assert "No gateway runs" in bridge.cli("lib", "remote", "status", check=True).out
    assert orjson.loads(bridge.cli("lib", "remote", "peers", "--json", check=True).out)["peers"] == []
    remote.mirror(bridge.root, "laptop", {"sessionId": "rmt010", "label": "app", "projectPath": "/home/u/app",
                                          "liveness": "active"})
    status = orjson.loads(bridge.cli("lib", "remote", "status", "--json", check=True).out)["remote"]
    assert (status["running"], status["machines"], status["waiting_to_send"]) == (False, {"laptop": 1}, 0)
    peers = orjson.loads(bridge.cli("lib", "remote", "peers", "--json", check=True).out)["peers"]
    assert [(p["session_id"], p["machine"], p["project_path"]) for p in peers] == [
        ("rmt010", "laptop", "laptop:/home/u/app")]
    bridge.cli("lib", "send", "app@laptop", "query", "waits for the gateway", check=True)
    assert orjson.loads(bridge.cli("lib", "remote", "status", "--json", check=True).out)["remote"][
        "waiting_to_send"] == 1
    lines = bridge.cli("lib", "peers", check=True).out.splitlines()
    assert lines[0].split()[:3] == ["SESSION", "LABEL", "MACHINE"]
    assert lines[1].split()[:3] == ["rmt010", "app", "laptop"] and "active" in lines[1].split()
