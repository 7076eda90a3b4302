"""The dashboard's web app: Starlette routes, each one core call (the same as the CLI's) answered in the shared JSON
shape (bridge.views), behind a per-run token and a same-origin check.

Every request presents the token: in the URL on the first load (answered with a cookie and a redirect to `/`), then
the cookie (pages, the event stream) or the X-Bridge-Token header. A POST needs the header itself (a cross-site page
cannot set it) and, where the browser says where the request comes from (Origin, Sec-Fetch-Site), this origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import orjson
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bridge import artifacts, inbound, index, layout, leases, policy, protocol, rooms, sessions, validate, views
from bridge.errors import BridgeError
from bridge.ui import human
from bridge.ui.live import Feed

STATIC = Path(__file__).with_name("static")
# How an error names its next step on the page (bridge.errors.ACTIONS).
WORDS = {"start": "run `session-bridge start` in that session's terminal", "peers": "see the Sessions view",
         "status": "see the Sessions view", "inbox": "see the Inbox view", "outbox": "see the Feed view",
         "listen": "run `session-bridge listen` in that session's terminal",
         "receive": "watch the Feed for the answer to {}", "gc": "run `session-bridge gc` in a terminal"}
SAFE_METHODS = ("GET", "HEAD")
TYPES = ("query", "note")  # what the page composes; replies are `response`, through reply


class Json(Response):
    """A JSON response serialized with orjson (what the CLI's --json prints, compact)."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        """The body."""
        return orjson.dumps(content)


class Dashboard:
    """One run of `session-bridge ui`: the bridge dir, the token, the address it serves and the human session."""

    def __init__(self, token: str, host: str, port: int) -> None:
        self.root = layout.bridge_dir()
        self.token = token
        self.host = host
        self.port = port
        self.cookie = f"bridge_ui_{port}"  # cookies ignore ports: two dashboards on one host keep apart
        self.admin_problem = rooms.admin_problem()  # read from the launching process, before anything else runs
        self.me = human.register(self.root).id
        self.feed = Feed(self.root)

    # --- who may ask -------------------------------------------------------------------------------------------

    def _token_ok(self, given: str | None) -> bool:
        return bool(given) and secrets.compare_digest(given.encode(), self.token.encode())

    def refused(self, request: Request) -> str | None:
        """Why this request is refused (403), or None."""
        if is_loopback_bound(self.host):
            names = {f"127.0.0.1:{self.port}", f"localhost:{self.port}", f"[::1]:{self.port}",
                     f"{self.host}:{self.port}"}
            if request.headers.get("host", "") not in names:  # DNS rebinding: a page served under another name
                return "forbidden: unknown Host; open the URL session-bridge ui printed"
        header = request.headers.get("x-bridge-token")
        if request.method not in SAFE_METHODS:
            if not self._token_ok(header):
                return "forbidden: a change needs the X-Bridge-Token header; use the page session-bridge ui printed"
            site = request.headers.get("sec-fetch-site")
            if site is not None and site not in ("same-origin", "none"):
                return f"forbidden: cross-site request ({site}); act from the dashboard page itself"
            origin = request.headers.get("origin")
            if origin is not None and origin != f"http://{request.headers.get('host', '')}":
                return "forbidden: cross-origin request; act from the dashboard page itself"
            return None
        if self._token_ok(header) or self._token_ok(request.cookies.get(self.cookie)) \
                or self._token_ok(request.query_params.get("token")):
            return None
        return "forbidden: this dashboard needs its token; open the URL session-bridge ui printed"

    def human(self) -> sessions.Session:
        """The human session as it is now."""
        return human.session(self.root, self.me)


def is_loopback_bound(host: str) -> bool:
    """True when the dashboard listens on loopback only (then the Host header must name it)."""
    from bridge.ui import is_loopback

    return is_loopback(host)


class Guard:
    """ASGI middleware: refuses (403) what Dashboard.refused refuses; trades a URL token for a cookie."""

    def __init__(self, app: Callable, dash: Dashboard) -> None:
        self.app = app
        self.dash = dash

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Check an HTTP request, pass everything else (lifespan) through."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        problem = self.dash.refused(request)
        if problem:
            return await PlainTextResponse(problem, status_code=403)(scope, receive, send)
        if request.method == "GET" and "token" in request.query_params:
            # the first load: the token moves to a cookie and out of the address bar
            response = RedirectResponse(request.url.path, status_code=303)
            response.set_cookie(self.dash.cookie, self.dash.token, httponly=True, samesite="strict", path="/")
            return await response(scope, receive, send)
        async def secured(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"),
                            (b"content-security-policy",
                             b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                             b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)


# --- answering ---------------------------------------------------------------------------------------------------


async def call(fn: Callable, *args: object, **kwargs: object) -> Response:
    """Run a core call in a worker thread; its result (a dict) as a versioned JSON result, a BridgeError as one line
    with its next step in the page's words (403 for settings a non-admin may not change)."""
    try:
        out = await run_in_threadpool(fn, *args, **kwargs)
    except rooms.NotAdmin as e:
        return Json(views.result(error=e.worded(WORDS), exit_code=e.exit_code), status_code=403)
    except BridgeError as e:
        return Json(views.result(error=e.worded(WORDS), exit_code=e.exit_code), status_code=400)
    return out if isinstance(out, Response) else Json(views.result(**out))


async def body(request: Request) -> dict:
    """The POSTed JSON object (empty when none or not an object)."""
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def text(data: dict, key: str) -> str:
    """A required string field of a POST, or a BridgeError naming it."""
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BridgeError(f"{key} is missing; fill it in and try again")
    return value


def build(dash: Dashboard) -> Starlette:
    """The app: the page, its static files, the JSON views, the event stream and the actions."""
    root = dash.root

    def page(request: Request) -> Response:
        html = (STATIC / "index.html").read_text()
        return Response(html.replace("{{TOKEN}}", dash.token), media_type="text/html; charset=utf-8")

    # --- views (GET) ---------------------------------------------------------------------------------------------

    def session_entry(s: sessions.Session) -> dict | None:
        try:
            return {**views.member_view(s), "delivery": views.delivery_view(s), "pending": s.mailbox.count(),
                    "inbound": views.inbound_view(inbound.policy(s)), "human": s.id == dash.me}
        except (OSError, BridgeError):
            return None  # stopped while we looked

    def list_sessions() -> dict:
        found = [session_entry(s) for s in sessions.all_sessions(root)]
        return {"me": dash.me, "admin": dash.admin_problem is None, "admin_problem": dash.admin_problem,
                "sessions": [e for e in found if e is not None]}

    def list_rooms() -> dict:
        return {"rooms": {name: [views.member_view(s) for s in members]
                          for name, members in sessions.rooms(root).items()}}

    def history(request: Request) -> dict:
        q = request.query_params
        limit = int(q.get("limit") or 100)
        with index.reading(root) as ix:
            rows = ix.history(q.get("peer") or None, q.get("room") or None,
                              index.since(q["since"]) if q.get("since") else None, limit or None)
            return {"messages": [views.history_view(r) for r in rows], "notes": ix.notes}

    def thread(msg_id: str) -> dict:
        validate.message_id(msg_id)
        with index.reading(root) as ix:
            root_id, rows = ix.thread(msg_id)
            return {"root_id": root_id, "messages": [views.history_view(r) for r in rows], "notes": ix.notes}

    def search(request: Request) -> dict:
        q = request.query_params
        query = q.get("q", "").strip()
        if not query:
            raise BridgeError("type something to search for")
        with index.reading(root) as ix:
            ran, rows = ix.search(query, q.get("peer") or None, q.get("room") or None, None, 50)
            return {"query": ran, "hits": [views.search_hit_view(r) for r in rows], "notes": ix.notes}

    def list_artifacts() -> dict:
        return {"artifacts": [views.stored_artifact_view(e) for e in artifacts.list_all(root)]}

    def artifact_file(sha: str) -> Response:
        ref, data = artifacts.get(root, sha)
        # Always a download, never rendered here: a peer's HTML must not run in the dashboard's origin.
        return Response(data, media_type="application/octet-stream", headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(ref['name'], safe='')}"})

    def list_leases() -> dict:
        return {"leases": [views.lease_view(x, dash.me) for x in leases.live(root)]}

    def auto_state() -> dict:
        return {"auto": views.auto_status_view(rooms.overview(root)),
                "events": [views.auto_event_view(e) for e in policy.read_log(root, 30)],
                "admin": dash.admin_problem is None, "admin_problem": dash.admin_problem}

    def my_inbox() -> dict:
        me = dash.human()
        return {"session": views.member_view(me), "inbound": views.inbound_view(inbound.policy(me)),
                "messages": [views.message_view(m) for m in protocol.inbox(me, include_read=True, limit=100)],
                "held": [views.message_view(dict(m, status="held")) for m in inbound.held(me)]}

    # --- actions (POST) ------------------------------------------------------------------------------------------

    def send(data: dict) -> dict:
        me = dash.human()
        kind = data.get("type") or "query"
        if kind not in TYPES:
            raise BridgeError(f"type {kind!r} is not one the dashboard sends; choose {' or '.join(TYPES)}")
        to = text(data, "to").strip()
        content = protocol.check_body(text(data, "content"))
        targets = sessions.recipients(root, to, me)
        if not sessions.is_broadcast(to):
            msg = protocol.send(me, targets[0], kind, content)
            return {"message": views.message_view(msg), "messages": [views.message_view(msg)], "failed": []}
        sent, failed = protocol.send_all(me, targets, kind, content)
        return {"message": None, "messages": [views.message_view(m) for m in sent],
                "failed": [views.failed_send_view(t, e.worded(WORDS), e.exit_code) for t, e in failed]}

    def reply(data: dict) -> dict:
        msg = protocol.reply(dash.human(), text(data, "id").strip(), protocol.check_body(text(data, "content")))
        return {"message": views.message_view(msg)}

    def release(data: dict) -> dict:
        ids = data.get("ids")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            raise BridgeError("ids must be a list of message ids; or send {\"all\": true}")
        return {"released": inbound.release(dash.human(), None if data.get("all") else ids or [])}

    def switch(data: dict) -> dict:
        if dash.admin_problem:
            raise rooms.NotAdmin(dash.admin_problem)
        room, role, on = data.get("room"), data.get("role"), data.get("on")
        if not isinstance(on, bool):
            raise BridgeError("on must be true or false")
        rooms.switch(root, on, room or None, role or None)
        return views.switch_view(views.auto_status_view(rooms.overview(root)), room or None, role or None)

    # --- routes --------------------------------------------------------------------------------------------------

    def get(fn: Callable, *params: str) -> Callable:
        async def endpoint(request: Request) -> Response:
            args = [request.path_params[p] for p in params] if params else []
            if fn in (history, search):
                args = [request]
            return await call(fn, *args)
        return endpoint

    def post(fn: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            return await call(fn, await body(request))
        return endpoint

    async def events(request: Request) -> Response:
        queue = dash.feed.subscribe()

        async def stream():
            try:
                yield {"event": "ready", "data": "{}"}
                while True:
                    e = await queue.get()
                    yield {"event": e["kind"], "data": orjson.dumps(e).decode()}
            finally:
                dash.feed.unsubscribe(queue)

        return EventSourceResponse(stream(), ping=15)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        dash.feed.start(asyncio.get_running_loop())
        yield

    routes = [
        Route("/", page),
        Route("/api/sessions", get(list_sessions)),
        Route("/api/rooms", get(list_rooms)),
        Route("/api/history", get(history)),
        Route("/api/thread/{msg_id}", get(thread, "msg_id")),
        Route("/api/search", get(search)),
        Route("/api/artifacts", get(list_artifacts)),
        Route("/api/artifacts/{sha}", get(artifact_file, "sha")),
        Route("/api/leases", get(list_leases)),
        Route("/api/auto", get(auto_state)),
        Route("/api/inbox", get(my_inbox)),
        Route("/api/events", events),
        Route("/api/send", post(send), methods=["POST"]),
        Route("/api/reply", post(reply), methods=["POST"]),
        Route("/api/release", post(release), methods=["POST"]),
        Route("/api/auto", post(switch), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(dash: Dashboard, sock: socket.socket) -> None:
    """Serve the dashboard on a bound socket until Ctrl-C."""
    import uvicorn

    config = uvicorn.Config(Guard(build(dash), dash), log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
