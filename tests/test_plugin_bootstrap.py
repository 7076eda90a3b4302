"""scripts/session-bridge without a session-bridge on PATH: the private install's fast path, the install lock, and the
error without a usable Python. (The real install from PyPI runs in test_plugin_claude.py.)"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

from support import REPO

LAUNCHER = REPO / "scripts" / "session-bridge"


def toolbox(tmp: Path, python: str | None) -> str:
    """A PATH with only what the launcher uses (dirname, cmp) and the given python3."""
    d = tmp / "bin"
    d.mkdir()
    for tool in ("dirname", "cmp"):
        (d / tool).symlink_to(shutil.which(tool))
    if python:
        (d / "python3").symlink_to(python)
    return str(d)


def fake_venv(home: Path) -> Path:
    """What a finished private install looks like, with a stand-in CLI that says it ran."""
    venv = home / ".local" / "share" / "session-bridge" / "venv"
    (venv / "bin").mkdir(parents=True)
    cli = venv / "bin" / "session-bridge"
    cli.write_text('#!/bin/sh\necho "private CLI ran with: $*"\n')
    cli.chmod(0o755)
    return venv


def test_a_finished_private_install_runs_at_once(tmp_path):
    home = tmp_path / "home"
    venv = fake_venv(home)
    shutil.copy(REPO / "pyproject.toml", venv / ".installed-pyproject.toml")
    env = {"HOME": str(home), "PATH": toolbox(tmp_path, None)}
    r = subprocess.run([str(LAUNCHER), "status", "--json"], env=env, capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, "private CLI ran with: status --json\n", "")


def test_a_second_first_use_waits_for_the_install_in_progress(tmp_path):
    home = tmp_path / "home"
    data = home / ".local" / "share" / "session-bridge"
    data.mkdir(parents=True)
    env = {"HOME": str(home), "PATH": toolbox(tmp_path, getattr(sys, "_base_executable", sys.executable))}
    with open(data / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session's first use is installing
        p = subprocess.Popen([str(LAUNCHER), "peers"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        assert p.stderr.readline() == "session-bridge: another session-bridge install is running; waiting for it\n"
        venv = fake_venv(home)  # ... and it finishes
        shutil.copy(REPO / "pyproject.toml", venv / ".installed-pyproject.toml")
    out, err = p.communicate(timeout=30)
    assert (p.returncode, out, err) == (0, "private CLI ran with: peers\n", "")


def test_without_python_310_the_error_says_what_to_install(tmp_path):
    old = tmp_path / "python3.8"
    old.write_text("#!/bin/sh\nexit 1\n")  # answers the version check like Python 3.8 would
    old.chmod(0o755)
    env = {"HOME": str(tmp_path / "home"), "PATH": toolbox(tmp_path, str(old))}
    r = subprocess.run([str(LAUNCHER), "start"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("Error: session-bridge needs Python >= 3.10 to install itself; install Python 3.10 or newer "
                        f"(python3 on PATH), or install the CLI yourself with: pipx install {REPO}\n")
