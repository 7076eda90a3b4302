"""File leases (bridge/leases.py) through the real CLI and the real MCP server: shared and exclusive leases, a
directory covering its contents, a lease dying with its session or its TTL, release, bad input, and two processes
racing for one exclusive lease. Separate live sessions are separate stand-in agents (BRIDGE_HOST_PID)."""

from __future__ import annotations

import subprocess
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import orjson
import pytest
from mcp import Client, StdioServerParameters

from bridge import leases
from bridge.errors import BridgeError
from mcp_support import SESSION_BRIDGE, env
from support import CLI, wait_until


def sb(bridge, project: str, host, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI as the session of `project` hosted by `host`, run in `cwd` (default: the project dir)."""
    r = subprocess.run([*CLI, *args], env=bridge.env(project, BRIDGE_HOST_PID=host.pid), capture_output=True,
                       cwd=cwd or bridge.project(project), timeout=60)
    r.out, r.err = r.stdout.decode(), r.stderr.decode()
    return r


def ok(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, r.err + r.out
    return orjson.loads(r.stdout) if r.out.startswith("{") else {}


def start(bridge, project: str, host, *args: str) -> str:
    return ok(sb(bridge, project, host, "start", "--json", *args))["session"]["session_id"]


def refused(r: subprocess.CompletedProcess) -> str:
    """The one-line error of a command that must fail with exit 1."""
    assert r.returncode == 1, r.err + r.out
    assert r.err.startswith("Error: ") and r.err.count("\n") == 1, r.err
    return r.err


def live(bridge, project: str, host) -> list[dict]:
    return ok(sb(bridge, project, host, "leases", "--json"))["leases"]


@pytest.fixture
def team(bridge, hosts):
    """Two live sessions in one repo dir, each with its own agent: web@shop (alpha) and beta."""
    h1, h2 = hosts(), hosts()
    repo = bridge.project("repo")
    (repo / "src").mkdir()
    (repo / "src" / "auth.py").write_text("x = 1\n")
    a = start(bridge, "repo", h1, "--label", "alpha", "--room", "shop", "--role", "web")
    b = start(bridge, "repo", h2, "--label", "beta")
    assert a != b
    return bridge, repo, (h1, a), (h2, b)


def test_an_exclusive_lease_blocks_every_other_lease_and_names_its_holder_role_and_reason(team):
    bridge, repo, (h1, a), (h2, b) = team
    got = ok(sb(bridge, "repo", h1, "lease", "src/auth.py", "--exclusive", "--ttl", "2h",
                "--reason", "refactoring auth", "--json"))["leases"]
    assert [(x["path"], x["exclusive"], x["reason"], x["session_id"], x["mine"]) for x in got] == [
        (str((repo / "src" / "auth.py").resolve()), True, "refactoring auth", a, True)]
    assert got[0]["expires"] and got[0]["address"] == "web@shop"
    for args in (["src/auth.py"], ["src/auth.py", "--exclusive"], ["src", "--exclusive"], [str(repo)]):
        err = refused(sb(bridge, "repo", h2, "lease", *args))
        assert a in err and "web@shop" in err and "refactoring auth" in err and "alpha" in err, err
    ok(sb(bridge, "repo", h2, "lease", "README.md", "--reason", "docs"))  # another path: fine
    seen = live(bridge, "repo", h2)
    assert [(x["path"].rsplit("/", 1)[1], x["session_id"], x["mine"], x["exclusive"]) for x in seen] == [
        ("README.md", b, True, False), ("auth.py", a, False, True)]
    text = sb(bridge, "repo", h2, "leases").out
    assert "alpha (web@shop)" in text and "exclusive" in text and "'refactoring auth'" in text and "you" in text


def test_shared_leases_coexist_and_an_exclusive_one_waits_for_all_of_them(team, hosts):
    bridge, repo, (h1, a), (h2, b) = team
    h3 = hosts()
    start(bridge, "other", h3, "--label", "gamma")
    target = str(repo / "src")
    ok(sb(bridge, "repo", h1, "lease", target))
    ok(sb(bridge, "repo", h2, "lease", target, "--reason", "reading"))
    assert len(live(bridge, "repo", h1)) == 2
    err = refused(sb(bridge, "other", h3, "lease", f"{target}/auth.py", "--exclusive"))
    assert (a in err or b in err) and "more conflict" in err, err  # both shared holders are in the way
    ok(sb(bridge, "repo", h1, "release"))
    err = refused(sb(bridge, "other", h3, "lease", f"{target}/auth.py", "--exclusive"))
    assert b in err and "reading" in err and "inside the leased" in err
    ok(sb(bridge, "repo", h2, "release", target))
    ok(sb(bridge, "other", h3, "lease", f"{target}/auth.py", "--exclusive"))
    # The holder's own leases never conflict with each other: it may narrow, widen or renew them.
    ok(sb(bridge, "other", h3, "lease", target, "--exclusive", "--reason", "renamed module"))
    assert [x["reason"] for x in live(bridge, "other", h3)] == ["renamed module", None]


def test_a_lease_dies_with_its_session_and_gc_removes_it(team, hosts):
    bridge, repo, (h1, a), (h2, b) = team
    ok(sb(bridge, "repo", h1, "lease", "src", "--exclusive"))
    refused(sb(bridge, "repo", h2, "lease", "src/auth.py"))
    h1.exit()  # alpha's agent is gone: so is its lease
    assert live(bridge, "repo", h2) == []
    ok(sb(bridge, "repo", h2, "lease", "src/auth.py", "--exclusive"))
    assert [p.name.split(".")[1] for p in (bridge.root / "leases").iterdir()] == [b]  # the taker removed the dead one
    # A stopped session's leases die at once; gc removes their files.
    h3 = hosts()
    c = start(bridge, "third", h3, "--label", "gamma")
    ok(sb(bridge, "third", h3, "lease", str(repo / "README.md"), "--exclusive"))
    ok(sb(bridge, "third", h3, "stop"))
    assert [x["session_id"] for x in live(bridge, "repo", h2)] == [b]
    report = ok(sb(bridge, "repo", h2, "gc", "--json"))
    assert report["leases_removed"] == 1
    assert not any(c in p.name for p in (bridge.root / "leases").iterdir())


def test_an_expired_lease_neither_shows_nor_blocks(team):
    bridge, repo, (h1, a), (h2, b) = team
    ok(sb(bridge, "repo", h1, "lease", "src/auth.py", "--exclusive", "--ttl", "1s"))
    wait_until(lambda: live(bridge, "repo", h2) == [], what="the 1 s lease to expire")
    ok(sb(bridge, "repo", h2, "lease", "src/auth.py", "--exclusive"))
    # An expiry in the past, written by hand, is as dead.
    ok(sb(bridge, "repo", h1, "lease", "README.md", "--exclusive", "--ttl", "1h"))
    f = next(p for p in (bridge.root / "leases").iterdir() if p.name.endswith(f".{a}.json"))
    f.write_bytes(orjson.dumps({**orjson.loads(f.read_bytes()), "expires": "2001-01-01T00:00:00Z"}))
    ok(sb(bridge, "repo", h2, "lease", "README.md", "--exclusive"))


def test_release_gives_up_named_leases_or_all_and_refuses_what_it_does_not_hold(team):
    bridge, repo, (h1, a), (h2, b) = team
    ok(sb(bridge, "repo", h1, "lease", "src/auth.py", "README.md", "docs", "--exclusive"))
    ok(sb(bridge, "repo", h2, "lease", "other.txt"))
    err = refused(sb(bridge, "repo", h1, "release", "README.md", "other.txt"))  # other.txt is beta's
    assert "no lease on" in err and "other.txt" in err and "nothing released" in err
    assert len(live(bridge, "repo", h1)) == 4
    assert ok(sb(bridge, "repo", h1, "release", "README.md", "--json"))["released"] == [str(repo / "README.md")]
    assert sorted(ok(sb(bridge, "repo", h1, "release", "--json"))["released"]) == [
        str(repo / "docs"), str(repo / "src" / "auth.py")]
    assert "holds no leases" in ok_text(sb(bridge, "repo", h1, "release"))
    assert [x["session_id"] for x in live(bridge, "repo", h1)] == [b]
    refused(sb(bridge, "repo", h1, "release", "src/auth.py"))


def ok_text(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, r.err
    return r.out


@pytest.mark.parametrize("ttl", ["-5m", "abc", "0s", "5", "1.5h", "m", "99999d", "", " "])
def test_a_bad_ttl_is_refused_in_one_line(bridge, hosts, ttl):
    h = hosts()
    start(bridge, "p", h)
    err = refused(sb(bridge, "p", h, "lease", "f.txt", f"--ttl={ttl}"))
    assert "invalid duration" in err and "30m" in err
    assert not (bridge.root / "leases").exists() or not list((bridge.root / "leases").iterdir())


@pytest.mark.parametrize("args, says", [
    (["a\nb"], "control character"), (["tab\there"], "control character"), ([""], "empty path"),
    (["x" * 5000], "4096"), (["f", "--reason", "two\nlines"], "one line"), (["f", "--reason", "r" * 600], "500"),
])
def test_bad_paths_and_reasons_are_refused_in_one_line(bridge, hosts, args, says):
    h = hosts()
    start(bridge, "p", h)
    assert says in refused(sb(bridge, "p", h, "lease", *args))


def test_a_nul_in_a_path_is_refused_by_the_core():
    # argv cannot carry a NUL; the MCP tools can (see below), and both go through this check.
    with pytest.raises(BridgeError, match="control character"):
        leases.resolve("a\0b")
    assert leases.parse_duration("1h30m") == 5400 and leases.parse_duration("90S") == 90


def test_without_a_session_lease_says_to_start_one(bridge, hosts):
    r = sb(bridge, "nobody", hosts(), "lease", "f.txt")
    assert r.returncode == 4 and "session-bridge start" in r.err


def test_two_processes_racing_for_one_exclusive_lease_exactly_one_wins(bridge, hosts):
    racers = [(h, start(bridge, f"p{i}", h)) for i, h in enumerate((hosts(), hosts()))]
    for round in range(8):
        target = str(bridge.project("shared") / f"file{round}.py")
        procs = [subprocess.Popen([*CLI, "lease", target, "--exclusive", "--json"], cwd=bridge.project(f"p{i}"),
                                  env=bridge.env(f"p{i}", BRIDGE_HOST_PID=h.pid), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
                 for i, (h, _) in enumerate(racers)]
        codes = [p.wait(timeout=60) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        assert sorted(codes) == [0, 1], codes
        holders = [x["session_id"] for x in live(bridge, "p0", racers[0][0]) if x["path"] == target]
        assert holders == [racers[codes.index(0)][1]]


def test_the_mcp_tools_lease_list_and_release(tmp_path):
    root = tmp_path / "bridge"
    target = str(tmp_path / "repo" / "src")

    def server(project: str) -> StdioServerParameters:
        return StdioServerParameters(command=SESSION_BRIDGE, args=["mcp"], env=env(root, tmp_path / project))

    async def call(c: Client, tool: str, **args) -> dict:
        r = await c.call_tool(tool, args)
        assert not r.is_error, r.content[0].text
        return r.structured_content

    async def fails(c: Client, tool: str, **args) -> str:
        r = await c.call_tool(tool, args)
        assert r.is_error and "\n" not in r.content[0].text, r.content
        return r.content[0].text

    async def main():
        async with AsyncExitStack() as stack:
            a = await stack.enter_async_context(Client(server("a"), mode="legacy"))
            b = await stack.enter_async_context(Client(server("b"), mode="legacy"))
            sa = (await call(a, "bridge_start", label="alpha", room="shop", role="web"))["session"]["session_id"]
            await call(b, "bridge_start", label="beta")
            names = {t.name for t in (await a.list_tools()).tools}
            assert {"bridge_lease", "bridge_leases", "bridge_release_leases", "bridge_release"} <= names
            got = await call(a, "bridge_lease", paths=[target], exclusive=True, ttl="30m", reason="refactoring")
            assert got["version"] == 1 and [(x["path"], x["mine"]) for x in got["leases"]] == [(target, True)]
            err = await fails(b, "bridge_lease", paths=[f"{target}/auth.py"])
            assert sa in err and "web@shop" in err and "refactoring" in err
            assert "control character" in await fails(b, "bridge_lease", paths=["a\0b"])
            assert "invalid duration" in await fails(b, "bridge_lease", paths=["x"], ttl="-5m")
            listed = (await call(b, "bridge_leases"))["leases"]
            assert [(x["session_id"], x["mine"], x["address"]) for x in listed] == [(sa, False, "web@shop")]
            ok_rel = await call(b, "bridge_lease", paths=["notes.md"])  # relative to b's project dir
            assert ok_rel["leases"][0]["path"] == str(tmp_path / "b" / "notes.md")
            assert "no lease on" in await fails(a, "bridge_release_leases", paths=[str(tmp_path / "b" / "notes.md")])
            assert (await call(a, "bridge_release_leases"))["released"] == [target]
            assert [x["path"] for x in (await call(a, "bridge_leases"))["leases"]] == [str(tmp_path / "b/notes.md")]

    anyio.run(main)
