"""A scripted stand-in for the Anthropic Messages API, so tests drive the real Claude Code offline.

Point `claude` at it (`api.env()`: `ANTHROPIC_BASE_URL=http://127.0.0.1:<port>`, an API key, and the switches that
keep Claude Code from calling anything else). The assistant's turns come from a *policy*: a function of the request
(the conversation so far, the system prompt, the tools offered) that returns the next assistant message:

    def policy(req: Request) -> Turn:
        done = req.exchanges(since_prompt=True)      # this turn's tool calls and their results so far
        if not done:
            return Turn("Checking.", bash("session-bridge status"))
        return Turn(f"status says: {done[-1].output}")

    with MessagesApi(policy) as api:
        r = subprocess.run([claude, "-p", "hi"], env={**user_env, **api.env()}, capture_output=True, text=True)
        assert api.main_requests()[-1].latest_tool_result().startswith("Session ")

A policy must be a pure function of the request, not of how often it was called: Claude Code retries a failed
request and makes requests of its own. Only the agent's own turns reach it (requests that offer tools, `is_main`);
side requests without tools (titles, summaries, quota probes) get `side_reply` and never consume the script. A
policy that raises answers that request with an API error; the exception is kept for `api.check()`.

Every request is recorded (`requests`, `main_requests()`, `wait_for()` blocks until one matches, with a deadline).
POST /v1/messages answers as a stream (SSE: message_start, content_block_start/delta/stop with text_delta and
input_json_delta, message_delta with stop_reason and usage, message_stop) or as one JSON message;
/v1/messages/count_tokens answers an estimate; HEAD (Claude Code 2.1.329 checks HEAD /api/hello unless
nonessential traffic is off) answers 200. Any other request answers `{}` and is kept in `unknown` (and printed on
stderr), so an endpoint a later Claude Code needs shows up instead of silently breaking a test.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

# --- what a policy returns ---------------------------------------------------------------------------------------


def text(s: str) -> dict:
    """A text content block."""
    return {"type": "text", "text": s}


_ids = itertools.count(1)


def tool_use(name: str, input: dict, id: str | None = None) -> dict:  # noqa: A002 - the API's field names
    """A tool_use content block: Claude Code runs the tool (Bash, ToolSearch, mcp__<server>__<tool>, ...) and sends
    the result back as a tool_result block in its next request."""
    return {"type": "tool_use", "id": id or f"toolu_rig{next(_ids):04d}{uuid.uuid4().hex[:12]}", "name": name,
            "input": input}


def bash(command: str, description: str = "run a command", timeout_ms: int | None = None) -> dict:
    """A call of Claude Code's Bash tool (timeout_ms: the tool's own timeout, up to 600000)."""
    args: dict[str, Any] = {"command": command, "description": description}
    if timeout_ms is not None:
        args["timeout"] = timeout_ms
    return tool_use("Bash", args)


class Turn:
    """One assistant message: text and tool_use blocks (a str is a text block). The stop reason is tool_use when
    there is a tool call (Claude Code runs it and asks again), else end_turn (the turn is over)."""

    def __init__(self, *blocks: dict | str, stop_reason: str | None = None) -> None:
        self.blocks = [text(b) if isinstance(b, str) else b for b in blocks] or [text("")]
        self.stop_reason = stop_reason or ("tool_use" if any(b["type"] == "tool_use" for b in self.blocks)
                                           else "end_turn")

    def __repr__(self) -> str:
        return f"Turn({self.blocks!r}, stop_reason={self.stop_reason!r})"


Policy = Callable[["Request"], "Turn | str | Iterable[dict]"]


# --- what a policy gets ------------------------------------------------------------------------------------------


def block_text(content: Any) -> str:
    """The plain text of a message's or a tool_result's content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for b in content:
        if isinstance(b, dict) and b.get("type") == "text":
            parts.append(b.get("text", ""))
        elif isinstance(b, dict) and b.get("type") == "tool_result":
            parts.append(block_text(b.get("content", "")))
    return "\n".join(parts)


