"""A real `session-bridge ui` process and a real browser (Debian's chromium through Playwright) for the dashboard's
tests, its benchmark and its screenshots."""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
from pathlib import Path

URL_LINE = re.compile(r"(http://[^\s/]+)/\?token=(\S+)")
CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str | None:
    """Debian's chromium (Playwright's own browser download is not reachable here), or None."""
    return shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)


class Dashboard:
    """`session-bridge ui --port 0 --no-open` in a subprocess: its base URL and token, parsed from the one line it
    prints; stop() ends it."""

    def __init__(self, argv: list[str], env: dict, timeout: float = 60) -> None:
        self.proc = subprocess.Popen([*argv, "ui", "--port", "0", "--no-open"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"session-bridge ui printed no URL: {self.proc.stderr.read()}") from None
        m = URL_LINE.search(line)
        assert m, f"no URL in {line!r}"
        self.base, self.token = m.group(1), m.group(2)
        self.url = f"{self.base}/?token={self.token}"

    def stop(self) -> None:
        """End the ui process."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def launch(playwright):
    """Chromium through Playwright (no sandbox: CI runs as root)."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
