"""The bridge dir: created private, refused when unsafe, clear errors when unusable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from bridge import layout
from bridge.errors import BridgeError


def test_missing_bridge_dir_is_created_private(tmp_path, monkeypatch):
    root = tmp_path / "a" / "b" / "bridge"
    monkeypatch.setenv("BRIDGE_DIR", str(root))
    assert layout.bridge_dir() == root
    assert root.stat().st_mode & 0o777 == 0o700
    assert (root / "sessions").stat().st_mode & 0o777 == 0o700


def test_world_writable_bridge_dir_is_refused(tmp_path, monkeypatch):
    root = tmp_path / "bridge"
    root.mkdir()
    root.chmod(0o777)
    monkeypatch.setenv("BRIDGE_DIR", str(root))
    with pytest.raises(BridgeError, match=f"writable by others .*chmod 700 {root}"):
        layout.bridge_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a directory to another user")
def test_another_users_bridge_dir_is_refused(tmp_path, monkeypatch):
    root = tmp_path / "bridge"
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)
    monkeypatch.setenv("BRIDGE_DIR", str(root))
    with pytest.raises(BridgeError, match="belongs to uid 65534, not you"):
        layout.bridge_dir()


def test_a_file_where_the_bridge_dir_should_be(tmp_path, monkeypatch):
    (tmp_path / "bridge").write_text("x")
    monkeypatch.setenv("BRIDGE_DIR", str(tmp_path / "bridge"))
    with pytest.raises(BridgeError, match="cannot create BRIDGE_DIR"):
        layout.bridge_dir()


def _without_override(code: str, root) -> subprocess.CompletedProcess:
    """Run code with permission bits enforced: as root, drop the capabilities that bypass them."""
    prefix = []
    if os.geteuid() == 0:
        caps = "-dac_override,-dac_read_search"
        prefix = [shutil.which("setpriv") or "setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]
    env = dict(os.environ, BRIDGE_DIR=str(root))
    return subprocess.run([*prefix, sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_read_only_bridge_dir_gives_a_clear_error(tmp_path):
    root = tmp_path / "bridge"
    (root / "sessions").mkdir(parents=True, mode=0o700)
    (root / "sessions").chmod(0o500)
    root.chmod(0o500)
    r = _without_override("from bridge.cli import main; main(['start'])", root)
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error: BRIDGE_DIR {root} is read-only; make it writable or set BRIDGE_DIR elsewhere"


def test_uncreatable_bridge_dir_gives_a_clear_error(tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir(mode=0o555)
    r = _without_override("from bridge.cli import main; main(['start'])", parent / "bridge")
    assert r.returncode == 1
    assert r.stderr.startswith(f"Error: cannot create BRIDGE_DIR {parent / 'bridge'}: Permission denied;")


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path):
    with pytest.raises(TypeError):
        layout.atomic_write(tmp_path / "x.json", "not bytes")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []
