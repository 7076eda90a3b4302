"""The live dashboard: `session-bridge ui`, a local web page over the same core calls as the CLI.

    app.py      the Starlette app: the token and same-origin checks, one route per core call, JSON from bridge.views
    live.py     the feed: one thread follows the history index (kernel notifications, like `tail -f`) and fans new
                messages out to every open page over server-sent events
    human.py    the person at the browser as a peer: a bridge session labelled `human`, hosted by the ui process
    static/     the page: plain HTML, CSS and JavaScript, served from the package (no CDN, no build step)

This module is imported on every CLI call, so it stays light: starlette, uvicorn and sse-starlette (all three come
with the MCP SDK) are imported only when the command runs.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

import click

from bridge.errors import BridgeError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), so the printed URL names the real port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise click.ClickException(f"cannot resolve --host {host!r}: {e.strerror}; give an address such as "
                                   "127.0.0.1") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror}; choose another --port "
                                   "(0 picks a free one)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@click.command("ui")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="The port to listen on (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; anything but loopback needs --allow-remote.")
@click.option("--open/--no-open", "open_browser", default=True, show_default=True,
              help="Open the dashboard in the default browser.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host other machines can reach (anyone with the printed URL can act as you).")
def ui(port: int, host: str, open_browser: bool, allow_remote: bool) -> None:
    """Serve the live dashboard: sessions, rooms, the message feed, threads, search, artifacts, leases and
    auto-mode, and act as a peer named `human` (ask, answer, release held messages, turn auto-mode on or off).

    Listens on loopback only unless --allow-remote; prints one line with the URL, which carries a random per-run
    token every request must present. Ctrl-C stops it.

    \b
    Examples:
        session-bridge ui
        session-bridge ui --port 0 --no-open
    """
    if not is_loopback(host):
        if not allow_remote:
            raise click.UsageError(f"--host {host} is reachable from other machines; keep the default 127.0.0.1, "
                                   "or add --allow-remote if you mean it")
        click.echo(f"warning: listening on {host}: anyone who gets the printed URL can read every message and "
                   "send as you", err=True)
    import secrets

    from bridge.ui import app  # starlette, uvicorn, sse-starlette: imported only when the dashboard runs

    sock = bind(host, port)
    token = secrets.token_urlsafe(24)
    shown = sock.getsockname()
    where = f"[{shown[0]}]" if ":" in shown[0] else shown[0]
    url = f"http://{where}:{shown[1]}/?token={token}"
    try:
        dashboard = app.Dashboard(token, host, shown[1])
    except BridgeError as e:  # the human session could not start: one line, the fix in it
        sock.close()
        raise click.ClickException(str(e)) from None
    click.echo(f"session-bridge dashboard: {url}")
    sys.stdout.flush()
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    app.serve(dashboard, sock)


commands = [ui]
