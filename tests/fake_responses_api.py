"""A stand-in for OpenAI's Responses API, so tests can run the real Codex CLI offline.

Codex talks to a model provider over `POST {base_url}/responses` and reads a server-sent event stream. This server
(stdlib http.server on 127.0.0.1, a free port) answers each such request with the events Codex waits for
(response.created, response.output_item.added, response.output_text.delta, response.function_call_arguments.*,
response.output_item.done, response.completed), and records every request, so a test can see exactly what Codex sent
(the prompt, the thread's history, a message queued into the thread, the output of a command it ran). Checked with
Codex CLI 0.169.0 (a custom `[model_providers.x]` with `wire_api = "responses"`; see `codex_home()`).

    with ResponsesApi() as api:
        home = api.codex_home(tmp_path / "codex-home")       # a CODEX_HOME whose config.toml points here
        subprocess.run(["codex", "exec", "--json", "hello"], env={**os.environ, **api.env(home)})
        assert api.wait_for(lambda r: "hello" in r.input_text())

What the model says comes from a *policy*, a function of the request (the conversation so far) returning either
text (one assistant message) or output items, e.g. `exec_command("session-bridge status")`: a tool call Codex runs
(its result comes back as a function_call_output in the next request). The default policy answers `reply`.

    def policy(req: Request) -> str | list[dict]:
        if req.last_user_text() == "bind" and not req.tool_outputs():
            return [exec_command("session-bridge start")]
        return "done"

Codex's side requests (a thread title, ...: no tools offered) get a short text and never reach the policy.
Anything else Codex asks (GET /models, ...) is answered 404 and kept in `api.unknown`, so a new endpoint a later
Codex needs is visible instead of silently breaking a test.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

MODEL = "bridge-fake-model"
PROVIDER = "bridgefake"
KEY_VAR = "BRIDGE_FAKE_OPENAI_KEY"


def exec_command(cmd: str) -> dict:
    """An output item that makes Codex run a shell command (its `exec_command` tool)."""
    return {"type": "function_call", "id": f"fc_fake{uuid.uuid4().hex[:20]}",
            "call_id": f"call_fake{uuid.uuid4().hex[:20]}", "name": "exec_command",
            "arguments": json.dumps({"cmd": cmd, "login": False}), "status": "completed"}


def _text(content: Any) -> str:
    """The plain text of a Responses API input item's content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text(p.get("text", p.get("content", ""))) if isinstance(p, dict) else str(p)
                         for p in content)
    return ""


@dataclass
class Request:
    """One recorded HTTP request, its JSON body parsed."""
    method: str
    path: str
    headers: dict[str, str]
    body: dict
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic())
    wall: float = field(default_factory=time.time)  # the same, as time.time()

    @property
    def is_responses(self) -> bool:
        return self.method == "POST" and self.path.split("?")[0].rstrip("/").endswith("/responses")

    @property
    def input(self) -> list[dict]:
        items = self.body.get("input")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def user_texts(self) -> list[str]:
        """The text of each user message in the conversation sent, oldest first."""
        return [_text(i.get("content")) for i in self.input if i.get("role") == "user"]

    def last_user_text(self) -> str:
        """The text of the newest user message ("" if there is none)."""
        users = self.user_texts()
        return users[-1] if users else ""

    def tool_outputs(self, since_user: bool = True) -> list[str]:
        """The output of each tool call Codex ran, oldest first; with since_user, only those after the newest user
        message (the current turn)."""
        items = self.input
        if since_user:
            last = max((i for i, item in enumerate(items) if item.get("role") == "user"), default=-1)
            items = items[last + 1:]
        return [_text(i.get("output", "")) for i in items if i.get("type") == "function_call_output"]

    @property
    def is_turn(self) -> bool:
        """A turn of the agent itself (it offers tools), as opposed to a side request (a title, a summary)."""
        return self.is_responses and bool(self.body.get("tools"))

    def input_text(self) -> str:
        """Everything in the request's input as text (for searching)."""
        return "\n".join(_text(i.get("content", i.get("output", ""))) for i in self.input)


Policy = Callable[[Request], "str | list[dict]"]