def _has(message: dict, kind: str) -> bool:
    c = message.get("content")
    return isinstance(c, list) and any(isinstance(b, dict) and b.get("type") == kind for b in c)


@dataclass
class Exchange:
    """One tool call of the assistant and the result Claude Code sent back for it."""
    name: str
    input: dict
    output: str
    is_error: bool

    @property
    def command(self) -> str:
        """The shell command of a Bash call ("" for other tools)."""
        return str(self.input.get("command", "")) if self.name == "Bash" else ""

    @property
    def exit_code(self) -> int:
        """A Bash call's exit status: Claude Code reports a failure as "Exit code N" first in an error result."""
        if not self.is_error:
            return 0
        first = self.output.lstrip().split("\n", 1)[0]
        words = first.split()
        if first.startswith("Exit code ") and len(words) > 2 and words[2].isdigit():
            return int(words[2])
        return 1

    def json(self) -> dict:
        """The result parsed as a JSON object (an MCP tool's structured result); {} if it is not one."""
        try:
            out = json.loads(self.output)
        except ValueError:
            return {}
        return out if isinstance(out, dict) else {}


@dataclass
class Request:
    """One recorded HTTP request (its JSON body parsed), with what policies and assertions need from it."""
    method: str
    path: str
    headers: dict[str, str]
    body: dict
    at: float = field(default_factory=time.monotonic)  # when it arrived, time.monotonic()
    wall: float = field(default_factory=time.time)  # the same as time.time(), to compare with the bridge's records

    @property
    def model(self) -> str:
        return self.body.get("model", "")

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages") or []

    @property
    def tools(self) -> list[dict]:
        return self.body.get("tools") or []

    def tool_names(self) -> list[str]:
        """The tools offered (deferred ones, such as MCP tools before a ToolSearch, are not among them)."""
        return [t.get("name", "") for t in self.tools]

    @property
    def system(self) -> str:
        """The system prompt as one string."""
        return block_text(self.body.get("system") or "")

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.path.split("?")[0].rstrip("/").endswith("/v1/messages")

    @property
    def is_main(self) -> bool:
        """A turn of the agent itself (it offers tools), not a side request (a title, a summary)."""
        return self.is_messages and bool(self.tools)

    def step(self) -> int:
        """How many assistant messages the conversation already has (0: the first request of a conversation)."""
        return sum(1 for m in self.messages if m.get("role") == "assistant")

    def tool_results(self) -> list[dict]:
        """The tool_result blocks of the conversation, oldest first."""
        return [b for m in self.messages if isinstance(m.get("content"), list) for b in m["content"]
                if isinstance(b, dict) and b.get("type") == "tool_result"]

    def latest_tool_result(self) -> str | None:
        """The text of the newest tool_result (what the last tool call returned), None if there is none."""
        found = self.tool_results()
        return block_text(found[-1].get("content", "")) if found else None

    def exchanges(self, since_prompt: bool = False) -> list[Exchange]:
        """Each tool call of the conversation with its result, oldest first; with since_prompt only this turn's
        (see prompt_index)."""
        start = self.prompt_index() if since_prompt else 0
        results = {b.get("tool_use_id"): b for b in self.tool_results()}
        out = []
        for m in self.messages[start:]:
            if m.get("role") != "assistant" or not isinstance(m.get("content"), list):
                continue
            for b in m["content"]:
                if isinstance(b, dict) and b.get("type") == "tool_use" and b.get("id") in results:
                    r = results[b["id"]]
                    out.append(Exchange(b.get("name", ""), b.get("input") or {}, block_text(r.get("content", "")),
                                        bool(r.get("is_error"))))
        return out

    def prompt_index(self) -> int:
        """Where the current turn starts in `messages`: after the last assistant message that ended a turn (one
        without tool calls), else 0. What started the turn (the user's prompt, a hook's or a monitor's wake-up)
        comes first; Claude Code may add system messages anywhere (e.g. when MCP tools connect)."""
        for i in range(len(self.messages) - 1, -1, -1):
            m = self.messages[i]
            if m.get("role") == "assistant" and not _has(m, "tool_use"):
                return i + 1
        return 0

    def prompt_text(self) -> str:
        """The text of what started the current turn: its user and system messages up to the first answer."""
        parts = []
        for m in self.messages[self.prompt_index():]:
            if m.get("role") == "assistant":
                break
            parts.append(block_text(m.get("content", "")))
        return "\n".join(parts)

    def last_user_text(self) -> str:
        """The plain text of the last user message."""
        users = [m for m in self.messages if m.get("role") == "user"]
        return block_text(users[-1].get("content", "")) if users else ""

    def transcript(self) -> str:
        """The whole conversation as text (prompts, answers, tool calls as JSON, tool results), for searching."""
        parts = []
        for m in self.messages:
            c = m.get("content")
            for b in ([text(c)] if isinstance(c, str) else c or []):
                if not isinstance(b, dict):
                    continue
                if b.get("type") == "text":
                    parts.append(b.get("text", ""))
                elif b.get("type") == "tool_result":
                    parts.append(block_text(b.get("content", "")))
                elif b.get("type") == "tool_use":
                    parts.append(json.dumps(b.get("input", {})))
        return "\n".join(parts)


