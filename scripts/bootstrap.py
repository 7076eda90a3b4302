"""First use of the plugin without a session-bridge on PATH: install the package from the plugin root into a private
venv, then run the CLI. Only the standard library: it runs before anything is installed.

    python3 scripts/bootstrap.py <venv-dir> [session-bridge arguments...]     (scripts/session-bridge runs this)

The install runs detached from whoever asked for it (an MCP server start, a command): its own session and process
group, stdin from /dev/null, stdout and stderr to install.log in the data dir. So an MCP client that kills its server
after its start time-out (Claude Code: 30 s), or closes the pipe, does not kill pip. While it runs:

- `session-bridge mcp` answers each handshake request (`server/discover`, `initialize`) with a JSON-RPC error that
  says how long to wait, then exits: the client shows that instead of a time-out;
- any other command waits for it (following the log on stderr), up to BRIDGE_INSTALL_WAIT seconds (default 100;
  0 = do not wait), else fails with one line that says how long to wait.

One install at a time: install.lock is flock'ed by the installer and by the pip it runs (the fd is inherited), so
it is held until the last of them exits, however they end. A killed install is resumed by the next start, not
redone: the venv is kept unless it is truly broken (its python does not run), a package pip had half-written (no
RECORD, or files missing) is dropped so pip installs it again, and pip finishes the rest. The stamp (a copy of the
pyproject.toml installed from, which the launcher compares) is written last, by temp file + rename.

State in the data dir (next to the venv): install.lock, install.log, install.json (the attempt: started, status,
error; the last good install's duration, for the "ready in about N s" estimate).

Fault injection for the tests: BRIDGE_BOOTSTRAP_CRASH=<point> makes the installer SIGKILL its own process group
(itself and pip) at that point: start, venv, pip (pip has installed a package and writes the next), stamp (right
before the stamp file), stamp-temp (the temp file written, not yet renamed).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the plugin root holds pyproject.toml and bridge/
STAMP = ".installed-pyproject.toml"  # a copy of the pyproject.toml the venv was installed from
DEFAULT_ESTIMATE = 30.0  # s, with no earlier install to go by: 14-22 s on a quiet machine, 32-36 s under load
COMMAND_WAIT = 100.0  # s a command waits for the install (under Claude Code's 2-minute Bash tool time-out)
MCP_READ = 10.0  # s the installing MCP server waits for the client's first request
MCP_GRACE = 3.0  # s it waits for a next request (Claude Code retries with `initialize` after `server/discover` fails)
POLL = 0.1  # s between looks at the install while a command waits for it
PIP_DEADLINE = 900  # s: a pip that has not finished by then is stalled (each network read has its own time-out)
INSTALL_ERROR = -32000  # not -32601 (method not found), which a client takes to mean "legacy server"


def say(text: str) -> None:
    tell(f"session-bridge: {text}")


def tell(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:  # a caller that closed our stderr must not stop us
        pass


def fail(text: str) -> None:
    try:
        print(f"Error: {text}", file=sys.stderr, flush=True)
    except OSError:
        pass
    sys.exit(1)


class Failed(Exception):
    """An install step failed; the message says what to do."""


class Data:
    """The per-user data dir: the venv and the install's lock, log and state."""

    def __init__(self, venv: Path) -> None:
        self.venv = venv
        self.dir = venv.parent
        self.lock = self.dir / "install.lock"
        self.log = self.dir / "install.log"
        self.state_file = self.dir / "install.json"

    def installed(self) -> bool:
        """Installed from a plugin root with this same pyproject.toml (the launcher's fast path checks the same)."""
        try:
            return (self.venv / STAMP).read_bytes() == (ROOT / "pyproject.toml").read_bytes()
        except OSError:
            return False

    def state(self) -> dict:
        try:
            got = json.loads(self.state_file.read_text())
            return got if isinstance(got, dict) else {}
        except (OSError, ValueError):
            return {}

    def update(self, **fields: object) -> dict:
        """Merge fields into install.json, atomically (temp + rename)."""
        state = {**self.state(), **fields}
        write_atomically(self.state_file, json.dumps(state, indent=1).encode())
        return state

    def open_lock(self) -> int:
        return os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o600)

    def running(self) -> bool:
        """An installer (or a pip it started) holds the lock. Probed with a shared lock, which a waiting probe can
        hold alongside another probe but never alongside an installer."""
        fd = self.open_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # releases the probe's lock


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def progress(state: dict, now: float | None = None) -> tuple[int, int]:
    """(seconds since this install attempt started, seconds it likely still needs), from the last good install's
    duration if there was one."""
    now = time.time() if now is None else now
    ago = round(max(0.0, now - float(state.get("started") or now)))
    estimate = float(state.get("last_seconds") or DEFAULT_ESTIMATE)
    return ago, max(5, round(estimate - ago))


def installing_message(state: dict, retry: str = "retry then", now: float | None = None) -> str:
    ago, left = progress(state, now)
    text = f"session-bridge is installing itself (started {ago} s ago), ready in about {left} s; {retry}"
    if state.get("last_error"):
        text += f" (the previous attempt failed: {state['last_error']})"
    return text


# --- the asking side: start the install if none runs, then answer, wait or run ---------------------------------------


def take_lock(data: Data) -> int | None:
    """The install lock, exclusively, or None if an install holds it. A shared holder is only a waiting command's
    probe (it holds it for microseconds): try again then."""
    fd = data.open_lock()
    for _ in range(100):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # an exclusive holder: an installer, or an asker about to start one
            os.close(fd)
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        time.sleep(0.005)
    os.close(fd)
    return None


def start_install(data: Data) -> subprocess.Popen | None:
    """Start the detached installer unless one runs (or the install is done meanwhile). The lock passes to it: the
    installer and its pip hold the same open lock file, so no moment exists when the lock is free and an install
    is due to run."""
    fd = take_lock(data)
    if fd is None:
        return None
    try:
        if data.installed():
            return None
        state = data.state()
        resume = data.venv.exists()
        data.update(status="running", started=time.time(), pid=None, asker=os.getpid(), root=str(ROOT),
                    resume=resume, attempt=int(state.get("attempt") or 0) + 1,
                    last_error=state.get("error") if state.get("status") == "failed" else None, error=None)
        try:
            if data.log.stat().st_size > 1 << 20:
                data.log.unlink()
        except OSError:
            pass
        log = os.open(data.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        env = dict(os.environ, PIP_NO_INPUT="1", PYTHONUNBUFFERED="1")
        try:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--install", str(data.venv), str(fd)]
            return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(fd,),
                                    cwd=data.dir, start_new_session=True)
        finally:
            os.close(log)
    finally:
        os.close(fd)  # ours; the installer's copy keeps the lock


def answer_mcp(data: Data) -> None:
    """The MCP client's handshake while the install runs: each request gets a JSON-RPC error saying how long to
    wait, then we exit. Claude Code sends `server/discover` and, when that fails, `initialize` on the same
    connection; other clients send `initialize` first."""
    state, now = data.state(), time.time()
    message, wait = installing_message(state, now=now), progress(state, now)[1]
    tell(message)
    deadline = time.monotonic() + MCP_READ
    buf = b""
    while True:
        left = deadline - time.monotonic()
        try:
            if left <= 0 or not select.select([0], [], [], left)[0]:
                return
            chunk = os.read(0, 65536)
        except (OSError, ValueError):  # no stdin at all
            return
        if not chunk:
            return
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            try:
                request = json.loads(line)
            except ValueError:
                continue
            if not isinstance(request, dict) or "id" not in request or "method" not in request:
                continue  # a notification, or a response: nothing to answer
            error = {"code": INSTALL_ERROR, "message": message, "data": {"installing": True, "retryAfterSeconds": wait}}
            try:
                os.write(1, json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}).encode() + b"\n")
            except OSError:
                return
            if request["method"] == "initialize":
                return  # the legacy handshake failed: the client sends nothing more
            deadline = min(deadline, time.monotonic() + MCP_GRACE)


class Follow:
    """Copies what the installer writes to its log to our stderr, from where the log stood when it started."""

    def __init__(self, data: Data, enabled: bool) -> None:
        self.path, self.enabled = data.log, enabled
        try:
            self.offset = data.log.stat().st_size
        except OSError:
            self.offset = 0

    def __call__(self) -> None:
        if not self.enabled:
            return
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return
        self.offset += len(chunk)
        try:
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
        except (OSError, ValueError):
            self.enabled = False  # our stderr is gone; the install goes on regardless


def wait_for_install(data: Data) -> None:
    """A command: start the install if none runs, wait for it (bounded), return once installed; else fail with one
    line that says how long to wait. An install that was killed is resumed (at most twice while we wait)."""
    try:
        budget = float(os.environ.get("BRIDGE_INSTALL_WAIT", COMMAND_WAIT))
    except ValueError:
        budget = COMMAND_WAIT
    deadline = time.monotonic() + budget
    follow = Follow(data, enabled=False)
    announced = False
    spawned = 0
    ours: subprocess.Popen | None = None
    while not data.installed():
        if not data.running():
            if ours is not None and data.state().get("status") == "failed":
                follow()
                fail(f"{data.state().get('error')} (log: {data.log})")
            if spawned >= 3:  # ours was killed, and so was each one we resumed: stop here
                fail(f"the session-bridge install was interrupted {spawned} times; see {data.log}, "
                     f"then run the command again")
            follow = Follow(data, enabled=budget > 0)  # from here on the log is this attempt's
            ours = start_install(data)
            if ours is None:
                continue  # another start won the lock, or the install finished meanwhile
            spawned += 1
        follow()
        if ours is not None:
            ours.poll()  # reap it once it exits
        if time.monotonic() >= deadline:
            follow()
            fail(installing_message(data.state(), "run the command again then"))
        if not announced and ours is None:
            tell(installing_message(data.state(), "waiting for it"))
        announced = True
        time.sleep(POLL)
    if ours is not None:  # its last line follows its stamp: let it exit (and reap it) before following the log
        try:
            ours.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    follow()


# --- the installer (detached; output to install.log) ---------------------------------------------------------------


def crash(point: str) -> None:
    """Fault injection: die here, with pip, as a kill -9 of the process group would."""
    if os.environ.get("BRIDGE_BOOTSTRAP_CRASH") == point:
        say(f"crash point {point}: killing the install (BRIDGE_BOOTSTRAP_CRASH)")
        os.killpg(0, signal.SIGKILL)


def runs(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def site_packages(venv: Path) -> list[Path]:
    return sorted(venv.glob("lib/python3*/site-packages"))


def half_installed(venv: Path) -> list[Path]:
    """The dist-info dirs of packages pip had not finished: RECORD (which pip writes last) missing, or a file it
    lists missing. pip would take such a package as installed; dropping its dist-info makes pip install it again."""
    broken = []
    for site in site_packages(venv):
        for info in sorted(site.glob("*.dist-info")):
            try:
                with open(info / "RECORD", newline="") as f:
                    rows = [row[0] for row in csv.reader(f) if row]
            except OSError:
                broken.append(info)
                continue
            if not all(os.path.lexists(site / name) for name in rows):
                broken.append(info)
    return broken


def repair(venv: Path) -> None:
    """Keep what a killed install had done; drop only what it left half-done."""
    for site in site_packages(venv):
        for junk in site.glob("~*"):  # pip's stash of a package it was replacing
            shutil.rmtree(junk, ignore_errors=True)
    for info in half_installed(venv):
        say(f"dropping the half-installed {info.name}; pip installs it again")
        shutil.rmtree(info, ignore_errors=True)


def make_venv(venv: Path, lock: int) -> None:
    python = str(venv / "bin" / "python")
    if venv.exists():
        if (venv / "pyvenv.cfg").is_file() and runs([python, "-c", ""]):
            if (venv / STAMP).exists():
                say(f"updating the install in {venv} to this plugin's version ({ROOT})")
            else:
                say(f"resuming the install in {venv}")
            repair(venv)
            if runs([python, "-m", "pip", "--version"]):
                return
        else:
            say(f"{venv} is broken (its python does not run): making it again")
            shutil.rmtree(venv, ignore_errors=True)
    try:  # creates it, or, over a venv whose pip is half there, installs pip again
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdin=subprocess.DEVNULL,
                       pass_fds=(lock,))
    except subprocess.CalledProcessError:
        raise Failed(f"could not create a venv with {sys.executable} (on Debian/Ubuntu: apt install python3-venv); "
                     f"or install the CLI yourself with: pipx install {ROOT}") from None


def pip_install(venv: Path, lock: int) -> None:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar",
           "off", str(ROOT)]
    pip = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, pass_fds=(lock,))  # it holds the lock too
    if os.environ.get("BRIDGE_BOOTSTRAP_CRASH") == "pip":
        before = {p for site in site_packages(venv) for p in site.glob("*.dist-info")}
        while pip.poll() is None:
            if len({p for site in site_packages(venv) for p in site.glob("*.dist-info")} - before) >= 2:
                crash("pip")  # pip has installed a package and is writing the next one
            time.sleep(0.01)
    try:
        rc = pip.wait(timeout=PIP_DEADLINE)
    except subprocess.TimeoutExpired:
        pip.kill()
        pip.wait()
        raise Failed(f"pip did not finish within {PIP_DEADLINE // 60} minutes (a stalled download?); see the log, "
                     f"then try again") from None
    if rc != 0:
        raise Failed(f"installing session-bridge from {ROOT} failed (see pip's output in the log; PyPI must be "
                     f"reachable); or install it yourself with: pipx install {ROOT}   (or: uv tool install {ROOT})")


def verify(venv: Path) -> None:
    broken = half_installed(venv)
    if broken:
        raise Failed(f"packages in {venv} are incomplete after pip ran: {', '.join(p.name for p in broken)}")
    if not runs([str(venv / "bin" / "python"), "-c", "import bridge.__main__"]) or \
            not (venv / "bin" / "session-bridge").exists():
        raise Failed(f"the private install in {venv} does not run; remove it and try again")


def installer(venv: Path, lock: int) -> None:
    """Runs detached, holding the install lock (inherited from the asker as fd `lock`)."""
    data = Data(venv)
    state = data.update(pid=os.getpid())
    for stale in venv.glob(f".{STAMP}.*.tmp"):  # a stamp a killed install had not renamed yet
        stale.unlink(missing_ok=True)
    began = time.monotonic()
    print(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} install attempt {state.get('attempt')} (pid {os.getpid()})",
          flush=True)
    if not state.get("resume"):
        say(f"first use: installing from {ROOT} into {venv} (once; about "
            f"{round(float(state.get('last_seconds') or DEFAULT_ESTIMATE))} s)")
    try:
        crash("start")
        make_venv(venv, lock)
        crash("venv")
        pip_install(venv, lock)
        verify(venv)
    except Failed as e:
        say(f"Error: {e}")
        data.update(status="failed", error=str(e), finished=time.time())
        sys.exit(1)
    crash("stamp")
    tmp = venv / f".{STAMP}.{os.getpid()}.tmp"
    shutil.copyfile(ROOT / "pyproject.toml", tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    crash("stamp-temp")
    os.replace(tmp, venv / STAMP)  # last: its presence means the install is whole
    seconds = time.monotonic() - began
    timing = {} if state.get("resume") else {"last_seconds": round(seconds, 1)}  # a resume's time says little
    data.update(status="ok", finished=time.time(), error=None, last_error=None, **timing)
    say(f"installed in {seconds:.0f}s; later calls start at once")


def main() -> None:
    if len(sys.argv) >= 4 and sys.argv[1] == "--install":
        return installer(Path(sys.argv[2]), int(sys.argv[3]))
    if len(sys.argv) < 2:
        fail("usage: bootstrap.py <venv-dir> [session-bridge arguments...]")
    data = Data(Path(sys.argv[1]))
    args = sys.argv[2:]
    data.dir.mkdir(parents=True, exist_ok=True)
    if not data.installed():
        if args[:1] == ["mcp"]:
            start_install(data)
            if not data.installed():  # (it may have finished meanwhile)
                answer_mcp(data)
                return
        else:
            wait_for_install(data)
    cli = data.venv / "bin" / "session-bridge"
    os.execv(cli, [str(cli), *args])


if __name__ == "__main__":
    main()
