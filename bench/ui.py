"""The dashboard (issue 12): how long a message takes from its send to the screen of a page open in a real browser
(Playwright driving Debian's chromium), and the README's screenshots.

    .venv/bin/python bench/ui.py [--trials 20]          # or: bench/bench.py --only ui
    .venv/bin/python bench/ui.py --screenshots docs/screenshots

(u) send -> on screen: a page shows the feed; a session sends (in-process through the core's send, and as a whole
    `session-bridge send` command); the time until the message's row is in the page's DOM, read in the page by a
    MutationObserver on the same wall clock. Median and p95.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("BRIDGE_HOST_PID", str(os.getpid()))  # the sessions below are hosted by this process

from bridge import layout, policy, protocol, rooms, sessions  # noqa: E402
from report import table  # noqa: E402
from ui_support import Dashboard, launch  # noqa: E402

CLI = [sys.executable, "-m", "bridge"]
OBSERVE = """() => {
    window.seenAt = {};
    new MutationObserver(records => {
        const now = performance.timeOrigin + performance.now();
        for (const r of records) for (const n of r.addedNodes) {
            if (n.dataset && n.dataset.id && !(n.dataset.id in window.seenAt)) window.seenAt[n.dataset.id] = now;
        }
    }).observe(document.getElementById("feed"), {childList: true});
}"""


class Machine:
    """A temp bridge dir whose sessions (one per project dir) are hosted by this process."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bridge-ui-"))
        os.environ["BRIDGE_DIR"] = str(self.tmp / "bridge")
        self.root = layout.bridge_dir()

    def session(self, project: str, label: str | None = None, room: str | None = None,
                role: str | None = None) -> sessions.Session:
        (self.tmp / project).mkdir(exist_ok=True)
        os.environ["PROJECT_DIR"] = str(self.tmp / project)
        return sessions.register(self.root, label, room, role)[0]

    def env(self, project: str) -> dict:
        (self.tmp / project).mkdir(exist_ok=True)
        return dict(os.environ, PROJECT_DIR=str(self.tmp / project))


def ms(values: list[float]) -> tuple[str, str]:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return f"{statistics.median(values) * 1000:.1f} ms", f"{p95 * 1000:.1f} ms"


def on_screen(page, msg_id: str) -> float:
    """When (seconds since the epoch) the page put the message's row in its feed."""
    page.wait_for_function(f"() => window.seenAt[{msg_id!r}] !== undefined", timeout=30_000)
    return page.evaluate(f"window.seenAt[{msg_id!r}]") / 1000


def bench_ui(trials: int = 20) -> None:
    """Print table (u): send -> on screen, in-process send and whole CLI command."""
    from playwright.sync_api import sync_playwright

    m = Machine()
    lib, app = m.session("lib", "library"), m.session("app", "app")
    dash = Dashboard(CLI, m.env("ui"))
    core, cli = [], []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page()
            page.goto(dash.url + "#feed")
            page.wait_for_function("document.getElementById('live').textContent === 'live'")
            page.evaluate(OBSERVE)
            for i in range(trials):
                t = time.time()
                msg = protocol.send(app, lib, "query", f"core send {i}")
                core.append(on_screen(page, msg["id"]) - t)
            for i in range(max(5, trials // 2)):
                t = time.time()
                out = subprocess.run([*CLI, "send", "library", "note", f"cli send {i}"], env=m.env("app"),
                                     capture_output=True, text=True, check=True).stdout.strip()
                cli.append(on_screen(page, out) - t)
            browser.close()
    finally:
        dash.stop()
    table(f"(u) send -> on screen in the dashboard's feed ({trials} + {len(cli)} sends, real chromium)",
          ["path", "median", "p95"],
          [["core send (what every front-end calls) -> row in the page's DOM", *ms(core)],
           ["`session-bridge send` whole command (incl. Python start) -> row in the DOM", *ms(cli)]])


# --- screenshots -------------------------------------------------------------------------------------------------


def populate(m: Machine) -> dict:
    """A small room at work: backend, web and infra, a question with its answer and a follow-up, a note to the room,
    an artifact, a lease, auto-mode on for web and a few lines of its log."""
    from bridge import artifacts, leases

    backend = m.session("shop-api", None, "shop", "backend")
    web = m.session("shop-web", None, "shop", "web")
    infra = m.session("shop-infra", None, "shop", "infra")
    lib = m.session("cart-lib", "cart-lib")
    sessions.set_summary(backend, "porting cart totals to integer cents")
    sessions.set_summary(web, "checkout page, new payment form")
    sessions.set_summary(lib, "cart library v2 release")
    q = protocol.send(web, backend, "query", "Cart totals are cents now? Does /api/cart still return `total` as a "
                                             "float, or do I divide by 100 on the page?")
    a = protocol.send(backend, web, "response", "`total` is now an integer number of cents (e.g. 1999). Divide "
                                               "by 100 only for display; send cents back on checkout.",
                      in_reply_to=q["id"])
    protocol.send(web, backend, "response", "Thanks, switching the formatter now; I'll ping you when checkout is "
                                            "green.", in_reply_to=a["id"])
    protocol.send_all(backend, [web, infra], "note", "main is frozen until 15:00 for the cents migration")
    log = m.tmp / "migration.sql"
    log.write_text("ALTER TABLE carts ADD COLUMN total_cents integer;\n")
    ref = artifacts.share(m.root, log)
    protocol.send(backend, infra, "query", "Can you run this migration on staging? (attached)", attachments=[ref])
    protocol.send(lib, backend, "query", "v2 renames getUser() to fetchUser(id); anything in shop-api still "
                                         "calling getUser?")
    leases.take(backend, [str(m.tmp / "shop-api" / "src" / "cart")], exclusive=True, ttl="2h",
                reason="cents migration")
    rooms.switch(m.root, True, "shop", "web")
    msg = {"id": q["id"], "from": web.id, "metadata": {"hops": 1}}
    policy.log_event(m.root, "woke", backend, msg, why="backend is auto; pushed into its tmux pane", driver="tmux")
    policy.log_event(m.root, "held", infra, msg, why="infra is sensitive: woken only when turned on by name")
    return {"thread": q["id"]}


def screenshots(folder: Path) -> None:
    """Save the main views as PNGs in `folder` (the README shows them)."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    m = Machine()
    ids = populate(m)
    dash = Dashboard(CLI, m.env("ui"))
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 760}, color_scheme="light")
            page.goto(dash.url)
            page.wait_for_function("document.getElementById('live').textContent === 'live'")
            for view, ready in (("sessions", ".session"), ("feed", "#feed li"), (f"thread/{ids['thread']}",
                                                                                  "#thread li"),
                                ("auto", "#auto-rooms tr")):
                page.evaluate(f"location.hash = {view!r}")
                page.wait_for_selector(ready)
                page.evaluate("document.activeElement && document.activeElement.blur()")
                name = view.split("/")[0]
                page.screenshot(path=str(folder / f"{name}.png"))
                print(f"wrote {folder / (name + '.png')}")
            page.set_viewport_size({"width": 420, "height": 860})
            page.evaluate("location.hash = 'sessions'")
            page.wait_for_selector(".session")
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(folder / "narrow.png"))
            print(f"wrote {folder / 'narrow.png'}")
            browser.close()
    finally:
        dash.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--screenshots", metavar="DIR", help="save screenshots of the main views here instead")
    args = ap.parse_args()
    if args.screenshots:
        screenshots(Path(args.screenshots))
    else:
        bench_ui(args.trials)


if __name__ == "__main__":
    main()