# --- the server --------------------------------------------------------------------------------------------------


def _tokens(obj: Any) -> int:
    return max(1, len(json.dumps(obj)) // 4)


class MessagesApi:
    """A Messages API on 127.0.0.1 (a free port) whose assistant follows `policy`; a context manager.

    - `env()`: the variables that point `claude` here.
    - `requests` (every request, in arrival order), `main_requests()`, `side_requests()`, `unknown`.
    - `wait_for(pred, timeout)`: the first recorded request matching pred, waiting for it up to a deadline.
    - `check()`: raise what the policy raised, if it did (a test's own script bugs surface as themselves).
    """

    API_KEY = "sk-ant-api03-rig-" + "x" * 40  # any key works; its last 20 characters are what Claude Code approves

    def __init__(self, policy: Policy, side_reply: str = "Bridge exchange", verbose: bool = False) -> None:
        self.policy = policy
        self.side_reply = side_reply
        self.verbose = verbose  # log every request on stderr
        self.requests: list[Request] = []
        self.unknown: list[Request] = []
        self.errors: list[BaseException] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> "MessagesApi":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="messages-api", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the MessagesApi first (use it as a context manager)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """Variables that send `claude` here with an API key, and keep it from calling anything else."""
        return {
            "ANTHROPIC_BASE_URL": self.url,
            "ANTHROPIC_API_KEY": self.API_KEY,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # no telemetry, error reports, update checks
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
        }

    # what was asked
    def record(self, req: Request) -> None:
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()

    def main_requests(self) -> list[Request]:
        """The agent's own turns (requests that offer tools), in arrival order."""
        with self._cond:
            return [r for r in self.requests if r.is_main]

    def side_requests(self) -> list[Request]:
        """Messages requests without tools (titles, summaries): answered with side_reply."""
        with self._cond:
            return [r for r in self.requests if r.is_messages and not r.is_main]

    def wait_for(self, pred: Callable[[Request], bool], timeout: float = 120, what: str = "a matching request",
                 after: int = 0) -> Request:
        """The first request (from index `after` of `requests`) for which pred is true; waits for it until the
        deadline, then fails naming `what` and the last requests seen (and what the policy raised, if anything)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.requests[after:]:
                    if pred(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} within {timeout:g}s; {len(self.requests)} request(s), last: "
                                         f"{self.summary()}" + (f"; policy errors: {self.errors!r}"
                                                                if self.errors else ""))
                self._cond.wait(left)

    def summary(self, last: int = 8) -> str:
        """The last requests in one line each: kind, turn step, and the newest tool call's command or name."""
        out = []
        for r in self.requests[-last:]:
            ex = r.exchanges()[-1:] if r.is_messages else []
            tail = f" after {ex[0].command or ex[0].name!r} -> {ex[0].output[:80]!r}" if ex else ""
            out.append(f"{r.method} {r.path} {'main' if r.is_main else 'side'} step {r.step()}{tail}")
        return "\n  " + "\n  ".join(out) if out else "none"

    def check(self) -> None:
        """Raise the first exception the policy raised."""
        if self.errors:
            raise self.errors[0]

    def answer(self, req: Request) -> Turn:
        """The next assistant message for a Messages request."""
        if not req.is_main:
            return Turn(self.side_reply)
        out = self.policy(req)
        if isinstance(out, Turn):
            return out
        if isinstance(out, str):
            return Turn(out)
        if out is None:
            raise AssertionError(f"the policy has no turn for this request: {req.prompt_text()[-500:]!r}")
        return Turn(*out)


class _Handler(BaseHTTPRequestHandler):
    api: MessagesApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        if self.api.verbose:
            sys.stderr.write(f"messages-api: {format % args}\n")

    def _read(self) -> Request:
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                      body if isinstance(body, dict) else {"_json": body})
        self.api.record(req)
        return req

    def _json(self, obj: Any, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_rig{uuid.uuid4().hex[:16]}")
        self.end_headers()
        self.wfile.write(data)

    def _unknown(self, req: Request) -> None:
        self.api.unknown.append(req)
        sys.stderr.write(f"messages-api: no handler for {req.method} {req.path}; answered {{}}\n")
        self._json({})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._unknown(self._read())

    def do_HEAD(self) -> None:  # noqa: N802 - Claude Code's connectivity check (HEAD /api/hello) gets a 200
        self._read()
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        req = self._read()
        if req.path.split("?")[0].rstrip("/").endswith("/v1/messages/count_tokens"):
            return self._json({"input_tokens": _tokens(req.body)})
        if not req.is_messages:
            return self._unknown(req)
        try:
            turn = self.api.answer(req)
        except Exception as e:  # noqa: BLE001 - the test sees it through api.errors / api.check()
            self.api.errors.append(e)
            return self._json({"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": f"the test's policy failed: {e!r}"}}, 400)
        msg_id = f"msg_rig{uuid.uuid4().hex[:20]}"
        usage = {"input_tokens": _tokens(req.body), "output_tokens": _tokens(turn.blocks),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if not req.body.get("stream"):
            return self._json({"id": msg_id, "type": "message", "role": "assistant", "model": req.model,
                               "content": turn.blocks, "stop_reason": turn.stop_reason, "stop_sequence": None,
                               "usage": usage})
        self._stream(req, msg_id, turn, usage)

    def _stream(self, req: Request, msg_id: str, turn: Turn, usage: dict) -> None:
        """The turn as server-sent events, one content block after another."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", f"req_rig{uuid.uuid4().hex[:16]}")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(data: dict) -> None:
            self.wfile.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

        event({"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": req.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": dict(usage, output_tokens=1)}})
        for i, b in enumerate(turn.blocks):
            if b["type"] == "text":
                start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": b["text"]}
            elif b["type"] == "tool_use":
                start = {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}
            else:
                raise ValueError(f"the rig cannot stream a {b['type']!r} block")
            event({"type": "content_block_start", "index": i, "content_block": start})
            event({"type": "content_block_delta", "index": i, "delta": delta})
            event({"type": "content_block_stop", "index": i})
        event({"type": "message_delta", "delta": {"stop_reason": turn.stop_reason, "stop_sequence": None},
               "usage": {"output_tokens": usage["output_tokens"]}})
        event({"type": "message_stop"})
        self.wfile.flush()
