"""First use of the plugin without a session-bridge on PATH: install the package from the plugin root into a private
venv, once, under a lock, then run the CLI. Only the standard library; progress goes to stderr, since stdout belongs
to the command being run.

    python3 scripts/bootstrap.py <venv-dir> [session-bridge arguments...]     (scripts/session-bridge runs this)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the plugin root holds pyproject.toml and bridge/
STAMP = ".installed-pyproject.toml"  # a copy of the pyproject.toml the venv was installed from


def say(text: str) -> None:
    print(f"session-bridge: {text}", file=sys.stderr, flush=True)


def fail(text: str) -> None:
    print(f"Error: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def installed(venv: Path) -> bool:
    """Installed from a plugin root with this same pyproject.toml (the launcher's fast path checks the same)."""
    try:
        return (venv / STAMP).read_bytes() == (ROOT / "pyproject.toml").read_bytes()
    except OSError:
        return False


def install(venv: Path, lock: int) -> None:
    """venv + pip install, each holding the lock too: if our caller is killed (an MCP client's start timeout), the
    lock stays held until pip itself has finished, so the next first use never installs over a running pip."""
    started = time.monotonic()
    say(f"first use: installing from {ROOT} into {venv} (once; about a minute)")
    shutil.rmtree(venv, ignore_errors=True)  # a half-made install, or one from another plugin version
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=sys.stderr, pass_fds=(lock,))
    except subprocess.CalledProcessError:
        fail(f"could not create a venv with {sys.executable} (on Debian/Ubuntu: apt install python3-venv); "
             f"or install the CLI yourself with: pipx install {ROOT}")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    try:
        subprocess.run([*pip, str(ROOT)], check=True, stdout=sys.stderr, pass_fds=(lock,))
    except subprocess.CalledProcessError:
        shutil.rmtree(venv, ignore_errors=True)
        fail(f"installing session-bridge from {ROOT} failed (see pip's output above; PyPI must be reachable); "
             f"or install it yourself with: pipx install {ROOT}   (or: uv tool install {ROOT})")
    shutil.copyfile(ROOT / "pyproject.toml", venv / STAMP)  # written last: its presence means the install is whole
    say(f"installed in {time.monotonic() - started:.0f}s; later calls start at once")


def main() -> None:
    if len(sys.argv) < 2:
        fail("usage: bootstrap.py <venv-dir> [session-bridge arguments...]")
    venv = Path(sys.argv[1])
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "install.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another session-bridge install is running; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed(venv):
            install(venv, lock.fileno())
    cli = venv / "bin" / "session-bridge"
    os.execv(cli, [str(cli), *sys.argv[2:]])


if __name__ == "__main__":
    main()
