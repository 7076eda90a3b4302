"""Artifacts through the real CLI: `share FILE|-`, `artifact get SHA [-o FILE]`, `artifact list`, and their bad
input (hashes that are paths, tampered bytes, files over the cap, a file that changes while it is read), and gc of
unreferenced old artifacts."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import threading
import time

import orjson
import pytest

from support import CLI

MiB = 1024 * 1024


def shared(bridge, project: str, *args: str, **env) -> dict:
    r = bridge.cli(project, "share", *args, "--json", check=True, **env)
    return orjson.loads(r.stdout)["artifact"]


def one_line_error(r, code: int, *needles: str) -> None:
    assert r.returncode == code, r.err
    assert r.err.count("\n") == 1 and r.err.startswith("Error: "), r.err
    for n in needles:
        assert n in r.err, r.err


def stored(bridge, sha: str):
    return bridge.root / "artifacts" / sha[:2] / sha


def test_share_then_get_gives_back_the_same_bytes_stored_private(bridge, tmp_path):
    data = os.urandom(300_000) + b"\0\xff"
    src = tmp_path / "core.bin"
    src.write_bytes(data)
    ref = shared(bridge, "app", str(src))
    assert ref == {"sha256": hashlib.sha256(data).hexdigest(), "name": "core.bin", "size": len(data),
                   "type": "application/octet-stream"}
    path = stored(bridge, ref["sha256"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((bridge.root / "artifacts").stat().st_mode) == 0o700

    out = tmp_path / "fetched.bin"
    r = bridge.cli("lib", "artifact", "get", ref["sha256"], "-o", str(out), check=True)
    assert out.read_bytes() == data and "core.bin" in r.err
    r = subprocess.run([*CLI, "artifact", "get", ref["sha256"].upper()], env=bridge.env("lib"), capture_output=True,
                       timeout=30)  # to stdout (not a terminal), the hash in upper case
    assert r.returncode == 0 and r.stdout == data

    got = orjson.loads(bridge.cli("lib", "artifact", "get", ref["sha256"], "--json", check=True).stdout)
    assert got["artifact"] == ref and got["encoding"] == "base64" and got["path"] is None
    import base64
    assert base64.b64decode(got["content"]) == data


def test_text_from_stdin_is_text_and_named(bridge):
    r = bridge.cli("app", "share", "-", "--name", "notes.md", input="# héllo\n", check=True)
    sha = r.out.strip()
    assert sha == hashlib.sha256("# héllo\n".encode()).hexdigest() and f"artifact get {sha}" in r.err
    got = orjson.loads(bridge.cli("app", "artifact", "get", sha, "--json", check=True).stdout)
    assert got["encoding"] == "text" and got["content"] == "# héllo\n"
    assert got["artifact"]["name"] == "notes.md" and got["artifact"]["type"] == "text/markdown"
    plain = shared(bridge, "app", "-", input=b"no extension\n")
    assert (plain["name"], plain["type"]) == ("stdin", "text/plain")


def test_the_same_bytes_are_stored_once(bridge, tmp_path):
    (tmp_path / "a.txt").write_text("same\n")
    (tmp_path / "b.log").write_text("same\n")
    a = shared(bridge, "app", str(tmp_path / "a.txt"))
    b = shared(bridge, "app", str(tmp_path / "b.log"))
    assert a["sha256"] == b["sha256"]
    files = [p for p in (bridge.root / "artifacts").rglob("*") if p.is_file() and not p.name.endswith(".meta")]
    assert files == [stored(bridge, a["sha256"])]
    listed = orjson.loads(bridge.cli("app", "artifact", "list", "--json", check=True).stdout)["artifacts"]
    assert [(e["sha256"], e["name"]) for e in listed] == [(a["sha256"], "b.log")]  # the last share names it
    assert set(listed[0]) == {"sha256", "name", "size", "type", "shared_at"}
    text = bridge.cli("app", "artifact", "list", check=True).out
    assert a["sha256"] in text and "b.log (5 B, text/plain)" in text and f"artifact get {a['sha256']}" in text


def test_over_the_cap_is_refused_with_the_fix_and_nothing_is_stored(bridge, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (10 * MiB + 1))
    one_line_error(bridge.cli("app", "share", str(big)), 1, "over the 10485760-byte artifact limit",
                   "BRIDGE_MAX_ARTIFACT")
    one_line_error(bridge.cli("app", "share", "-", input=b"y" * 2000, BRIDGE_MAX_ARTIFACT="1000"), 1,
                   "over the 1000-byte artifact limit")
    assert not any(p.is_file() for p in (bridge.root / "artifacts").rglob("*"))  # no temp file left either
    exact = tmp_path / "exact.bin"
    exact.write_bytes(b"z" * (10 * MiB))
    assert shared(bridge, "app", str(exact))["size"] == 10 * MiB


def test_a_file_that_changes_while_it_is_read_is_refused(bridge, tmp_path):
    """The share stops (a test hook) after reading the file and before checking it did not change; the test appends
    to the file there, as a writer still writing it would."""
    src = tmp_path / "growing.log"
    src.write_bytes(b"line\n" * 1000)
    pause = tmp_path / "pause"
    pause.mkdir()
    os.mkfifo(pause / "ready")
    os.mkfifo(pause / "go")
    sharing = bridge.spawn("app", "share", str(src), BRIDGE_TEST_SHARE_PAUSE=str(pause))
    with open(pause / "ready") as f:  # blocks until the share has read the whole file
        assert f.read() == "read\n"
    with open(src, "ab") as f:
        f.write(b"one more line\n")
    with open(pause / "go", "w"):
        pass
    out, err = sharing.communicate(timeout=30)
    assert sharing.returncode == 1, err
    assert err.decode().startswith("Error: ") and "changed while it was being read" in err.decode()
    assert "share it again" in err.decode() and err.decode().count("\n") == 1
    assert not any(p.is_file() for p in (bridge.root / "artifacts").rglob("*"))
    assert shared(bridge, "app", str(src))["size"] == 5014  # once it is quiet, it is stored whole


def test_a_same_size_rewrite_while_read_is_refused_too(bridge, tmp_path):
    src = tmp_path / "f.txt"
    src.write_bytes(b"a" * 100)
    pause = tmp_path / "pause"
    pause.mkdir()
    os.mkfifo(pause / "ready")
    os.mkfifo(pause / "go")
    sharing = bridge.spawn("app", "share", str(src), BRIDGE_TEST_SHARE_PAUSE=str(pause))
    with open(pause / "ready") as f:
        f.read()
    st = src.stat()
    src.write_bytes(b"b" * 100)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a coarse clock could give the same mtime
    with open(pause / "go", "w"):
        pass
    _, err = sharing.communicate(timeout=30)
    assert sharing.returncode == 1 and b"changed while it was being read" in err


def test_a_fifo_or_a_directory_is_not_shared(bridge, tmp_path):
    os.mkfifo(tmp_path / "pipe")
    one_line_error(bridge.cli("app", "share", str(tmp_path / "pipe"), timeout=10), 1, "not a regular file",
                   "share -")
    one_line_error(bridge.cli("app", "share", str(tmp_path)), 1, str(tmp_path))
    one_line_error(bridge.cli("app", "share", str(tmp_path / "missing")), 1, "cannot read")


@pytest.mark.parametrize("bad", ["../x", "../../etc/passwd", "abc123", "g" * 64, "a" * 63, "a" * 65,
                                 "a" * 62 + "/x", "/" + "a" * 63, ""])
def test_bad_hashes_are_refused_as_such(bridge, bad):
    one_line_error(bridge.cli("app", "artifact", "get", bad), 1, "invalid artifact hash", "64 hex digits")


def test_a_missing_or_tampered_artifact_is_refused(bridge, tmp_path):
    missing = "0" * 64
    one_line_error(bridge.cli("app", "artifact", "get", missing), 1, f"no artifact {missing}", "share it again")
    src = tmp_path / "x.txt"
    src.write_text("the real bytes\n")
    ref = shared(bridge, "app", str(src))
    path = stored(bridge, ref["sha256"])
    path.write_text("forged bytes!!\n")
    out = tmp_path / "out.txt"
    one_line_error(bridge.cli("app", "artifact", "get", ref["sha256"], "-o", str(out)), 1, "is corrupt",
                   "share it again")
    assert not out.exists()
    path.unlink()
    path.symlink_to(src)  # a link planted in the store is not followed
    one_line_error(bridge.cli("app", "artifact", "get", ref["sha256"]), 1, "cannot be read")


def test_gc_removes_old_unreferenced_artifacts_and_keeps_referenced_and_young_ones(bridge, tmp_path):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    for name in ("kept.txt", "old.txt", "young.txt"):
        (tmp_path / name).write_text(f"{name}\n")
    bridge.cli("app", "send", "library", "query", "see attached", "--attach", str(tmp_path / "kept.txt"), check=True)
    old = shared(bridge, "app", str(tmp_path / "old.txt"))["sha256"]
    young = shared(bridge, "app", str(tmp_path / "young.txt"))["sha256"]
    kept = hashlib.sha256(b"kept.txt\n").hexdigest()
    long_ago = time.time() - 40 * 86400
    for sha in (old, kept):
        os.utime(stored(bridge, sha), (long_ago, long_ago))

    report = orjson.loads(bridge.cli("app", "gc", "--json", check=True).stdout)
    assert report["artifacts_removed"] == 1
    assert not stored(bridge, old).exists() and not stored(bridge, old).with_name(old + ".meta").exists()
    assert stored(bridge, kept).exists() and stored(bridge, young).exists()
    # once lib took it, the delivered copy still names it; a shorter retention takes the young one too
    bridge.cli("lib", "listen", "--timeout", "10", check=True)
    report = orjson.loads(bridge.cli("app", "gc", "--json", BRIDGE_ARTIFACT_DAYS="0", check=True).stdout)
    assert report["artifacts_removed"] == 1 and stored(bridge, kept).exists() and not stored(bridge, young).exists()
    one_line_error(bridge.cli("app", "gc", BRIDGE_ARTIFACT_DAYS="soon"), 1, "BRIDGE_ARTIFACT_DAYS")


def test_concurrent_shares_of_the_same_bytes_store_one_whole_copy(bridge, tmp_path):
    data = os.urandom(2 * MiB)
    src = tmp_path / "same.bin"
    src.write_bytes(data)
    results: list = []

    def run():
        results.append(subprocess.run([*CLI, "share", str(src)], env=bridge.env("app"), capture_output=True,
                                      timeout=60))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert {r.stdout.strip() for r in results} == {hashlib.sha256(data).hexdigest().encode()}
    assert stored(bridge, hashlib.sha256(data).hexdigest()).read_bytes() == data
    assert [p.name for p in (bridge.root / "artifacts").iterdir() if p.is_file()] == []  # no temp file left