class ResponsesApi:
    """A Responses API on 127.0.0.1 whose model follows `policy` (default: always says `reply`). Use as a context
    manager.

    - `codex_home(dir)`: writes a config.toml there that makes Codex use this server; returns the dir.
    - `env(home)`: the variables for a Codex process (CODEX_HOME and the provider's API key).
    - `requests`, `responses()`, `unknown`: what Codex sent; `wait_for(pred)` waits for a request (a deadline).
    - `errors`: exceptions the policy raised (that request got an HTTP 400); `dropped`: requests whose answer Codex
      stopped reading (an exiting `codex exec` leaves its side request for a thread title).
    """

    def __init__(self, reply: str = "Hello from the fake model.", policy: Policy | None = None,
                 verbose: bool = False) -> None:
        self.reply = reply
        self.policy = policy
        self.errors: list[BaseException] = []
        self.verbose = verbose
        self.requests: list[Request] = []
        self.unknown: list[Request] = []
        self.dropped: list[Request] = []  # requests whose answer Codex did not wait for
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> "ResponsesApi":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        class Handler(_Handler):
            pass

        Handler.api = self
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="responses-api", daemon=True).start()

    def answer(self, req: Request) -> list[dict]:
        """The output items for a model request: the policy's for the agent's turns, a short text otherwise."""
        out = self.policy(req) if self.policy is not None and req.is_turn else self.reply
        if isinstance(out, str):
            return [{"type": "message", "id": f"msg_fake{uuid.uuid4().hex[:20]}", "role": "assistant",
                     "status": "completed", "content": [{"type": "output_text", "text": out, "annotations": []}]}]
        return list(out)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the ResponsesApi first (use it as a context manager)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def codex_home(self, home: Path) -> Path:
        """A CODEX_HOME whose config.toml sends Codex here (no retries: a broken stream fails fast; valid under
        `--strict-config` with 0.169.0), with no update check, analytics or feedback. Approvals never; the sandbox
        read-only unless the command line says otherwise (`--sandbox danger-full-access`)."""
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(f"""\
model = "{MODEL}"
model_provider = "{PROVIDER}"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.{PROVIDER}]
name = "bridge fake"
base_url = "{self.url}"
wire_api = "responses"
env_key = "{KEY_VAR}"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 30000

[analytics]
enabled = false

[feedback]
enabled = false
""")
        return home

    def env(self, home: Path) -> dict[str, str]:
        return {"CODEX_HOME": str(home), KEY_VAR: "sk-bridge-fake-key", "RUST_BACKTRACE": "0"}

    def record(self, req: Request) -> None:
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()

    def responses(self) -> list[Request]:
        """The model requests (POST /responses), in arrival order."""
        with self._cond:
            return [r for r in self.requests if r.is_responses]

    def wait_for(self, pred: Callable[[Request], bool], timeout: float = 120, what: str = "a matching request",
                 after: int = 0) -> Request:
        """The first model request (from index `after` of `responses()`) for which pred is true; waits for one until
        the deadline, then fails with what was seen."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self.requests if r.is_responses][after:]
                for r in found:
                    if pred(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "; ".join(f"{r.method} {r.path}: {r.user_texts()[-1:]!r}" for r in self.requests[-8:])
                    raise AssertionError(f"no {what} within {timeout:g}s; saw {len(self.requests)} request(s): "
                                         f"{seen}")
                self._cond.wait(left)


class _Handler(BaseHTTPRequestHandler):
    api: ResponsesApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.api.verbose:
            sys.stderr.write(f"responses-api: {format % args}\n")

    def _read(self) -> Request:
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw[:2000].decode(errors="replace")}
        req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                      body if isinstance(body, dict) else {"_json": body})
        self.api.record(req)
        return req

    def _status(self, req: Request, status: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _unknown(self, req: Request) -> None:
        self.api.unknown.append(req)
        if self.api.verbose:
            sys.stderr.write(f"responses-api: unhandled {req.method} {req.path}\n")
        self._status(req, 404, {"error": {"message": f"not served here: {req.method} {req.path}",
                                          "type": "invalid_request_error"}})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._unknown(self._read())

    def do_POST(self) -> None:  # noqa: N802
        req = self._read()
        if not req.is_responses:
            return self._unknown(req)
        try:
            items = self.api.answer(req)
        except Exception as e:  # noqa: BLE001 - the test sees it in api.errors
            self.api.errors.append(e)
            return self._status(req, 400, {"error": {"message": f"fake policy failed: {e!r}",
                                                     "type": "invalid_request_error"}})
        try:
            self._stream(req, items)
        except (BrokenPipeError, ConnectionResetError):  # Codex went away mid-answer (an exiting `codex exec`)
            self.api.dropped.append(req)
            self.close_connection = True

    def _stream(self, req: Request, items: list[dict]) -> None:
        resp_id = f"resp_fake{uuid.uuid4().hex[:20]}"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        seq = iter(range(1_000_000))

        def event(kind: str, **data: Any) -> None:
            payload = {"type": kind, "sequence_number": next(seq), **data}
            self.wfile.write(f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode())

        base = {"id": resp_id, "object": "response", "created_at": int(time.time()),
                "model": req.body.get("model", MODEL), "output": []}
        event("response.created", response=dict(base, status="in_progress"))
        event("response.in_progress", response=dict(base, status="in_progress"))
        for n, item in enumerate(items):
            if item["type"] == "message":
                text = "".join(p.get("text", "") for p in item["content"])
                event("response.output_item.added", output_index=n,
                      item=dict(item, status="in_progress", content=[]))
                event("response.content_part.added", item_id=item["id"], output_index=n, content_index=0,
                      part={"type": "output_text", "text": "", "annotations": []})
                event("response.output_text.delta", item_id=item["id"], output_index=n, content_index=0,
                      delta=text)
                event("response.output_text.done", item_id=item["id"], output_index=n, content_index=0, text=text)
                event("response.content_part.done", item_id=item["id"], output_index=n, content_index=0,
                      part=item["content"][0])
            elif item["type"] == "function_call":
                event("response.output_item.added", output_index=n,
                      item=dict(item, status="in_progress", arguments=""))
                event("response.function_call_arguments.delta", item_id=item["id"], output_index=n,
                      delta=item["arguments"])
                event("response.function_call_arguments.done", item_id=item["id"], output_index=n,
                      arguments=item["arguments"])
            event("response.output_item.done", output_index=n, item=item)
        usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
        event("response.completed", response=dict(base, status="completed", output=items, usage=usage))
        self.wfile.flush()
