"""A real nats-server and simulated machines (one bridge dir each, one gateway process each) for the gateway tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import orjson

from support import CLI, Bridge, require_tool, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """nats-server with the config `remote setup` wrote; stop() and start() again keep its JetStream files."""

    def __init__(self, folder: Path, machines: list[str]) -> None:
        sbin = "/usr/sbin/nats-server"  # Debian's package puts it there, outside a user's PATH
        self.binary = shutil.which("nats-server") or (sbin if os.access(sbin, os.X_OK) else require_tool("nats-server"))
        self.folder = folder
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        r = subprocess.run([*CLI, "remote", "setup", str(folder), *[a for m in machines for a in ("--machine", m)],
                            "--listen", f"127.0.0.1:{self.port}"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        self.proc: subprocess.Popen | None = None
        self.start()

    def creds(self, machine: str) -> str:
        return str(self.folder / f"{machine}.nk")

    def start(self) -> None:
        """Start it and return once it says it is ready (read from its log, no sleep)."""
        self.proc = subprocess.Popen([self.binary, "-c", str(self.folder / "nats.conf")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        ready = threading.Event()
        lines: list[str] = []

        def read() -> None:
            for line in self.proc.stderr:
                lines.append(line)
                if "Server is ready" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(60) and self.proc.poll() is None, "".join(lines[-20:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


class Machine(Bridge):
    """One simulated machine: its own bridge dir, its sessions, and its gateway process."""

    def __init__(self, tmp: Path, name: str, server: Server) -> None:
        super().__init__(tmp / name)
        self.name = name
        self.server = server
        self.gateway: subprocess.Popen | None = None

    def session(self, label: str) -> str:
        return self.start(label, label)

    def as_(self, sid: str, *args: str, **kw) -> subprocess.CompletedProcess:
        """Run a CLI command as session sid of this machine."""
        return self.cli("p", *args, BRIDGE_SESSION_ID=sid, **kw)

    def run_gateway(self, crash_at: str | None = None, wait: bool = True, **env: str) -> subprocess.Popen:
        extra = {**env, **({"BRIDGE_CRASH_AT": crash_at} if crash_at else {})}
        self.gateway = subprocess.Popen(
            [*CLI, "gateway", "--nats", self.server.url, "--machine", self.name, "--creds",
             self.server.creds(self.name)], env=self.env("p", **extra), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        if wait:
            wait_until(lambda: self.status()["connected"] or self.gateway.poll() is not None,
                       what=f"gateway {self.name} connected", details=self.log_tail)
            assert self.gateway.poll() is None, self.gateway.stderr.read().decode()
        return self.gateway

    def kill_gateway(self) -> None:
        if self.gateway is not None and self.gateway.poll() is None:
            self.gateway.send_signal(signal.SIGKILL)
            self.gateway.wait(30)

    def stop_gateway(self) -> None:
        if self.gateway is not None and self.gateway.poll() is None:
            self.gateway.terminate()
            self.gateway.wait(30)

    def status(self) -> dict:
        r = self.cli("p", "remote", "status", "--json")
        return orjson.loads(r.stdout)["remote"]

    def log(self) -> list[dict]:
        return orjson.loads(self.cli("p", "remote", "log", "--limit", "0", "--json").stdout)["events"]

    def log_tail(self) -> str:
        return "\n".join(str(e) for e in self.log()[-15:])

    def sees(self, label: str, machine: str) -> str:
        """Wait until this machine mirrors `label` of `machine`; its session id."""
        def found() -> str | None:
            for d in (self.root / "sessions").iterdir():
                try:
                    m = orjson.loads((d / "manifest.json").read_bytes())
                except OSError:
                    continue
                if m.get("machine") == machine and m.get("label") == label:
                    return m["sessionId"]
            return None
        return wait_until(found, what=f"{label}@{machine} mirrored on {self.name}", details=self.log_tail)

    def inbox_ids(self, sid: str) -> list[str]:
        """Ids of every message in a session's inbox, pending or read (a name counted once per state)."""
        inbox = self.root / "sessions" / sid / "inbox"
        pending = [n[:-5] for n in os.listdir(inbox) if n.endswith(".json") and (inbox / n).is_file()
                   and not (inbox / n).is_symlink()]
        read = [n[:-5] for n in os.listdir(inbox / ".read") if n.endswith(".json")]
        return pending + read
